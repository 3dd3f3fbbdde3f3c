"""Endpoint modules: validate input, build a Request, decode the reply into models.

Each API class works on its own on a ``Session``; ``MParticle`` builds them for you.
"""

from .events import Batch, BatchUploader, CustomEvent, EventsAPI, ScreenViewEvent, UploadResult
from .groups import Group, GroupAttribute, GroupDefinition, GroupsAPI
from .identity import IdentityAPI, IdentityChange, IdentityResult
from .platform import App, Audience, PlatformAPI, PlatformWorkspace
from .profiles import Profile, ProfileAPI, ProfileResult

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
    "ProfileResult",
    "ScreenViewEvent",
    "UploadResult",
]
