"""Issue #12, item 12: components shared too much. Every task wrote into the node's one
storage root (the docker runner mounted it read-write into every container), and the
docker runner put the job's session token on its command line, where every local user
reads it (``/proc/*/cmdline``, ``ps``).

Now each party's task gets its own storage directory under ``<storage>/.tasks`` with
copies of its inputs, read-only, and its outputs are published to the node's storage
only when it succeeded; the docker runner passes the environment in a private
``--env-file`` removed once the container is created, mounts only the task's
directory (inputs read-only over it) and runs as the node's user.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.components.builtin.column_select import SPEC as COLUMN_SELECT
from isthmus.store import Store
from isthmus.store.schema import JobRow
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import status, submit, task_processes, wait_finished, wait_task
from isthmus.wire import paths
from tests.scheduler.jobs_support import offer, output_rows, psi_pipeline, write_dataset
from tests.security.sched_support import Pair, pair, select_job

pytestmark = pytest.mark.multinode


def session_token(node: ProcessNode, job_id: str) -> str:
    """The job's transport session token, as the node keeps it (a test may read it)."""
    store = Store(node.config.store_url)
    try:
        with store.session() as s:
            row = s.get(JobRow, job_id)
            assert row is not None
            return str(row.session_token)
    finally:
        store.dispose()


def command_lines() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes())
            except OSError:
                continue
    return found


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}


@pytest.fixture(scope="module")
def nodes() -> Iterator[Pair]:
    with pair() as (a, b):
        write_dataset(a, "guest.csv", list(range(0, 150_000)), "x")
        write_dataset(b, "host.csv", list(range(50_000, 200_000)), "y")
        offer(b, a, "host.csv")
        yield a, b


def test_a_process_task_has_its_own_storage_inputs_read_only_and_no_token_in_argv(
    nodes: Pair,
) -> None:
    a, b = nodes
    job_id = submit(a, psi_pipeline(a.node_id, b.node_id))
    try:
        check_the_running_task(a, job_id)
    finally:  # a failed check leaves no task running
        with contextlib.suppress(Exception):
            a.admin.post(paths.PLATFORM_JOB_STOP_ALL, {"job_id": job_id})


def check_the_running_task(a: ProcessNode, job_id: str) -> None:
    wait_task(a, job_id, "psi_0", "RUNNING")
    psi_id = next(t["task_id"] for t in status(a, job_id)["tasks"] if t["task_name"] == "psi_0")
    wait_until(lambda: len(task_processes(psi_id)) >= 4, what="both PSI parties running")
    token = session_token(a, job_id).encode()
    assert not any(token in line for line in command_lines())
    shared = a.home / "data"
    own = shared / ".tasks" / job_id / psi_id / "guest.0"
    (component,) = [
        pid
        for pid in task_processes(psi_id)
        if environment(pid).get("config.self_role") == "guest.0"
        and "isthmus.components" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert environment(component)["system.storage"] == own.as_uri()  # not the node's root
    copy = own / "demo" / "guest.csv"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert copy.stat().st_ino != (shared / "demo" / "guest.csv").stat().st_ino  # a copy
    assert stat.S_IMODE((own / f"{job_id}-guest-0").stat().st_mode) & 0o200  # outputs: writable
    summary = wait_finished(a, job_id)
    assert summary["result"] == "SUCCESS", summary
    assert len(output_rows(a, job_id, "guest", psi_id, "train_data")) == 100_001  # published
    assert not (shared / ".tasks" / job_id / psi_id).exists()  # the task's storage is gone


def recording_docker(directory: Path) -> Path:
    """A ``docker`` that records each call's arguments, and on ``run`` the content and
    mode of its ``--env-file``; containers "exit 0" at once."""
    script = directory / "docker"
    script.write_text(
        f"""#!{sys.executable}
import json, os, stat, sys
args = sys.argv[1:]
record = {{"argv": args}}
if args[0] == "run" and "--env-file" in args:
    path = args[args.index("--env-file") + 1]
    record["env_file"] = open(path).read()
    record["env_file_mode"] = stat.S_IMODE(os.stat(path).st_mode)
with open({str(directory / "calls.jsonl")!r}, "a") as f:
    f.write(json.dumps(record) + "\\n")
if args[0] == "inspect":
    print("exited 0")
elif args[0] == "run":
    print("0123abcd")
"""
    )
    script.chmod(0o755)
    return script


def test_the_docker_runner_keeps_the_token_off_the_command_line_and_mounts_only_the_task(
    tmp_path: Path,
) -> None:
    docker = recording_docker(tmp_path)
    with ProcessCluster(env={"ISTHMUS_SCHEDULER__DOCKER_BIN": str(docker)}) as cluster:
        a = cluster.add_node()
        description = {**COLUMN_SELECT.self_description(), "provider": "isthmus-in-docker"}
        a.admin.post(
            "/components",
            {"component_info": description, "runner": "docker", "imageUrl": "isthmus:test"},
        )
        write_dataset(a, "t.csv", [1, 2, 3], "x")
        job = select_job(
            "job-in-docker", a.node_id, {"guest": [a.node_id]},
            {"guest": {"namespace": "demo", "name": "t.csv"}},
        )  # fmt: skip
        job["dag"]["components"][0]["provider"] = "isthmus-in-docker"  # type: ignore[index]
        job_id = submit(a, job)
        assert wait_finished(a, job_id)["result"] == "SUCCESS"
        token = session_token(a, job_id)
        calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
        (run,) = [c for c in calls if c["argv"][0] == "run"]
        argv = run["argv"]
        assert not any(token in arg for arg in (c for call in calls for c in call["argv"]))
        assert f"config.token={token}\n" in run["env_file"]  # the environment, in a file
        assert run["env_file_mode"] == 0o600
        env_file = Path(argv[argv.index("--env-file") + 1])
        assert not env_file.exists()  # removed once the container was created
        assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
        volumes = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--volume"]
        own = a.home / "data" / ".tasks" / job_id / f"{job_id}_select_0" / "guest.0"
        assert volumes == [f"{own}:{own}", f"{own}/demo/t.csv:{own}/demo/t.csv:ro"]
