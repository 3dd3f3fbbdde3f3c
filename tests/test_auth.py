"""Auth strategies: the documented vectors, and the OAuth token cache with a mocked server."""

from __future__ import annotations

import asyncio

import pytest
from aioresponses import CallbackResult

from mp_async import InvalidRequest, Request, Session
from mp_async.auth import ApiKeyAuth, BasicAuth, HmacDigestAuth, OAuthClientCredentials
from mp_async.auth.hmac import format_date, sign
from mp_async.errors import Unauthorized, UnexpectedResponse

TOKEN_URL = "https://sso.auth.mparticle.com/oauth/token"
IDENTIFY = "https://identity.mparticle.com/v1/identify"
BODY = b'{"known_identities":{"email":"a@example.com"},"environment":"production"}'


async def test_basic_auth_matches_the_documented_example() -> None:
    auth = BasicAuth("example-api-key", "example-api-secret")
    async with Session() as session:
        sent = await auth.apply(Request("POST", "https://s2s.mparticle.com/v2/events"), session)
    assert sent.headers["Authorization"] == (
        "Basic ZXhhbXBsZS1hcGkta2V5OmV4YW1wbGUtYXBpLXNlY3JldA=="
    )


def test_hmac_signature_matches_a_vector_computed_with_openssl() -> None:
    # printf 'POST\n20170712T224127Z\n/v1/identify<BODY>' | openssl dgst -sha256 -hmac SECRET
    assert sign("example-api-secret", "POST", "20170712T224127Z", "/v1/identify", BODY) == (
        "5321f4ad18afabdfa75c46c6542feafd7f7c0d81041a0e4866d694f7baa6386c"
    )


async def test_hmac_auth_signs_the_path_as_sent_and_the_exact_body() -> None:
    auth = HmacDigestAuth("example-api-key", "example-api-secret", clock=lambda: 1499899287.0)
    request = Request("POST", IDENTIFY, body=BODY)
    async with Session() as session:
        sent = await auth.apply(request, session)
    assert sent.headers["x-mp-key"] == "example-api-key"
    assert sent.headers["Date"] == "20170712T224127Z"
    assert sent.headers["x-mp-signature"] == (
        "5321f4ad18afabdfa75c46c6542feafd7f7c0d81041a0e4866d694f7baa6386c"
    )
    assert sent.body is request.body


async def test_hmac_auth_signs_afresh_with_each_date() -> None:
    now = [1499899287.0]
    auth = HmacDigestAuth("k", "s", clock=lambda: now[0])
    request = Request("POST", IDENTIFY, body=BODY)
    async with Session() as session:
        first = await auth.apply(request, session)
        now[0] += 2
        second = await auth.apply(first, session)  # a retry: the old headers are replaced
    assert first.headers["Date"] != second.headers["Date"]
    assert first.headers["x-mp-signature"] != second.headers["x-mp-signature"]
    assert sum(1 for name in second.headers if name.lower() == "date") == 1


def test_rfc1123_dates_are_offered_for_servers_that_want_them() -> None:
    assert format_date(1499899287.0, "rfc1123") == "Wed, 12 Jul 2017 22:41:27 GMT"
    with pytest.raises(InvalidRequest, match="date_format"):
        HmacDigestAuth("k", "s", date_format="unix")  # type: ignore[arg-type]


async def test_api_key_auth_sends_the_key_alone() -> None:
    async with Session() as session:
        sent = await ApiKeyAuth("example-api-key").apply(Request("POST", IDENTIFY), session)
    assert dict(sent.headers) == {"x-mp-key": "example-api-key"}


@pytest.mark.parametrize("cls", [BasicAuth, HmacDigestAuth, OAuthClientCredentials])
def test_secrets_are_not_in_reprs(cls: type) -> None:
    strategy = cls("the-key", "the-very-secret-value")
    assert "the-very-secret-value" not in repr(strategy)
    assert "the-key" in repr(strategy)


@pytest.mark.parametrize("args", [("", "s"), ("k", ""), (None, "s")])
def test_empty_credentials_are_rejected(args: tuple[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        BasicAuth(*args)


def _token_reply(token: str, expires_in: int = 28800) -> dict[str, object]:
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


async def test_oauth_posts_the_documented_body_and_sets_a_bearer_header(mocked) -> None:
    mocked.post(TOKEN_URL, payload=_token_reply("tok-1"))
    auth = OAuthClientCredentials("my-id", "my-secret")
    async with Session() as session:
        sent = await auth.apply(Request("GET", "https://api.mparticle.com/v1/apps"), session)
    assert sent.headers["Authorization"] == "Bearer tok-1"
    (call,) = mocked.requests[("POST", _url(TOKEN_URL))]
    assert call.kwargs["data"] == (
        b'{"client_id":"my-id","client_secret":"my-secret",'
        b'"audience":"https://api.mparticle.com","grant_type":"client_credentials"}'
    )


async def test_oauth_fetches_once_for_many_concurrent_callers(mocked) -> None:
    async def slow_token(url, **kwargs):
        await asyncio.sleep(0.05)
        return CallbackResult(payload=_token_reply("shared"))

    mocked.post(TOKEN_URL, callback=slow_token, repeat=True)
    auth = OAuthClientCredentials("id", "secret")
    request = Request("GET", "https://api.mparticle.com/v1/apps")
    async with Session() as session:
        sent = await asyncio.gather(*(auth.apply(request, session) for _ in range(50)))
    assert {s.headers["Authorization"] for s in sent} == {"Bearer shared"}
    assert len(mocked.requests[("POST", _url(TOKEN_URL))]) == 1


async def test_oauth_refreshes_ahead_of_expiry_without_making_callers_wait(mocked) -> None:
    now = [0.0]
    mocked.post(TOKEN_URL, payload=_token_reply("first", expires_in=100))
    mocked.post(TOKEN_URL, payload=_token_reply("second", expires_in=100))
    # margin capped at half the lifetime: refresh from t=50
    auth = OAuthClientCredentials("id", "secret", refresh_margin=300, clock=lambda: now[0])
    request = Request("GET", "https://api.mparticle.com/v1/apps")
    async with Session() as session:
        assert (await auth.apply(request, session)).headers["Authorization"] == "Bearer first"
        now[0] = 49.0
        assert (await auth.apply(request, session)).headers["Authorization"] == "Bearer first"
        now[0] = 60.0
        # inside the margin: the current token is still used while a refresh runs
        assert (await auth.apply(request, session)).headers["Authorization"] == "Bearer first"
        await asyncio.sleep(0.01)
        assert (await auth.apply(request, session)).headers["Authorization"] == "Bearer second"
    assert auth.fetch_count == 2


async def test_oauth_invalidate_drops_only_the_token_that_was_sent(mocked) -> None:
    mocked.post(TOKEN_URL, payload=_token_reply("current"))
    auth = OAuthClientCredentials("id", "secret")
    request = Request("GET", "https://api.mparticle.com/v1/apps")
    async with Session() as session:
        sent = await auth.apply(request, session)
        stale = request.with_headers({"Authorization": "Bearer older"})
        assert auth.invalidate(stale) is True
        assert (await auth.apply(request, session)).headers["Authorization"] == "Bearer current"
        assert auth.fetch_count == 1
        assert auth.invalidate(sent) is True
    assert auth._token is None


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b"{}",
        b'{"access_token": ""}',
        b'{"access_token": "t", "expires_in": -1}',
        b"[]",
    ],
)
async def test_oauth_unusable_token_reply_is_a_clear_error(mocked, body: bytes) -> None:
    mocked.post(TOKEN_URL, body=body)
    auth = OAuthClientCredentials("id", "secret")
    async with Session() as session:
        with pytest.raises(UnexpectedResponse) as info:
            await auth.apply(Request("GET", "https://api.mparticle.com/v1/apps"), session)
    assert "secret" not in str(info.value)


async def test_oauth_wrong_secret_is_unauthorized(mocked) -> None:
    mocked.post(TOKEN_URL, status=401, payload={"errors": [{"message": "access_denied"}]})
    auth = OAuthClientCredentials("id", "wrong-secret-value")
    async with Session() as session:
        with pytest.raises(Unauthorized) as info:
            await auth.apply(Request("GET", "https://api.mparticle.com/v1/apps"), session)
    assert "wrong-secret-value" not in str(info.value)


def _url(url: str):
    from yarl import URL

    return URL(url)
