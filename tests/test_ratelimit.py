"""Client-side rate control: the pure parts on a fake clock, and convergence over the wire."""

from __future__ import annotations

import itertools

import pytest
from conftest import FakeTime, client_for
from hypothesis import given, settings
from hypothesis import strategies as st

from mp_async import InvalidRequest, RateLimited, RetryPolicy
from mp_async.emulator import Emulator
from mp_async.ratelimit import BETA, HORIZON, SHRINK, AdaptiveRateLimiter, K


def limiter(**kwargs: object) -> tuple[AdaptiveRateLimiter, FakeTime]:
    fake = FakeTime()
    return AdaptiveRateLimiter(clock=fake.clock, **kwargs), fake  # type: ignore[arg-type]


def successes(lim: AdaptiveRateLimiter, fake: FakeTime, count: int, per_second: float) -> None:
    for _ in range(count):
        fake.now += 1.0 / per_second
        lim.on_reply("profile", 200, None)


async def test_with_no_limit_known_nothing_is_paced() -> None:
    lim, fake = limiter()
    successes(lim, fake, 1000, 10_000)
    assert lim.rate("profile") is None
    for _ in range(1000):
        await lim.acquire("profile", fake.now + 1, fake.sleep)
    assert fake.sleeps == []


def test_a_second_of_silence_is_not_taken_for_the_limit() -> None:
    lim, fake = limiter()
    successes(lim, fake, 40, 40)
    lim.on_reply("profile", 429, None)
    successes(lim, fake, 200, 40)  # slow start: the pace passes 40/s
    paced = lim.rate("profile")
    assert paced is not None and paced > 40
    fake.now += 5.0  # then nothing got through for a while (a gate, or an idle client)
    lim.on_reply("profile", 429, None)
    assert lim.rate("profile") == pytest.approx(paced / 2 * SHRINK * BETA)


def test_a_429_starts_pacing_below_what_got_through() -> None:
    lim, fake = limiter()
    successes(lim, fake, 40, 40)  # 40 successes over the last second
    lim.on_reply("profile", 429, None)
    assert lim.rate("profile") == pytest.approx(40 * BETA)


def test_one_wave_of_429s_counts_once() -> None:
    lim, fake = limiter()
    successes(lim, fake, 40, 40)
    for _ in range(32):  # every request in flight at the overshoot
        lim.on_reply("profile", 429, None)
    assert lim.rate("profile") == pytest.approx(40 * BETA)


def test_slow_start_doubles_every_second_until_the_next_429() -> None:
    lim, fake = limiter()
    successes(lim, fake, 10, 10)
    lim.on_reply("profile", 429, None)
    first = lim.rate("profile")
    assert first is not None
    fake.now += 1.0
    lim.on_reply("profile", 200, None)
    assert lim.rate("profile") == pytest.approx(first * 2, rel=1e-6)


def test_after_a_429_the_rate_climbs_back_to_just_under_where_it_bit_in_k_seconds() -> None:
    lim, fake = limiter()
    successes(lim, fake, 10, 10)
    lim.on_reply("profile", 429, None)  # first 429: slow start from 9/s ...
    successes(lim, fake, 150, 50)  # ... past the server's 50/s in three seconds
    lim.on_reply("profile", 429, None)  # the limit, measured over those seconds: 50/s
    after = lim.rate("profile")
    assert after == pytest.approx(50 * SHRINK * BETA, rel=0.03)
    r_max = after / BETA
    fake.now += K / 2
    lim.on_reply("profile", 200, None)
    halfway = lim.rate("profile")
    assert halfway is not None and r_max * BETA < halfway < r_max
    fake.now += K / 2
    lim.on_reply("profile", 200, None)
    assert lim.rate("profile") == pytest.approx(r_max, rel=0.01)  # flat just under the limit
    fake.now += K
    lim.on_reply("profile", 200, None)
    assert lim.rate("profile") > 50  # then probing above it  # type: ignore[operator]


def test_an_idle_pause_before_a_429_is_not_measured_as_the_limit() -> None:
    lim, fake = limiter()
    successes(lim, fake, 10, 10)
    lim.on_reply("profile", 429, None)
    successes(lim, fake, 150, 50)  # 50/s for three seconds, then an idle second
    fake.now += 1.0
    successes(lim, fake, 3, 50)  # three quick requests, and the account is over its limit
    paced = lim.rate("profile")
    assert paced is not None
    lim.on_reply("profile", 429, None)
    assert lim.rate("profile") == pytest.approx(paced / 2 * SHRINK * BETA)


@pytest.mark.parametrize(
    ("percentage", "change"),
    [(50.0, "grows"), (90.0, "holds"), (100.0, "holds"), (101.0, "eases"), (150.0, "eases")],
)
def test_percentage_used_eases_off_before_the_server_refuses(
    percentage: float, change: str
) -> None:
    lim, fake = limiter()
    successes(lim, fake, 50, 50)
    lim.on_reply("profile", 429, None)
    successes(lim, fake, 150, 50)
    lim.on_reply("profile", 429, None)  # a limit learned: about 50/s, paced below it
    before = lim.rate("profile")
    assert before is not None
    fake.now += 1.0
    lim.on_reply("profile", 200, percentage)
    after = lim.rate("profile")
    assert after is not None
    assert {"grows": after > before, "holds": after == before, "eases": after < before}[change]
    if change == "eases":  # this client's share of bringing the account back to 100 %
        assert after == pytest.approx(before * 100 / percentage * SHRINK)


def test_after_a_warning_the_climb_resumes_from_just_under_the_scaled_pace() -> None:
    lim, fake = limiter(rate_limit=100.0)
    successes(lim, fake, 100, 100)
    lim.on_reply("profile", 200, 125.0)  # the account used 125 % of its limit: 80/s is ours
    assert lim.rate("profile") == pytest.approx(80 * SHRINK)
    fake.now += K
    lim.on_reply("profile", 200, 50.0)
    assert 80 * SHRINK < lim.rate("profile") < 80 * 1.01  # type: ignore[operator]


async def test_a_given_rate_limit_paces_from_the_start_and_caps_learning() -> None:
    lim, fake = limiter(rate_limit=15.0)
    assert lim.rate("profile") == 15.0
    start = fake.now
    sent = []
    for _ in range(16):
        await lim.acquire("profile", fake.now + 100, fake.sleep)
        sent.append(fake.now - start)
    assert sent[0] == 0.0 and sent[1] == 0.0  # one interval of burst
    assert sent[-1] == pytest.approx(14 / 15)  # then one every 1/15 s
    fake.now += 60
    successes(lim, fake, 100, 15)
    assert lim.rate("profile") == 15.0


def test_per_bucket_limits() -> None:
    lim, _ = limiter(rate_limit={"profile": 15.0, "events": 270.0})
    assert (lim.rate("profile"), lim.rate("events"), lim.rate("identity")) == (15.0, 270.0, None)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "15"])
def test_a_rate_limit_that_is_not_a_positive_number_is_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest, match="rate_limit"):
        AdaptiveRateLimiter(bad)  # type: ignore[arg-type]


async def test_a_slot_past_the_callers_deadline_raises_at_once() -> None:
    lim, fake = limiter(rate_limit=1.0)
    await lim.acquire("profile", fake.now + 10, fake.sleep)
    await lim.acquire("profile", fake.now + 10, fake.sleep)
    before = list(fake.sleeps)
    with pytest.raises(RateLimited):
        await lim.acquire("profile", fake.now + 0.5, fake.sleep)
    assert fake.sleeps == before  # it did not wait first


async def test_a_rate_that_rises_is_used_by_callers_already_waiting() -> None:
    import asyncio

    lim, fake = limiter()
    successes(lim, fake, 2, 2)
    lim.on_reply("profile", 429, None)  # paced at about 2/s: a long queue forms
    waiters = [
        asyncio.ensure_future(lim.acquire("profile", fake.now + 1e9, fake.sleep)) for _ in range(30)
    ]
    await asyncio.sleep(0)
    lim._buckets["profile"].rate = 1000.0  # the limit turns out far higher
    await asyncio.gather(*waiters)
    # Nobody committed to a slot of the old rate (up to 15 s away): each waited in short steps
    # and took a slot at the new rate.
    assert max(fake.sleeps) <= HORIZON


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(min_value=1.0, max_value=500.0),
    callers=st.integers(min_value=1, max_value=200),
    window=st.floats(min_value=0.5, max_value=10.0),
)
def test_permits_in_any_window_never_exceed_rate_times_window_plus_one(
    rate: float, callers: int, window: float
) -> None:
    import asyncio

    lim, fake = limiter(rate_limit=rate)

    async def send_all() -> list[float]:
        times = []
        for _ in range(callers):
            await lim.acquire("profile", fake.now + 1e9, fake.sleep)
            times.append(fake.now)
        return times

    sends = sorted(asyncio.run(send_all()))
    for i, first in enumerate(sends):
        inside = sum(1 for t in sends[i:] if t < first + window)
        # the burst tolerance of one interval, and rounding (slots are sums of intervals in
        # floating point: the 11th of 1/1.1 s lands a few ulps before 10 s)
        assert inside <= rate * window + 2 + 1e-9


async def test_a_throttling_emulator_is_followed_without_a_lost_lookup(emulator: Emulator) -> None:
    emulator.faults.throttle_rate = 100  # 429 above 100 requests/s, Retry-After to the window
    mpids = emulator.seeded_mpids
    async with client_for(emulator, retry=RetryPolicy(max_attempts=8, backoff_base=0.05)) as mp:
        results = [r async for r in mp.profiles.get_many(mpids * 2, concurrency=32)]
        learned = mp.session.rate_limiter.rate("profile")
    assert all(r.ok for r in results)
    assert learned is not None and learned < 200


async def test_the_limit_the_server_names_is_on_rate_limited(mocked) -> None:
    from conftest import StaticBearer

    from mp_async import Session, Workspace
    from mp_async.api.profiles import ProfileAPI

    url = "https://api.mparticle.com/userprofile/v1/1/2/3/42?fields=user_attributes"
    mocked.get(
        url,
        status=429,
        headers={"Retry-After": "3600", "X-mp-rate-limit-exceeded": "profile-api-account"},
    )
    async with Session() as session:
        api = ProfileAPI(session, StaticBearer(), Workspace(1, 2, 3))
        with pytest.raises(RateLimited) as caught:
            await api.get(42, fields="user_attributes")
    assert caught.value.limit_exceeded == "profile-api-account"


async def test_percentage_used_on_a_reply_reaches_the_rate_controller(mocked) -> None:
    from conftest import StaticBearer

    from mp_async import Session, Workspace
    from mp_async.api.profiles import ProfileAPI

    url = "https://api.mparticle.com/userprofile/v1/1/2/3/42?fields=user_attributes"
    mocked.get(url, payload={"mpid": 42}, headers={"X-mp-rate-limit-percentage-used": "120"})
    async with Session(rate_limit=20.0) as session:
        api = ProfileAPI(session, StaticBearer(), Workspace(1, 2, 3))
        await api.get(42, fields="user_attributes")
        assert session.rate_limiter.rate("profile") == pytest.approx(20.0 / 1.2 * SHRINK)


def test_a_limit_learned_too_low_is_taken_up_when_the_server_says_how_much_is_left() -> None:
    lim, fake = limiter()
    successes(lim, fake, 20, 20)
    lim.on_reply("profile", 429, None)
    successes(lim, fake, 60, 20)
    lim.on_reply("profile", 429, None)  # learned about 20/s: the server's limit was 20/s ...
    low = lim.rate("profile")
    assert low is not None and low < 20
    fake.now += 2.0
    for _ in range(int(low)):  # ... and is 40/s now: a second at the pace used 50 % of it
        fake.now += 1.0 / low
        lim.on_reply("profile", 200, 50.0)
    lifted = lim.rate("profile")
    assert lifted is not None and low * 1.5 < lifted <= low * 2  # at once, not probed for
    fake.now += K
    lim.on_reply("profile", 200, 95.0)  # and held there while the server warns
    assert lim.rate("profile") == lifted


def learned_about_10_per_second() -> tuple[AdaptiveRateLimiter, FakeTime, float]:
    """A limiter that met 429s at 10/s (its share of an account's limit, say)."""
    lim, fake = limiter()
    successes(lim, fake, 10, 10)
    lim.on_reply("profile", 429, None)
    successes(lim, fake, 30, 10)
    lim.on_reply("profile", 429, None)
    low = lim.rate("profile")
    assert low is not None and low < 11
    fake.now += 2.0
    return lim, fake, low


def test_a_share_of_the_limit_other_processes_left_free_is_taken_up() -> None:
    # Two processes shared an account's 50/s and this one learned about 10/s of it ...
    lim, fake, low = learned_about_10_per_second()
    # ... then the other went quiet: at its pace, this one uses a fifth of the account's limit.
    for _ in range(int(low) + 1):
        fake.now += 1.0 / low
        lim.on_reply("profile", 200, round(100 * low / 50))
    lifted = lim.rate("profile")
    assert lifted is not None and 44 <= lifted <= 52, (low, lifted)  # at once, not in minutes
    # A share says nothing of the limit while this process sends below its pace (the rest of
    # the account's traffic may be anyone's).
    idle, fake, before = learned_about_10_per_second()
    for _ in range(9):
        fake.now += 1.0 / 3
        idle.on_reply("profile", 200, 20)
    after = idle.rate("profile")
    assert after is not None and after < 1.5 * before


async def test_waiting_callers_are_served_in_the_order_they_came() -> None:
    import asyncio
    import time

    lim = AdaptiveRateLimiter(rate_limit=40.0)  # real time: 32 callers take about 0.8 s
    served: list[int] = []

    async def caller(i: int, after: float) -> None:
        await asyncio.sleep(after)
        await lim.acquire("profile", time.monotonic() + 60, asyncio.sleep)
        served.append(i)

    await asyncio.gather(*(caller(i, 0.0) for i in range(30)), caller(30, 0.3), caller(31, 0.5))
    # Nobody who came later took a slot from one waiting longer (so no caller starves).
    assert served == list(range(32))


async def test_before_any_limit_is_known_the_first_requests_go_out_as_a_growing_window() -> None:
    import asyncio

    from mp_async.ratelimit import INITIAL_WINDOW

    lim = AdaptiveRateLimiter()
    started: list[int] = []

    async def caller(i: int) -> None:
        await lim.acquire("profile", 1e18, asyncio.sleep)
        started.append(i)

    tasks = [asyncio.ensure_future(caller(i)) for i in range(40)]
    await asyncio.sleep(0.01)
    assert len(started) == INITIAL_WINDOW  # not all 40 at a server whose limit is unknown
    lim.on_reply("profile", 200, None)  # one back, and the window one wider: two more go
    await asyncio.sleep(0.01)
    assert len(started) == INITIAL_WINDOW + 2
    lim.on_reply("profile", 0, None)  # no reply (a transport error): its place is given back
    await asyncio.sleep(0.01)
    assert len(started) == INITIAL_WINDOW + 3
    for _ in range(3):
        lim.on_reply("profile", 200, None)
    lim.on_reply("profile", 429, None)  # a limit: the window ends, everyone is paced instead
    assert lim.rate("profile") is not None
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert sorted(started) == list(range(40))


def test_a_server_that_never_throttles_ends_the_window_and_then_nothing_waits() -> None:
    from mp_async.ratelimit import OPEN_WINDOW

    lim, fake = limiter()
    assert lim.paces("profile")  # the first window
    successes(lim, fake, OPEN_WINDOW, 1000)
    assert not lim.paces("profile") and lim.rate("profile") is None


async def test_requests_that_get_no_reply_give_their_window_place_back(mocked) -> None:
    import asyncio

    import aiohttp
    from conftest import StaticBearer

    from mp_async import Session, Workspace
    from mp_async.api.profiles import ProfileAPI
    from mp_async.errors import ConnectError

    url = "https://api.mparticle.com/userprofile/v1/1/2/3/42?fields=user_attributes"
    mocked.get(url, exception=aiohttp.ClientConnectionError("reset"), repeat=True)
    async with Session(retry=RetryPolicy(max_attempts=1)) as session:
        api = ProfileAPI(session, StaticBearer(), Workspace(1, 2, 3))
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(api.get(42, fields="user_attributes") for _ in range(100)),
                return_exceptions=True,
            ),
            30,
        )
    assert all(isinstance(o, ConnectError) for o in outcomes)


async def test_slots_reserved_at_a_low_pace_are_brought_in_when_the_pace_rises() -> None:
    lim, fake = limiter()
    lim.on_reply("profile", 429, None)  # nothing got through yet: the slowest pace, 0.5/s
    for _ in range(3):
        await lim.acquire("profile", fake.now + 100, fake.sleep)
    far = lim._buckets["profile"].tat - fake.now
    assert far >= 4.0  # two seconds a slot
    successes(lim, fake, 20, 100)  # then the first replies arrive: 20 got through
    near = lim._buckets["profile"].tat - fake.now
    assert near < far / 10  # the next caller waits for the new pace, not the old one


async def test_callers_who_got_a_slot_during_a_gate_are_paced_again_when_it_opens(
    emulator: Emulator,
) -> None:
    import asyncio
    import time

    import aiohttp

    from mp_async import Session

    sent: list[float] = []
    trace = aiohttp.TraceConfig()

    async def on_start(session: object, context: object, params: object) -> None:
        if "/userprofile/" in str(params.url):  # type: ignore[attr-defined]
            sent.append(time.monotonic())

    trace.on_request_start.append(on_start)
    emulator.faults.fail_next(429, headers={"Retry-After": "1"}, path_prefix="/userprofile/")
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        session = Session(client_session=http, rate_limit=20.0)
        async with client_for(emulator, session=session) as mp:
            mpids = emulator.seeded_mpids[:30]
            await asyncio.gather(*(mp.profiles.get(m) for m in mpids))
    # One of the first requests was answered 429 and closed the gate for a second: silence.
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert max(gaps) >= 0.9
    after_gate = sent[gaps.index(max(gaps)) + 1 :]
    assert len(after_gate) >= 25
    for i, first in enumerate(after_gate):
        # paced at 20/s once the gate opens: no crowd of callers that took slots meanwhile
        assert sum(1 for t in after_gate[i:] if t < first + 0.2) <= 20 * 0.2 + 2
