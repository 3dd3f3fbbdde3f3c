"""The two values that cross the layers: a Request to send, and the Response it got."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from . import _json
from .errors import InvalidRequest, UnexpectedResponse, excerpt

__all__ = ["Request", "Response", "url_under"]


def _basic_parts(token: str) -> list[str]:
    try:
        pair = base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return []
    return [pair, pair.partition(":")[2]]


def url_under(root: str, path: str, what: str = "path") -> str:
    """``root`` + ``path``, checked as it will go on the wire: it must stay under ``root``.

    The URL parser decodes ``%2e%2e`` and then normalises, so ``apps/%2e%2e/%2e%2e/oauth`` would
    leave the API's root (and take its credentials elsewhere); an encoded ``/`` would be one
    segment here and two at a server that decodes first. Both are refused, after parsing.
    """
    base = URL(root.rstrip("/") + "/")
    url = URL(str(base) + path.lstrip("/"))
    given = path.strip("/").split("/")
    parts = url.raw_parts[len(base.raw_parts) - 1 :]
    stays = url.raw_path.startswith(base.raw_path) and len(parts) == len(given)
    if not stays or any(unquote(part) in ("", ".", "..") or "/" in unquote(part) for part in parts):
        raise InvalidRequest(
            f"{what} must stay under {base.raw_path}: {path!r} would leave it once decoded "
            "('.', '..' or '/' written with % escapes are not allowed)"
        )
    return str(url)


@attrs.frozen
class Request:
    """One HTTP request, fully built: auth strategies return a copy with headers added.

    ``body`` holds the exact bytes that will be sent (serialised once, before auth sees it,
    so a signature covers what goes on the wire). ``bucket`` names the rate-limit bucket the
    request counts against (one per API); a 429 closes the gate for that bucket only.
    """

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    bucket: str = ""
    timeout: float | None = None
    #: Whether sending it twice has the effect of sending it once. None: from the method
    #: (GET, HEAD, PUT, DELETE are; POST and PATCH are not); a POST that only reads, or whose
    #: repeats are harmless, says True.
    idempotent: bool | None = None
    #: Credentials this request carries beyond its headers (a client secret in a token request
    #: body, the secret an HMAC signature was made with): never echoed from a reply.
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False)

    _parsed: URL | None = attrs.field(default=None, init=False, repr=False, eq=False)

    @property
    def parsed_url(self) -> URL:
        """The URL as it goes on the wire, ``params`` in its query; parsed once, then reused
        by the signers and by aiohttp, so a signature covers exactly what is sent."""
        parsed = self._parsed
        if parsed is None:
            parsed = URL(self.url)
            if self.params:
                parsed = parsed.update_query(self.params)
            object.__setattr__(self, "_parsed", parsed)
        return parsed

    @classmethod
    def prebuilt(cls, method: str, parsed: URL, url: str, **kwargs: Any) -> Request:
        """A request whose URL its caller built already: ``parsed``, which must be what parsing
        ``url`` gives (``URL(url)``; its text may differ, as a default port or an uppercase
        host would). The Profile API's ``get_many`` builds millions of URLs that differ only in
        the MPID; ``URL.build`` from known-safe parts costs a third of parsing each one."""
        request = cls(method, url, **kwargs)
        object.__setattr__(request, "_parsed", parsed)
        return request

    @property
    def is_idempotent(self) -> bool:
        """Whether the session may retry it after a failure that may have been applied."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")

    @property
    def path(self) -> str:
        """The request path as it goes on the wire, without the query (``/v1/identify``)."""
        return self.parsed_url.raw_path

    @property
    def path_qs(self) -> str:
        """The path with its query as it goes on the wire (``/v1/identify?read_only=true``)."""
        return self.parsed_url.raw_path_qs

    def with_headers(self, headers: Mapping[str, str], *, secrets: tuple[str, ...] = ()) -> Request:
        """A copy with ``headers`` added, replacing any of the same name (and ``secrets``,
        credentials behind them that a reply must never echo, added to ``self.secrets``)."""
        if self.headers:
            replaced = {name.lower() for name in headers}
            merged = {k: v for k, v in self.headers.items() if k.lower() not in replaced}
            merged.update(headers)
        else:
            merged = dict(headers)
        # Every field by name (attrs.evolve costs twice as much on this per-attempt path); a
        # test fails if a field is added and not carried over here.
        copy = Request(
            method=self.method,
            url=self.url,
            params=self.params,
            headers=merged,
            body=self.body,
            bucket=self.bucket,
            timeout=self.timeout,
            idempotent=self.idempotent,
            secrets=self.secrets + secrets if secrets else self.secrets,
        )
        object.__setattr__(copy, "_parsed", self._parsed)
        return copy

    def credentials(self) -> tuple[str, ...]:
        """Every credential this request carries: ``secrets`` and those in its headers."""
        found = list(self.secrets)
        for name, value in self.headers.items():
            lowered = name.lower()
            if lowered == "authorization":
                scheme, _, token = value.partition(" ")
                found += [value, token]
                if scheme.lower() == "basic":
                    found += _basic_parts(token)
            elif lowered == "x-mp-signature":
                found.append(value)
        return tuple(found)

    @classmethod
    def json(cls, method: str, url: str, payload: Any, **kwargs: Any) -> Request:
        """A request whose body is ``payload`` as JSON."""
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        try:
            body = _json.dumps(payload)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidRequest(f"body cannot be sent as JSON: {exc}"[:200]) from None
        return cls(method, url, body=body, headers=headers, **kwargs)


@attrs.frozen
class Response:
    """A successful reply, read whole."""

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    method: str = ""
    path: str = ""

    def json(self) -> Any:
        """The body parsed as JSON; an unreadable body raises ``UnexpectedResponse``."""
        try:
            return _json.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep for json
            raise self.unexpected("the reply is not JSON") from None

    def unexpected(self, what: str) -> UnexpectedResponse:
        """The error for this reply when it is not what the call expects: ``what`` says why."""
        return UnexpectedResponse(
            f"{self.method} {self.path} -> {self.status}: {what}",
            status=self.status,
            method=self.method,
            path=self.path,
            body_excerpt=excerpt(self.body),
        )
