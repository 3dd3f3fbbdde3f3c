"""Auth strategies: small objects that add credentials to one request."""

from .base import AuthStrategy, RefreshableAuth, Sender
from .basic import BasicAuth
from .hmac import HmacDigestAuth
from .key import ApiKeyAuth
from .oauth import OAuthClientCredentials

__all__ = [
    "ApiKeyAuth",
    "AuthStrategy",
    "BasicAuth",
    "HmacDigestAuth",
    "OAuthClientCredentials",
    "RefreshableAuth",
    "Sender",
]
