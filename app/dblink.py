"""A worker's line to the database: retry with backoff while it is away, give up after a limit.

A database restart, a failover or a network blip must not kill a worker or its job. Every
database call the worker makes goes through one `DatabaseLink`:

- `attempt(fn)` is for calls that can wait (progress, metric points, checkpoints, log tail,
  heartbeats): it calls `fn` now unless the database is known to be away and the next retry is
  not due yet, and says whether it got through. The caller keeps what it could not write and
  offers it again; the job keeps running meanwhile.
- `call(fn)` is for calls the worker cannot go on without (start-up, claiming, a job's final
  state): it retries with backoff until `fn` succeeds, or raises `DatabaseUnavailableError`
  once the database has been away for `outage_s` seconds (`taser worker --db-outage-s`).

Only errors that say the database is unavailable (`db.session.is_unavailable`) count as an
outage; any other error is a bug and propagates. The first failure and the recovery are each
printed once, so an operator sees "waiting for the database at HOST…" and "database back".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from db.session import DatabaseUnavailableError, describe, first_line, is_unavailable

T = TypeVar("T")

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0


class DatabaseLink:
    def __init__(self, outage_s: float, url: str | None = None, name: str = "worker",
                 log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.outage_s = outage_s
        self.where = describe(url)
        self.name = name
        self._log = log or (lambda message: print(message, flush=True))
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failures = 0
        self._next_try = 0.0

    # -- state -------------------------------------------------------------------------------

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def down_for(self) -> float:
        """Seconds since the first failed call of the current outage (0 when up)."""
        since = self._down_since
        return 0.0 if since is None else self._clock() - since

    def given_up(self) -> bool:
        """The database has been away longer than the limit."""
        return self.is_down and self.down_for() >= self.outage_s

    def retry_due_in(self) -> float:
        return 0.0 if not self.is_down else max(0.0, self._next_try - self._clock())

    # -- calls -------------------------------------------------------------------------------

    def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
        """(True, result) when `fn` ran; (False, None) when the database is away (not due, or it
        failed again: the outage is recorded and the next retry scheduled)."""
        if self.retry_due_in() > 0:
            return False, None
        return self._try(fn, args, kwargs, None)

    def call(self, fn: Callable[..., T], *args: Any, waiting: str | None = None,
             stop: threading.Event | None = None, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, retried with backoff while the database is away.

        Raises DatabaseUnavailableError once the outage has lasted `outage_s`, or as soon as
        `stop` is set during a wait. `waiting` replaces the first failure's message.
        """
        while True:
            wait_s = self.retry_due_in()
            if self.is_down:  # the last try falls on the limit, not after it
                wait_s = min(wait_s, max(0.0, self.outage_s - self.down_for()))
            if wait_s > 0:
                if stop is not None and stop.is_set():
                    raise DatabaseUnavailableError(f"the database at {self.where} is unavailable")
                (stop.wait if stop is not None else time.sleep)(wait_s)
                continue
            done, result = self._try(fn, args, kwargs, waiting)
            if done:
                return result
            if self.given_up():
                raise DatabaseUnavailableError(self.gone_message())

    def gone_message(self, doing: str = "") -> str:
        return (f"the database at {self.where} has been unreachable for {self.down_for():.0f} s, "
                f"longer than the {self.outage_s:g} s this worker waits (--db-outage-s)"
                + (f"; {doing}" if doing else ""))

    # -- bookkeeping -------------------------------------------------------------------------

    def _try(self, fn, args, kwargs, waiting: str | None) -> tuple[bool, Any]:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only outages are swallowed; the rest re-raised
            if not is_unavailable(exc):
                raise
            self._failed(exc, waiting)
            return False, None
        self._succeeded()
        return True, result

    def _failed(self, exc: BaseException, waiting: str | None) -> None:
        with self._lock:
            now = self._clock()
            first = self._down_since is None
            if first:
                self._down_since = now
            delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** self._failures)
            self._failures += 1
            self._next_try = now + delay
        if first:
            message = waiting or (f"database at {self.where} unavailable; retrying for up to "
                                  f"{self.outage_s:g} s")
            self._log(f"{self.name}: {message} ({first_line(exc)})")

    def _succeeded(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            away = self._clock() - self._down_since
            self._down_since, self._failures, self._next_try = None, 0, 0.0
        self._log(f"{self.name}: database at {self.where} is back after {away:.1f} s")
