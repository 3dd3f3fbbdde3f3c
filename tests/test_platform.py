"""The Platform API: accountId on every call, the reply envelope, the status table, the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import FakeTime, StaticBearer, client_for
from yarl import URL

from mp_async import MParticle, Request, RetryPolicy, Session, Workspace
from mp_async.api.platform import AccessKey, App, Audience, PlatformAPI, PlatformWorkspace
from mp_async.auth import OAuthClientCredentials
from mp_async.errors import (
    APIError,
    BadRequest,
    ErrorDetail,
    Forbidden,
    InvalidRequest,
    MissingCredentials,
    NotFound,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    UnprocessableEntity,
)

V1 = "https://api.mparticle.com/v1"
WORKSPACE = Workspace(org_id=1, account_id=2, workspace_id=3)
APP = {
    "name": "Test App",
    "platforms": [
        {
            "application_id": 1,
            "os": "Android",
            "access_keys": [{"key": "AccessKey", "secret": "AccessSecret", "data_type": "token"}],
            "crash_handling": "AppDefined",
            "profile_merging": False,
            "push_attribution_timer": 30,
            "last_modified_on": "2014-11-05T20:09:46.577",
            "data_type": "platform",
            "created_on": "2014-06-11T19:43:48.697",
        }
    ],
    "last_modified_on": "2014-06-11T19:43:45.617",
    "data_type": "application",
    "id": 1,
    "created_on": "2014-06-11T19:43:45.617",
}


def envelope(data: list, data_type: str = "application", errors: list | None = None) -> dict:
    return {"data": data, "dataType": data_type, "errors": errors}


def url(path: str, **query: str) -> str:
    return str(URL(f"{V1}/{path}").with_query({**query, "accountId": "2"}))


@pytest.fixture
async def platform():
    async with Session(sleep=FakeTime().sleep) as session:
        yield PlatformAPI(session, StaticBearer(), WORKSPACE)


def sent(mocked) -> list[tuple[str, str, dict]]:
    return [(m, str(u), call.kwargs) for (m, u), calls in mocked.requests.items() for call in calls]


# --- generic calls: accountId, JSON bodies, the envelope ------------------------------------


async def test_every_call_carries_the_account_id_of_the_workspace(mocked, platform) -> None:
    mocked.get(url("apps"), payload=envelope([APP]))
    mocked.post(url("apps"), status=201, payload=envelope([APP]))
    mocked.put(url("apps/1"), status=202, payload=envelope([APP]))
    mocked.delete(url("apps/1"), status=204)

    await platform.get("apps")
    await platform.create("apps", {"name": "Test App", "platforms": [{"os": "iOS"}]})
    await platform.update("apps/1", {"name": "New name"})
    await platform.delete("apps/1")

    calls = sent(mocked)
    assert [(m, u) for m, u, _ in calls] == [
        ("GET", url("apps")),
        ("POST", url("apps")),
        ("PUT", url("apps/1")),
        ("DELETE", url("apps/1")),
    ]
    assert all(URL(u).query["accountId"] == "2" for _, u, _ in calls)
    assert all(kwargs["headers"]["Authorization"] == "Bearer test-token" for _, _, kwargs in calls)


async def test_create_and_update_send_json_bodies(mocked, platform) -> None:
    mocked.post(url("apps"), status=201, payload=envelope([APP]))
    mocked.put(url("apps/1"), status=202, payload=envelope([APP]))

    await platform.create("apps", {"name": "Test App", "platforms": [{"os": "iOS"}]})
    await platform.update("/apps/1/", {"name": "New name"})

    (_, _, post), (_, _, put) = sent(mocked)
    assert post["headers"]["Content-Type"] == put["headers"]["Content-Type"] == "application/json"
    assert json.loads(post["data"]) == {"name": "Test App", "platforms": [{"os": "iOS"}]}
    assert json.loads(put["data"]) == {"name": "New name"}


async def test_the_caller_gets_the_data_of_the_envelope(mocked, platform) -> None:
    mocked.get(url("services"), payload=envelope([{"name": "Amplitude"}], "service"))

    assert await platform.get("services") == [{"name": "Amplitude"}]


async def test_a_success_with_a_message_but_no_errors_is_not_an_error(mocked, platform) -> None:
    mocked.get(
        url("services"), payload={**envelope([{"name": "Braze"}], "service"), "message": "ok"}
    )

    assert await platform.get("services") == [{"name": "Braze"}]


async def test_an_envelope_written_with_data_type_is_unwrapped_too(mocked, platform) -> None:
    # The partner feed resources spell the key "data_type".
    mocked.get(
        url("partnerfeeds/229"), payload={"data": [{"id": 229}], "data_type": "Partner Feed"}
    )

    assert await platform.get("partnerfeeds/229") == [{"id": 229}]


async def test_a_reply_that_is_not_an_envelope_is_returned_whole(mocked, platform) -> None:
    mocked.get(url("audiences"), payload=[{"id": 7622, "name": "Abandoned Cart"}])

    assert await platform.get("audiences") == [{"id": 7622, "name": "Abandoned Cart"}]


async def test_an_empty_reply_is_none(mocked, platform) -> None:
    mocked.put(url("apps/1"), status=202, body=b"")

    assert await platform.update("apps/1", {"name": "New name"}) is None


async def test_query_parameters_are_sent_as_strings(mocked, platform) -> None:
    mocked.get(url("apps", verbose="true", limit="5"), payload=envelope([]))

    await platform.get("apps", verbose=True, limit=5)

    [(_, sent_url, _)] = sent(mocked)
    assert dict(URL(sent_url).query) == {"verbose": "true", "limit": "5", "accountId": "2"}


# --- the documented status table ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status"), [("GET", 200), ("POST", 201), ("PUT", 202), ("DELETE", 204)]
)
async def test_documented_successes_return_without_error(mocked, platform, method, status) -> None:
    reply = {} if status == 204 else {"payload": envelope([APP])}
    mocked.add(url("apps/1"), method, status=status, **reply)

    if method == "GET":
        result = await platform.get("apps/1")
    elif method == "POST":
        result = await platform.create("apps/1", {"os": "iOS"})
    elif method == "PUT":
        result = await platform.update("apps/1", {"name": "x"})
    else:
        result = await platform.delete("apps/1")

    assert result == (None if status == 204 else [APP])


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (405, APIError),
        (422, UnprocessableEntity),
        (500, ServerError),
        (504, ServerError),
    ],
)
async def test_documented_errors_raise_the_matching_error_with_the_envelope_errors(
    mocked, status, error_class
) -> None:
    errors = [{"code": "VALIDATION_ERROR", "message": "App name already exists."}]
    mocked.post(url("apps"), status=status, payload=envelope([], errors=errors), repeat=True)

    async with Session(retry=RetryPolicy.never()) as session:
        with pytest.raises(error_class) as info:
            await PlatformAPI(session, StaticBearer(), WORKSPACE).create("apps", {"name": "x"})

    assert type(info.value) is error_class
    assert info.value.status == status
    assert info.value.errors == (ErrorDetail("VALIDATION_ERROR", "App name already exists."),)
    assert "App name already exists." in str(info.value)


async def test_errors_in_an_envelope_with_a_success_status_still_raise(mocked, platform) -> None:
    errors = [{"code": "VALIDATION_ERROR", "message": "Invalid settings entered."}]
    mocked.put(url("apps/1/platforms/ios/services"), payload=envelope([], "service", errors))

    with pytest.raises(APIError) as info:
        await platform.update("apps/1/platforms/ios/services", {"name": "Amplitude"})

    assert info.value.errors == (ErrorDetail("VALIDATION_ERROR", "Invalid settings entered."),)


async def test_a_504_is_retried_with_backoff_then_succeeds(mocked) -> None:
    fake = FakeTime()
    mocked.get(url("apps"), status=504)
    mocked.get(url("apps"), payload=envelope([APP]))

    async with Session(sleep=fake.sleep) as session:
        apps = await PlatformAPI(session, StaticBearer(), WORKSPACE).list_apps()

    assert [app.id for app in apps] == [1]
    assert len(sent(mocked)) == 2
    assert len(fake.sleeps) == 1


# --- input checked before anything is sent -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["", "/", "apps?accountId=9", "apps#top", "https://example.com/v1/apps", "apps/../accounts"],
)
async def test_a_path_that_is_not_a_resource_under_v1_is_rejected(mocked, platform, path) -> None:
    with pytest.raises(InvalidRequest, match="path"):
        await platform.get(path)

    assert mocked.requests == {}


async def test_an_account_id_of_the_callers_own_is_rejected(mocked, platform) -> None:
    with pytest.raises(InvalidRequest, match="accountId comes from the client's workspace"):
        await platform.get("apps", accountId=9)

    assert mocked.requests == {}


async def test_a_query_parameter_of_another_type_is_rejected(mocked, platform) -> None:
    with pytest.raises(InvalidRequest, match="query parameter ids"):
        await platform.get("apps", ids=[1, 2])  # type: ignore[arg-type]

    assert mocked.requests == {}


async def test_without_oauth_credentials_nothing_is_sent(mocked) -> None:
    async with Session() as session:
        with pytest.raises(MissingCredentials, match="OAuth"):
            await PlatformAPI(session, None, WORKSPACE).list_apps()

    assert mocked.requests == {}


def test_the_client_needs_a_workspace_for_the_platform_api() -> None:
    client = MParticle(oauth=OAuthClientCredentials("id", "secret"))

    with pytest.raises(InvalidRequest, match="workspace"):
        _ = client.platform


# --- typed helpers ------------------------------------------------------------------------


async def test_apps_decode_into_models_that_ignore_unknown_fields(mocked, platform) -> None:
    mocked.get(url("apps/1"), payload=envelope([{**APP, "brand_new_field": {"x": 1}}]))

    app = await platform.get_app(1)

    assert app.name == "Test App"
    assert app.created_on == datetime(2014, 6, 11, 19, 43, 45, 617000, tzinfo=timezone.utc)
    [android] = app.platforms
    assert (android.os, android.push_attribution_timer) == ("Android", 30)
    assert android.access_keys == (AccessKey("AccessKey", "AccessSecret", "token"),)


async def test_an_access_key_secret_never_shows_in_a_repr(mocked, platform) -> None:
    mocked.get(url("apps"), payload=envelope([APP]))

    [app] = await platform.list_apps()

    assert app.platforms[0].access_keys[0].secret == "AccessSecret"
    assert "AccessSecret" not in repr(app)


async def test_a_single_resource_reply_with_no_item_is_unexpected(mocked, platform) -> None:
    mocked.get(url("apps/1"), payload=envelope([]))

    with pytest.raises(UnexpectedResponse, match="expected one App, got 0"):
        await platform.get_app(1)


async def test_workspaces_use_the_documented_singular_resource(mocked, platform) -> None:
    # The docs show the workspace id as a string: the model holds an int.
    mocked.get(
        url("workspace"),
        payload=envelope(
            [{"id": "4302", "name": "mP Traveller", "created_on": "2017-02-02T11:20:23"}],
            "workspace",
        ),
    )

    assert await platform.list_workspaces() == [
        PlatformWorkspace(
            4302, "mP Traveller", datetime(2017, 2, 2, 11, 20, 23, tzinfo=timezone.utc)
        )
    ]


async def test_audiences_are_listed_for_the_account_or_one_workspace(mocked, platform) -> None:
    audience = {"id": 7622, "name": "Abandoned Cart", "size": 342, "workspaces": [{"id": 3}]}
    mocked.get(url("audiences"), payload=[audience])
    mocked.get(url("workspace/3/audiences"), payload=[audience])

    everywhere = await platform.list_audiences()
    in_workspace = await platform.list_audiences(workspace_id=3)

    assert everywhere == in_workspace
    assert everywhere[0].workspaces == (PlatformWorkspace(3),)


# --- against the emulator --------------------------------------------------------------------


async def test_every_typed_helper_against_the_emulator(mp, emulator) -> None:
    [app] = await mp.platform.list_apps()
    assert await mp.platform.get_app(app.id) == app
    assert {p.os for p in app.platforms} == {"iOS", "Android"}
    assert all(key.secret is None for p in app.platforms for key in p.access_keys)

    [workspace] = await mp.platform.list_workspaces()
    assert workspace.id == emulator.state.workspace_id
    assert await mp.platform.get_workspace() == workspace

    [audience] = await mp.platform.list_audiences()
    assert isinstance(audience, Audience) and audience.workspaces == (workspace,)
    assert await mp.platform.list_audiences(workspace_id=workspace.id) == [audience]
    assert await mp.platform.get_audience(audience.id) == audience


async def test_an_app_lifecycle_through_the_generic_calls(mp) -> None:
    [created] = await mp.platform.create(
        "apps", {"name": "Checkout", "platforms": [{"os": "iOS"}, {"os": "android"}]}
    )
    # The secret is sent once, in the reply that creates the key.
    assert all(key["secret"] for p in created["platforms"] for key in p["access_keys"])

    [updated] = await mp.platform.update(f"apps/{created['id']}", {"name": "Checkout v2"})
    assert updated["name"] == "Checkout v2"
    assert (await mp.platform.get_app(created["id"])).name == "Checkout v2"

    assert await mp.platform.delete(f"apps/{created['id']}") is None
    with pytest.raises(NotFound):
        await mp.platform.get_app(created["id"])


async def test_a_rule_broken_is_unprocessable_with_the_servers_message(mp) -> None:
    with pytest.raises(UnprocessableEntity) as info:
        await mp.platform.create("apps", {"name": "Emulator app", "platforms": [{"os": "iOS"}]})

    assert info.value.errors == (ErrorDetail("VALIDATION_ERROR", "App name already exists."),)


async def test_the_emulator_answers_401_without_the_account_id(mp, emulator) -> None:
    request = Request("GET", f"{emulator.url}/v1/apps")  # no accountId

    with pytest.raises(Unauthorized) as info:
        await mp.session.send(request, mp.oauth)

    assert info.value.errors[0].message == "accountId is required"


async def test_the_emulator_forbids_another_account(emulator) -> None:
    async with client_for(emulator) as client:
        other_account = Workspace(org_id=1, account_id=99, workspace_id=3)
        api = PlatformAPI(client.session, client.oauth, other_account, emulator.hosts)
        with pytest.raises(Forbidden):
            await api.list_apps()


async def test_the_emulator_requires_a_bearer_token(emulator) -> None:
    async with Session() as session:
        api = PlatformAPI(session, StaticBearer(), emulator.workspace, emulator.hosts)
        with pytest.raises(Unauthorized):
            await api.list_apps()


async def test_the_emulator_answers_404_for_an_unknown_audience(mp) -> None:
    with pytest.raises(NotFound) as info:
        await mp.platform.get_audience(1)

    assert info.value.errors[0].code == "NOT_FOUND"


async def test_a_504_from_the_emulator_is_retried_then_succeeds(emulator) -> None:
    emulator.faults.fail_next(504, path_prefix="/v1/")
    async with client_for(emulator, retry=RetryPolicy(backoff_base=0.01)) as client:
        apps = await client.platform.list_apps()

    assert isinstance(apps[0], App)
    assert emulator.state.statuses[504] == 1
    assert emulator.state.count("GET", "platform.apps") == 2


# --- paths as they go on the wire (hardening), and /platform/v2 (wire truth) ---------------


@pytest.mark.parametrize(
    "path",
    [
        "apps/%2e%2e/%2e%2e/oauth/token",
        "apps/%2E%2E/x",
        "apps/..%2f..%2foauth",
        "apps/a%2fb",
        "apps/./1",
        "apps/../oauth",
    ],
)
async def test_a_path_that_would_leave_the_api_root_is_refused(emulator, path) -> None:
    async with client_for(emulator) as mp:
        for call in (
            mp.platform.get(path),
            mp.platform.create(path, {}),
            mp.platform.update(path, {}),
            mp.platform.delete(path),
            mp.platform.get(path, version=2),
        ):
            with pytest.raises(InvalidRequest, match="must stay under"):
                await call
    assert not emulator.state.requests  # not even the token call: nothing left the process


async def test_the_platform_v2_api_is_reached_without_an_account_id(emulator) -> None:
    documented = json.loads(
        (Path(__file__).parent / "fixtures" / "docs" / "platform-api.json").read_text()
    )
    [listing] = [e["json"] for e in documented["examples"] if e["line"] == 1063]
    emulator.state.calculated_attributes.extend(listing)
    workspace = emulator.state.workspace_id
    async with client_for(emulator) as mp:
        found = await mp.platform.get(f"workspaces/{workspace}/calculatedattributes", version=2)
    assert found == listing
    assert emulator.state.requests[("GET", "platform.calculated_attributes")] == 1


async def test_a_platform_version_other_than_1_or_2_is_refused(mp) -> None:
    with pytest.raises(InvalidRequest, match="version must be 1"):
        await mp.platform.get("apps", version=3)
