"""The MParticle facade: configuration from the environment, hosts, and lifecycle."""

from __future__ import annotations

import pytest

from mp_async import Hosts, InvalidRequest, MParticle, RetryPolicy, Session, Workspace
from mp_async.auth import BasicAuth, HmacDigestAuth, OAuthClientCredentials
from mp_async.errors import MissingCredentials

ENV = {
    "MPARTICLE_CLIENT_ID": "cid",
    "MPARTICLE_CLIENT_SECRET": "client-secret-value",
    "MPARTICLE_API_KEY": "eu1-abcdef",
    "MPARTICLE_API_SECRET": "api-secret-value",
    "MPARTICLE_ORG_ID": "1",
    "MPARTICLE_ACCOUNT_ID": "2",
    "MPARTICLE_WORKSPACE_ID": "3",
}


def test_from_env_reads_every_credential_and_id() -> None:
    mp = MParticle.from_env(ENV)
    assert isinstance(mp.oauth, OAuthClientCredentials) and mp.oauth.client_id == "cid"
    assert isinstance(mp.identity_auth, HmacDigestAuth) and mp.identity_auth.api_key == "eu1-abcdef"
    assert isinstance(mp.events_auth, BasicAuth)
    assert mp.workspace == Workspace(1, 2, 3)
    # no pod named: the API key's prefix decides, as mParticle's SDKs do
    assert mp.hosts == Hosts.eu1()
    assert mp.oauth.token_url == "https://sso.auth.mparticle.com/oauth/token"
    assert "client-secret-value" not in repr(mp) and "api-secret-value" not in repr(mp.events_auth)


def test_from_env_pod_and_base_url_choose_the_hosts() -> None:
    assert MParticle.from_env({**ENV, "MPARTICLE_POD": "au1"}).hosts == Hosts.au1()
    local = MParticle.from_env({**ENV, "MPARTICLE_BASE_URL": "http://127.0.0.1:9000"})
    assert local.hosts == Hosts.local("http://127.0.0.1:9000")
    assert local.oauth is not None and local.oauth.token_url == "http://127.0.0.1:9000/oauth/token"


def test_from_env_keyword_arguments_win() -> None:
    mp = MParticle.from_env(ENV, retry=RetryPolicy(max_attempts=2))
    assert mp.session.retry.max_attempts == 2


def test_from_env_with_nothing_set_builds_a_client_that_names_what_is_missing() -> None:
    mp = MParticle.from_env({})
    assert mp.oauth is None and mp.identity_auth is None and mp.events_auth is None
    with pytest.raises(InvalidRequest, match="workspace"):
        _ = mp.profiles
    with pytest.raises(MissingCredentials):
        MParticle(workspace=Workspace(1, 2, 3)).events.uploader()


@pytest.mark.parametrize("bad", ["one", "0", "-4"])
def test_from_env_rejects_ids_that_are_not_positive_integers(bad: str) -> None:
    with pytest.raises(InvalidRequest, match=r"MPARTICLE_ORG_ID|org_id"):
        MParticle.from_env({**ENV, "MPARTICLE_ORG_ID": bad})


def test_hosts_presets_follow_the_documented_pods() -> None:
    assert Hosts.us1().events == "https://s2s.mparticle.com"
    assert Hosts.us2().identity == "https://identity.us2.mparticle.com"
    assert Hosts.for_api_key("us2-1234").events == "https://s2s.us2.mparticle.com"
    assert Hosts.for_api_key("plainkey") == Hosts.us1()
    local = Hosts.local("http://127.0.0.1:8080/")
    assert (local.api, local.identity, local.events) == (
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/identity",
        "http://127.0.0.1:8080/events",
    )
    with pytest.raises(InvalidRequest, match="pod"):
        Hosts.for_pod("mars1")


# --- any auth strategy in any slot; one rule for the token URL --------------------------------


async def test_any_auth_strategy_plugs_into_the_oauth_slot(emulator) -> None:
    from conftest import StaticBearer

    token, _ = emulator.state.issue_token()

    class Bearer(StaticBearer):
        async def apply(self, request, sender):  # type: ignore[no-untyped-def]
            return request.with_headers({"Authorization": f"Bearer {token}"})

    async with MParticle(oauth=Bearer(), workspace=emulator.workspace, hosts=emulator.hosts) as mp:
        profile = await mp.profiles.get(emulator.seeded_mpids[0])
    assert profile.mpid == emulator.seeded_mpids[0]


async def test_an_api_built_with_hosts_fetches_its_token_from_those_hosts(emulator) -> None:
    from mp_async.api.profiles import ProfileAPI
    from mp_async.auth import OAuthClientCredentials

    oauth = OAuthClientCredentials(emulator.state.client_id, emulator.state.client_secret)
    async with Session() as session:
        api = ProfileAPI(session, oauth, emulator.workspace, emulator.hosts)
        await api.get(emulator.seeded_mpids[0])
    assert emulator.state.token_requests == 1  # not production SSO


@pytest.mark.parametrize(
    "setting",
    [{"retry": RetryPolicy()}, {"timeout": 5.0}, {"max_connections": 3}, {"ssl": False}],
    ids=["retry", "timeout", "max_connections", "ssl"],
)
def test_settings_a_given_session_would_ignore_are_refused(setting) -> None:
    with pytest.raises(InvalidRequest, match=next(iter(setting))):
        MParticle(session=Session(), **setting)
