"""Endpoint modules: validate input, build a Request, decode the reply into models.

Each API class works on its own on a ``Session``; ``MParticle`` builds them for you.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .events import Batch, BatchUploader, CustomEvent, EventsAPI, ScreenViewEvent, UploadResult
    from .groups import Group, GroupAttribute, GroupDefinition, GroupsAPI
    from .identity import IdentityAPI, IdentityChange, IdentityResult
    from .platform import App, Audience, PlatformAPI, PlatformWorkspace
    from .profiles import Profile, ProfileAPI, ProfileFailed, ProfileFound, ProfileResult

# Each API's module is imported when a name of it is first asked for, so that a program using
# one API does not pay at start-up for the others (PEP 562).
_HOMES = {
    "events": (
        "Batch",
        "BatchUploader",
        "CustomEvent",
        "EventsAPI",
        "ScreenViewEvent",
        "UploadResult",
    ),
    "groups": ("Group", "GroupAttribute", "GroupDefinition", "GroupsAPI"),
    "identity": ("IdentityAPI", "IdentityChange", "IdentityResult"),
    "platform": ("App", "Audience", "PlatformAPI", "PlatformWorkspace"),
    "profiles": ("Profile", "ProfileAPI", "ProfileFailed", "ProfileFound", "ProfileResult"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


__getattr__ = lazy_getattr(__name__, globals(), _MODULE_OF)


__all__ = [
    "App",
    "Audience",
    "Batch",
    "BatchUploader",
    "CustomEvent",
    "EventsAPI",
    "Group",
    "GroupAttribute",
    "GroupDefinition",
    "GroupsAPI",
    "IdentityAPI",
    "IdentityChange",
    "IdentityResult",
    "PlatformAPI",
    "PlatformWorkspace",
    "Profile",
    "ProfileAPI",
    "ProfileFailed",
    "ProfileFound",
    "ProfileResult",
    "ScreenViewEvent",
    "UploadResult",
]
