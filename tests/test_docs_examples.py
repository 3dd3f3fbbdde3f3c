"""mParticle's documented examples as fixtures: replies parse with nothing lost, and the request
bodies the client builds for the same inputs equal the examples.

The fixtures under ``tests/fixtures/docs/`` are the JSON blocks of mParticle's documentation
pages (the public mParticle/docs repository), each with the page and line it comes from. Where
an example writes a placeholder (``"string"``) for a value the API documents as an MPID, the
test puts a real MPID in its place on both sides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mp_async import Hosts, MParticle, Workspace
from mp_async.api.identity import IdentityChange, decode_result
from mp_async.api.platform import App, Audience
from mp_async.api.profiles import Profile
from mp_async.auth import HmacDigestAuth, OAuthClientCredentials
from mp_async.converter import converter
from mp_async.errors import error_for_status

DOCS = Path(__file__).parent / "fixtures" / "docs"


def example(page: str, line: int) -> Any:
    """The JSON example that starts at ``line`` of the docs ``page``."""
    document = json.loads((DOCS / f"{page}.json").read_text())
    [found] = [e["json"] for e in document["examples"] if e["line"] == line]
    return found


def sent_body(mocked: Any) -> Any:
    [call] = [c for calls in mocked.requests.values() for c in calls]
    return json.loads(call.kwargs["data"])


# --- Profile API (src/pages/developers/profile-api/index.md) ----------------------------------


@pytest.mark.parametrize("line", [108, 229], ids=["by mpid", "resolved"])
def test_the_documented_profile_reply_parses_with_nothing_lost(line: int) -> None:
    reply = example("profile-api", line)
    profile = converter.structure(reply, Profile)

    assert profile.mpid == reply["mpid"]
    assert profile.created_timestamp_ms == reply["created_timestamp_ms"]
    assert profile.last_stored_timestamp_ms == reply["last_stored_timestamp_ms"]
    assert profile.is_opted_out is reply["is_opted_out"]
    assert profile.limit_ad_tracking is reply["limit_ad_tracking"]
    assert profile.account_user_attributes == reply["account_userattributes"]
    assert profile.user_attributes == reply["user_attributes"]
    for part in ("device_identities", "user_identities", "audience_memberships"):
        assert [converter.unstructure(x) for x in getattr(profile, part)] == [
            {**dict.fromkeys(_fields(part)), **item} for item in reply[part]
        ], part
    known = {a.name for a in Profile.__attrs_attrs__} | {"account_userattributes"}
    assert set(reply) <= known, f"keys with no home: {set(reply) - known}"


def _fields(part: str) -> list[str]:
    model = {"audience_memberships": "AudienceMembership"}.get(part, "Identity")
    import mp_async.api.profiles as profiles

    return [a.name for a in getattr(profiles, model).__attrs_attrs__]


async def test_the_resolve_body_is_the_documented_one(mocked: Any) -> None:
    mocked.post(
        "https://sso.auth.mparticle.com/oauth/token",
        payload=example("profile-api", 69),  # the documented token reply
    )
    mocked.post(
        "https://api.mparticle.com/userprofile/v1/resolve/1/2/3?fields=user_attributes",
        payload=example("profile-api", 229),
    )
    async with MParticle(
        oauth=OAuthClientCredentials("id", "secret"),
        workspace=Workspace(1, 2, 3),
        hosts=Hosts.us1(),
    ) as mp:
        profile = await mp.profiles.resolve("customer_id", "12345", fields="user_attributes")
    calls = [c for (m, u), cs in mocked.requests.items() for c in cs if "resolve" in str(u)]
    # The page's curl example: {"environment_type": "production",
    #                           "identity": {"type": "customer_id", "value": "12345"}}
    assert json.loads(calls[0].kwargs["data"]) == {
        "environment_type": "production",
        "identity": {"type": "customer_id", "value": "12345"},
    }
    assert profile.mpid == 9080350317581165000


# --- Identity API (src/pages/developers/idsync/http-api/index.md) -----------------------------

MPID = "8240373199402373981"


def _with_mpid(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: (MPID if k in keys else v) for k, v in document.items()}


async def test_the_identify_body_is_the_documented_one(mocked: Any) -> None:
    documented = _with_mpid(example("idsync-http-api", 96), "previous_mpid")
    mocked.post("https://identity.mparticle.com/v1/identify", payload={"mpid": MPID})
    async with MParticle(identity_auth=HmacDigestAuth("key", "secret")) as mp:
        await mp.identity.identify(
            documented["known_identities"],
            environment=documented["environment"],
            previous_mpid=int(MPID),
            context=documented["context"],
            client_sdk=documented["client_sdk"],
            request_id=documented["request_id"],
            request_timestamp_ms=documented["request_timestamp_ms"],
        )
    assert sent_body(mocked) == documented


async def test_the_modify_body_is_the_documented_one(mocked: Any) -> None:
    documented = example("idsync-http-api", 206)
    # The page's first change has "string" on both sides, which no real change has.
    documented["identity_changes"][0]["new_value"] = "string-2"
    mocked.post(f"https://identity.mparticle.com/v1/{MPID}/modify", payload={})
    async with MParticle(identity_auth=HmacDigestAuth("key", "secret")) as mp:
        await mp.identity.modify(
            int(MPID),
            [IdentityChange(**change) for change in documented["identity_changes"]],
            environment=documented["environment"],
            client_sdk=documented["client_sdk"],
            request_id=documented["request_id"],
            request_timestamp_ms=documented["request_timestamp_ms"],
        )
    assert sent_body(mocked) == documented


def test_the_documented_identity_reply_parses_with_nothing_lost() -> None:
    reply = _with_mpid(example("idsync-http-api", 146), "mpid")
    result = decode_result(reply, path="/v1/identify")
    assert result.mpid == int(MPID)
    assert result.context == reply["context"]
    assert result.matched_identities == reply["matched_identities"]
    assert result.is_ephemeral is reply["is_ephemeral"]


def test_the_documented_error_body_keeps_its_code_and_message() -> None:
    body = json.dumps(example("idsync-http-api", 247)).encode()
    error = error_for_status(400, method="POST", path="/v1/identify", body=body)
    assert [(e.code, e.message) for e in error.errors] == [("string", "string")]


# --- Platform API (src/pages/developers/platform/index.md) ------------------------------------


@pytest.mark.parametrize(("line", "model"), [(280, App), (328, App), (435, App)])
def test_documented_platform_replies_keep_every_key(line: int, model: type) -> None:
    envelope = example("platform-api", line)
    for item in envelope["data"]:
        decoded = converter.unstructure(converter.structure(item, model))
        _assert_kept(item, decoded, model.__name__)


@pytest.mark.parametrize("line", [908, 976])
def test_documented_audiences_keep_every_key(line: int) -> None:
    for item in example("platform-api", line):
        decoded = converter.unstructure(converter.structure(item, Audience))
        _assert_kept(item, decoded, "Audience")


def _assert_kept(documented: Any, decoded: Any, where: str) -> None:
    """Every key and value of the documented item is in what the model decoded."""
    if isinstance(documented, dict):
        assert isinstance(decoded, dict), where
        missing = set(documented) - set(decoded)
        assert not missing, f"{where}: no home for {sorted(missing)}"
        for key, value in documented.items():
            _assert_kept(value, decoded[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert len(decoded) == len(documented), where
        for index, (a, b) in enumerate(zip(documented, decoded, strict=True)):
            _assert_kept(a, b, f"{where}[{index}]")
    elif documented is not None and not isinstance(decoded, str):
        assert decoded == documented, where


# --- Events API (src/pages/developers/server/json-reference/index.md) -------------------------


def _json_reference() -> list[dict[str, Any]]:
    return json.loads((DOCS / "json-reference.json").read_text())["examples"]


def _skeleton(event: dict[str, Any]) -> bool:
    """A shape rather than an example: the reference's ``{"data": {}, "event_type": ""}``
    (and its common data node), and its commerce event, whose actions are empty ``{}``."""
    data = event.get("data") or {}
    return not event["event_type"] or data.get("product_action") == {}


EVENT_EXAMPLES = [
    e
    for e in _json_reference()
    if set(e["json"]) == {"data", "event_type"} and not _skeleton(e["json"])
]
EVENT_SKELETONS = [
    e
    for e in _json_reference()
    if set(e["json"]) == {"data", "event_type"} and _skeleton(e["json"])
]


@pytest.mark.parametrize("documented", EVENT_SKELETONS, ids=lambda e: f"line{e['line']}")
def test_the_references_event_skeletons_are_refused_naming_the_field(
    documented: dict[str, Any],
) -> None:
    from mp_async.api.events import encode_batch
    from mp_async.errors import InvalidRequest

    batch = {"environment": "production", "mpid": 42, "events": [documented["json"]]}
    with pytest.raises(InvalidRequest, match=r"events\[0\]\.(event_type|data\.product_action)"):
        encode_batch(batch)


def test_every_event_type_has_a_documented_example() -> None:
    assert len(EVENT_SKELETONS) == 3
    assert len({e["json"]["event_type"] for e in EVENT_EXAMPLES}) >= 12


BATCH_EXAMPLES = [
    e for e in _json_reference() if "environment" in e["json"] or "events" in e["json"]
]


@pytest.mark.parametrize("documented", EVENT_EXAMPLES, ids=lambda e: f"line{e['line']}")
async def test_every_documented_event_is_accepted_in_a_batch(
    mp: MParticle, emulator: Any, documented: dict[str, Any]
) -> None:
    batch = {"environment": "production", "mpid": 42, "events": [documented["json"]]}
    await mp.events.upload(batch)
    assert emulator.state.event_batches[-1]["events"] == [documented["json"]]


@pytest.mark.parametrize("documented", BATCH_EXAMPLES, ids=lambda e: f"line{e['line']}")
async def test_every_documented_batch_is_accepted(
    mp: MParticle, emulator: Any, documented: dict[str, Any]
) -> None:
    batch = dict(documented["json"])
    batch.setdefault("environment", "production")  # the overview omits it; it defaults so
    # The overview's event is an empty placeholder ({"data": {}}) that the schema itself
    # refuses (a custom event requires event_name); the events have their own examples above.
    batch["events"] = [e for e in batch.get("events", []) if e.get("data")]
    await mp.events.upload(batch)
    received = emulator.state.event_batches[-1]
    assert {k: v for k, v in received.items() if k != "source_request_id"} == {
        k: v for k, v in batch.items() if k != "source_request_id"
    }
