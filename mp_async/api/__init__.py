"""Endpoint modules: validate input, build a Request, decode the reply into models."""

from .profiles import Profile, ProfileAPI, ProfileResult

__all__ = ["Profile", "ProfileAPI", "ProfileResult"]
