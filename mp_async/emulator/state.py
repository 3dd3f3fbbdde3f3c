"""The emulator's in-memory world: credentials, tokens, profiles, and what it has seen."""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["EmulatorState", "IdentityState"]

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
_COUNTRIES = ("US", "GB", "DE", "FR", "AU", "JP", "BR", "CA")
_AUDIENCES = ((101, "Frequent buyers"), (102, "Lapsed users"), (103, "Newsletter"))


@attrs.define
class EmulatorState:
    """Everything the emulator knows. Tests seed it and read it back."""

    client_id: str = "emulator-client-id"
    client_secret: str = attrs.field(default="emulator-client-secret", repr=False)
    api_key: str = "emulator-api-key"
    api_secret: str = attrs.field(default="emulator-api-secret", repr=False)
    org_id: int = 1
    account_id: int = 2
    workspace_id: int = 3
    token_lifetime: float = 28800.0
    # token -> monotonic expiry
    tokens: dict[str, float] = attrs.field(factory=dict, repr=False)
    profiles: dict[int, dict[str, Any]] = attrs.field(factory=dict, repr=False)
    # (identity type, value) -> mpid, for Profile resolve
    profile_index: dict[tuple[str, str], int] = attrs.field(factory=dict, repr=False)
    # what was seen: (method, route name) -> count, status -> count
    requests: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    statuses: Counter[int] = attrs.field(factory=Counter)
    # Each API's own emulated state is a field here, declared below this line.
    # Events: every batch accepted, in arrival order; a re-sent batch appears again
    event_batches: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    # Identity: users and auth settings. IdentityState is defined below this class: in
    # emulator/identity.py (which imports this module) it would make an import cycle.
    identity: IdentityState = attrs.field(factory=lambda: IdentityState())
    # Group Identity: group id -> stored definition (one per workspace, as documented)
    groups: dict[str, dict[str, Any]] = attrs.field(factory=dict, repr=False)
    # Platform: resource ("apps", "workspace", "audiences") -> id -> stored document
    platform: dict[str, dict[int, dict[str, Any]]] = attrs.field(factory=dict, repr=False)
    #: What ``GET /platform/v2/workspaces/{id}/calculatedattributes`` lists.
    calculated_attributes: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    token_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    # --- tokens -------------------------------------------------------------------------

    def issue_token(self, valid_for: float | None = None) -> tuple[str, float]:
        """A new access token and the lifetime it claims, in seconds.

        ``valid_for`` makes it stop working sooner than it claims (an early expiry).
        """
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + (
            self.token_lifetime if valid_for is None else valid_for
        )
        return token, self.token_lifetime

    def token_valid(self, token: str) -> bool:
        """True if ``token`` was issued here and has not expired."""
        expires = self.tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def expire_tokens(self) -> None:
        """Expire every token issued so far, at once."""
        self.tokens.clear()

    # --- profiles -----------------------------------------------------------------------

    def add_profile(self, profile: dict[str, Any]) -> int:
        """Store a profile document (it must have an ``mpid``) and index its identities."""
        mpid = int(profile["mpid"])
        self.profiles[mpid] = profile
        for identity in profile.get("user_identities", ()):
            self.profile_index[(identity["type"], identity["value"])] = mpid
        for identity in profile.get("device_identities", ()):
            self.profile_index[(identity["type"], identity["value"])] = mpid
        return mpid

    def seed_profiles(self, count: int, *, seed: int = 0) -> list[int]:
        """Add ``count`` made-up profiles, the same for the same seed; returns their MPIDs."""
        rng = random.Random(seed)
        mpids = []
        for i in range(count):
            mpid = rng.randrange(10**17, 2**63 - 1)
            name = _FIRST_NAMES[i % len(_FIRST_NAMES)]
            audience_id, audience_name = _AUDIENCES[i % len(_AUDIENCES)]
            self.add_profile(
                {
                    "mpid": mpid,
                    "device_identities": [
                        {"type": "android_uuid", "encoding": "none", "value": f"device-{seed}-{i}"}
                    ],
                    "user_identities": [
                        {"type": "customer_id", "encoding": "none", "value": f"cust-{seed}-{i}"},
                        {"type": "email", "encoding": "none", "value": f"user{i}@example.com"},
                    ],
                    "user_attributes": {
                        "$firstname": name,
                        "$country": _COUNTRIES[i % len(_COUNTRIES)],
                        "lifetime_value": round(rng.uniform(0, 500), 2),
                        "is_subscriber": i % 2 == 0,
                    },
                    "audience_memberships": [
                        {
                            "audience_id": audience_id,
                            "audience_name": audience_name,
                            "public_audience_name": audience_name,
                            "expiration_timestamp_ms": None,
                        }
                    ],
                    "attribution": [
                        {
                            "campaign": "spring-launch",
                            "campaign_id": "c-42",
                            "publisher": "example-network",
                            "publisher_id": "p-7",
                            "timestamp_ms": 1_700_000_000_000 + i,
                        }
                    ],
                }
            )
            mpids.append(mpid)
        return mpids

    def profile_view(self, mpid: int, fields: Iterable[str]) -> dict[str, Any] | None:
        """The reply document for ``mpid`` with only ``fields``, or None if unknown."""
        profile = self.profiles.get(mpid)
        if profile is None:
            return None
        view: dict[str, Any] = {"mpid": mpid}
        for field in fields:
            if field in profile:
                view[field] = profile[field]
        return view

    def count(self, method: str, route: str) -> int:
        """How many requests ``route`` received with ``method``."""
        return self.requests[(method, route)]


@attrs.define
class IdentityState:
    """The emulated Identity API: its users, and how strictly it authenticates."""

    # mpid -> that user's identities (identity type -> value)
    users: dict[int, dict[str, str]] = attrs.field(factory=dict, repr=False)
    # (identity type, value) -> mpid
    index: dict[tuple[str, str], int] = attrs.field(factory=dict, repr=False)
    #: Key-only access (``x-mp-key`` alone) is off unless switched on, as mParticle documents.
    key_only_enabled: bool = False
    #: How far a signed request's ``Date`` may be from the emulator's clock, in seconds.
    max_clock_skew: float = 300.0
    # (Date, x-mp-signature) of every request whose signature verified, in arrival order
    signed_requests: list[tuple[str, str]] = attrs.field(factory=list, repr=False)

    def stable_mpid(self, identities: dict[str, str]) -> int:
        """The MPID a new user with ``identities`` gets: the same on every run, not yet taken."""
        rng = random.Random(";".join(f"{t}={v}" for t, v in sorted(identities.items())))
        mpid = rng.randrange(10**17, 2**63 - 1)
        while mpid in self.users:
            mpid = rng.randrange(10**17, 2**63 - 1)
        return mpid

    def add_user(self, identities: dict[str, str], mpid: int | None = None) -> int:
        """Store a user with ``identities`` (tests seed users with it); returns its MPID."""
        if mpid is None:
            mpid = self.stable_mpid(identities)
        self.users.setdefault(mpid, {})
        for identity_type, value in identities.items():
            self.set_identity(mpid, identity_type, value)
        return mpid

    def set_identity(self, mpid: int, identity_type: str, value: str | None) -> None:
        """Give user ``mpid`` the identity ``identity_type`` = ``value``, or remove it (None)."""
        identities = self.users[mpid]
        old = identities.pop(identity_type, None)
        if old is not None:
            self.index.pop((identity_type, old), None)
        if value is not None:
            identities[identity_type] = value
            self.index[(identity_type, value)] = mpid
