"""Refused east-west requests: audited in aggregate, and a flood turned away early.

Every refusal used to add its own audit row, so anyone who could open a connection could
grow the audit table (hash-chained, never pruned) as fast as they could send requests.
``RefusalLedger`` keeps the guarantee that **every refusal is in the audit log**, in
bounded space:

* per (remote address, reason) and window (``interconn.refusal_window_s``, a minute by
  default) the *first* refusal is written at once, in full (``request.refused``, as
  before); the others are counted in memory and written as one ``request.refused.repeated``
  row with their count when the window closes (``flush``, also run by the node every few
  seconds). The key never includes anything the caller chooses (its claimed node id
  varies freely), so at most two rows per address and reason per window;
* at most ``max_keys`` keys per window: past that, refusals are counted under the
  address ``*`` (a botnet or an IPv6 range still costs a bounded number of rows);
* an address refused more than ``interconn.refusal_limit`` times in a window is turned
  away (``TOO_MANY_REFUSALS``, 429) *before* any check runs, so a flood costs no
  signature verification and no database access until the window is over. Only refusals
  count: a partner whose requests pass is never limited, but one behind the same
  address as a flooder is, for the rest of that window.

Thread-safe: authentication runs in the thread pool.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from isthmus.store.audit import AuditLog
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import IsthmusError, TooManyRefusals

OVERFLOW = "*"


@dataclass
class _Tally:
    """Refusals of one (address, reason) in the current window past the first."""

    reason: str
    code: int
    more: int = 0
    subjects: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    last_ms: int = 0


class RefusalLedger:
    def __init__(
        self,
        audit: AuditLog,
        *,
        window_s: float = 60.0,
        limit: int = 300,
        max_keys: int = 1000,
        clock: Any = time.monotonic,
    ) -> None:
        self.audit = audit
        self.window_s = window_s
        self.limit = limit
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._per_remote: dict[str, int] = {}

    def admit(self, remote: str) -> None:
        """Turn ``remote`` away if it was refused too often in this window."""
        with self._lock:
            self._roll()
            if remote not in self._per_remote and len(self._per_remote) >= self.max_keys:
                remote = OVERFLOW  # counted there, so limited there
            refused = self._per_remote.get(remote, 0)
            if refused < self.limit:
                return
        raise TooManyRefusals(
            f"{remote} was refused {refused} times in the last {self.window_s:.0f} s: "
            "wait for the window to end"
        )

    def refused(
        self, exc: IsthmusError, *, source: str | None, remote: str, method: str, path: str
    ) -> None:
        """Record one refusal: in full if it is the first of its kind in this window."""
        subject = f"{method} {path}"[:256]
        reason = exc.code.name
        with self._lock:
            due = self._roll()
            if remote not in self._per_remote and len(self._per_remote) >= self.max_keys:
                remote = OVERFLOW
            self._per_remote[remote] = self._per_remote.get(remote, 0) + 1
            key = (remote, reason)
            tally = self._tallies.get(key)
            first = tally is None
            if tally is None:
                tally = self._tallies[key] = _Tally(reason, int(exc.code))
            else:
                tally.more += 1
                tally.subjects.add(subject)
                if source and len(tally.sources) < 16:
                    tally.sources.add(source[:128])
                tally.last_ms = now_ms()
        self._write(due)
        if first:
            self.audit.record(
                actor=f"peer:{source or '?'}@{remote}",
                action="request.refused",
                subject=subject,
                outcome="refused",
                details={"reason": reason, "code": int(exc.code), "msg": exc.message},
            )

    def flush(self, *, force: bool = False) -> int:
        """Write the counts of a window that is over (or of the current one, ``force``);
        returns how many rows were written."""
        with self._lock:
            due = self._roll(force=force)
        return self._write(due)

    def _roll(self, *, force: bool = False) -> list[tuple[str, _Tally]]:
        """Close the window if it is over: hand back its counts, start a new one."""
        now = self._clock()
        if not force and now - self._window_start < self.window_s:
            return []
        due = [(remote, t) for (remote, _), t in self._tallies.items() if t.more]
        self._tallies = {}
        self._per_remote = {}
        self._window_start = now
        return due

    def _write(self, due: list[tuple[str, _Tally]]) -> int:
        for remote, tally in due:
            self.audit.record(
                actor=f"peer:*@{remote}",
                action="request.refused.repeated",
                subject=sorted(tally.subjects)[0] if len(tally.subjects) == 1 else "(several)",
                outcome="refused",
                details={
                    "reason": tally.reason,
                    "code": tally.code,
                    "count": tally.more,
                    "window_s": self.window_s,
                    "last_ms": tally.last_ms,
                    "sources": sorted(tally.sources),
                },
            )
        return len(due)
