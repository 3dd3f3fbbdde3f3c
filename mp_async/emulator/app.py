"""The emulator's web application, its middlewares, and the ``Emulator`` runner."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from ..hosts import Hosts, Workspace
from ..protocol import OAUTH_AUDIENCE, OAUTH_TOKEN_PATH
from . import events, groups, identity, platform, profiles
from .faults import Faults, ScriptedReply, retry_after_header
from .replies import FAULTS, STATE, Rejected, error_reply, json_reply, read_json_or_reject
from .state import EmulatorState

__all__ = ["Emulator", "build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Each API's routes, registered by its own module.
ROUTE_MODULES = (profiles, identity, groups, platform, events)


async def issue_token(request: web.Request) -> web.Response:
    """``POST /oauth/token``: client credentials in a JSON body, a bearer token out."""
    state, faults = request.app[STATE], request.app[FAULTS]
    state.token_requests += 1
    if faults.token_delay:
        await asyncio.sleep(faults.token_delay)
    if faults.token_failures > 0:
        faults.token_failures -= 1
        return error_reply(503, "SERVICE_UNAVAILABLE", "the token service is unavailable")
    document = await read_json_or_reject(request)
    if not isinstance(document, dict) or document.get("grant_type") != "client_credentials":
        return error_reply(400, "invalid_request", "grant_type must be client_credentials")
    if document.get("audience") != OAUTH_AUDIENCE:
        return error_reply(400, "invalid_request", f"audience must be {OAUTH_AUDIENCE}")
    if (
        document.get("client_id") != state.client_id
        or document.get("client_secret") != state.client_secret
    ):
        return error_reply(401, "access_denied", "unknown client id or wrong secret")
    if faults.token_body is not None:
        return web.Response(body=faults.token_body, content_type="application/json")
    token, lifetime = state.issue_token(valid_for=faults.token_dies_after)
    return json_reply({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})


async def _scripted(request: web.Request, reply: ScriptedReply) -> web.StreamResponse:
    if reply.reset:
        return await _reset(request)
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


async def _reset(request: web.Request) -> web.StreamResponse:
    # Promise a body, send part of it, then drop the connection: the client reads a
    # truncated reply, as when a load balancer resets a connection mid-response.
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = 4096
    await response.prepare(request)
    await response.write(b'{"mpid": 1, "user_attributes": {')
    if request.transport is not None:
        request.transport.abort()
    return response


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every request, then applies the fault controls before the real handler."""
    state, faults = request.app[STATE], request.app[FAULTS]
    route = request.match_info.route.name or "unmatched"
    state.requests[(request.method, route)] += 1
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        response = await _apply_faults(request, handler, faults, route)
        state.statuses[response.status] += 1
        return response
    finally:
        state.in_flight -= 1


@web.middleware
async def rejection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sends the response of a ``Rejected`` a handler raised."""
    try:
        return await handler(request)
    except Rejected as rejected:
        return rejected.response


async def _apply_faults(
    request: web.Request, handler: Handler, faults: Faults, route: str
) -> web.StreamResponse:
    if route == "token" or route == "unmatched":
        return await handler(request)
    scripted = faults.take_scripted(request.path)
    if scripted is not None:
        return await _scripted(request, scripted)
    api = route.split(".", 1)[0]
    wait = faults.throttled(api, time.monotonic())
    if wait is not None:
        return error_reply(
            429,
            "TOO_MANY_REQUESTS",
            "rate limit exceeded",
            headers={
                "Retry-After": retry_after_header(wait),
                "X-mp-rate-limit-exceeded": f"{api}-requests-per-second",
            },
        )
    if faults.latency:
        await asyncio.sleep(faults.latency)
    roll = faults.rng.random()
    for share, status in ((faults.error_rate_503, 503), (faults.error_rate_500, 500)):
        if roll < share:
            return error_reply(status, "SERVER_ERROR", "the emulator was told to fail this one")
        roll -= share
    if roll < faults.reset_rate:
        return await _reset(request)
    roll -= faults.reset_rate
    if roll < faults.slow_rate:
        await asyncio.sleep(faults.slow_seconds)
    response = await handler(request)
    used = faults.percentage_used(api, time.monotonic())
    if used is not None and 200 <= response.status < 300 and not response.prepared:
        # mParticle's early warning on throttled resources (default-service-limits guide)
        response.headers["X-mp-rate-limit-percentage-used"] = str(used)
    return response


def build_app(state: EmulatorState | None = None, faults: Faults | None = None) -> web.Application:
    """The emulator as an ``aiohttp.web`` application."""
    # The fault middleware is outermost: it counts a rejection's status like any other reply.
    app = web.Application(middlewares=[fault_middleware, rejection_middleware])
    app[STATE] = state or EmulatorState()
    app[FAULTS] = faults or Faults()
    app.router.add_post(OAUTH_TOKEN_PATH, issue_token, name="token")
    for module in ROUTE_MODULES:
        module.add_routes(app)
    return app


class Emulator:
    """A local mParticle on a loopback port: ``async with Emulator() as emu: emu.hosts``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        profiles: int = 0,
        seed: int = 0,
        token_lifetime: float = 28800.0,
        faults: Faults | None = None,
        state: EmulatorState | None = None,
    ) -> None:
        self.state = state or EmulatorState(token_lifetime=token_lifetime)
        self.faults = faults or Faults(seed=seed)
        self.seeded_mpids = self.state.seed_profiles(profiles, seed=seed) if profiles else []
        self.app = build_app(self.state, self.faults)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Start serving; ``url`` then names the bound address."""
        # Like a real server, stop work for a client that went away, and do not keep a test
        # waiting on a slowed-down handler at shutdown.
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.url = site.name

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            # Accept the connections already waiting in the listen backlog before the server
            # closes: asyncio (3.11) accepts one in the same loop pass as Server.close(), fails
            # to attach its transport, and leaks the socket without a word. Accepted first,
            # they are closed with the others below.
            for _ in range(3):
                await asyncio.sleep(0)
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def hosts(self) -> Hosts:
        """Hosts that point every API at this emulator."""
        return Hosts.local(self.url)

    @property
    def workspace(self) -> Workspace:
        """The workspace the emulator serves."""
        return Workspace(self.state.org_id, self.state.account_id, self.state.workspace_id)

    def describe(self) -> str:
        """The credentials and ids to point a client at this emulator, for a shell."""
        s = self.state
        return json.dumps(
            {
                "MPARTICLE_BASE_URL": self.url,
                "MPARTICLE_CLIENT_ID": s.client_id,
                "MPARTICLE_CLIENT_SECRET": s.client_secret,
                "MPARTICLE_API_KEY": s.api_key,
                "MPARTICLE_API_SECRET": s.api_secret,
                "MPARTICLE_ORG_ID": str(s.org_id),
                "MPARTICLE_ACCOUNT_ID": str(s.account_id),
                "MPARTICLE_WORKSPACE_ID": str(s.workspace_id),
            },
            indent=2,
        )
