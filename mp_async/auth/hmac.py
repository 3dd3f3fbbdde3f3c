"""HMAC digest, the Identity API's preferred scheme: every attempt is signed afresh.

Headers: ``x-mp-key`` (the key), ``Date`` and ``x-mp-signature``, the lowercase hex of
HMAC-SHA256 keyed with the UTF-8 secret over ``METHOD\\nDATE\\nPATH`` followed by the body
bytes. The server signs the ``Date`` string it receives, so we sign exactly the value we send.
PATH is the path as sent with its query when it has one (``/v1/identify?read_only=true``):
mParticle's Android SDK signs ``URL.getFile()`` (MParticleBaseClientImpl) and its Apple SDK
appends ``"?" + query`` (MPURLRequestBuilder).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Literal

import attrs

from ..errors import InvalidRequest
from ..request import Request
from .base import Sender
from .basic import _header_value, _non_empty

__all__ = ["HmacDigestAuth", "format_date", "sign"]

DateFormat = Literal["iso8601", "rfc1123"]


def sign(secret: str, method: str, date: str, path: str, body: bytes | None) -> str:
    """The ``x-mp-signature`` value for one request, as lowercase hex."""
    message = f"{method.upper()}\n{date}\n{path}".encode() + (body or b"")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def format_date(epoch_seconds: float, style: DateFormat = "iso8601") -> str:
    """A ``Date`` header value: ISO 8601 basic (``20170712T224127Z``) or RFC 1123."""
    if style == "rfc1123":
        return formatdate(epoch_seconds, usegmt=True)
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_seconds))


def _date_style(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("iso8601", "rfc1123"):
        raise InvalidRequest(
            f"HmacDigestAuth.date_format must be 'iso8601' or 'rfc1123', got {value!r}"
        )


@attrs.frozen
class HmacDigestAuth:
    """Signs each attempt with the API secret; the secret itself never leaves the process."""

    api_key: str = attrs.field(validator=_header_value)
    api_secret: str = attrs.field(validator=_non_empty, repr=False)
    date_format: DateFormat = attrs.field(default="iso8601", validator=_date_style)
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False, eq=False)

    async def apply(self, request: Request, sender: Sender) -> Request:
        """Add ``x-mp-key``, a fresh ``Date`` and the signature over the exact body bytes."""
        date = format_date(self.clock(), self.date_format)
        signature = sign(self.api_secret, request.method, date, request.path_qs, request.body)
        return request.with_headers(
            {"x-mp-key": self.api_key, "Date": date, "x-mp-signature": signature},
            secrets=(self.api_secret,),
        )
