"""The real SecretFlow peer: SPU 0.9.1b0's ECDH-PSI in interconnection mode.

``../shared/peers/setup-spu-peer.sh`` creates its venv once (about 20 s, 690 MB, from
PyPI) under ``ISTHMUS_PEERS_DIR`` (default ``~/.cache/isthmus-peers``);
``sf_ecdh_psi.py`` runs one party. When the peer cannot be had (no shared/ directory,
no python3.11, no PyPI) the tests that need it skip with the reason — and fail in CI,
where the peer is part of the acceptance.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.locks import exclusive
from tests.support.shared import shared_root


def shared_dir() -> Path | None:
    candidate = shared_root()
    return candidate if (candidate / "peers" / "sf_ecdh_psi.py").is_file() else None


@functools.cache
def _setup() -> tuple[Path | None, str]:
    shared = shared_dir()
    if shared is None:
        return None, "../shared/peers (the SecretFlow peer scripts) is not beside the repo"
    try:
        with exclusive("spu-peer-setup"):
            result = subprocess.run(
                ["bash", str(shared / "peers" / "setup-spu-peer.sh")],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"setup-spu-peer.sh failed: {exc}"
    if result.returncode != 0:
        return None, f"setup-spu-peer.sh exited {result.returncode}: {result.stderr[-500:]}"
    return Path(result.stdout.strip().splitlines()[-1]), ""


def peer_python() -> Path:
    """The SecretFlow peer's interpreter, or a loud skip (a failure in CI)."""
    python, reason = _setup()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"the SecretFlow peer is required in CI: {reason}")
        pytest.skip(f"SKIPPED LOUDLY: SecretFlow peer unavailable: {reason}")
    return python


def psi_script() -> Path:
    shared = shared_dir()
    assert shared is not None
    return shared / "peers" / "sf_ecdh_psi.py"


def write_ids(path: Path, ids: list[str]) -> None:
    path.write_text("id\n" + "\n".join(ids) + "\n", encoding="utf-8")
