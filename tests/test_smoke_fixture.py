async def test_fixture_mp_gets_a_seeded_profile(mp, emulator):
    profile = await mp.profiles.get(emulator.seeded_mpids[0])
    assert profile.mpid == emulator.seeded_mpids[0]
