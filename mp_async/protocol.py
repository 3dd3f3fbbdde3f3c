"""Documented facts of mParticle's APIs, in one place for the client and the emulator."""

from __future__ import annotations

__all__ = [
    "ENVIRONMENTS",
    "PROFILE_FIELDS",
    "PROFILE_PATH",
    "TOKEN_LIFETIME",
]

#: The fields a Profile API call may ask for (``fields=`` query parameter).
PROFILE_FIELDS = (
    "device_identities",
    "user_identities",
    "user_attributes",
    "audience_memberships",
    "attribution",
)

#: The environments a Profile resolve or an Identity request may name.
ENVIRONMENTS = ("production", "development")

#: Path of the Profile API under ``Hosts.api``.
PROFILE_PATH = "/userprofile/v1"

#: Seconds an OAuth token is valid, as documented.
TOKEN_LIFETIME = 28800
