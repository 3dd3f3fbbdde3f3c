"""Bad input to every public call is an ``InvalidRequest`` naming the field, and nothing is sent.

One table: the call, the field its error must name. HTTP is mocked with aioresponses (which
records every request it sees), and the client points at a closed loopback port besides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mp_async import Hosts, InvalidRequest, MParticle, RetryPolicy, Workspace
from mp_async.api.groups import GroupAttribute, GroupDefinition
from mp_async.api.identity import IdentityChange
from mp_async.auth import HmacDigestAuth, OAuthClientCredentials

Call = Callable[[MParticle], Awaitable[Any]]

GOOD_DEFINITION = GroupDefinition("household", "household_id", [GroupAttribute("ltv", "sum")])


def definition(**changes: Any) -> GroupDefinition:
    """The good definition with ``changes`` (built without its own checks, as a user could)."""
    fields = {
        "id": GOOD_DEFINITION.id,
        "source_user_attribute": GOOD_DEFINITION.source_user_attribute,
        "attributes": GOOD_DEFINITION.attributes,
        "description": GOOD_DEFINITION.description,
        **changes,
    }
    return GroupDefinition(**fields)


async def drain(results: AsyncIterator[Any]) -> list[Any]:
    return [result async for result in results]


def case(call: Call, field: str, name: str) -> Any:
    return pytest.param(call, field, id=name)


ELEVEN_ATTRIBUTES = [GroupAttribute(f"attribute_{i}", "sum") for i in range(11)]

CASES = [
    # --- profiles.get ----------------------------------------------------------------------
    case(lambda mp: mp.profiles.get(True), "mpid", "profiles.get mpid bool"),
    case(lambda mp: mp.profiles.get(0), "mpid", "profiles.get mpid zero"),
    case(lambda mp: mp.profiles.get(2**63), "mpid", "profiles.get mpid above int64"),
    case(lambda mp: mp.profiles.get(-(2**63) - 1), "mpid", "profiles.get mpid below int64"),
    case(lambda mp: mp.profiles.get("1" * 30), "mpid", "profiles.get mpid too many digits"),
    case(lambda mp: mp.profiles.get("12a"), "mpid", "profiles.get mpid not digits"),
    case(lambda mp: mp.profiles.get(""), "mpid", "profiles.get mpid empty"),
    case(lambda mp: mp.profiles.get(None), "mpid", "profiles.get mpid None"),
    case(lambda mp: mp.profiles.get(1.5), "mpid", "profiles.get mpid float"),
    case(lambda mp: mp.profiles.get(7, fields=["bogus"]), "fields", "profiles.get fields unknown"),
    case(lambda mp: mp.profiles.get(7, fields=[]), "fields", "profiles.get fields empty"),
    case(lambda mp: mp.profiles.get(7, fields=123), "fields", "profiles.get fields int"),
    case(lambda mp: mp.profiles.get(7, fields=[None]), "fields", "profiles.get fields None item"),
    # --- profiles.resolve ------------------------------------------------------------------
    case(lambda mp: mp.profiles.resolve("", "v"), "identity_type", "resolve identity_type empty"),
    case(lambda mp: mp.profiles.resolve(5, "v"), "identity_type", "resolve identity_type int"),
    case(lambda mp: mp.profiles.resolve("email", ""), "value", "resolve value empty"),
    case(lambda mp: mp.profiles.resolve("email", None), "value", "resolve value None"),
    case(
        lambda mp: mp.profiles.resolve("email", "v", environment="prod"),
        "environment",
        "resolve environment unknown",
    ),
    case(
        lambda mp: mp.profiles.resolve("email", "v", fields=["bogus"]),
        "fields",
        "resolve fields unknown",
    ),
    case(lambda mp: mp.profiles.resolve("email", "v", method="PUT"), "method", "resolve method"),
    # --- profiles.get_many -----------------------------------------------------------------
    case(lambda mp: drain(mp.profiles.get_many(None)), "mpids", "get_many mpids None"),
    case(lambda mp: drain(mp.profiles.get_many(5)), "mpids", "get_many mpids int"),
    case(lambda mp: drain(mp.profiles.get_many("12345")), "mpids", "get_many mpids str"),
    case(
        lambda mp: drain(mp.profiles.get_many([7], concurrency=0)),
        "concurrency",
        "get_many concurrency zero",
    ),
    case(
        lambda mp: drain(mp.profiles.get_many([7], concurrency=True)),
        "concurrency",
        "get_many concurrency bool",
    ),
    case(
        lambda mp: drain(mp.profiles.get_many([7], concurrency="8")),
        "concurrency",
        "get_many concurrency str",
    ),
    case(
        lambda mp: drain(mp.profiles.get_many([7], fields="bogus")),
        "fields",
        "get_many fields unknown",
    ),
    # --- identity: identify, login, logout, search ---------------------------------------
    case(lambda mp: mp.identity.identify({}), "known_identities", "identify no identities"),
    case(lambda mp: mp.identity.identify(), "known_identities", "identify nothing given"),
    case(
        lambda mp: mp.identity.identify({"bogus": "x"}),
        "bogus",
        "identify identity type unknown",
    ),
    case(
        lambda mp: mp.identity.identify({"Email": "x"}),
        "Email",
        "identify identity type wrong case",
    ),
    case(lambda mp: mp.identity.identify({"email": ""}), "email", "identify value empty"),
    case(lambda mp: mp.identity.identify({"email": 5}), "email", "identify value int"),
    case(
        lambda mp: mp.identity.identify("a@example.com"),
        "known_identities",
        "identify identities a str",
    ),
    case(lambda mp: mp.identity.identify(emial="a@example.com"), "emial", "identify kwarg typo"),
    case(
        lambda mp: mp.identity.identify({"email": "a"}, email="b"),
        "email",
        "identify given twice",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", environment="staging"),
        "environment",
        "identify environment unknown",
    ),
    case(
        lambda mp: mp.identity.login(email="a", previous_mpid="abc"),
        "previous_mpid",
        "login previous_mpid not digits",
    ),
    case(
        lambda mp: mp.identity.logout(email="a", previous_mpid=0),
        "previous_mpid",
        "logout previous_mpid zero",
    ),
    case(lambda mp: mp.identity.identify(email="a", context=5), "context", "identify context"),
    case(
        lambda mp: mp.identity.identify(email="a", client_sdk="python"),
        "client_sdk",
        "identify client_sdk a str",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", client_sdk={"bogus": "x"}),
        "bogus",
        "identify client_sdk key unknown",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", client_sdk={"platform": 5}),
        "platform",
        "identify client_sdk value int",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", request_id=""),
        "request_id",
        "identify request_id empty",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", request_timestamp_ms=-1),
        "request_timestamp_ms",
        "identify timestamp negative",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", request_timestamp_ms="1"),
        "request_timestamp_ms",
        "identify timestamp str",
    ),
    case(
        lambda mp: mp.identity.identify(email="a", read_only="false"),
        "read_only",
        "identify read_only str",
    ),
    case(
        lambda mp: mp.identity.login(email="a", return_matches=1),
        "return_matches",
        "login return_matches int",
    ),
    case(lambda mp: mp.identity.search({}), "known_identities", "search no identities"),
    case(
        lambda mp: mp.identity.search(email="a", environment=None),
        "environment",
        "search environment None",
    ),
    # --- identity.modify -------------------------------------------------------------------
    case(
        lambda mp: mp.identity.modify("x", IdentityChange("email", "a", "b")),
        "mpid",
        "modify mpid",
    ),
    case(lambda mp: mp.identity.modify(7, []), "changes", "modify no changes"),
    case(lambda mp: mp.identity.modify(7, ["email"]), "changes", "modify change a str"),
    case(lambda mp: mp.identity.modify(7, None), "changes", "modify changes None"),
    case(lambda mp: mp.identity.modify(7, 5), "changes", "modify changes int"),
    case(
        lambda mp: mp.identity.modify(7, IdentityChange("bogus", "a")),
        "identity_type",
        "IdentityChange type unknown",
    ),
    case(
        lambda mp: mp.identity.modify(7, IdentityChange("email")),
        "email",
        "IdentityChange no values",
    ),
    case(
        lambda mp: mp.identity.modify(7, IdentityChange("email", "a", "a")),
        "email",
        "IdentityChange same values",
    ),
    case(
        lambda mp: mp.identity.modify(7, IdentityChange("email", old_value=5)),
        "old_value",
        "IdentityChange value int",
    ),
    case(
        lambda mp: mp.identity.modify(7, IdentityChange("email", "a"), environment="x"),
        "environment",
        "modify environment unknown",
    ),
    # --- groups ----------------------------------------------------------------------------
    case(lambda mp: mp.groups.get("ab"), "group_id", "groups.get id too short"),
    case(lambda mp: mp.groups.get("x" * 33), "group_id", "groups.get id too long"),
    case(lambda mp: mp.groups.get(123), "group_id", "groups.get id int"),
    case(lambda mp: mp.groups.get(None), "group_id", "groups.get id None"),
    case(lambda mp: mp.groups.delete(""), "group_id", "groups.delete id empty"),
    case(lambda mp: mp.groups.create(None), "definition", "groups.create None"),
    case(lambda mp: mp.groups.create({"id": "abc"}), "definition", "groups.create a dict"),
    case(lambda mp: mp.groups.create(definition(id="ab")), "id", "definition id too short"),
    case(lambda mp: mp.groups.create(definition(id="x" * 33)), "id", "definition id too long"),
    case(
        lambda mp: mp.groups.create(definition(source_user_attribute="")),
        "source_user_attribute",
        "definition source empty",
    ),
    case(
        lambda mp: mp.groups.create(definition(description="x" * 256)),
        "description",
        "definition description too long",
    ),
    case(
        lambda mp: mp.groups.create(definition(description=None)),
        "description",
        "definition description None",
    ),
    case(
        lambda mp: mp.groups.create(definition(attributes=ELEVEN_ATTRIBUTES)),
        "attributes",
        "definition eleven attributes",
    ),
    case(
        lambda mp: mp.groups.create(definition(attributes=[GroupAttribute("", "sum")])),
        "attributes[0].id",
        "definition attribute id empty",
    ),
    case(
        lambda mp: mp.groups.create(definition(attributes=[GroupAttribute("x" * 224, "sum")])),
        "attributes[0].id",
        "definition attribute id too long",
    ),
    case(
        lambda mp: mp.groups.create(definition(attributes=[GroupAttribute("ltv", "median")])),
        "attributes[0].type",
        "definition attribute type unknown",
    ),
    case(
        lambda mp: mp.groups.create(definition(attributes=None)),
        "attributes",
        "definition attributes None",
    ),
    case(
        lambda mp: mp.groups.replace("ab", GOOD_DEFINITION),
        "group_id",
        "groups.replace id too short",
    ),
    case(
        lambda mp: mp.groups.replace("household", definition(id="")),
        "id",
        "groups.replace definition id empty",
    ),
    case(
        lambda mp: mp.groups.set_attributes("x" * 40, []),
        "group_id",
        "groups.set_attributes id too long",
    ),
    case(
        lambda mp: mp.groups.set_attributes("household", None),
        "attributes",
        "groups.set_attributes None",
    ),
    case(
        lambda mp: mp.groups.set_attributes("household", "ltv"),
        "attributes",
        "groups.set_attributes a str",
    ),
    case(
        lambda mp: mp.groups.set_attributes("household", [5]),
        "attributes[0]",
        "groups.set_attributes an int",
    ),
    case(
        lambda mp: mp.groups.set_attributes("household", [GroupAttribute("ltv", "SUM")]),
        "attributes[0].type",
        "groups.set_attributes type wrong case",
    ),
    case(
        lambda mp: mp.groups.set_attributes("household", ELEVEN_ATTRIBUTES),
        "attributes",
        "groups.set_attributes eleven",
    ),
    # --- platform --------------------------------------------------------------------------
    case(lambda mp: mp.platform.get(""), "path", "platform.get path empty"),
    case(lambda mp: mp.platform.get("/"), "path", "platform.get path slash"),
    case(lambda mp: mp.platform.get("../apps"), "path", "platform.get path dot-dot"),
    case(lambda mp: mp.platform.get("apps/../x"), "path", "platform.get path dot-dot inside"),
    case(lambda mp: mp.platform.get("http://elsewhere/x"), "path", "platform.get path a URL"),
    case(lambda mp: mp.platform.get("apps?x=1"), "path", "platform.get path with a query"),
    case(lambda mp: mp.platform.get(5), "path", "platform.get path int"),
    case(lambda mp: mp.platform.get("apps", accountId=9), "accountId", "platform.get accountId"),
    case(lambda mp: mp.platform.get("apps", limit=[1]), "limit", "platform.get param a list"),
    case(lambda mp: mp.platform.get("apps", limit=None), "limit", "platform.get param None"),
    case(lambda mp: mp.platform.create("apps", object()), "body", "platform.create body object"),
    case(lambda mp: mp.platform.update("apps/1", {"x": {1}}), "body", "platform.update body set"),
    case(lambda mp: mp.platform.delete(""), "path", "platform.delete path empty"),
    case(lambda mp: mp.platform.get_app(True), "app_id", "platform.get_app bool"),
    case(lambda mp: mp.platform.get_app(""), "app_id", "platform.get_app empty"),
    case(lambda mp: mp.platform.get_app(1.5), "app_id", "platform.get_app float"),
    case(lambda mp: mp.platform.get_app(0), "app_id", "platform.get_app zero"),
    case(lambda mp: mp.platform.get_app(-1), "app_id", "platform.get_app negative"),
    case(lambda mp: mp.platform.get_app("abc"), "app_id", "platform.get_app not digits"),
    case(lambda mp: mp.platform.get_app("1/../2"), "app_id", "platform.get_app a path"),
    case(
        lambda mp: mp.platform.get_workspace(0),
        "workspace_id",
        "platform.get_workspace zero",
    ),
    case(
        lambda mp: mp.platform.list_audiences(workspace_id=-3),
        "workspace_id",
        "platform.list_audiences negative",
    ),
    case(lambda mp: mp.platform.get_audience(None), "audience_id", "platform.get_audience None"),
    case(lambda mp: mp.platform.get_audience("x"), "audience_id", "platform.get_audience str"),
]


def client() -> MParticle:
    return MParticle(
        oauth=OAuthClientCredentials("client-id", "client-secret"),
        identity_auth=HmacDigestAuth("api-key", "api-secret"),
        workspace=Workspace(1, 2, 3),
        retry=RetryPolicy.never(),
        # Nothing listens on the discard port: a request that slipped through would fail.
        hosts=Hosts.local("http://127.0.0.1:9"),
    )


@pytest.mark.parametrize(("call", "field"), CASES)
async def test_bad_input_is_rejected_naming_the_field_before_anything_is_sent(
    mocked, call: Call, field: str
) -> None:
    async with client() as mp:
        with pytest.raises(InvalidRequest) as info:
            await call(mp)
    assert field in str(info.value)
    assert mocked.requests == {}


async def test_the_table_would_see_a_request_that_was_sent(mocked) -> None:
    # The control for the table above: a valid call does reach aioresponses.
    mocked.post("http://127.0.0.1:9/oauth/token", payload={"access_token": "t", "expires_in": 60})
    mocked.get(
        "http://127.0.0.1:9/userprofile/v1/1/2/3/7?fields=user_attributes", payload={"mpid": 7}
    )
    async with client() as mp:
        await mp.profiles.get(7, fields="user_attributes")
    assert len(mocked.requests) == 2


async def test_get_many_answers_a_bad_mpid_with_its_error_and_sends_nothing_for_it(mocked) -> None:
    async with client() as mp:
        results = await drain(mp.profiles.get_many(["abc", 0, True]))
    assert [r.mpid for r in results] == ["abc", 0, True]
    assert all(isinstance(r.error, InvalidRequest) and "mpid" in str(r.error) for r in results)
    assert mocked.requests == {}
