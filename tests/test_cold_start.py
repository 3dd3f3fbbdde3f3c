"""A program pays at start-up for the APIs it uses: each API's module is imported on first use."""

from __future__ import annotations

import subprocess
import sys

APIS = ("events", "groups", "identity", "platform", "profiles")


def imported_after(code: str) -> set[str]:
    program = (
        f"{code}\nimport sys\n"
        "print(' '.join(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('mp_async.api.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split()) & set(APIS)


def test_importing_the_package_imports_no_api_module() -> None:
    assert imported_after("import mp_async") == set()


def test_a_profile_only_program_imports_the_profile_api_alone() -> None:
    code = (
        "from mp_async import MParticle, Workspace\n"
        "from mp_async.auth import OAuthClientCredentials\n"
        "mp = MParticle(oauth=OAuthClientCredentials('id', 'secret'), workspace=Workspace(1, 2, 3))\n"
        "mp.profiles"
    )
    assert imported_after(code) == {"profiles"}


def test_names_of_the_api_package_are_still_importable_from_it() -> None:
    import mp_async.api as api

    for name in api.__all__:
        assert getattr(api, name) is getattr(
            sys.modules[f"mp_async.api.{api._MODULE_OF[name]}"], name
        )
    assert imported_after("from mp_async.api import Batch, ProfileResult") >= {"events", "profiles"}


def test_importing_the_package_imports_no_auth_strategy_and_no_backoff() -> None:
    program = (
        "import sys, mp_async\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('mp_async.auth.', 'backoff'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    assert set(out.split()) == {"mp_async.auth.base"}
    import mp_async.auth as auth

    assert auth.HmacDigestAuth.__name__ == "HmacDigestAuth"  # still there when asked for
