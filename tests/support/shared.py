"""The ``../shared/`` directory beside the repository: the BFIA wire captures (FATE-Flow's
calls, SecretFlow's link traffic), the peer scripts, the TEE vectors.

It is not part of a clone, so every test that reads it finds it here and nowhere else:
``ISTHMUS_SHARED_DIR`` overrides the place (the test of the skip itself points it at an
empty folder). A test whose file is absent skips with a reason that names the file and the
override, as the SecretFlow tests do, instead of failing with a missing file — and fails
in CI, where the captures are part of the acceptance.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_ENV = "ISTHMUS_SHARED_DIR"
SKIP_PREFIX = "SKIPPED LOUDLY: ../shared"


def shared_root() -> Path:
    """Where ``../shared`` is expected: ``$ISTHMUS_SHARED_DIR``, else beside the repo."""
    return Path(os.environ.get(SHARED_ENV) or REPO.parent / "shared")


def shared_path(*parts: str) -> Path:
    """``parts`` under the shared directory, or a loud skip (a failure in CI)."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        reason = (
            f"{SKIP_PREFIX} has no {'/'.join(parts)} (looked at {path}; "
            f"put the shared directory beside the repo or set {SHARED_ENV})"
        )
        if os.environ.get("CI"):
            pytest.fail(f"the shared captures are required in CI: {reason}")
        pytest.skip(reason)
    return path


def wire_capture(name: str) -> Path:
    """One file of ``../shared/wire-captures``, or a loud skip."""
    return shared_path("wire-captures", name)
