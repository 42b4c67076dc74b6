"""``isthmus conformance`` as an operator types it: ``list``, ``run`` (with ``--dry-run``
sending nothing at all), ``verify`` (a changed report is refused). The kit's checks are
replaced by this module's own, so the test does not depend on which checks exist."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from isthmus.cli import conformance as cli_module
from isthmus.cli.main import app
from isthmus.conformance import runner
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import Registry
from isthmus.node.home import init_home
from isthmus.wire import paths
from tests.conformance.conftest import IsthmusTarget

pytestmark = pytest.mark.multinode

registry = Registry()
KIT_NODE = "CONF_LAB"


@registry.check(
    "cli.health",
    title="Health answers",
    part=Part.MANAGEMENT,
    section="§1.4",
    plan=["GET /v1/interconn/node/health (unsigned)"],
)
async def health(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned("GET", paths.NODE_HEALTH, label="health")
    ctx.expect(reply.code == 0, f"code {reply.code}")
    ctx.note("health answers code 0")


@registry.check(
    "cli.always-fails",
    title="Fails on purpose",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=["POST /v1/interconn/job/audit/apply with a body that is not JSON"],
    mutates=True,
)
async def always_fails(ctx: CheckContext) -> None:
    ctx.fail("this check fails on purpose")


@registry.check("cli.uas", title="UAS", part=Part.UAS, section="§6", plan=["POST uas/verify"])
async def uas(ctx: CheckContext) -> None:
    ctx.note("unreachable: not claimed")


@pytest.fixture(autouse=True)
def _our_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "all_checks", registry.all)
    monkeypatch.setattr(runner, "all_checks", registry.all)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, ["conformance", *(str(a) for a in args)])


def _target_file(tmp_path: Path, target: Any, **update: Any) -> Path:
    data = target.model_copy(update=update).model_dump(mode="json", exclude_none=True)
    data["claims"] = sorted(data["claims"])
    path = tmp_path / "target.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("kit") / "lab"
    init_home(home, node_id=KIT_NODE, inst_id="INST_LAB", interconn_port=1)
    return home


@pytest.fixture
def operator(isthmus_target: IsthmusTarget) -> Iterator[None]:
    """The target's operator: approves the kit's application when it shows up."""
    stop = threading.Event()

    def watch() -> None:
        admin = isthmus_target.node.admin
        while not stop.wait(0.1):
            for c in admin.get("/contracts", status="APPLIED"):
                if c["peer_node_id"] == KIT_NODE and c["direction"] == "INBOUND":
                    admin.post(f"/contracts/{c['contract_id']}/approve", {})

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_list_names_every_check_with_its_part_and_section() -> None:
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["check_id"] for r in rows] == ["cli.health", "cli.always-fails", "cli.uas"]
    assert rows[1] == {
        "check_id": "cli.always-fails",
        "part": "management",
        "section": "§1.2",
        "mutates": True,
        "title": "Fails on purpose",
    }
    assert "cli.health" in invoke("list").stdout


def test_a_dry_run_prints_each_plan_and_sends_nothing(
    tmp_path: Path, isthmus_target: IsthmusTarget
) -> None:
    """The target's address is a socket that listens but is never accepted from: any
    connection would be waiting in its backlog."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        listening = f"http://127.0.0.1:{server.getsockname()[1]}"
        target_file = _target_file(
            tmp_path, isthmus_target.target, address=listening, claims=frozenset({Part.MANAGEMENT})
        )
        out = tmp_path / "out"
        result = invoke("run", "--target", target_file, "--dry-run", "--out", out)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert result.exit_code == 0, result.output
    assert "nothing is sent" in result.stdout
    assert "GET /v1/interconn/node/health (unsigned)" in result.stdout
    assert "POST uas/verify" in result.stdout and "[not claimed: skipped]" in result.stdout
    assert not out.exists()


def test_run_writes_signed_reports_exits_1_on_a_failure_and_verify_checks_them(
    tmp_path: Path, isthmus_target: IsthmusTarget, kit_home: Path, operator: None
) -> None:
    target_file = _target_file(tmp_path, isthmus_target.target)
    out = tmp_path / "report"
    result = invoke("run", "--target", target_file, "--home", kit_home, "--out", out, "--json")
    assert result.exit_code == 1, result.output
    written = json.loads(result.stdout)
    assert written["ok"] is False
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.xml"]
    report = json.loads((out / "report.json").read_text())
    outcomes = {r["check_id"]: r["outcome"] for r in report["results"]}
    assert outcomes == {"cli.health": "pass", "cli.always-fails": "fail", "cli.uas": "pass"}
    assert written["sha256"] in (out / "report.xml").read_text()
    assert written["sha256"] in (out / "report.html").read_text()

    verified = invoke("verify", out / "report.json", "--json")
    assert verified.exit_code == 0, verified.output
    summary = json.loads(verified.stdout)
    assert summary["signer_node_id"] == KIT_NODE and summary["sha256"] == written["sha256"]
    assert summary["summary"]["management"] == {
        "pass": 1,
        "fail": 1,
        "not-applicable": 0,
        "error": 0,
    }

    report["results"][1]["outcome"] = "pass"  # someone "fixes" the failure
    (out / "report.json").write_text(json.dumps(report))
    refused = invoke("verify", out / "report.json")
    assert refused.exit_code == 1
    assert "does not verify" in refused.output


def test_a_read_only_run_of_passing_checks_exits_0(
    tmp_path: Path, isthmus_target: IsthmusTarget, kit_home: Path, operator: None
) -> None:
    target_file = _target_file(tmp_path, isthmus_target.target, claims=frozenset({Part.MANAGEMENT}))
    out = tmp_path / "ro"
    result = invoke(
        "run",
        "--target",
        target_file,
        "--home",
        kit_home,
        "--out",
        out,
        "--read-only",
        "-k",
        "cli.",
        "--rate",
        "50",
    )
    assert result.exit_code == 0, result.output
    assert "reports:" in result.stdout
    key = tmp_path / "lab.pem"
    from isthmus.conformance.identity import from_home

    key.write_text(from_home(kit_home).public_key_pem)
    assert invoke("verify", out / "report.json", "--key", key).exit_code == 0


def test_a_run_whose_contract_nobody_approved_exits_1_though_its_check_passed(
    tmp_path: Path, isthmus_target: IsthmusTarget, kit_home: Path
) -> None:
    """No operator: the set-up fails, the one (unsigned) check still passes, the run is
    not ok: it proved nothing about the paths that need the contract."""
    target_file = _target_file(
        tmp_path,
        isthmus_target.target,
        claims=frozenset({Part.MANAGEMENT}),
        approval_timeout_s=0.2,
    )
    out = tmp_path / "unapproved"
    args = ("run", "--target", target_file, "--home", kit_home, "--out", out, "-k", "cli.health")
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "set-up: contract" in result.output and "not approved" in result.output
    report = json.loads((out / "report.json").read_text())
    assert [r["outcome"] for r in report["results"]] == ["pass"]
    assert report["ok"] is False and report["setup_error"]


@pytest.mark.parametrize(
    "content", ["node_id = 'x'", "not toml at all [", '{"node_id": "../x", "address": "a"}']
)
def test_a_bad_target_file_is_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("t.json" if content.startswith("{") else "t.toml")
    path.write_text(content, encoding="utf-8")
    result = invoke("run", "--target", path, "--dry-run")
    assert result.exit_code == 2, result.output
