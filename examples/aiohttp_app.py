"""aiohttp.web: one mParticle client per application, in a ``cleanup_ctx``.

Run it against the emulator (in another shell: ``mp-async emulator --port 8080``, then set the
``MPARTICLE_*`` variables it prints; or those of your workspace), then::

    python -m aiohttp.web -P 8000 examples.aiohttp_app:init_app

The client is opened when the application starts and closed when it stops; handlers read it
from ``request.app[MP]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from mp_async import MParticle, NotFound

MP = web.AppKey("mp", MParticle)


def mparticle_ctx(
    make_client: Callable[[], MParticle] = MParticle.from_env,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens a client on start-up and closes it on shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with make_client() as mp:
            app[MP] = mp
            yield

    return ctx


async def user_attributes(request: web.Request) -> web.Response:
    """``GET /users/{mpid}/attributes``: the user's attributes, or 404."""
    mp = request.app[MP]
    try:
        profile = await mp.profiles.get(request.match_info["mpid"], fields=["user_attributes"])
    except NotFound:
        raise web.HTTPNotFound(text="no such user") from None
    return web.json_response(
        {"mpid": str(profile.mpid), "attributes": dict(profile.user_attributes)}
    )


def create_app(make_client: Callable[[], MParticle] = MParticle.from_env) -> web.Application:
    """The application; ``make_client`` defaults to ``MParticle.from_env`` (tests pass their own)."""
    app = web.Application()
    app.cleanup_ctx.append(mparticle_ctx(make_client))
    app.router.add_get("/users/{mpid}/attributes", user_attributes)
    return app


def init_app(argv: list[str] | None = None) -> web.Application:
    """Entry point for ``python -m aiohttp.web``."""
    return create_app()
