"""The pytest plugin users get: its fixtures work in a project of their own, strict mode included."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import pytest

from mp_async import NotFound, ServerError
from mp_async.testing import client_for


async def test_a_seeded_profile_is_found(mp_client, mp_emulator):
    mpid = mp_emulator.seeded_mpids[0]
    profile = await mp_client.profiles.get(mpid)
    assert profile.mpid == mpid


@pytest.mark.mp_emulator(profiles=3, seed=9)
async def test_the_marker_configures_the_emulator(mp_emulator):
    assert len(mp_emulator.seeded_mpids) == 3


async def test_faults_reach_the_client(mp_emulator, mp_faults):
    mp_faults.error_rate_503 = 1.0
    from mp_async import RetryPolicy
    async with client_for(mp_emulator, retry=RetryPolicy(max_attempts=1)) as mp:
        with pytest.raises(ServerError):
            await mp.profiles.get(mp_emulator.seeded_mpids[0])


async def test_an_unknown_mpid_is_not_found(mp_client):
    with pytest.raises(NotFound):
        await mp_client.profiles.get(1)
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_fixtures_work_in_a_users_project(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\n"
        + ("" if mode == "auto" else "asyncio_default_fixture_loop_scope = function\n")
    )
    body = USER_TESTS
    if mode == "strict":  # strict mode wants each async test marked
        body = body.replace("\nasync def", "\n@pytest.mark.asyncio\nasync def")
    pytester.makepyfile(test_user=body)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
