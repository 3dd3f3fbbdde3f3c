"""The Session: one connection pool, and per attempt: wait at the gate, auth, send, classify, retry.

Retries live here and only here. Endpoint modules build a ``Request`` and decode the
``Response``; auth strategies add credentials; this module decides what happens in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl as ssl_module
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy, istr

from .auth.base import AuthStrategy, RefreshableAuth
from .errors import (
    CertificateError,
    ClientClosed,
    ConnectError,
    InvalidRequest,
    MParticleError,
    RateLimited,
    RequestTimeout,
    TransportError,
    credential_bytes,
    error_for_status,
    redact_encoded,
)
from .ratelimit import AdaptiveRateLimiter, RateLimiter
from .request import Request, Response
from .retry import Failure, RetryPolicy, parse_retry_after, retry_waits, should_retry

__all__ = ["DEFAULT_TIMEOUT", "CallOptions", "RetryEvent", "Session"]

log = logging.getLogger("mp_async")

#: Seconds an attempt may take, from the moment it has a connection slot to the end of the reply.
DEFAULT_TIMEOUT = 30.0

#: Seconds ``close()`` gives the requests still in flight to notice it and finish.
_CLOSE_GRACE = 2.0


def _user_agent() -> str:
    from . import __version__

    return (
        f"mp-async/{__version__} aiohttp/{aiohttp.__version__} "
        f"python/{sys.version_info.major}.{sys.version_info.minor}"
    )


_DEFAULT_HEADERS = {"User-Agent": _user_agent(), "Accept": "application/json"}


@attrs.frozen
class RetryEvent:
    """One retry the Session decided on: what failed, and how long it waits before the next try."""

    bucket: str  # the rate-limit bucket (the API)
    method: str
    path: str
    attempt: int  # the attempt that failed, from 1
    status: int | None  # None when no reply came (a transport error)
    error: str  # the error's class name: "RateLimited", "ConnectError", ...
    wait: float  # seconds until the next attempt


def _positive_seconds(
    name: str,
) -> Callable[[object, attrs.Attribute[float | None], float | None], None]:
    def check(
        instance: object, attribute: attrs.Attribute[float | None], value: float | None
    ) -> None:
        if value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 < value < math.inf
        ):
            raise InvalidRequest(
                f"{name} must be a finite, positive number of seconds, got {value!r}"
            )

    return check


@attrs.frozen
class CallOptions:
    """Per-call overrides of the Session's settings (``with_options(...)`` makes them).

    ``timeout``: seconds an attempt may take once it has a connection slot (connecting, sending
    and reading the whole reply; waiting for a free connection does not count). ``retry``: the
    retry policy for these calls. ``deadline``: seconds the whole call may take, retries, waits
    at a throttling gate and rate-limit pacing included; past it the call raises
    ``RequestTimeout`` (or ``RateLimited`` when a wait it would need is longer).
    """

    timeout: float | None = attrs.field(default=None, validator=_positive_seconds("timeout"))
    retry: RetryPolicy | None = None
    deadline: float | None = attrs.field(default=None, validator=_positive_seconds("deadline"))

    def merged(self, other: CallOptions) -> CallOptions:
        """These options with ``other``'s set values taking precedence."""
        return CallOptions(
            timeout=other.timeout if other.timeout is not None else self.timeout,
            retry=other.retry if other.retry is not None else self.retry,
            deadline=other.deadline if other.deadline is not None else self.deadline,
        )


def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # aiohttp bounds connecting only (it sets no timer for a pooled connection); the rest of
    # the attempt is the Session's _Watchdog. aiohttp's ``total`` would count the time spent
    # queued for a connection, and ``sock_read`` schedules and cancels a loop timer on every
    # read of every reply: together with ``total``'s, a tenth of the client's CPU on a fan-out.
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=None)


class _Watchdog:
    """Ends every attempt still running ``seconds`` after it started: one loop timer for the
    whole Session, set for the earliest end among the attempts in flight, instead of timers
    made and cancelled on every request and every read.

    An attempt is its task (a task runs one attempt at a time). One past its end has its task
    cancelled (as aiohttp's and asyncio's own timeouts do) and is marked expired; ``timed_out``
    then tells the Session to raise ``RequestTimeout``, unless the task's owner asked for a
    cancellation too. Python 3.11+ tells the two apart by the task's count of cancellation
    requests, taken when the attempt starts (as aiohttp's own timer does); on 3.10 a caller's
    cancellation in the same loop turn as the timeout is taken for the timeout.
    """

    def __init__(self) -> None:
        # task -> (when its attempt must end, its count of cancellation requests at the start)
        self._running: dict[asyncio.Task[Any], tuple[float, int]] = {}
        self._expired: dict[asyncio.Task[Any], int] = {}  # cancelled by us -> that count
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def start(self, seconds: float) -> asyncio.Task[Any]:
        loop = self._loop
        # With the loop given, current_task() skips get_running_loop() (a getpid() call in
        # CPython's C implementation); None means another loop than the last one, or the first.
        task = asyncio.current_task(loop) if loop is not None else None
        if task is None:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task(loop)
            assert task is not None, "a Session is used from inside a task"
            if loop is not self._loop:  # the old loop's timer will never fire: start afresh
                self._loop, self._timer, self._timer_at = loop, None, math.inf
        assert loop is not None
        ends = loop.time() + seconds
        self._running[task] = (ends, _cancel_requests(task))
        if ends < self._timer_at:
            self._arm(loop, ends)
        return task

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """Whether the cancellation ``task`` is getting is this watchdog's alone: then it is
        taken back, and the attempt timed out. Asked where the attempt meets its
        ``CancelledError``, before ``stop``."""
        baseline = self._expired.pop(task, None)
        if baseline is None:
            return False
        # On Python 3.10 both counts are 0: no way to tell the two apart, a timeout it is.
        return _uncancel(task) <= baseline

    def stop(self, task: asyncio.Task[Any]) -> None:
        self._running.pop(task, None)
        if self._expired and self._expired.pop(task, None) is not None:
            # Cancelled by us, but the attempt ended otherwise (the cancellation was swallowed
            # on the way): take our request back, so it is not counted against the task later.
            _uncancel(task)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        now = loop.time()
        earliest = math.inf
        for task, (ends, baseline) in list(self._running.items()):
            if ends <= now:
                del self._running[task]
                self._expired[task] = baseline
                task.cancel()
            elif ends < earliest:
                earliest = ends
        if earliest < math.inf:
            self._arm(loop, earliest)


# Python 3.11+ counts a task's cancellation requests (``cancelling``, ``uncancel``).
if sys.version_info >= (3, 11):

    def _cancel_requests(task: asyncio.Task[Any]) -> int:
        return task.cancelling()

    def _uncancel(task: asyncio.Task[Any]) -> int:
        return task.uncancel()

else:  # pragma: no cover - Python 3.10

    def _cancel_requests(task: asyncio.Task[Any]) -> int:
        return 0

    def _uncancel(task: asyncio.Task[Any]) -> int:
        return 0


class _Slots:
    """Connection slots, first come first served; ``free`` is ``math.inf`` for a pool without
    a bound. ``take_nowait()`` takes a free one (no coroutine when one is free, which is almost
    always: cheaper than an ``asyncio.Semaphore``'s ``acquire``), else the caller awaits
    ``wait()``; every slot taken is given back with ``release()``."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: float) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take_nowait(self) -> bool:
        """Take a slot if one is free and nobody is waiting for one already."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


def _connection_slots(client: aiohttp.ClientSession, ours: int | None) -> int | None:
    """How many attempts may be in aiohttp at once without one queueing there for a
    connection (None: no bound): the pool's size, ours or an injected session's ``limit``.
    (An injected pool's ``limit_per_host`` is not one bound for the several hosts the APIs
    use: time queued for it, or behind other code sharing the pool, counts.)"""
    if ours is not None:
        return ours
    return getattr(client.connector, "limit", 0) or None


class Session:
    """One pooled ``aiohttp.ClientSession`` and the retry policy every request goes through.

    Create it anywhere; the aiohttp session is made inside the running loop on first use (or
    pass ``client_session``, which is then yours to close: every request still carries this
    Session's User-Agent and timeouts). Use ``async with`` or ``close()``. ``proxy`` sends
    every request through that HTTP proxy; ``trust_env=True`` takes ``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``NO_PROXY`` (and ``.netrc``) from the environment, as aiohttp does.
    ``sleep``, ``clock`` and ``rng`` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 100,
        ssl: ssl_module.SSLContext | bool = True,
        client_session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        rate_limit: float | Mapping[str, float] | None = None,
        rate_limiter: RateLimiter | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        if isinstance(timeout, bool) or not 0 < timeout < math.inf:
            raise InvalidRequest(
                f"timeout must be a finite, positive number of seconds, got {timeout!r}"
            )
        if max_connections < 1:
            raise InvalidRequest(f"max_connections must be >= 1, got {max_connections!r}")
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self._attempt_timeout = _client_timeout(timeout)
        self._watchdog = _Watchdog()
        # Attempts wait here for a connection slot, so that the time an attempt is allowed
        # starts when it can use a connection, not while it queues in aiohttp's pool.
        self._slots: _Slots | None = None
        self.max_connections = max_connections
        if proxy is not None and (
            not isinstance(proxy, str) or not proxy.startswith(("http://", "https://"))
        ):
            raise InvalidRequest(f"proxy must be an http:// or https:// URL, got {proxy!r}")
        if client_session is not None and (proxy is not None or trust_env):
            raise InvalidRequest(
                "proxy and trust_env configure the aiohttp session: with client_session=..., "
                "pass them to aiohttp.ClientSession(...) instead"
            )
        self._proxy = proxy
        self._trust_env = trust_env
        self._ssl = ssl
        self._client = client_session
        self._owns_client = client_session is None
        self._closed = False
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._on_retry = on_retry  # told of each retry, just before its wait
        #: Paces each rate-limit bucket under the limit it learns (or ``rate_limit``).
        self.rate_limiter: RateLimiter = (
            rate_limiter
            if rate_limiter is not None
            else AdaptiveRateLimiter(rate_limit, clock=clock)
        )
        # Whether a request must ask the limiter first (a limiter may say so; else: paced).
        limiter = self.rate_limiter
        self._paces: Callable[[str], bool] = getattr(
            limiter, "paces", lambda bucket: limiter.rate(bucket) is not None
        )
        # A limiter shared with other processes is told of each gate this one closes.
        self._shared_gate: Callable[[str, float], object] | None = getattr(
            limiter, "close_gate", None
        )
        # rate-limit bucket -> monotonic time at which its gate opens again (after a 429)
        self._gates: dict[str, float] = {}
        # Requests in flight in any task (a background token refresh among them), so that
        # close() can wait for them; and a future that close() resolves to cut waits short.
        self._in_flight = 0
        self._credential_bytes: dict[
            tuple[object, ...], tuple[tuple[bytes, ...], tuple[bytes, ...]]
        ] = {}
        self._drained: asyncio.Future[None] | None = None  # made by close() when it must wait
        self._closing: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Session:
        self._client_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    async def close(self) -> None:
        """Close the connection pool (if we made it). Safe to call more than once.

        Requests still in flight fail with ``ClientClosed`` instead of retrying, and a wait
        before a retry is cut short; ``close()`` returns once they have finished, so nothing
        of this Session (a background token refresh included) outlives it.
        """
        self._closed = True
        closing = self._closing
        if closing is not None and not closing.done():
            closing.set_result(None)
        client, self._client = self._client, None
        if client is not None and self._owns_client and not client.closed:
            await client.close()  # also closes the connections requests in flight are using
        if self._in_flight:
            drained = self._drained
            if drained is None or drained.done():
                drained = self._drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(drained), _CLOSE_GRACE)
        if not self._in_flight:  # else the attempts still running keep their timeout
            self._watchdog.close()
        self._credential_bytes.clear()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosed("this Session is closed; create a new one")
        client = self._client
        if client is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self._ssl)
            client = aiohttp.ClientSession(
                connector=connector,
                timeout=self._attempt_timeout,
                headers=_DEFAULT_HEADERS,
                proxy=self._proxy,
                trust_env=self._trust_env,
            )
            self._client = client
        if self._slots is None:
            slots = _connection_slots(client, self.max_connections if self._owns_client else None)
            self._slots = _Slots(slots if slots is not None else math.inf)
        return client

    async def send(
        self,
        request: Request,
        auth: AuthStrategy | None = None,
        *,
        options: CallOptions | None = None,
    ) -> Response:
        """Send ``request`` with ``auth``, retrying as the policy allows; raise a typed error.

        ``options`` overrides the timeout and retry policy for this call, and may give it a
        deadline."""
        if self._closed:
            raise ClientClosed("this Session is closed; create a new one")
        if request.parsed_url.raw_user is not None:
            # aiohttp would turn them into a Basic header, beside (or instead of) ours; and a
            # URL is what ends up in logs and error messages. The URL itself is not echoed.
            raise InvalidRequest(
                f"{request.method} {request.parsed_url.host}: credentials must not be put in "
                "a URL; pass an auth strategy instead"
            )
        self._in_flight += 1
        try:
            if options is None:
                return await self._send(request, auth, self.retry, None, math.inf)
            policy = options.retry if options.retry is not None else self.retry
            timeout = options.timeout
            if options.deadline is None:
                return await self._send(request, auth, policy, timeout, math.inf)
            try:
                return await asyncio.wait_for(
                    self._send(request, auth, policy, timeout, options.deadline),
                    options.deadline,
                )
            except asyncio.TimeoutError:
                raise RequestTimeout(
                    f"{request.method} {request.path}: no result within the call's deadline of "
                    f"{options.deadline:g} s",
                    method=request.method,
                    path=request.path,
                ) from None
        finally:
            self._in_flight -= 1
            if not self._in_flight and self._drained is not None:
                if not self._drained.done():
                    self._drained.set_result(None)
                self._drained = None

    async def _send(
        self,
        request: Request,
        auth: AuthStrategy | None,
        policy: RetryPolicy,
        timeout: float | None,
        limit: float,
    ) -> Response:
        """Per attempt: gate → auth → send → decide → wait. The decisions are retry.py's."""
        started = self._clock()
        deadline = started + min(policy.max_elapsed, limit)
        waits = None
        attempts = 0
        refreshed_after_401 = False
        limiter = self.rate_limiter
        while True:
            acquired = self._paces(request.bucket)  # nothing to wait for until a limit
            while True:
                if self._gates:
                    await self._wait_at_gate(request, deadline)
                if not acquired:
                    break
                await limiter.acquire(request.bucket, deadline, self._pace_pause)
                opens_at = self._gates.get(request.bucket)
                if opens_at is None or opens_at <= self._clock():
                    break
                # A 429 closed the gate while this caller waited for its slot: wait at the
                # gate, then for a new slot, so that the gate does not open on a crowd.
            try:
                sent = await auth.apply(request, self) if auth is not None else request
            except BaseException:
                if acquired:
                    limiter.on_reply(request.bucket, 0, None)
                raise
            try:
                status, headers, body = await self._attempt(sent, timeout)
            except BaseException as exc:
                if acquired:  # no reply: the limiter counts it back (status 0)
                    limiter.on_reply(request.bucket, 0, None)
                if isinstance(exc, CertificateError) or not isinstance(exc, TransportError):
                    raise  # no retry makes an untrusted certificate trusted
                error: MParticleError = exc
                failure = Failure(None, sent=exc.request_sent)
            else:
                limiter.on_reply(request.bucket, status, _percentage_used(headers))
                if body:
                    # Nothing a reply quotes back of our credentials reaches an error or a log.
                    probes, every = self._credentials_of(sent)
                    for probe in probes:
                        if probe in body:
                            body = redact_encoded(body, every)
                            break
                if 200 <= status < 300:
                    return Response(status, headers, body, request.method, sent.path)
                if status == 401 and not refreshed_after_401 and _invalidated(auth, sent):
                    # A stale token: fetch a fresh one and try at once; not counted as a retry.
                    refreshed_after_401 = True
                    log.debug(
                        "%s %s -> 401; retrying with fresh credentials", sent.method, sent.path
                    )
                    continue
                error, failure = _reply_failure(sent, status, headers, body)
            attempts += 1
            if failure.status == 429 and failure.retry_after is not None:
                # Close the gate for every caller first, even when this one gives up below:
                # the server asked for that much silence from all of them.
                self._close_gate(request.bucket, failure.retry_after)
            if not should_retry(failure, idempotent=request.is_idempotent, policy=policy):
                raise error
            if self._closed:
                raise ClientClosed(
                    f"{request.method} {sent.path}: the Session was closed while the request "
                    "was in flight"
                ) from error
            if waits is None:
                waits = retry_waits(policy, self._rng)
            delay = waits.send(failure)
            if attempts >= policy.max_attempts or self._clock() + delay > deadline:
                log.debug(
                    "%s %s failed after %d attempt(s): %s",
                    request.method,
                    sent.path,
                    attempts,
                    error,
                )
                raise error
            if failure.status == 429 and failure.retry_after is None:
                self._close_gate(request.bucket, delay)
            log.debug(
                "%s %s attempt %d failed (%s); retrying in %.3f s",
                request.method,
                sent.path,
                attempts,
                failure.status or "transport",
                delay,
            )
            if self._on_retry is not None:
                event = (request.bucket, request.method, sent.path, attempts, failure.status)
                self._on_retry(RetryEvent(*event, type(error).__name__, delay))
            await self._pause(delay, f"{request.method} {sent.path}")

    def _credentials_of(self, sent: Request) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """The credentials ``sent`` carries, encoded, and the few a reply must be searched for
        (one that contains another, ``Bearer <token>``, is found only where that one is):
        worked out once per set of headers and secrets (a token goes out thousands of times),
        not on every reply."""
        key = (tuple(sent.secrets), *sent.headers.items())
        found = self._credential_bytes.get(key)
        if found is None:
            every = credential_bytes(sent.credentials())
            probes = tuple(c for c in every if not any(o != c and o in c for o in every))
            found = (probes, every)
            if len(self._credential_bytes) >= 64:  # signatures differ on every request
                self._credential_bytes.clear()
            self._credential_bytes[key] = found
        return found

    async def _pace_pause(self, seconds: float) -> None:
        await self._pause(seconds, "waiting for a rate-limit slot")

    async def _pause(self, seconds: float, what: str) -> None:
        """Sleep ``seconds`` (with the injected sleep), or until ``close()``: then raise."""
        closing = self._closing
        if closing is None:
            closing = self._closing = asyncio.get_running_loop().create_future()
        closed = ClientClosed(f"{what}: the Session was closed while the request waited to retry")
        if closing.done():
            raise closed
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((sleeper, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sleeper.done():
                sleeper.cancel()
        if not sleeper.done() or sleeper.cancelled():
            raise closed
        sleeper.result()  # an injected sleep that failed fails the request

    async def _attempt(
        self, request: Request, timeout: float | None = None
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        client = self._client_session()
        if request.timeout is not None:  # the token call's own, for that call
            timeout = request.timeout
        if timeout is None:
            seconds, client_timeout = self.timeout, self._attempt_timeout
        else:
            seconds, client_timeout = timeout, _client_timeout(timeout)
        headers = request.headers
        if not self._owns_client:
            # An injected aiohttp session has its own defaults: ours go with each request.
            headers = {**_DEFAULT_HEADERS, **headers}
        slots = self._slots
        assert slots is not None
        attempt: asyncio.Task[Any] | None = None
        try:
            if not slots.take_nowait():
                await slots.wait()
            try:
                if self._closed:
                    raise ClientClosed(
                        f"{request.method} {request.path}: the Session was closed while the "
                        "request waited for a connection"
                    )
                attempt = self._watchdog.start(seconds)
                response_cm = client.request(
                    request.method,
                    request.parsed_url,  # the query included
                    headers=headers,
                    data=request.body,
                    allow_redirects=False,
                    timeout=client_timeout,
                )
                # Reading the body is inside the retry scope: a reply cut short is retried too.
                async with response_cm as response:
                    body = await response.read()
                    return response.status, response.headers, body
            except asyncio.CancelledError:
                if attempt is not None and self._watchdog.timed_out(attempt):
                    raise RequestTimeout(
                        f"{request.method} {request.path}: no reply within the timeout of "
                        f"{seconds:g} s",
                        method=request.method,
                        path=request.path,
                    ) from None
                raise
            finally:
                if attempt is not None:
                    self._watchdog.stop(attempt)
                slots.release()
        except asyncio.CancelledError:
            # Closing the pool cancels the requests queued for a connection; to their caller
            # that is the Session closing, not a cancellation of their own.
            if self._closed and not _cancelling():
                raise ClientClosed(
                    f"{request.method} {request.path}: the Session was closed while the "
                    "request waited for a connection"
                ) from None
            raise
        except asyncio.TimeoutError:
            raise RequestTimeout(
                f"{request.method} {request.path}: no reply within the timeout",
                method=request.method,
                path=request.path,
            ) from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CertificateError(
                f"{request.method} {request.path}: the server's TLS certificate did not verify "
                f"({_describe(exc)}); pass ssl=ssl.SSLContext(...) that trusts it",
                method=request.method,
                path=request.path,
            ) from None
        except aiohttp.ClientError as exc:
            raise ConnectError(
                f"{request.method} {request.path}: {type(exc).__name__}: {_describe(exc)}",
                method=request.method,
                path=request.path,
                # No connection was made: the request never reached the server.
                request_sent=not isinstance(exc, aiohttp.ClientConnectorError),
            ) from None

    async def _wait_at_gate(self, request: Request, deadline: float) -> None:
        bucket = request.bucket
        opens_at = self._gates.get(bucket)
        while opens_at is not None:
            delay = opens_at - self._clock()
            if opens_at > deadline:
                # This caller's own deadline falls inside the wait: say so now, not after it.
                raise RateLimited(
                    f"{request.method} {request.path}: throttled; the {bucket or 'API'} gate opens "
                    f"in {delay:.1f} s, past this call's max_elapsed",
                    status=429,
                    method=request.method,
                    path=request.path,
                    retry_after=delay,
                )
            if delay > 0:
                await self._pause(delay, f"{request.method} {request.path}")
            latest = self._gates.get(bucket)
            if latest is None or latest <= opens_at:
                # Nobody was throttled again meanwhile: the gate is open.
                if latest == opens_at:
                    del self._gates[bucket]
                return
            opens_at = latest  # another 429 pushed the gate further out: wait for that too

    def _close_gate(self, bucket: str, seconds: float) -> None:
        opens_at = self._clock() + seconds
        if opens_at > self._gates.get(bucket, 0.0):
            self._gates[bucket] = opens_at
        if self._shared_gate is not None:
            self._shared_gate(bucket, seconds)


def _reply_failure(
    sent: Request, status: int, headers: CIMultiDictProxy[str], body: bytes
) -> tuple[MParticleError, Failure]:
    """The typed error for a reply that is not a success, and what it tells the retry rules."""
    retry_after = parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    error = error_for_status(
        status,
        method=sent.method,
        path=sent.path,
        body=body,
        retry_after=retry_after,
        limit_exceeded=headers.get("X-mp-rate-limit-exceeded") if status == 429 else None,
    )
    return error, Failure(status, retry_after)


_PERCENTAGE_USED = istr("X-mp-rate-limit-percentage-used")  # looked up with no case-folding


def _percentage_used(headers: CIMultiDictProxy[str]) -> float | None:
    """``X-mp-rate-limit-percentage-used``, mParticle's warning before it throttles."""
    value = headers.get(_PERCENTAGE_USED)
    if value is None:
        return None
    try:
        return float(value.strip().rstrip("%"))
    except ValueError:
        return None


def _invalidated(auth: AuthStrategy | None, sent: Request) -> bool:
    """True when ``auth`` dropped the credentials ``sent`` carried (so a retry gets fresh ones)."""
    return isinstance(auth, RefreshableAuth) and auth.invalidate(sent)


def _cancelling() -> bool:
    """True if the current task has been asked to cancel (always assumed before Python 3.11)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


def _describe(exc: BaseException) -> str:
    # aiohttp's messages name the host and port, never headers; keep them short.
    text = str(exc) or type(exc).__name__
    return text[:200]
