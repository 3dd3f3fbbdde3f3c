"""The Group Identity API: its calls, its documented limits, and the emulated server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from conftest import FakeTime, StaticBearer, client_for
from yarl import URL

from mp_async import MParticle, Request, RetryPolicy, Session
from mp_async.api.groups import Group, GroupAttribute, GroupDefinition, GroupsAPI
from mp_async.auth import OAuthClientCredentials
from mp_async.errors import (
    BadRequest,
    Forbidden,
    InvalidRequest,
    MissingCredentials,
    NotFound,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    UnprocessableEntity,
)

GROUPS = "https://api.mparticle.com/platform/workspaces/3/groups/"
HOUSEHOLD = GroupDefinition(
    id="household",
    source_user_attribute="$address",
    attributes=[GroupAttribute("has_dog", "boolean_or")],
    description="users who share the same physical address",
)
STORED = {
    "id": "household",
    "description": "users who share the same physical address",
    "source_user_attribute": "$address",
    "attributes": [{"id": "has_dog", "type": "boolean_or"}],
    "created_on": "2024-05-01T12:00:00.123Z",
    "created_by": "api-client",
    "last_modified_on": "2024-05-02T08:30:00",
    "last_modified_by": "someone@example.com",
}


@pytest.fixture
async def groups():
    async with Session(sleep=FakeTime().sleep) as session:
        yield GroupsAPI(session, StaticBearer(), workspace_id=3)


def sent(mocked) -> list[tuple[str, URL, dict]]:
    return [(m, url, call.kwargs) for (m, url), calls in mocked.requests.items() for call in calls]


def definition(**changes) -> GroupDefinition:
    fields = {
        "id": "household",
        "source_user_attribute": "$address",
        "attributes": [GroupAttribute("has_dog", "boolean_or")],
        "description": "",
    }
    fields.update(changes)
    return GroupDefinition(**fields)


# --- the calls, with HTTP mocked ------------------------------------------------------------


async def test_list_gets_the_workspace_collection_with_a_bearer_token(mocked, groups) -> None:
    mocked.get(GROUPS, payload=[STORED])

    listed = await groups.list()

    assert [group.id for group in listed] == ["household"]
    [(method, url, kwargs)] = sent(mocked)
    assert (method, str(url)) == ("GET", GROUPS)
    assert kwargs["headers"]["Authorization"] == "Bearer test-token"


async def test_a_group_reply_decodes_timestamps_as_aware_datetimes(mocked, groups) -> None:
    mocked.get(GROUPS + "household", payload={**STORED, "added_later": {"by": "the server"}})

    group = await groups.get("household")

    assert group == Group(
        id="household",
        source_user_attribute="$address",
        attributes=(GroupAttribute("has_dog", "boolean_or"),),
        description="users who share the same physical address",
        created_on=datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc),
        created_by="api-client",
        # No zone in the reply: taken as UTC, never left naive.
        last_modified_on=datetime(2024, 5, 2, 8, 30, tzinfo=timezone.utc),
        last_modified_by="someone@example.com",
    )


async def test_a_timestamp_with_an_offset_keeps_it(mocked, groups) -> None:
    mocked.get(GROUPS + "household", payload={**STORED, "created_on": "2024-05-01T08:00:00-04:00"})

    group = await groups.get("household")

    assert group.created_on is not None
    assert group.created_on.utcoffset() == timedelta(hours=-4)
    assert group.created_on == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


async def test_a_null_description_is_the_empty_default_not_the_text_none(mocked, groups) -> None:
    mocked.get(GROUPS + "household", payload={**STORED, "description": None})

    group = await groups.get("household")

    assert group.description == ""


@pytest.mark.parametrize(
    "reply",
    [
        {k: v for k, v in STORED.items() if k != "source_user_attribute"},
        {**STORED, "created_on": "yesterday"},
        {**STORED, "source_user_attribute": None},
        {**STORED, "id": {"name": "household"}},
        {**STORED, "attributes": [{"id": "has_dog", "type": ["boolean_or"]}]},
    ],
)
async def test_a_reply_that_is_not_a_group_raises_unexpected_response(
    mocked, groups, reply
) -> None:
    mocked.get(GROUPS + "household", payload=reply)

    with pytest.raises(UnexpectedResponse):
        await groups.get("household")


async def test_create_posts_the_definition_as_json(mocked, groups) -> None:
    mocked.post(GROUPS, status=201, payload=STORED)

    created = await groups.create(HOUSEHOLD)

    assert created.id == "household" and created.created_by == "api-client"
    [(method, url, kwargs)] = sent(mocked)
    assert (method, str(url)) == ("POST", GROUPS)
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert json.loads(kwargs["data"]) == {
        "id": "household",
        "description": "users who share the same physical address",
        "source_user_attribute": "$address",
        "attributes": [{"id": "has_dog", "type": "boolean_or"}],
    }


async def test_replace_puts_the_whole_definition_without_the_audit_fields(mocked, groups) -> None:
    mocked.put(GROUPS + "household", payload=STORED)
    stored = Group("household", "$address", HOUSEHOLD.attributes, created_by="api-client")

    await groups.replace("household", stored.definition())

    [(method, url, kwargs)] = sent(mocked)
    assert (method, str(url)) == ("PUT", GROUPS + "household")
    # The documented PUT body: the definition without its id (the path names the group) and
    # without the audit fields.
    assert json.loads(kwargs["data"]) == {
        "description": stored.description,
        "source_user_attribute": "$address",
        "attributes": [{"id": a.id, "type": a.type} for a in HOUSEHOLD.attributes],
    }


async def test_replace_refuses_a_definition_of_another_group(mocked, groups) -> None:
    with pytest.raises(InvalidRequest, match="'other'"):
        await groups.replace("other", HOUSEHOLD)  # HOUSEHOLD's id is "household"
    assert not mocked.requests


async def test_the_emulator_takes_a_put_body_without_an_id(mp, emulator) -> None:
    await mp.groups.create(definition())
    body = {"description": "renamed", "source_user_attribute": "$address", "attributes": []}
    signed = await mp.oauth.apply(Request("GET", "http://x"), mp.session)  # type: ignore[union-attr]
    workspace = emulator.state.workspace_id
    url = f"{emulator.hosts.api}/platform/workspaces/{workspace}/groups/household"
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, json=body, headers=signed.headers) as r,
    ):
        assert r.status == 200
    assert emulator.state.groups["household"]["description"] == "renamed"


async def test_set_attributes_patches_only_the_attributes(mocked, groups) -> None:
    mocked.patch(
        GROUPS + "household", payload={**STORED, "attributes": [{"id": "ltv", "type": "sum"}]}
    )

    group = await groups.set_attributes("household", [GroupAttribute("ltv", "sum")])

    assert group.attributes == (GroupAttribute("ltv", "sum"),)
    [(method, _, kwargs)] = sent(mocked)
    assert method == "PATCH"
    assert json.loads(kwargs["data"]) == {"attributes": [{"id": "ltv", "type": "sum"}]}


async def test_delete_returns_none_on_204(mocked, groups) -> None:
    mocked.delete(GROUPS + "household", status=204)

    assert await groups.delete("household") is None
    assert [(m, str(u)) for m, u, _ in sent(mocked)] == [("DELETE", GROUPS + "household")]


async def test_a_group_id_is_escaped_in_the_path(mocked, groups) -> None:
    mocked.get(GROUPS + "a%2Fb%20c", payload={**STORED, "id": "a/b c"})

    group = await groups.get("a/b c")

    assert group.id == "a/b c"


async def test_without_oauth_credentials_nothing_is_sent(mocked) -> None:
    async with Session() as session:
        api = GroupsAPI(session, None, workspace_id=3)
        with pytest.raises(MissingCredentials, match="OAuth"):
            await api.list()
    assert mocked.requests == {}


def test_the_workspace_id_must_be_a_positive_integer() -> None:
    with pytest.raises(InvalidRequest, match="workspace_id"):
        GroupsAPI(Session(), StaticBearer(), workspace_id=0)


# --- the documented limits: each at its edge, each checked before anything is sent -----------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"id": "abc"}, id="id of 3 characters"),
        pytest.param({"id": "g" * 32}, id="id of 32 characters"),
        pytest.param({"description": ""}, id="empty description"),
        pytest.param({"description": "d" * 255}, id="description of 255 characters"),
        pytest.param({"attributes": [GroupAttribute("a", "sum")]}, id="attribute id of 1"),
        pytest.param({"attributes": [GroupAttribute("a" * 223, "sum")]}, id="attribute id of 223"),
        pytest.param({"attributes": []}, id="no attributes"),
        pytest.param(
            {"attributes": [GroupAttribute(f"attr{i}", "latest") for i in range(10)]},
            id="10 attributes",
        ),
        pytest.param(
            {
                "attributes": [
                    GroupAttribute(t, t) for t in ("latest", "boolean_or", "sum", "average")
                ]
            },
            id="every attribute type",
        ),
    ],
)
async def test_a_definition_at_a_limit_is_created(mp, emulator, changes) -> None:
    chosen = definition(**changes)

    created = await mp.groups.create(chosen)

    assert created.definition() == chosen
    assert emulator.state.count("POST", "groups.create") == 1


@pytest.mark.parametrize(
    ("changes", "limit"),
    [
        pytest.param({"id": "ab"}, "group id must be 3-32 characters", id="id of 2 characters"),
        pytest.param({"id": "g" * 33}, "group id must be 3-32 characters", id="id of 33"),
        pytest.param({"id": 12345}, "group id must be a string", id="id not a string"),
        pytest.param(
            {"description": "d" * 256}, "description must be 0-255", id="description of 256"
        ),
        pytest.param(
            {"attributes": [GroupAttribute("", "sum")]},
            r"attributes\[0\].id must be 1-223",
            id="attribute id of 0",
        ),
        pytest.param(
            {"attributes": [GroupAttribute("a" * 224, "sum")]},
            r"attributes\[0\].id must be 1-223",
            id="attribute id of 224",
        ),
        pytest.param(
            {"attributes": [GroupAttribute(f"attr{i}", "latest") for i in range(11)]},
            "at most 10 attributes, got 11",
            id="11 attributes",
        ),
        pytest.param(
            {"attributes": [GroupAttribute("ltv", "max")]},
            "type must be one of latest, boolean_or, sum, average, got 'max'",
            id="unknown attribute type",
        ),
        pytest.param(
            {"source_user_attribute": ""}, "source_user_attribute", id="no source attribute"
        ),
    ],
)
async def test_a_definition_past_a_limit_is_rejected_before_sending(
    mp, emulator, changes, limit
) -> None:
    with pytest.raises(InvalidRequest, match=limit):
        await mp.groups.create(definition(**changes))
    with pytest.raises(InvalidRequest, match=limit):
        await mp.groups.replace("household", definition(**changes))

    assert not emulator.state.requests  # not even a token was fetched
    assert emulator.state.groups == {}


@pytest.mark.parametrize("group_id", ["ab", "g" * 33])
async def test_an_impossible_group_id_is_rejected_before_sending(mp, emulator, group_id) -> None:
    for call in (
        mp.groups.get(group_id),
        mp.groups.delete(group_id),
        mp.groups.set_attributes(group_id, []),
        mp.groups.replace(group_id, definition()),
    ):
        with pytest.raises(InvalidRequest, match="3-32"):
            await call

    assert not emulator.state.requests


async def test_set_attributes_checks_the_attribute_limits_before_sending(mp, emulator) -> None:
    with pytest.raises(InvalidRequest, match="at most 10"):
        await mp.groups.set_attributes(
            "household", [GroupAttribute(f"a{i}", "sum") for i in range(11)]
        )
    with pytest.raises(InvalidRequest, match="type must be one of"):
        await mp.groups.set_attributes("household", [GroupAttribute("ltv", "median")])

    assert not emulator.state.requests


# --- against the emulator ---------------------------------------------------------------------


async def test_every_call_against_the_emulator(mp, emulator) -> None:
    assert await mp.groups.list() == []

    created = await mp.groups.create(HOUSEHOLD)
    assert created.definition() == HOUSEHOLD
    assert created.created_on is not None and created.created_on.tzinfo is not None
    assert created.created_by == emulator.state.client_id

    assert await mp.groups.get("household") == created
    assert await mp.groups.list() == [created]

    patched = await mp.groups.set_attributes(
        "household", [GroupAttribute("has_dog", "boolean_or"), GroupAttribute("ltv", "sum")]
    )
    assert [a.id for a in patched.attributes] == ["has_dog", "ltv"]
    assert patched.description == HOUSEHOLD.description  # untouched by a PATCH

    replaced = await mp.groups.replace("household", definition(description="renamed"))
    assert replaced.description == "renamed"
    assert replaced.created_on == created.created_on

    assert await mp.groups.delete("household") is None
    assert await mp.groups.list() == []


async def test_a_second_definition_in_a_workspace_is_unprocessable(mp) -> None:
    await mp.groups.create(HOUSEHOLD)

    with pytest.raises(UnprocessableEntity) as info:
        await mp.groups.create(definition(id="company"))

    assert info.value.status == 422
    assert "only one group definition" in info.value.errors[0].message


async def test_an_unknown_group_is_not_found_for_every_item_call(mp) -> None:
    for call in (
        mp.groups.get("nobody"),
        mp.groups.replace("nobody", definition(id="nobody")),
        mp.groups.set_attributes("nobody", []),
        mp.groups.delete("nobody"),
    ):
        with pytest.raises(NotFound) as info:
            await call
        assert info.value.errors[0].code == "NOT_FOUND"


async def test_the_emulator_enforces_the_limits_itself(mp, emulator) -> None:
    # Bypass the client's own checks to see the server's answer.
    too_long = {"id": "g" * 33, "source_user_attribute": "$address", "attributes": []}
    request = Request.json("POST", f"{emulator.url}/platform/workspaces/3/groups/", too_long)

    with pytest.raises(BadRequest) as info:
        await mp.session.send(request, mp.oauth)

    assert "3-32" in info.value.errors[0].message
    assert emulator.state.groups == {}


async def test_the_emulator_requires_a_valid_bearer_token(emulator) -> None:
    class NoAuth:
        async def apply(self, request: Request, sender: object) -> Request:
            return request

    async with Session() as session:
        for auth, says in ((StaticBearer(), "invalid"), (NoAuth(), "required")):
            api = GroupsAPI(session, auth, emulator.workspace.workspace_id, emulator.hosts)
            with pytest.raises(Unauthorized, match=says):
                await api.list()


async def test_another_workspace_is_forbidden(emulator) -> None:
    async with client_for(emulator) as client:
        other = GroupsAPI(client.session, client.oauth, workspace_id=99, hosts=emulator.hosts)
        with pytest.raises(Forbidden):
            await other.list()


async def test_a_504_is_retried_with_backoff_then_succeeds(emulator) -> None:
    fake = FakeTime()
    emulator.faults.fail_next(504, path_prefix="/platform/workspaces/")
    async with client_for(emulator, session=Session(sleep=fake.sleep)) as client:
        assert await client.groups.list() == []

    assert emulator.state.statuses[504] == 1
    assert emulator.state.count("GET", "groups.list") == 2
    assert len(fake.sleeps) == 1


async def test_a_504_is_retried_on_a_real_clock_with_a_short_backoff(emulator) -> None:
    async with client_for(emulator, retry=RetryPolicy(backoff_base=0.01)) as client:
        await client.groups.create(HOUSEHOLD)
        emulator.faults.fail_next(504, count=2, path_prefix="/platform/workspaces/")
        found = await client.groups.get("household")  # a GET: safe to repeat

    assert found.id == "household"
    assert emulator.state.statuses[504] == 2


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_create_that_may_have_been_applied_is_not_retried(emulator, status) -> None:
    emulator.faults.fail_next(status, path_prefix="/platform/workspaces/")
    async with client_for(emulator, retry=RetryPolicy(backoff_base=0.01)) as client:
        with pytest.raises(ServerError):
            await client.groups.create(HOUSEHOLD)
    assert emulator.state.requests[("POST", "groups.create")] == 1


async def test_a_create_refused_with_429_or_503_and_retry_after_is_retried(emulator) -> None:
    emulator.faults.fail_next(429, headers={"Retry-After": "0"}, path_prefix="/platform/")
    emulator.faults.fail_next(503, headers={"Retry-After": "0"}, path_prefix="/platform/")
    async with client_for(emulator, retry=RetryPolicy(backoff_base=0.01)) as client:
        created = await client.groups.create(HOUSEHOLD)
    assert created.id == "household"
    assert emulator.state.statuses[429] == 1 and emulator.state.statuses[503] == 1


async def test_retry_non_idempotent_retries_a_create_after_a_500(emulator) -> None:
    emulator.faults.fail_next(500, path_prefix="/platform/workspaces/")
    policy = RetryPolicy(backoff_base=0.01, retry_non_idempotent=True)
    async with client_for(emulator, retry=policy) as client:
        created = await client.groups.create(HOUSEHOLD)
    assert created.id == "household"
    assert emulator.state.statuses[500] == 1


def test_the_client_needs_a_workspace_for_groups(emulator) -> None:
    client = MParticle(oauth=OAuthClientCredentials("id", "secret"), hosts=emulator.hosts)

    with pytest.raises(InvalidRequest, match="workspace"):
        _ = client.groups
