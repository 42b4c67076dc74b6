"""A local Ray cluster for the ray runner's tests: ``ray start --head`` from the test
venv on free ports with its own temp dir, stopped afterwards. Ray is a dev extra, so a
missing Ray is a loud skip here and a failure in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from isthmus.testing import free_port


def ray_cli() -> Path:
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        reason = "the ray extra is not installed (pip install 'isthmus[ray]')"
        if os.environ.get("CI"):
            pytest.fail(f"Ray is required in CI: {reason}")
        pytest.skip(f"SKIPPED LOUDLY: {reason}")
    return ray


@contextmanager
def local_ray() -> Iterator[str]:
    """A two-CPU head node on loopback; yields its GCS address."""
    ray = ray_cli()
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray wants a short path
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(
        [str(ray), "start", "--head", f"--port={port}", "--num-cpus=2",
         "--node-ip-address=127.0.0.1",  # loopback only: an unauthenticated Ray runs anyone's code
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        # This process is a Ray driver now; left connected, it would exit on its own a
        # minute after the cluster is gone (Ray's reaction to a lost GCS), test run and all.
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
        subprocess.run(
            [str(ray), "stop", "--force"], capture_output=True, env=env, timeout=120, check=False
        )
        shutil.rmtree(temp, ignore_errors=True)
