"""This node's own attestation report, re-read from ``[tee] report_file`` when it changes.

A report's collateral lapses every few weeks; the operator (or a cron job) writes a
renewed file, and partners must get it without a node restart. Every use stats the file
(one ``os.stat``: the cost is bounded whatever the request rate) and re-reads it only when
its modification time, size or inode changed. The guarantee: the node always serves a
report that parsed as a UAR, the newest such file it has seen. A new file that cannot be
read or parsed (half written, truncated, too large, not a UAR) never replaces the report
being served and never fails a request: it is logged once per file version and shown by
``state()`` (``node status``) until a good file replaces it. A file that disappears keeps
the last report too (an operator's ``mv`` over it is a change, seen on the next use).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from isthmus.wire.errors import IsthmusError
from isthmus.wire.node import TEE_REPORT_MAX
from isthmus.wire.tee import UnifiedAttestationReport, parse_uar, uar_json

log = logging.getLogger(__name__)
_Stamp = tuple[int, int, int]


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class OwnReportFile:
    """The report in ``path``: ``load()`` once at start (raises), ``current()`` after."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._report: UnifiedAttestationReport | None = None
        self._json: str | None = None
        #: why the newest file version was not taken (None: the served report is newest)
        self.error: str | None = None

    def _parse(self) -> tuple[_Stamp, UnifiedAttestationReport]:
        stamp = _stamp(self.path)
        if stamp[1] > TEE_REPORT_MAX:
            raise ValueError(f"{stamp[1]} bytes, more than {TEE_REPORT_MAX}")
        with self.path.open("rb") as handle:  # bounded even if it grew since the stat
            data = handle.read(TEE_REPORT_MAX + 1)
        if len(data) > TEE_REPORT_MAX:
            raise ValueError(f"more than {TEE_REPORT_MAX} bytes")
        return stamp, parse_uar(data.decode("utf-8"))

    def load(self) -> UnifiedAttestationReport:
        """Read the file now. :raises OSError, ValueError, IsthmusError: unusable."""
        stamp, report = self._parse()
        with self._lock:
            self._stamp, self._report, self._json = stamp, report, uar_json(report)
            self.error = None
        return report

    def current(self) -> tuple[UnifiedAttestationReport | None, str | None]:
        """The report to serve and its canonical JSON, the file re-read if it changed."""
        try:
            changed = _stamp(self.path) != self._stamp
        except OSError as exc:
            self._refused(None, exc)
            changed = False
        if changed:
            with self._lock:  # one reader re-reads; the others then see the new stamp
                self._reread()
        return self._report, self._json

    def _reread(self) -> None:
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            self._refused(None, exc)
            return
        if stamp == self._stamp:
            return
        try:
            stamp, report = self._parse()
        except (OSError, ValueError, IsthmusError) as exc:
            self._refused(stamp, exc)
            return
        self._stamp, self._report, self._json = stamp, report, uar_json(report)
        self.error = None
        log.info("tee.report_file %s re-read: a %s report", self.path, report.str_tee_platform)

    def _refused(self, stamp: _Stamp | None, exc: Exception) -> None:
        """Keep the served report; log once per file version (the stamp remembers it)."""
        message = exc.message if isinstance(exc, IsthmusError) else str(exc)
        error = f"{message[:300]} (still serving the previous report)"
        if stamp is not None:
            self._stamp = stamp  # not retried until the file changes again
        if error != self.error:
            log.warning("tee.report_file %s refused: %s", self.path, error)
            self.error = error

    def state(self) -> str:
        self.current()
        if self.error:
            return f"newer file refused: {self.error}"
        platform = self._report.str_tee_platform if self._report else "?"
        return f"{platform} report from {self.path.name}"
