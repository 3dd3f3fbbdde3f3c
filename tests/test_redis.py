"""Many workers, one account: the rate budget, gate and token shared on a real Redis.

The tests need a ``redis-server``: ``MP_ASYNC_REDIS_URL`` names one (``.ci/run`` starts it),
or one is started here on a free port if the binary is installed. Without either they skip,
saying why; with ``MP_ASYNC_REQUIRE_REDIS=1`` (set by ``.ci/run``) a missing Redis fails them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mp_async import MParticle, RateLimited
from mp_async.api.profiles import ProfileFound
from mp_async.auth.cache import CachedToken, MemoryTokenCache
from mp_async.emulator import Emulator
from mp_async.testing import client_for

redis_asyncio = pytest.importorskip("redis.asyncio")
from mp_async.redis import RedisRateLimiter, RedisTokenCache, connect  # noqa: E402

WORKER = Path(__file__).parent / "programs" / "redis_worker.py"
BUCKET = "profile"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("MP_ASYNC_REQUIRE_REDIS") == "1":
        pytest.fail(f"{reason}, and MP_ASYNC_REQUIRE_REDIS=1 requires these tests to run")
    pytest.skip(reason)


class RedisServer:
    """A redis-server of the test's own on a loopback port: stop it, start it again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a running Redis, shared by the tests (each uses its own key prefix)."""
    url = os.environ.get("MP_ASYNC_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        _missing("no Redis: set MP_ASYNC_REDIS_URL or install redis-server")
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, which it may stop and start."""
    if shutil.which("redis-server") is None:
        _missing("no redis-server binary to start and stop")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    client = connect(redis_url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        _missing(f"Redis at {redis_url} does not answer ({type(exc).__name__})")
    yield client
    await client.aclose()


# --- in one process, two limiters stand for two processes ----------------------------------


async def test_a_429_in_one_process_closes_the_gate_for_the_others(
    redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    first = RedisRateLimiter(redis_client, namespace="acct", rate_limit=100, key_prefix=prefix)
    second = RedisRateLimiter(redis_client, namespace="acct", rate_limit=100, key_prefix=prefix)
    first.close_gate(BUCKET, 1.5)
    await first.drain()
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    started = time.monotonic()
    await second.acquire(BUCKET, time.monotonic() + 10, pause)
    assert 1.2 < waits[0] <= 1.5  # the other process waited at the shared gate
    assert time.monotonic() - started >= 1.2
    # ... and a caller whose deadline falls inside the gate is told so at once, not after it.
    first.close_gate(BUCKET, 5)
    await first.drain()
    with pytest.raises(RateLimited, match="gate opens"):
        await second.acquire(BUCKET, time.monotonic() + 1, pause)


async def test_a_given_budget_is_shared_by_every_process(
    redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    limiters = [
        RedisRateLimiter(redis_client, namespace="acct", rate_limit=40, key_prefix=prefix)
        for _ in range(2)
    ]
    granted: list[float] = []

    async def caller(limiter: RedisRateLimiter) -> None:
        await limiter.acquire(BUCKET, time.monotonic() + 10, asyncio.sleep)
        granted.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(caller(limiters[n % 2]) for n in range(30)))
    # 30 permits at 40/s between two "processes": 29 intervals of 25 ms at least (the first
    # permit and the burst tolerance of one interval are free), not 30 / 80.
    assert max(granted) - started >= 28 / 40
    assert limiters[0].rate(BUCKET) == limiters[1].rate(BUCKET) == 40


async def test_what_one_process_learns_paces_the_others(
    redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    learner = RedisRateLimiter(redis_client, namespace="acct", key_prefix=prefix)
    other = RedisRateLimiter(redis_client, namespace="acct", key_prefix=prefix)
    await other.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    assert other.rate(BUCKET) is None  # nothing known yet: not paced
    for _ in range(20):
        learner.on_reply(BUCKET, 200, None)
    # The first 429: the slow start begins at BETA times what got through (20 in a second).
    learner.on_reply(BUCKET, 429, None)
    await learner.drain()
    await other.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    rate = other.rate(BUCKET)
    assert rate is not None and 17.5 < rate < 20.0, rate
    # A share of the account's limit above 100 % (everyone's traffic): the shared pace is
    # scaled to bring it back to 100, just under.
    budgeted = RedisRateLimiter(redis_client, namespace="budget", rate_limit=40, key_prefix=prefix)
    await budgeted.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    budgeted.on_reply(BUCKET, 200, 200.0)
    await budgeted.drain()
    await budgeted.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    scaled = budgeted.rate(BUCKET)
    assert scaled is not None and 19.0 < scaled < 20.0, scaled
    # Another namespace (another account) shares nothing with it.
    stranger = RedisRateLimiter(redis_client, namespace="other-acct", key_prefix=prefix)
    await stranger.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    assert stranger.rate(BUCKET) is None


async def test_the_first_window_is_one_for_the_whole_fleet(
    redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    from mp_async.ratelimit import INITIAL_WINDOW

    first = RedisRateLimiter(redis_client, namespace="acct", key_prefix=prefix)
    second = RedisRateLimiter(redis_client, namespace="acct", key_prefix=prefix)
    # No limit known: the first requests of both "processes" together fill one window ...
    for n in range(INITIAL_WINDOW):
        await (first if n % 2 else second).acquire(BUCKET, time.monotonic() + 5, asyncio.sleep)
    waiting = asyncio.ensure_future(second.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # ... and the next one, in either, waits for room in it
    # A reply in the other process makes room at once (and a success widens the window).
    first.on_reply(BUCKET, 200, None)
    await asyncio.wait_for(waiting, 1.0)
    await first.drain()
    more = [
        asyncio.ensure_future(first.acquire(BUCKET, time.monotonic() + 5, asyncio.sleep))
        for _ in range(2)
    ]
    await asyncio.sleep(0.2)
    assert [task.done() for task in more] == [True, False]  # one more place, not two
    # A 429 ends the window: from then on the fleet is paced at the learned rate.
    second.on_reply(BUCKET, 429, None)
    await second.drain()
    await asyncio.wait_for(more[1], 1.0)
    assert first.rate(BUCKET) is not None


async def test_bad_namespaces_are_refused(redis_client: redis_asyncio.Redis) -> None:
    for bad in ("", "two words", None):
        with pytest.raises(ValueError, match="namespace"):
            RedisRateLimiter(redis_client, namespace=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate_limit"):
        RedisRateLimiter(redis_client, namespace="acct", rate_limit=-1)


# --- the token cache -------------------------------------------------------------------------


async def test_clients_sharing_a_redis_token_cache_fetch_one_token(
    mp_emulator: Emulator, redis_url: str, redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    mpid = mp_emulator.state.seed_profiles(1)[0]
    caches = [RedisTokenCache.from_url(redis_url, key_prefix=prefix) for _ in range(3)]
    clients = [client_for(mp_emulator, token_cache=cache) for cache in caches]
    try:
        await asyncio.gather(*(mp.profiles.get(mpid) for mp in clients))
    finally:
        for mp in clients:
            await mp.close()
        for cache in caches:
            await cache.aclose()
    assert mp_emulator.state.token_requests == 1
    # Stored under the client id, never with the secret; with the token's expiry.
    keys = [key.decode() for key in await redis_client.keys(f"{prefix}:*")]
    assert len(keys) == 1 and mp_emulator.state.client_id in keys[0]
    stored = await redis_client.get(keys[0])
    assert mp_emulator.state.client_secret.encode() not in stored
    assert 0 < await redis_client.ttl(keys[0]) <= mp_emulator.state.token_lifetime


async def test_a_cached_token_the_server_refuses_is_replaced(
    mp_emulator: Emulator, redis_client: redis_asyncio.Redis, prefix: str
) -> None:
    mpid = mp_emulator.state.seed_profiles(1)[0]
    cache = RedisTokenCache(redis_client, key_prefix=prefix)
    async with client_for(mp_emulator, token_cache=cache) as mp:
        assert mp.oauth is not None
        key = mp.oauth.cache_key  # type: ignore[attr-defined]
        now = time.time()
        await cache.put(key, CachedToken("revoked-elsewhere", now, now + 3600))
        await mp.profiles.get(mpid)  # 401 with the cached token, then a fresh one
    assert mp_emulator.state.token_requests == 1  # the 401 led to one fresh token
    replaced = await cache.get(key)
    assert replaced is not None and replaced.access_token != "revoked-elsewhere"


async def test_a_memory_token_cache_shares_one_token_between_clients(
    mp_emulator: Emulator,
) -> None:
    mpid = mp_emulator.state.seed_profiles(1)[0]
    cache = MemoryTokenCache()
    clients = [client_for(mp_emulator, token_cache=cache) for _ in range(3)]
    try:
        await asyncio.gather(*(mp.profiles.get(mpid) for mp in clients))
    finally:
        for mp in clients:
            await mp.close()
    assert mp_emulator.state.token_requests == 1
    assert "access" not in repr(cache) and mp_emulator.state.client_secret not in repr(cache)


async def test_no_secret_reaches_a_log_line_or_a_repr(
    mp_emulator: Emulator, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    mpid = mp_emulator.state.seed_profiles(1)[0]
    caplog.set_level(logging.DEBUG)
    cache = RedisTokenCache.from_url(redis_url, key_prefix=prefix)
    limiter = RedisRateLimiter.from_url(redis_url, namespace="acct", key_prefix=prefix)
    try:
        async with client_for(mp_emulator, token_cache=cache, rate_limiter=limiter) as mp:
            await mp.profiles.get(mpid)
            token = (await cache.get(mp.oauth.cache_key)).access_token  # type: ignore[union-attr, attr-defined]
    finally:
        await cache.aclose()
        await limiter.aclose()
    said = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (token, mp_emulator.state.client_secret):
        assert secret not in said and secret not in repr(cache) and secret not in repr(limiter)
    # A password in the Redis URL is in no repr and no warning either.
    caplog.clear()
    port = _free_port()
    guarded = RedisTokenCache.from_url(f"redis://:hunter2@127.0.0.1:{port}/0")
    assert await guarded.get("k") is None  # unreachable: an empty cache
    await guarded.aclose()
    assert "hunter2" not in repr(guarded)
    assert caplog.records and all("hunter2" not in r.getMessage() for r in caplog.records)


# --- Redis away -------------------------------------------------------------------------------


async def test_an_unreachable_redis_costs_one_warning_and_no_lookup(
    mp_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    mpids = mp_emulator.state.seed_profiles(20)
    env = _env(mp_emulator, f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    caplog.set_level(logging.WARNING, logger="mp_async")
    async with MParticle.from_env(env) as mp:
        results = [r async for r in mp.profiles.get_many(mpids, concurrency=8)]
        assert mp.session.rate_limiter.using_fallback  # type: ignore[attr-defined]
    assert all(isinstance(r, ProfileFound) for r in results)
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    # One for the rate budget, one for the token: each says what it does meanwhile.
    assert len(unreachable) == 2, [r.getMessage() for r in unreachable]
    assert any("pacing this process alone" in r.getMessage() for r in unreachable)
    assert any("fetches its own OAuth token" in r.getMessage() for r in unreachable)


async def test_from_env_gives_the_budget_to_the_shared_limiter(mp_emulator: Emulator) -> None:
    env = _env(mp_emulator, f"redis://127.0.0.1:{_free_port()}/0")
    mp = MParticle.from_env(env, rate_limit=15)
    try:
        limiter = mp.session.rate_limiter
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.rate(BUCKET) == 15  # the cap, before anything is learned
        assert mp.oauth.token_cache is not None  # type: ignore[union-attr]
    finally:
        await mp.close()
    # Events only (an API key, no OAuth client): the key names the account, no token cache.
    events_only = MParticle.from_env(
        {
            "MPARTICLE_API_KEY": "us1-key",
            "MPARTICLE_API_SECRET": "s3cret",
            "MPARTICLE_REDIS_URL": env["MPARTICLE_REDIS_URL"],
        }
    )
    try:
        assert "us1-key" in repr(events_only.session.rate_limiter)
        assert "s3cret" not in repr(events_only.session.rate_limiter)
        assert events_only.oauth is None
    finally:
        await events_only.close()
    with pytest.raises(ValueError, match="MPARTICLE_REDIS_URL"):
        MParticle.from_env({**env, "MPARTICLE_REDIS_URL": "http://not-redis"})
    with pytest.raises(ValueError, match="rate_limit must be a positive number"):
        MParticle.from_env(env, rate_limit=-1)


async def test_redis_stopped_mid_run_falls_back_and_returns_when_it_is_back(
    mp_emulator: Emulator, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    mp_emulator.faults.throttle_rate = 50
    mpids = mp_emulator.state.seed_profiles(300)  # six seconds at the budget
    caplog.set_level(logging.WARNING, logger="mp_async")
    limiter = RedisRateLimiter.from_url(own_redis.url, namespace="acct", rate_limit=50)

    async def outage() -> None:
        await asyncio.sleep(1.5)
        own_redis.stop()
        await asyncio.sleep(1.5)
        own_redis.start()

    try:
        async with client_for(mp_emulator, rate_limiter=limiter) as mp:
            chaos = asyncio.create_task(outage())
            results = [r async for r in mp.profiles.get_many(mpids, concurrency=32)]
            await chaos
            back = not limiter.using_fallback
    finally:
        await limiter.aclose()
    assert [type(r) for r in results] == [ProfileFound] * 300  # nothing lost, nothing raised
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1, messages
    assert sum("is back:" in m for m in messages) == 1, messages
    assert back
    # The budget was kept while away (in memory, at the same cap) and after.
    assert mp_emulator.state.statuses[429] <= 0.05 * len(mpids)
    state = connect(own_redis.url)
    try:
        assert await state.exists(f"mp_async:rate:acct:{BUCKET}")  # shared again
    finally:
        await state.aclose()


# --- real processes -----------------------------------------------------------------------


def _env(emulator: Emulator, redis: str | None) -> dict[str, str]:
    env = {
        "MPARTICLE_BASE_URL": emulator.url,
        "MPARTICLE_CLIENT_ID": emulator.state.client_id,
        "MPARTICLE_CLIENT_SECRET": emulator.state.client_secret,
        "MPARTICLE_ORG_ID": str(emulator.workspace.org_id),
        "MPARTICLE_ACCOUNT_ID": str(emulator.workspace.account_id),
        "MPARTICLE_WORKSPACE_ID": str(emulator.workspace.workspace_id),
    }
    if redis is not None:
        env["MPARTICLE_REDIS_URL"] = redis
    return env


async def _fleet(
    emulator: Emulator,
    redis: str,
    tmp_path: Path,
    mpids: list[int],
    processes: int,
    rate_limit: float | None,
) -> tuple[list[dict[str, float]], float]:
    """Start ``processes`` workers together, each looking up its share of ``mpids``."""
    start = time.time() + 3.0  # time enough for each to import and connect
    env = {**os.environ, **_env(emulator, redis)}
    workers = []
    for n in range(processes):
        share = tmp_path / f"mpids-{n}"
        share.write_text("\n".join(map(str, mpids[n::processes])))
        args = [str(WORKER), str(share), str(start), "32"]
        if rate_limit is not None:
            args.append(str(rate_limit))
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE
            )
        )
    reports = []
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), 120)
        assert worker.returncode == 0
        reports.append(json.loads(out))
    return reports, start


async def test_four_processes_sharing_a_budget_stay_within_it(
    mp_emulator: Emulator, redis_url: str, redis_client: redis_asyncio.Redis, tmp_path: Path
) -> None:
    rate = 40.0
    mp_emulator.faults.throttle_rate = rate
    mpids = mp_emulator.state.seed_profiles(320)  # eight seconds at the limit
    await redis_client.delete(
        f"mp_async:rate:{mp_emulator.state.client_id}:{BUCKET}",
        f"mp_async:rate:{mp_emulator.state.client_id}:{BUCKET}:ok",
    )
    reports, start = await _fleet(mp_emulator, redis_url, tmp_path, mpids, 4, rate)
    found = sum(r["found"] for r in reports)
    elapsed = max(r["finished"] for r in reports) - start
    throttled = mp_emulator.state.statuses[429]
    assert (found, sum(r["failed"] for r in reports)) == (320, 0)
    assert found / elapsed >= 0.85 * rate, (found / elapsed, elapsed)
    assert throttled <= 0.05 * (throttled + found), throttled


async def test_four_processes_starting_together_make_one_token_request(
    mp_emulator: Emulator, redis_url: str, redis_client: redis_asyncio.Redis, tmp_path: Path
) -> None:
    mp_emulator.faults.token_delay = 0.3  # a slow token endpoint, as mParticle's (1-3 s)
    mpids = mp_emulator.state.seed_profiles(8)
    for key in await redis_client.keys(f"mp_async:oauth:{mp_emulator.state.client_id}:*"):
        await redis_client.delete(key)
    reports, _ = await _fleet(mp_emulator, redis_url, tmp_path, mpids, 4, None)
    assert sum(r["found"] for r in reports) == 8
    assert mp_emulator.state.token_requests == 1
    assert sorted(r["token_fetches"] for r in reports) == [0, 0, 0, 1]
