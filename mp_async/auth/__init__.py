"""Auth strategies: small objects that add credentials to one request."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import AuthStrategy, RefreshableAuth, Sender

if TYPE_CHECKING:
    from .basic import BasicAuth
    from .hmac import HmacDigestAuth
    from .key import ApiKeyAuth
    from .oauth import OAuthClientCredentials

# Each strategy's module is imported when its name is first asked for (PEP 562): a program
# pays at start-up for the strategies it uses.
_MODULE_OF = {
    "ApiKeyAuth": "key",
    "BasicAuth": "basic",
    "HmacDigestAuth": "hmac",
    "OAuthClientCredentials": "oauth",
}

__all__ = [
    "ApiKeyAuth",
    "AuthStrategy",
    "BasicAuth",
    "HmacDigestAuth",
    "OAuthClientCredentials",
    "RefreshableAuth",
    "Sender",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
