"""Documented facts of mParticle's APIs, in one place for the client and the emulator."""

from __future__ import annotations

__all__ = [
    "ENVIRONMENTS",
    "GROUP_ATTRIBUTE_ID_LENGTH",
    "GROUP_ATTRIBUTE_TYPES",
    "GROUP_DESCRIPTION_LENGTH",
    "GROUP_ID_LENGTH",
    "GROUP_MAX_ATTRIBUTES",
    "IDENTITY_TYPES",
    "PLATFORM_PATH",
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

#: The identity types the Identity API (IDSync) documents, as ``known_identities`` keys and
#: ``identity_type`` values (mParticle's identity Swagger spec, ``Identities``).
IDENTITY_TYPES = (
    "ios_idfa",
    "android_aaid",
    "amp_id",
    "android_uuid",
    "ios_idfv",
    "push_token",
    "roku_publisher_id",
    "roku_aid",
    "fire_aid",
    "customerid",
    "email",
    "facebook",
    "facebookcustomaudienceid",
    "google",
    "microsoft",
    "other",
    "twitter",
    "yahoo",
    "device_application_stamp",
)

# The documented limits of a group definition (Group Identity API reference).
#: Characters in a group id, inclusive.
GROUP_ID_LENGTH = (3, 32)
#: Characters in a group description, inclusive.
GROUP_DESCRIPTION_LENGTH = (0, 255)
#: Characters in a group attribute id (the user attribute it aggregates), inclusive.
GROUP_ATTRIBUTE_ID_LENGTH = (1, 223)
#: Attributes a group definition may carry.
GROUP_MAX_ATTRIBUTES = 10
#: How an attribute's values across a group's members are combined.
GROUP_ATTRIBUTE_TYPES = ("latest", "boolean_or", "sum", "average")
#: Path of the Platform API under ``Hosts.api``.
PLATFORM_PATH = "/v1"
