"""``make dist`` makes a wheel that works without the checkout.

The wheel is built the way ``make dist`` builds it (``python -m build --no-isolation``,
with ``build`` and ``hatchling`` pinned by ``constraints.txt``, the wheel made from the
sdist), then installed with the constraints into a clean venv (no system site packages,
not even pip or setuptools), and the installed ``isthmus`` runs a node from a directory
outside the checkout: ``version``, ``init``, ``node start`` in the foreground (as the
systemd unit and the node image run it) until ``/readyz``, ``node status``, ``doctor``,
``node stop``; and ``python -m isthmus.components --describe`` lists the built-in
components. A file of ``src/isthmus`` missing from the wheel (a migration, the Alembic
template, a ``.proto``) fails the first test; a migration missing at run time also fails
the second, which checks the database reached the newest revision of the checkout.

Both need a package index (or pip's cache) for the dependencies: without one they fail
in CI and skip loudly elsewhere.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import isthmus
from isthmus.components.catalog import registry
from isthmus.node.admin_client import AdminClient
from isthmus.testing.cluster import free_port, wait_until
from isthmus.wire.errors import IsthmusError

pytestmark = pytest.mark.multinode

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "isthmus"
CONSTRAINTS = REPO / "constraints.txt"
MIGRATIONS = PACKAGE / "store" / "migrations"

#: What pip prints when it cannot reach an index (as opposed to a real install failure).
UNREACHABLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "ProxyError",
    "Max retries exceeded",
)


def _clean_env() -> dict[str, str]:
    """This environment without anything that would let the checkout leak in (the test
    run's PYTHONPATH=src, its venv) or change the node (ISTHMUS_* overrides)."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("ISTHMUS_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the callers check
        [str(arg) for arg in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(done.args)
    assert done.returncode == 0, f"{command} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _venv(path: Path) -> Path:
    """A clean venv at ``path`` (no system site packages, no pip); its interpreter."""
    _ok(_run(sys.executable, "-m", "venv", "--without-pip", path, cwd=path.parent))
    assert "include-system-site-packages = false" in (path / "pyvenv.cfg").read_text()
    return path / "bin" / "python"


def _pip_install(python: Path, *requirements: str | Path) -> None:
    """``pip install -c constraints.txt`` into the venv of ``python`` (this pip, run with
    ``--python``, so the venv needs none; pip's cache is used as usual)."""
    done = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--constraint",
        CONSTRAINTS,
        *requirements,
        cwd=python.parent,
        timeout=900,
    )
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    unreachable = [line for line in output.splitlines() if any(m in line for m in UNREACHABLE)]
    if unreachable:
        reason = (
            f"no package index reachable to install {[str(r) for r in requirements]} "
            f"(set PIP_INDEX_URL or fill pip's cache): {unreachable[0].strip()}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"the wheel's install test needs PyPI in CI: {reason}")
        pytest.skip(f"SKIPPED LOUDLY: {reason}")
    pytest.fail(f"pip install {[str(r) for r in requirements]} failed:\n{output[-6000:]}")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist/`` as ``make dist`` makes it, in a temporary folder."""
    base = tmp_path_factory.mktemp("dist")
    builder = _venv(base / "builder")
    _pip_install(builder, "build", "hatchling")
    out = base / "dist"
    _ok(_run(builder, "-m", "build", "--no-isolation", "--outdir", out, REPO, cwd=base))
    return out


def test_make_dist_builds_as_this_test_does() -> None:
    """The fixture below stands for ``make dist``: the same front end, flags and pins."""
    recipe = (REPO / "Makefile").read_text().split("\ndist:", 1)[1].split("\n\n", 1)[0]
    assert "-m build --no-isolation --outdir dist ." in recipe
    build_stamp = (REPO / "Makefile").read_text().split("\n$(VENV)/.build:", 1)[1]
    assert "install -q -c constraints.txt build hatchling" in build_stamp.split("\n\n")[0]


def _wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name for w in wheels] == [f"isthmus-{isthmus.__version__}-py3-none-any.whl"]
    assert len(list(dist.glob("*.tar.gz"))) == 1, "make dist makes the sdist too"
    return wheels[0]


def test_the_wheel_holds_every_file_of_the_package(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"isthmus-{isthmus.__version__}.dist-info/entry_points.txt")
    on_disk = {
        "isthmus/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    missing = sorted(on_disk - names)
    assert not missing, f"files of src/isthmus missing from the wheel: {missing}"
    # What the node opens at run time besides modules, named so a reader sees it checked.
    migrations = [n for n in names if n.startswith("isthmus/store/migrations/versions/")]
    assert len(migrations) == len(list((MIGRATIONS / "versions").glob("*.py")))
    assert {"isthmus/store/migrations/env.py", "isthmus/store/migrations/script.py.mako"} <= names
    assert any(n.startswith("isthmus/wire/proto/") and n.endswith("_pb2.py") for n in names)
    assert "isthmus = isthmus.cli.main:app" in entry_points.decode()


@pytest.fixture
def installed(dist: Path, tmp_path: Path) -> Path:
    """The bin folder of a clean venv with the wheel installed (with the constraints)."""
    python = _venv(tmp_path / "venv")
    _pip_install(python, _wheel(dist))
    return python.parent


def _start(bin_dir: Path, home: Path, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``isthmus init`` then ``isthmus node start`` in the foreground, until ``/readyz``;
    once more with new ports if another process took one first (as the harness does)."""
    for attempt in range(2):
        init = [bin_dir / "isthmus", "init", "--home", home, "--node-id", "NODE_W"]
        init += ["--inst-id", "INST_W", "--admin-port", str(free_port())]
        init += ["--interconn-port", str(free_port()), "--transport-port", str(free_port())]
        _ok(_run(*init, *(["--force"] if attempt else []), cwd=cwd))
        with log.open("ab") as out:
            node = subprocess.Popen(
                [str(bin_dir / "isthmus"), "node", "start", "--home", str(home)],
                cwd=cwd,
                env=_clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        # Reaped as soon as it exits, as init reaps a detached node: `isthmus node stop`
        # waits for the pid to be gone, and an unreaped child would linger as a zombie.
        threading.Thread(target=node.wait, daemon=True).start()

        def ready(node: subprocess.Popen[bytes] = node) -> bool:
            if node.poll() is not None:
                raise RuntimeError(f"the node exited with {node.returncode}")
            try:
                with AdminClient.for_home(home, timeout_s=2) as client:
                    client.request("GET", "/readyz")
            except IsthmusError:
                return False
            return True

        try:
            wait_until(ready, timeout_s=60, what="the installed node's /readyz")
        except RuntimeError:
            if attempt:
                raise AssertionError(log.read_text(errors="replace")[-4000:]) from None
            continue
        return node
    raise AssertionError("unreachable")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A working directory outside the checkout."""
    path = tmp_path / "elsewhere"
    path.mkdir()
    assert not path.resolve().is_relative_to(REPO)
    yield path


def test_the_installed_wheel_runs_a_node_outside_the_checkout(
    installed: Path, elsewhere: Path, tmp_path: Path
) -> None:
    venv = installed.parent.resolve()
    where = _ok(
        _run(installed / "python", "-c", "import isthmus; print(isthmus.__file__)", cwd=elsewhere)
    )
    assert Path(where.strip()).resolve().is_relative_to(venv), where
    assert _ok(_run(installed / "isthmus", "version", cwd=elsewhere)).strip() == isthmus.__version__

    home, log = tmp_path / "home", tmp_path / "node.log"
    node = _start(installed, home, elsewhere, log)
    try:
        status = json.loads(
            _ok(
                _run(
                    installed / "isthmus", "node", "status", "--home", home, "--json", cwd=elsewhere
                )
            )
        )
        assert status["node_id"] == "NODE_W"
        doctor = json.loads(
            _ok(_run(installed / "isthmus", "doctor", "--home", home, "--json", cwd=elsewhere))
        )
        assert doctor["ok"], doctor
        # Every migration of the checkout ran: a revision missing from the wheel would
        # leave the database at an older head (and the node may still start).
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with closing(sqlite3.connect(home / "isthmus.db")) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        _ok(_run(installed / "isthmus", "node", "stop", "--home", home, cwd=elsewhere))
        assert node.wait(timeout=30) == 0, log.read_text(errors="replace")[-4000:]
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(timeout=15)

    described = _ok(
        _run(installed / "python", "-m", "isthmus.components", "--describe", cwd=elsewhere)
    )
    assert [d["componentName"] for d in json.loads(described)] == sorted(registry())
