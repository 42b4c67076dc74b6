"""Issue 14, items 1 and 2: homes made with different interconn ports run side by side
(every port derives from it, and ``init`` says which); a node that cannot start says why
in one plain line; tables show ids and fingerprints whole, and ``--ids`` prints them
alone."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from isthmus.cli import common
from isthmus.node.home import init_home
from isthmus.node.ports import derived_ports
from isthmus.testing import free_port
from isthmus.wire.errors import ConfigError

AUDIT_ID = "audit-905c40272326444684b0b5239e5acb0c"
FINGERPRINT = "d79bf3eda5190902897dc249ef623390e22dc11f553e481319918f304b00db99"


def isthmus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the caller checks
        [sys.executable, "-m", "isthmus", *args], capture_output=True, text=True, timeout=120
    )


def ports_of(home: Path) -> dict[str, int]:
    document = tomllib.loads((home / "node.toml").read_text())
    return {
        f"{section}.{key}": value
        for section in ("interconn", "admin", "transport")
        for key, value in document[section].items()
        if key.endswith("port")
    }


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else listens on, for the time of the test."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


# --- ports ----------------------------------------------------------------------------


def test_every_port_derives_from_the_interconn_port_and_init_says_which(tmp_path: Path) -> None:
    done = isthmus(
        "init", "--home", str(tmp_path / "b"), "--node-id", "NODE_B", "--inst-id", "I",
        "--interconn-port", "8201",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ports_of(tmp_path / "b") == {
        "interconn.port": 8201,
        "admin.port": 8202,
        "transport.port": 8203,
    }
    said = " ".join(done.stdout.split())
    assert (
        "interconn http://127.0.0.1:8201, admin http://127.0.0.1:8202, transport 127.0.0.1:8203"
        in said
    )


def test_explicit_ports_win_and_grpc_takes_the_next_two(tmp_path: Path) -> None:
    home = init_home(
        tmp_path / "n", node_id="N", inst_id="I", interconn_port=9100, transport_port=9300,
        grpc=True,
    )  # fmt: skip
    assert ports_of(home) == {
        "interconn.port": 9100,
        "interconn.grpc_port": 9103,
        "admin.port": 9101,
        "transport.port": 9300,
        "transport.grpc_port": 9104,
    }
    # without --grpc the gRPC faces stay off (not written)
    plain = init_home(tmp_path / "p", node_id="N", inst_id="I", interconn_port=9100)
    assert "grpc_port" not in (plain / "node.toml").read_text()


def test_a_derived_port_past_65535_is_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match=r"transport.port would be 65536.*--interconn-port"):
        derived_ports(65534)


def test_init_warns_when_a_port_is_taken_now(tmp_path: Path, listening: int) -> None:
    done = isthmus(
        "init", "--home", str(tmp_path / "n"), "--node-id", "N", "--inst-id", "I",
        "--interconn-port", str(free_port()), "--admin-port", str(listening),
    )  # fmt: skip
    assert done.returncode == 0
    assert f"admin.port {listening} is in use" in done.stderr


# --- the start-up error ---------------------------------------------------------------


def _home(tmp_path: Path, **ports: int) -> Path:
    return init_home(
        tmp_path / "n",
        node_id="NODE_N",
        inst_id="I",
        interconn_port=ports.get("interconn", free_port()),
        admin_port=ports.get("admin", free_port()),
        transport_port=ports.get("transport", free_port()),
    )


@pytest.mark.multinode
@pytest.mark.parametrize("detach", [True, False], ids=["detached", "foreground"])
def test_a_port_in_use_is_one_plain_line_naming_the_setting(
    tmp_path: Path, listening: int, detach: bool
) -> None:
    home = _home(tmp_path, transport=listening)
    done = isthmus("node", "start", "--home", str(home), *(["--detach"] if detach else []))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: node NODE_N could not start: transport.port {listening} on 127.0.0.1 is in "
        "use (another node or program listens there): change transport.port in "
        f"{home / 'node.toml'}, or stop what holds it"
    )
    assert "see " not in done.stderr and "\\n" not in last


@pytest.mark.multinode
def test_a_detached_node_that_fails_at_start_says_why_and_its_log_keeps_the_traceback(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    (home / "keys" / "node.key").unlink()
    done = isthmus("node", "start", "--home", str(home), "--detach")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: node NODE_N could not start: identity.key_file: {home / 'keys' / 'node.key'} "
        "does not exist"
    ]
    log = (home / "logs" / "node.log").read_text()
    assert "Traceback" in log and "read_private_key" in log


@pytest.mark.multinode
def test_two_settings_sharing_a_port_are_named(tmp_path: Path) -> None:
    port = free_port()
    home = _home(tmp_path, admin=port, transport=port)
    done = isthmus("node", "start", "--home", str(home), "--detach")
    assert done.returncode == 1
    assert f"transport.port and admin.port are both {port} on 127.0.0.1" in done.stderr


# --- ids whole ------------------------------------------------------------------------


def _render(monkeypatch: pytest.MonkeyPatch, console: Console, ids: tuple[str, ...]) -> str:
    monkeypatch.setattr(common, "out", console)
    common.print_table(
        "approvals",
        ["audit id", "dir", "peer", "resource", "status", "key"],
        [[AUDIT_ID, "in", "NODE_A", "dataset b#features", "APPLIED", FINGERPRINT]],
        ids=ids,
    )
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_into_a_pipe_a_table_is_printed_whole_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(monkeypatch, Console(file=io.StringIO(), width=40), ids=())
    row = next(line for line in text.splitlines() if AUDIT_ID in line)
    assert FINGERPRINT in row and "dataset b#features" in row
    assert "…" not in text


def test_on_a_terminal_ids_stay_whole_and_the_rest_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    text = _render(monkeypatch, terminal, ids=("audit id", "peer"))
    assert max(len(line) for line in text.splitlines()) <= 100
    assert AUDIT_ID in text and "…" not in text
    # the fingerprint wrapped, not cut: every character is there, in order
    cells = "".join(line.split("│")[6].strip() for line in text.splitlines() if "│" in line)
    assert cells == FINGERPRINT


def test_a_terminal_too_narrow_folds_ids_rather_than_cutting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Console(file=io.StringIO(), width=50, force_terminal=True, color_system=None)
    text = _render(monkeypatch, terminal, ids=("audit id", "peer"))
    assert "…" not in text
    cells = "".join(line.split("│")[1].strip() for line in text.splitlines() if "│" in line)
    assert cells == AUDIT_ID


def test_fingerprints_read_in_groups_of_eight() -> None:
    assert common.fingerprint(FINGERPRINT).split() == [
        FINGERPRINT[i : i + 8] for i in range(0, 64, 8)
    ]
    assert common.fingerprint(None) == ""
