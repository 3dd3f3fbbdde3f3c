"""Secrets stay secret: out of logs, errors, reprs and URLs; TLS verified; no redirect followed.

Everything runs over loopback against the emulator, or small aiohttp servers of the test's own.
"""

from __future__ import annotations

import hmac
import logging
import shutil
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import client_for
from faults.emulator_thread import EmulatorThread

from mp_async import Hosts, MParticle, MParticleError, Request, RetryPolicy, Session, Workspace
from mp_async.api.events import Batch, CustomEvent
from mp_async.api.groups import GroupAttribute, GroupDefinition
from mp_async.api.identity import IdentityChange
from mp_async.api.profiles import ProfileAPI
from mp_async.auth import ApiKeyAuth, BasicAuth, HmacDigestAuth, OAuthClientCredentials
from mp_async.emulator import Emulator
from mp_async.emulator import identity as emulated_identity
from mp_async.emulator.app import build_app
from mp_async.emulator.state import EmulatorState
from mp_async.errors import (
    CertificateError,
    ConnectError,
    InvalidRequest,
    UnexpectedResponse,
)

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)

CLIENT_SECRET = "cs-9f2c7d1e4b-client-secret"
API_SECRET = "as-41d8e0c3a7-api-secret"
WRONG_CLIENT_SECRET = "cs-wrong-6e1f0a9b"
WRONG_API_SECRET = "as-wrong-2b7c5d8e"
LEAKED_TOKEN = "tok-in-a-form-body-5a3e"


class RecordingState(EmulatorState):
    """An emulator state that remembers every token it issued."""

    def issue_token(self, valid_for: float | None = None) -> tuple[str, float]:
        token, lifetime = super().issue_token(valid_for)
        self.__dict__.setdefault("issued", []).append(token)
        return token, lifetime


def recording_emulator(**kwargs: Any) -> tuple[Emulator, list[tuple[str, dict[str, str]]]]:
    """An emulator (not started) that records the URL and credential headers of every request."""
    state = RecordingState(client_secret=CLIENT_SECRET, api_secret=API_SECRET)
    emu = Emulator(state=state, **kwargs)
    seen: list[tuple[str, dict[str, str]]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        credentials = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("authorization", "x-mp-signature", "x-mp-key")
        }
        seen.append((str(request.url), credentials))
        return await handler(request)

    emu.app.middlewares.insert(0, record)
    return emu, seen


async def outcome_of(awaitable: Awaitable[Any], errors: list[BaseException]) -> Any:
    """Await it; keep an MParticleError it raises for inspection instead of raising."""
    try:
        return await awaitable
    except MParticleError as exc:
        errors.append(exc)
        return None


def texts_of(error: BaseException) -> list[str]:
    """Everything an error could show: str, repr, traceback with its chain, excerpt, details."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    texts.append(str(getattr(error, "body_excerpt", "")))
    texts.extend(repr(detail) for detail in getattr(error, "errors", ()))
    return texts


async def full_run(emu: Emulator, errors: list[BaseException]) -> list[str]:
    """Every API, its successes and its failures; returns reprs of the objects involved."""
    state, faults = emu.state, emu.faults
    mpids = emu.seeded_mpids
    reprs: list[str] = []

    async with client_for(emu, retry=FAST) as mp:
        # Profiles: found, not found, retried through 503s, a reset and a 429, a stale token.
        await mp.profiles.get(mpids[0])
        await outcome_of(mp.profiles.get(12345), errors)
        faults.fail_next(503, count=2)
        faults.fail_next(200, reset=True)
        faults.fail_next(429, headers={"Retry-After": "0"})
        await mp.profiles.get(mpids[1])
        state.expire_tokens()
        await mp.profiles.get(mpids[2])
        async for _ in mp.profiles.get_many([*mpids[:20], 999]):
            pass
        await mp.profiles.resolve("customer_id", "cust-1-0")
        faults.fail_next(500, count=5)
        await outcome_of(mp.profiles.get(mpids[3]), errors)
        # Identity (HMAC): identify, search found and not, modify.
        user = await mp.identity.identify(email="someone@example.com", customerid="c-1")
        await mp.identity.search(email="someone@example.com")
        await outcome_of(mp.identity.search(email="nobody@example.com"), errors)
        await mp.identity.modify(user.mpid, IdentityChange("email", "someone@example.com", "x@y.z"))
        # Groups and Platform: found and not.
        definition = GroupDefinition("household", "household_id", [GroupAttribute("ltv", "sum")])
        await mp.groups.create(definition)
        await mp.groups.list()
        await outcome_of(mp.groups.get("no-such-group"), errors)
        await mp.groups.delete("household")
        await mp.platform.list_apps()
        await outcome_of(mp.platform.get_app(987654), errors)
        # Events (Basic).
        await mp.events.upload(
            Batch(environment="development", mpid=mpids[0], events=[CustomEvent("signed_up")])
        )
        reprs += [repr(mp), repr(mp.session), repr(mp.oauth), repr(mp.identity_auth)]
        reprs += [repr(mp.events_auth), repr(state)]
        signed = await mp.identity_auth.apply(  # type: ignore[union-attr]
            Request("POST", f"{emu.hosts.identity}/v1/identify", body=b"{}"), mp.session
        )
        bearer = await mp.oauth.apply(Request("GET", emu.hosts.api), mp.session)  # type: ignore[union-attr]
        reprs += [repr(signed), repr(bearer)]

    # Wrong credentials, for each scheme.
    wrong_oauth = OAuthClientCredentials(state.client_id, WRONG_CLIENT_SECRET)
    async with client_for(emu, oauth=wrong_oauth, retry=FAST) as mp:
        await outcome_of(mp.profiles.get(mpids[0]), errors)
    wrong_hmac = HmacDigestAuth(state.api_key, WRONG_API_SECRET)
    async with client_for(emu, identity_auth=wrong_hmac, retry=FAST) as mp:
        await outcome_of(mp.identity.identify(email="a@example.com"), errors)
    wrong_basic = BasicAuth(state.api_key, WRONG_API_SECRET)
    async with client_for(emu, identity_auth=wrong_basic, retry=FAST) as mp:
        await outcome_of(mp.identity.identify(email="a@example.com"), errors)
    # A token endpoint answering in a form the client does not read, with a token in it.
    faults.token_body = f"access_token={LEAKED_TOKEN}&expires_in=28800".encode()
    async with client_for(emu, retry=FAST) as mp:
        await outcome_of(mp.profiles.get(mpids[0]), errors)
    faults.token_body = None
    # A server too slow for the timeout, and one that is not there at all.
    faults.latency = 0.3
    async with client_for(emu, retry=FAST, timeout=0.1) as mp:
        await outcome_of(mp.identity.identify(email="slow@example.com"), errors)
    faults.latency = 0.0
    gone = MParticle(
        oauth=OAuthClientCredentials(state.client_id, CLIENT_SECRET),
        workspace=emu.workspace,
        hosts=Hosts.local("http://127.0.0.1:9"),
        retry=FAST,
    )
    async with gone:
        await outcome_of(gone.profiles.get(mpids[0]), errors)
    return reprs


async def test_no_secret_or_token_appears_in_any_log_line_error_or_repr_of_a_full_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emu, seen = recording_emulator(profiles=30, seed=1)
    errors: list[BaseException] = []
    async with emu:
        reprs = await full_run(emu, errors)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    haystack = [formatter.format(record) for record in caplog.records] + reprs
    for error in errors:
        haystack += texts_of(error)
    issued: list[str] = emu.state.__dict__["issued"]
    credentials_sent = {value for _, headers in seen for value in headers.values()}
    credentials_sent.discard(emu.state.api_key)  # the key is an identifier, sent in clear
    needles = {
        CLIENT_SECRET,
        API_SECRET,
        WRONG_CLIENT_SECRET,
        WRONG_API_SECRET,
        LEAKED_TOKEN,
        *issued,
        *credentials_sent,  # Bearer and Basic header values, every HMAC signature
    }
    # The run did what it should have: tokens, logs and errors of many kinds to search.
    assert len(issued) >= 2 and len(caplog.records) >= 20
    kinds = {type(error).__name__ for error in errors}
    assert {"NotFound", "NoUserMatched", "Unauthorized", "UnexpectedResponse"} <= kinds
    assert {"ServerError", "RequestTimeout", "ConnectError"} <= kinds
    leaks = [(needle[:12], text[:200]) for needle in needles for text in haystack if needle in text]
    assert leaks == []
    # And no credential ever travelled in a URL.
    urls = [url for url, _ in seen]
    assert not [url for url in urls for needle in {*needles, emu.state.api_key} if needle in url]
    assert not [url for url in urls if "@" in url.split("/")[2]]


@pytest.mark.parametrize(
    "make",
    [
        lambda: HmacDigestAuth("key\r\nX-Injected: 1", "secret"),
        lambda: ApiKeyAuth("key\nX-Injected: 1"),
        lambda: ApiKeyAuth("key with spaces"),
        lambda: HmacDigestAuth("clé", "secret"),
    ],
)
def test_a_key_that_would_break_its_header_is_refused_when_the_strategy_is_made(
    make: Callable[[], object],
) -> None:
    with pytest.raises(InvalidRequest, match="api_key must be visible ASCII") as info:
        make()
    assert "X-Injected" not in str(info.value)


async def test_credentials_in_a_url_are_refused_without_being_echoed(mocked) -> None:
    async with Session() as session:
        with pytest.raises(InvalidRequest, match="credentials must not be put in a URL") as info:
            await session.send(Request("GET", "http://user:hunter2@127.0.0.1:9/v1/apps"))
    assert "hunter2" not in str(info.value)
    assert mocked.requests == {}


def test_the_emulator_compares_signatures_in_constant_time(monkeypatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(emulated_identity.hmac, "compare_digest", spy)
    expected = emulated_identity.expected_signature("secret", "POST", "d", "/v1/identify", b"{}")
    assert emulated_identity._same(expected, expected)
    assert not emulated_identity._same("0" * len(expected), expected)
    assert compared == [(expected.encode(), expected.encode()), (b"0" * 64, expected.encode())]


# --- redirects ---------------------------------------------------------------------------


@pytest.fixture
async def elsewhere() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A second loopback server, another origin, that records every request it gets."""
    received: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        received.append(dict(request.headers))
        return web.json_response({"mpid": "1", "access_token": "t", "expires_in": 60})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serving(app) as url:
        yield url, received


class serving:
    """Serve ``app`` on a loopback port (TLS with ``ssl_context``); the URL while in the block."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self._ssl = ssl_context

    async def __aenter__(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        return site.name

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()


AUTHS: dict[str, Callable[[EmulatorState], dict[str, Any]]] = {
    "profiles with a bearer token": lambda s: {},
    "identity with an HMAC signature": lambda s: {},
    "identity with Basic": lambda s: {"identity_auth": BasicAuth(s.api_key, s.api_secret)},
    "identity with the key alone": lambda s: {"identity_auth": ApiKeyAuth(s.api_key)},
}


@pytest.fixture(scope="module")
def redirecting() -> Iterator[Emulator]:
    """One emulator for every redirect case (each queues the redirect it wants)."""
    server = EmulatorThread(profiles=5, seed=1)
    server.start()
    yield server.emu
    server.stop()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("scheme", AUTHS)
async def test_a_redirect_to_another_host_is_not_followed_so_no_credential_goes_there(
    redirecting: Emulator, elsewhere: tuple[str, list[dict[str, str]]], scheme: str, status: int
) -> None:
    emulator = redirecting
    url, received = elsewhere
    emulator.faults.fail_next(status, headers={"Location": f"{url}/collect"})
    async with client_for(emulator, **AUTHS[scheme](emulator.state)) as mp:
        call = (
            mp.profiles.get(emulator.seeded_mpids[0])
            if scheme.startswith("profiles")
            else mp.identity.identify(email="a@example.com")
        )
        with pytest.raises(UnexpectedResponse, match="do not redirect") as info:
            await call
    assert info.value.status == status
    assert received == []


async def test_a_token_endpoint_redirect_does_not_carry_the_client_secret_elsewhere(
    elsewhere: tuple[str, list[dict[str, str]]],
) -> None:
    url, received = elsewhere

    async def moved(request: web.Request) -> web.Response:
        # 307 and 308 would make a client that follows re-send the POST body: the secret.
        raise web.HTTPTemporaryRedirect(f"{url}/oauth/token")

    app = web.Application()
    app.router.add_post("/oauth/token", moved)
    async with serving(app) as sso:
        oauth = OAuthClientCredentials("id", CLIENT_SECRET, token_url=f"{sso}/oauth/token")
        client = MParticle(oauth=oauth, workspace=Workspace(1, 2, 3), hosts=Hosts.local(sso))
        async with client as mp:
            with pytest.raises(UnexpectedResponse, match="307"):
                await mp.profiles.get(1)
    assert received == []


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and its key (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    yield cert, key


@pytest.fixture
async def tls_emulator(certificate: tuple[Path, Path]) -> AsyncIterator[Emulator]:
    """The emulator's application served over TLS with the self-signed certificate."""
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    emu = Emulator(profiles=5, seed=1)
    async with serving(build_app(emu.state, emu.faults), server_context) as url:
        emu.url = url
        yield emu


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_tls_certificates_are_verified_by_default_and_a_failure_is_not_retried(
    tls_emulator: Emulator,
) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with client_for(tls_emulator, session=Session(sleep=sleep)) as mp:
        assert tls_emulator.url.startswith("https://")
        with pytest.raises(CertificateError) as info:
            await mp.profiles.get(tls_emulator.seeded_mpids[0])
    assert isinstance(info.value, ConnectError)
    assert "certificate" in str(info.value).lower()
    assert sleeps == []  # one attempt: no retry makes an untrusted certificate trusted
    assert tls_emulator.state.token_requests == 0


async def test_a_custom_ssl_context_given_to_the_client_serves_every_api(
    tls_emulator: Emulator, certificate: tuple[Path, Path]
) -> None:
    async with client_for(tls_emulator, ssl=trusting(certificate)) as mp:
        profile = await mp.profiles.get(tls_emulator.seeded_mpids[0])
        user = await mp.identity.identify(email="tls@example.com")
    assert profile.mpid == tls_emulator.seeded_mpids[0] and user.mpid


async def test_a_custom_ssl_context_given_to_a_session_is_used(
    tls_emulator: Emulator, certificate: tuple[Path, Path]
) -> None:
    state = tls_emulator.state
    oauth = OAuthClientCredentials(
        state.client_id, state.client_secret, token_url=tls_emulator.hosts.token_url
    )
    async with Session(ssl=trusting(certificate)) as session:
        profiles = ProfileAPI(session, oauth, tls_emulator.workspace, tls_emulator.hosts)
        profile = await profiles.get(tls_emulator.seeded_mpids[0])
    assert profile.mpid == tls_emulator.seeded_mpids[0]


def test_hosts_refuse_a_base_url_with_credentials_without_echoing_them() -> None:
    from mp_async import Hosts, InvalidRequest

    with pytest.raises(InvalidRequest) as info:
        Hosts.local("https://user:s3cr3t-pass@api.example.com")
    assert "s3cr3t-pass" not in str(info.value)
    assert Hosts.local("https://api.example.com/path@with-at").api.endswith("with-at")
