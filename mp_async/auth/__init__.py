"""Auth strategies: small objects that add credentials to one request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .base import AuthStrategy, RefreshableAuth, Sender

if TYPE_CHECKING:
    from .basic import BasicAuth
    from .cache import CachedToken, MemoryTokenCache, TokenCache
    from .hmac import HmacDigestAuth
    from .key import ApiKeyAuth
    from .oauth import OAuthClientCredentials

# Each strategy's module is imported when its name is first asked for (PEP 562): a program
# pays at start-up for the strategies it uses.
_MODULE_OF = {
    "ApiKeyAuth": "key",
    "BasicAuth": "basic",
    "CachedToken": "cache",
    "HmacDigestAuth": "hmac",
    "MemoryTokenCache": "cache",
    "OAuthClientCredentials": "oauth",
    "TokenCache": "cache",
}

__all__ = [
    "ApiKeyAuth",
    "AuthStrategy",
    "BasicAuth",
    "CachedToken",
    "HmacDigestAuth",
    "MemoryTokenCache",
    "OAuthClientCredentials",
    "RefreshableAuth",
    "Sender",
    "TokenCache",
]


__getattr__ = lazy_getattr(__name__, globals(), _MODULE_OF)
