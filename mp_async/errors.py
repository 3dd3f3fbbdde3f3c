"""The exceptions mp_async raises, and the pure mapping from a reply to one of them.

Our exception hierarchy::

    MParticleError
    ├── InvalidRequest (also ValueError)       bad input, caught before anything is sent
    │   └── MissingCredentials                 an API was used without the auth it needs
    ├── ClientClosed (also RuntimeError)       a request on a Session that was closed
    ├── UploadAborted                          a batch handed back unsent: its uploader shut down
    ├── TransportError                         the request never got a reply
    │   ├── ConnectError                       could not connect, or the connection broke
    │   │   └── CertificateError               the server's TLS certificate did not verify
    │   └── RequestTimeout                     no reply within the timeout
    └── APIError                               the server answered with an error
        ├── BadRequest                 400
        ├── Unauthorized               401
        ├── Forbidden                  403
        ├── NotFound                   404
        │   └── NoUserMatched          404 from an Identity search
        ├── PayloadTooLarge            413
        ├── UnprocessableEntity        422
        ├── RateLimited                429  (.retry_after)
        ├── ServerError                5xx
        └── UnexpectedResponse         a 2xx we could not read, or a redirect

Every message names the method and the path; none carries a header, a secret or a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "APIError",
    "BadRequest",
    "CertificateError",
    "ClientClosed",
    "ConnectError",
    "ErrorDetail",
    "Forbidden",
    "InvalidRequest",
    "MParticleError",
    "MissingCredentials",
    "NoUserMatched",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "UnprocessableEntity",
    "UploadAborted",
    "error_for_status",
    "parse_error_details",
]

#: How much of a reply body an error keeps, in characters.
EXCERPT_CHARS = 300


class MParticleError(Exception):
    """The root of every error mp_async raises."""


class InvalidRequest(MParticleError, ValueError):
    """Input was rejected before any request was sent."""


class MissingCredentials(InvalidRequest):
    """An API was called on a client built without the credentials it needs."""


class ClientClosed(MParticleError, RuntimeError):
    """A request was made on a Session (or client) after it was closed."""


class UploadAborted(MParticleError):
    """A batch was handed back unsent, or unconfirmed, because its uploader was shut down."""


class TransportError(MParticleError):
    """The request got no usable reply (connection or timeout), after retries."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        #: False when the request never reached the server (the connection was refused or
        #: could not be made): then it certainly was not applied.
        self.request_sent = request_sent


class ConnectError(TransportError):
    """Connecting failed, or the connection broke before the reply was read."""


class CertificateError(ConnectError):
    """The server's TLS certificate did not verify; never retried."""


class RequestTimeout(TransportError):
    """No reply arrived within the timeout."""


@attrs.frozen
class ErrorDetail:
    """One entry of a reply's ``errors`` list."""

    code: str | int | None = None
    message: str = ""


class APIError(MParticleError):
    """The server answered with a status that is not a success."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        path: str = "",
        errors: Sequence[ErrorDetail] = (),
        body_excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.errors: tuple[ErrorDetail, ...] = tuple(errors)
        self.body_excerpt = body_excerpt


class BadRequest(APIError):
    """400: the server rejected the request as malformed."""


class Unauthorized(APIError):
    """401: credentials missing, wrong or expired."""


class Forbidden(APIError):
    """403: the credentials may not do this."""


class NotFound(APIError):
    """404: no such resource."""


class NoUserMatched(NotFound):
    """An Identity search found no user for the identities given."""


class PayloadTooLarge(APIError):
    """413: the body is over the server's size limit."""


class UnprocessableEntity(APIError):
    """422: well-formed, but the server will not apply it."""


class RateLimited(APIError):
    """429: throttled; ``retry_after`` is the wait the server asked for, in seconds, if any, and
    ``limit_exceeded`` the limit it named (``X-mp-rate-limit-exceeded``), if it did."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit_exceeded: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.limit_exceeded = limit_exceeded


class ServerError(APIError):
    """5xx: the server failed."""


class UnexpectedResponse(APIError):
    """A reply we could not use: an unreadable success body, or a redirect."""


_BY_STATUS: Mapping[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    422: UnprocessableEntity,
    429: RateLimited,
}


REDACTED = b"[redacted]"


def credential_bytes(credentials: Iterable[str]) -> tuple[bytes, ...]:
    """The credentials worth looking for in a reply, encoded (shorter than 4 characters they
    would match innocent text)."""
    return tuple(credential.encode() for credential in credentials if len(credential) >= 4)


def redact_encoded(body: bytes, credentials: Iterable[bytes]) -> bytes:
    """``body`` with every credential (ones we sent, encoded by ``credential_bytes``) replaced.

    A server that quotes our Authorization header, a client secret or a signature back in a
    reply would otherwise put it in an exception message, an excerpt or a log line.
    """
    for raw in credentials:
        if raw in body:
            body = body.replace(raw, REDACTED)
    return body


def excerpt(body: bytes) -> str:
    """The start of a reply body as text, short enough for a message."""
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def parse_error_details(body: bytes) -> tuple[ErrorDetail, ...]:
    """The ``errors`` list of an mParticle error body, or () when it has none we can read."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return ()
    if not isinstance(document, dict):
        return ()
    raw = document.get("errors")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        # Some replies carry a flat {"code": …, "message": …} (or {"error": …}) instead.
        message = document.get("message") or document.get("error")
        code = document.get("code")
        if not message and code is None:
            return ()
        return (
            ErrorDetail(
                code if isinstance(code, (str, int)) and not isinstance(code, bool) else None,
                str(message or ""),
            ),
        )
    details = []
    for item in raw:
        if isinstance(item, dict):
            code = item.get("code")
            details.append(
                ErrorDetail(
                    code if isinstance(code, (str, int)) else None,
                    str(item.get("message", "")),
                )
            )
        else:
            details.append(ErrorDetail(None, str(item)))
    return tuple(details)


def error_for_status(
    status: int,
    *,
    method: str,
    path: str,
    body: bytes,
    retry_after: float | None = None,
    limit_exceeded: str | None = None,
) -> APIError:
    """The typed error for a reply with a non-success ``status``."""
    cls: type[APIError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    elif 300 <= status < 400:
        cls = UnexpectedResponse
    else:
        cls = APIError
    details = parse_error_details(body)
    summary = "; ".join(d.message for d in details if d.message)[:EXCERPT_CHARS]
    message = f"{method} {path} -> {status}"
    if 300 <= status < 400:
        message += " (mParticle's APIs do not redirect; the redirect was not followed)"
    if summary:
        message += f": {summary}"
    kwargs: dict[str, Any] = {
        "status": status,
        "method": method,
        "path": path,
        "errors": details,
        "body_excerpt": excerpt(body),
    }
    if cls is RateLimited:
        return RateLimited(
            message, retry_after=retry_after, limit_exceeded=limit_exceeded, **kwargs
        )
    return cls(message, **kwargs)
