"""The SecretFlow SGB peer venv: secretflow-lite 1.10.0b1 with HEU (sf-heu) and SGB.

``../shared/peers/setup-sf-peer.sh`` creates it once (about 2 min and 1.4 GB from PyPI,
with a CPython 3.10) and prints its interpreter; later calls reuse it in about a second.
Tests that need HEU or SecretFlow's SGB take :func:`peer_python`. When the venv cannot
be had (no shared/ directory, no Python 3.10, no PyPI) they skip LOUDLY with the
script's reason — and fail in CI, where the peer is part of the acceptance.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.locks import exclusive
from tests.support.shared import shared_root

SETUP_SCRIPT = "setup-sf-peer.sh"


def setup_script() -> Path | None:
    candidate = shared_root() / "peers" / SETUP_SCRIPT
    return candidate if candidate.is_file() else None


@functools.cache
def _setup() -> tuple[Path | None, str]:
    script = setup_script()
    if script is None:
        return None, f"../shared/peers/{SETUP_SCRIPT} is not beside the repo"
    try:
        with exclusive("sf-peer-setup"):
            result = subprocess.run(
                ["bash", str(script)],
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{SETUP_SCRIPT} failed: {exc}"
    if result.returncode != 0:
        return None, f"{SETUP_SCRIPT} exited {result.returncode}: {result.stderr[-500:]}"
    lines = result.stdout.strip().splitlines()
    if not lines or not Path(lines[-1]).is_file():
        return None, f"{SETUP_SCRIPT} printed no interpreter: {result.stdout[-200:]!r}"
    return Path(lines[-1]), ""


def peer_python() -> Path:
    """The SecretFlow SGB peer's Python 3.10, or a loud skip (a failure in CI)."""
    python, reason = _setup()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"the SecretFlow SGB peer is required in CI: {reason}")
        pytest.skip(f"SKIPPED LOUDLY: SecretFlow SGB peer (HEU) unavailable: {reason}")
    return python
