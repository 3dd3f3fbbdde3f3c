"""The emulated Identity API (filled in by its issue)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Register the Identity API's routes."""
