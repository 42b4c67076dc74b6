"""The scheduler's own cost per task: a 2-party job of N chained trivial tasks.

In one run, on two real node processes (``ProcessCluster``, A and B, approved contract):

* **anchor**: the same N tasks run directly, no scheduler: for each stage, both parties'
  containers started together through the process runner, the next stage when both
  exited (interpreter start and the component's own work included);
* **Isthmus**: the job submitted on A (A schedules, A and B compute), timed from the
  north-south ``create_all`` to the job's end (its result), in poll mode and in callback
  mode.

Overhead per task = (job wall time - anchor wall time) / N: what the control plane adds
(create, start, task starts, status sync, stop), everything else being equal. Each
task is a ``column_select`` over ``--size`` rows. FATE-Flow's BFIA scheduler, which we
cannot run (peers.md §3), ticks every 2 s, so it adds at least ~1 s per task on average.

    .venv/bin/python benchmarks/scheduler.py --size 1000 --tasks 5

Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from isthmus.components.builtin.column_select import SPEC as COLUMN_SELECT
from isthmus.scheduler.container_env import Placement, container_env
from isthmus.scheduler.runners import ProcessRunner, TaskRun
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.jobs import ENDED, offer_dataset, status, submit
from isthmus.wire.dag import parse_job
from isthmus.wire.status import Status


def chain(guest: str, host: str, tasks: int, sync_type: str) -> dict[str, Any]:
    components = []
    for i in range(tasks):
        inputs = [] if i == 0 else [{"key": f"select_{i - 1}.data", "type": "dataset"}]
        components.append(
            {
                "name": f"select_{i}",
                "componentName": "column_select",
                "provider": "isthmus",
                "version": "0.1.0",
                "input": inputs,
                "output": [{"key": "data", "type": "dataset"}],
            }
        )
    own = {"select_0": {"namespace": "bench", "name": "table.csv"}}
    return {
        "dag": {"components": components},
        "config": {
            "initiator": {"role": "guest", "node_id": guest},
            "role": {"guest": [guest], "host": [host]},
            "job_params": {"common": {"sync_type": sync_type}},
            "task_params": {
                "common": {f"select_{i}": {"columns": "id,a"} for i in range(tasks)},
                "guest": {"0": own},
                "host": {"0": own},
            },
        },
    }


def write_table(node: ProcessNode, size: int) -> None:
    root = node.home / "data" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i},{i % 7},{i % 11}\n" for i in range(size))
    (root / "table.csv").write_text("id,a,b\n" + rows)


def run_job(a: ProcessNode, b: ProcessNode, tasks: int, sync_type: str) -> float:
    started = time.perf_counter()
    job_id = submit(a, chain(a.node_id, b.node_id, tasks, sync_type))
    while True:
        state = status(a, job_id)
        if state["job_status"] in ENDED:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if set(state["status"].values()) != {"SUCCESS"}:
        raise SystemExit(f"job {job_id} did not succeed: {state}")
    return elapsed


def run_direct(nodes: list[ProcessNode], tasks: int) -> float:
    """The same containers, stage by stage, both parties at once, no scheduler."""
    a, b = nodes
    job = parse_job({**chain(a.node_id, b.node_id, tasks, "poll"), "job_id": "direct"})
    runner = ProcessRunner()
    started = time.perf_counter()
    for i in range(tasks):
        handles = []
        for node, role in ((a, "guest"), (b, "host")):
            where = Placement(
                storage_url=f"file://{node.home / 'data'}",
                transport_address=node.config.transport_address,
                callback_url=None,
                token="direct",
                log_path=str(node.home / "jobs" / "direct"),
            )
            env = container_env(job, f"select_{i}", role, 0, COLUMN_SELECT, where)
            log = node.home / "jobs" / "direct" / f"select_{i}-{role}.log"
            handles.append(runner.start(TaskRun(env["config.task_id"], env, log)))
        for handle in handles:
            while (outcome := runner.status(handle)).status == Status.RUNNING:
                time.sleep(0.005)
            if outcome.status != "SUCCESS":
                raise SystemExit(f"direct task select_{i} failed: {outcome}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="rows per task's table")
    parser.add_argument("--tasks", type=int, default=5, help="tasks in the chain")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (median)")
    args = parser.parse_args()
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        for node in (a, b):
            write_table(node, args.size)
        offer_dataset(b, a, "bench", "table.csv")  # B lets A's jobs use its table
        run_job(a, b, 1, "poll")  # warm-up: first imports, first connections
        direct = [run_direct([a, b], args.tasks) for _ in range(args.repeat)]
        poll = [run_job(a, b, args.tasks, "poll") for _ in range(args.repeat)]
        callback = [run_job(a, b, args.tasks, "callback") for _ in range(args.repeat)]
    anchor, polled, called = (statistics.median(x) for x in (direct, poll, callback))
    result = {
        "benchmark": "scheduler",
        "size": args.size,
        "tasks": args.tasks,
        "repeat": args.repeat,
        "anchor_direct_s": round(anchor, 3),
        "isthmus_poll_s": round(polled, 3),
        "isthmus_callback_s": round(called, 3),
        "overhead_per_task_poll_s": round((polled - anchor) / args.tasks, 3),
        "overhead_per_task_callback_s": round((called - anchor) / args.tasks, 3),
        "ratio_poll_to_anchor": round(polled / anchor, 3),
        "ratio_callback_to_anchor": round(called / anchor, 3),
        "goal_overhead_per_task_s": 0.25,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
