"""The malloc thresholds a node sets for large transport buffers."""

from __future__ import annotations

import platform

import pytest

from isthmus.node.memory import tune_malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_thresholds_take_on_glibc() -> None:
    assert tune_malloc() is True
