"""A health watchdog for load tests: polls the server's health endpoint while sessions run.

A frozen server (the polars callback deadlock of issue 12 stopped every session and the health
endpoint with it) shows up here as a poll that fails or answers late, even when the sessions'
own waits would only time out. Plain urllib in its own thread: safe beside Playwright's
single-threaded sync API. Bounded: it stops when the load test stops it, or after
``max_seconds``.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import dataclass, field


@dataclass
class HealthWatchdog:
    """Poll ``{url}/_stcore/health`` every ``interval`` seconds until stopped.

    ``failures`` lists each poll that did not answer 200 within ``timeout`` (with the time since
    the start); ``latencies`` every answer's time in seconds.
    """

    url: str
    interval: float = 0.5
    timeout: float = 10.0
    max_seconds: float = 600.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> HealthWatchdog:
        self._thread = threading.Thread(target=self._run, name="health-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=self.timeout) as answer:
                    body = answer.read().decode().strip()
                    if answer.status != 200 or body != "ok":
                        self.failures.append(f"{sent - started:.1f} s: status {answer.status}, {body!r}")
            except OSError as exc:
                self.failures.append(f"{sent - started:.1f} s: {type(exc).__name__}: {exc}")
            self.latencies.append(time.monotonic() - sent)
            self._stop.wait(self.interval)

    @property
    def worst(self) -> float:
        """The slowest answer in seconds (0 before the first poll)."""
        return max(self.latencies, default=0.0)
