"""Where each API lives (``Hosts``) and which workspace calls are scoped to (``Workspace``)."""

from __future__ import annotations

import re

import attrs

from .errors import InvalidRequest
from .protocol import OAUTH_TOKEN_PATH

__all__ = ["PODS", "Hosts", "Workspace"]

#: The data-centre pods mParticle documents; each has its own Identity and Events hosts.
PODS = ("us1", "us2", "eu1", "au1")


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def check_base_url(name: str, value: object) -> None:
    """Refuse a base URL that is not http(s), carries credentials, or holds a control
    character or a space (a CR/LF would split the request line or retarget the request)."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        # Not echoed in full: it may hold a password.
        raise InvalidRequest(f"{name} must be an http(s) URL")
    if "@" in value.split("://", 1)[1].split("/", 1)[0]:
        # Credentials in a URL end up in logs and error messages; the value is not echoed.
        raise InvalidRequest(
            f"{name} must not carry credentials (user:password@); pass an auth strategy instead"
        )
    if _CONTROL_OR_SPACE.search(value):
        raise InvalidRequest(f"{name} must not contain spaces or control characters (CR, LF…)")


def _origin(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_base_url(f"Hosts.{attribute.name}", value)
    if "?" in value or "#" in value:
        # Paths are appended to a host's base URL: a query or a fragment would swallow them.
        raise InvalidRequest(f"Hosts.{attribute.name} must not have a query (?) or a fragment (#)")


def _strip_slash(value: str) -> str:
    # Surrounding whitespace, such as the newline a .env file leaves, is not part of a URL.
    return value.strip().rstrip("/") if isinstance(value, str) else value


@attrs.frozen
class Hosts:
    """The base URL of each API; the documented paths are appended to them.

    Each is an origin, optionally with a path prefix, so one local server can stand in for
    all four: ``Hosts.local("http://127.0.0.1:8080")``.
    """

    api: str = attrs.field(converter=_strip_slash, validator=_origin)
    sso: str = attrs.field(converter=_strip_slash, validator=_origin)
    identity: str = attrs.field(converter=_strip_slash, validator=_origin)
    events: str = attrs.field(converter=_strip_slash, validator=_origin)

    @classmethod
    def for_pod(cls, pod: str) -> Hosts:
        """The hosts of one pod (``us1``, ``us2``, ``eu1``, ``au1``)."""
        pod = pod.lower()
        if pod not in PODS:
            raise InvalidRequest(f"pod must be one of {', '.join(PODS)}; got {pod!r}")
        if pod == "us1":
            return cls(
                api="https://api.mparticle.com",
                sso="https://sso.auth.mparticle.com",
                identity="https://identity.mparticle.com",
                events="https://s2s.mparticle.com",
            )
        return cls(
            api="https://api.mparticle.com",
            sso="https://sso.auth.mparticle.com",
            identity=f"https://identity.{pod}.mparticle.com",
            events=f"https://s2s.{pod}.mparticle.com",
        )

    @classmethod
    def us1(cls) -> Hosts:
        """US1, mParticle's default pod."""
        return cls.for_pod("us1")

    @classmethod
    def us2(cls) -> Hosts:
        """US2."""
        return cls.for_pod("us2")

    @classmethod
    def eu1(cls) -> Hosts:
        """EU1."""
        return cls.for_pod("eu1")

    @classmethod
    def au1(cls) -> Hosts:
        """AU1."""
        return cls.for_pod("au1")

    @classmethod
    def for_api_key(cls, api_key: str) -> Hosts:
        """The pod an API key belongs to, from its prefix as mParticle's SDKs read it.

        ``us2-…`` is US2, ``eu1-…`` EU1, and a key with no pod prefix is US1.
        """
        prefix = api_key.split("-", 1)[0].lower() if "-" in api_key else ""
        return cls.for_pod(prefix if prefix in PODS else "us1")

    @classmethod
    def local(cls, base_url: str) -> Hosts:
        """Every API on one server (the emulator): Identity and Events under their own prefix."""
        base = _strip_slash(base_url)
        return cls(api=base, sso=base, identity=f"{base}/identity", events=f"{base}/events")

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.sso}{OAUTH_TOKEN_PATH}"


def _positive_id(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequest(
            f"Workspace.{attribute.name} must be a positive integer, got {value!r}"
        )


@attrs.frozen
class Workspace:
    """The org, account and workspace that Profile and Platform calls are scoped to."""

    org_id: int = attrs.field(validator=_positive_id)
    account_id: int = attrs.field(validator=_positive_id)
    workspace_id: int = attrs.field(validator=_positive_id)
