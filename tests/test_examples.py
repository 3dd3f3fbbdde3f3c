"""The framework recipes in examples/ run: one client per application, closed on shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiohttp.test_utils import TestClient, TestServer

from examples import aiohttp_app, fastapi_app
from mp_async.emulator import Emulator
from mp_async.testing import client_for


async def test_fastapi_lifespan_shares_one_client_and_closes_it(mp_emulator: Emulator) -> None:
    mp = client_for(mp_emulator)
    app = fastapi_app.create_app(mp)
    mpid = mp_emulator.seeded_mpids[0]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            found = await http.get(f"/users/{mpid}/attributes")
            missing = await http.get("/users/1/attributes")
            again = await http.get(f"/users/{mpid}/attributes")
        assert not mp.session.closed
    assert found.status_code == 200
    assert found.json()["mpid"] == str(mpid)
    assert found.json()["attributes"] == mp_emulator.state.profiles[mpid]["user_attributes"]
    assert missing.status_code == 404
    assert again.json() == found.json()
    assert mp_emulator.state.token_requests == 1  # the handlers shared one client and its token
    assert mp.session.closed


async def test_aiohttp_cleanup_ctx_shares_one_client_and_closes_it(mp_emulator: Emulator) -> None:
    clients = []

    def make_client():  # type: ignore[no-untyped-def]
        clients.append(client_for(mp_emulator))
        return clients[-1]

    mpid = mp_emulator.seeded_mpids[0]
    async with TestClient(TestServer(aiohttp_app.create_app(make_client))) as http:
        found = await http.get(f"/users/{mpid}/attributes")
        body = await found.json()
        missing = await http.get("/users/1/attributes")
        assert not clients[0].session.closed
    assert found.status == 200
    assert body == {
        "mpid": str(mpid),
        "attributes": mp_emulator.state.profiles[mpid]["user_attributes"],
    }
    assert missing.status == 404
    assert len(clients) == 1
    assert clients[0].session.closed


async def test_the_queue_worker_acknowledges_only_accepted_batches(
    mp_emulator: Emulator, tmp_path: Path
) -> None:
    from examples import queue_worker

    orders = [{"customer_id": f"c-{n}", "total": n} for n in range(300)]
    queue = queue_worker.MessageQueue(orders)
    mp_emulator.faults.fail_next(400, path_prefix="/events/v2/bulkevents")  # one bulk refused
    async with client_for(mp_emulator) as mp:
        await queue_worker.consume(mp, queue, str(tmp_path / "spool.db"))
    delivered = [b["user_identities"]["customer_id"] for b in mp_emulator.state.event_batches]
    # The refused bulk request's messages went back to the queue and came round again: every
    # message is acknowledged once, and only after its batch was accepted.
    assert mp_emulator.state.statuses[400] == 1
    assert sorted(queue.acknowledged) == list(range(300)) and not queue.unacknowledged
    assert sorted(delivered) == sorted(f"c-{n}" for n in range(300))
