"""mp_async: an asyncio client for mParticle's server-side HTTP APIs."""

__version__ = "0.1.0.dev0"  # first: the Session's User-Agent reads it

from .client import MParticle
from .errors import (
    APIError,
    InvalidRequest,
    MParticleError,
    NotFound,
    NoUserMatched,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from .hosts import Hosts, Workspace
from .request import Request, Response
from .retry import RetryPolicy
from .session import Session

__all__ = [
    "APIError",
    "Hosts",
    "InvalidRequest",
    "MParticle",
    "MParticleError",
    "NoUserMatched",
    "NotFound",
    "RateLimited",
    "Request",
    "Response",
    "RetryPolicy",
    "ServerError",
    "Session",
    "TransportError",
    "Unauthorized",
    "Workspace",
]
