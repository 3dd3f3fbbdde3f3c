"""FastAPI: one mParticle client per application, opened and closed by the lifespan.

Run it against the emulator (in another shell: ``mp-async emulator --port 8080``, then set the
``MPARTICLE_*`` variables it prints; or those of your workspace), then::

    uvicorn examples.fastapi_app:app

Every request handler shares the client's connection pool, token and rate-limit state; the
pool is closed once, when the application shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request

from mp_async import MParticle, NotFound


def mparticle(request: Request) -> MParticle:
    """The application's client, as a dependency."""
    mp: MParticle = request.app.state.mp
    return mp


Client = Annotated[MParticle, Depends(mparticle)]
router = APIRouter()


@router.get("/users/{mpid}/attributes")
async def user_attributes(mpid: int, mp: Client) -> dict[str, Any]:
    """The user's attributes, or 404."""
    try:
        profile = await mp.profiles.get(mpid, fields=["user_attributes"])
    except NotFound:
        raise HTTPException(status_code=404, detail="no such user") from None
    return {"mpid": str(profile.mpid), "attributes": dict(profile.user_attributes)}


def create_app(client: MParticle | None = None) -> FastAPI:
    """The application; ``client`` defaults to ``MParticle.from_env()`` (tests pass their own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client or MParticle.from_env() as mp:
            app.state.mp = mp
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()
