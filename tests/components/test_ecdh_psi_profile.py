"""The PSI profile: off, it records nothing and writes nothing; on, it counts each phase
and writes names and times only."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from isthmus.components.builtin.ecdh_psi.profile import _Profile


def test_an_unset_profile_records_nothing() -> None:
    profile = _Profile(None)
    with profile.phase("own.mask"):
        pass
    profile.add("match", 1.0)
    profile.dump()
    assert profile.snapshot()["phases"] == {}


def test_a_set_profile_counts_phases_and_writes_them() -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "profile.json"
        profile = _Profile(str(path))
        for _ in range(3):
            with profile.phase("own.mask"):
                sum(range(1000))
        profile.add("match", 0.25, 0.125)
        profile.dump()
        written = json.loads(path.read_text())
    assert set(written) == {"wall_s", "cpu_user_s", "cpu_sys_s", "peak_rss_mib", "phases"}
    assert written["phases"]["own.mask"]["calls"] == 3
    assert written["phases"]["match"] == {"s": 0.25, "cpu_s": 0.125, "calls": 1}
