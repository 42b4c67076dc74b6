"""``python -m isthmus.components`` as a plain process with exactly the environment a
container gets (the dotted variables, PATH, nothing of the node), reporting to a real
HTTP callback endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.components.conftest import container_env

CALLBACK_PATH = "/v1/platform/schedule/task/callback"


class Platform:
    """The platform's callback endpoint: records what the container reports."""

    def __init__(self) -> None:
        self.reports: list[dict[str, str]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = json.loads(self.rfile.read(length))
                platform.reports.append({"path": self.path, **body})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": 0, "message": "success"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{CALLBACK_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def statuses(self) -> list[str]:
        return [r["status"] for r in self.reports]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform() -> Iterator[Platform]:
    served = Platform()
    yield served
    served.close()


def run_container(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The container's process: its environment is the contract and PATH, nothing else."""
    return subprocess.run(
        [sys.executable, "-m", "isthmus.components", *args],
        env={**env, "PATH": os.environ.get("PATH", "/usr/bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_run_reports_running_then_success_and_writes_its_table(
    storage: Path, platform: Platform
) -> None:
    done = run_container(container_env(storage, **{"system.callback": platform.url}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert platform.statuses() == ["RUNNING", "SUCCESS"]
    assert platform.reports[0] == {
        "path": CALLBACK_PATH,
        "task_id": "job-1_column_select_1",
        "status": "RUNNING",
        "role": "guest.0",
    }
    table = storage / "job-1" / "selected"
    assert (table / "data_0").read_text() == "id,age\n1,30\n2,41\n"
    meta = json.loads((table / "metadata").read_text())
    assert meta["count"] == 2 and [c["name"] for c in meta["column_info"]] == ["id", "age"]
    assert "secret-token" not in done.stdout  # the token is never logged
    assert "ann" not in done.stdout  # nor data rows
    log_file = storage / "logs" / "job-1_column_select_1.log"
    assert "SUCCESS" in log_file.read_text()


RUN_FAILED = ["RUNNING", "FAILED"]  # started, then failed on the data
REFUSED = ["FAILED"]  # refused before it started


@pytest.mark.parametrize(
    ("change", "exit_code", "says", "reports"),
    [
        ({"runtime.component.parameter.columns": "id,salary"}, 65, "salary", RUN_FAILED),
        ({"runtime.component.parameter.columns": ""}, 65, "required", REFUSED),
        ({"runtime.component.parameter.drop": "perhaps"}, 65, "'drop'", REFUSED),
        ({"runtime.component.name": "nope"}, 64, "'nope' is not in this image", REFUSED),
        ({"config.self_role": "host.0"}, 0, "as host.0", ["RUNNING", "SUCCESS"]),
        (
            {"runtime.component.input.data": '{"namespace": "ns", "name": "missing"}'},
            66,
            "not found",
            RUN_FAILED,
        ),
        ({"system.storage": "hdfs://nn:9000?dir=/x"}, 66, "hdfs:// is not supported", REFUSED),
    ],
)
def test_failures_exit_with_their_code_and_report_failed(
    storage: Path,
    platform: Platform,
    change: dict[str, str],
    exit_code: int,
    says: str,
    reports: list[str],
) -> None:
    done = run_container(container_env(storage, **{"system.callback": platform.url, **change}))
    assert done.returncode == exit_code, done.stdout + done.stderr
    assert says in done.stdout
    assert platform.statuses() == reports


def test_a_broken_environment_exits_64_without_a_callback(storage: Path) -> None:
    env = container_env(storage)
    del env["config.task_id"]
    done = run_container(env)
    assert done.returncode == 64
    assert "config.task_id is required" in done.stdout


def test_an_unreachable_callback_does_not_fail_the_task(storage: Path) -> None:
    done = run_container(container_env(storage, **{"system.callback": "http://127.0.0.1:9/cb"}))
    assert done.returncode == 0
    assert "not delivered" in done.stdout


def test_describe_prints_every_self_description() -> None:
    done = run_container({}, "--describe")
    assert done.returncode == 0
    documents = json.loads(done.stdout)
    names = [d["componentName"] for d in documents]
    assert "column_select" in names
    assert all(d["provider"] and d["roleList"] for d in documents)
