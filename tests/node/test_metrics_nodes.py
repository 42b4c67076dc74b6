"""``/metrics`` on real node processes after real jobs: jobs and task runs by state,
task run durations, the transport's queue depths and the bytes sent to and received
from each partner (issue 14, item 6).

Two nodes; A initiates and schedules, A and B compute. One job succeeds, one fails on
B (a missing column), so every family is read with more than one label value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import submit, wait_finished
from isthmus.wire import paths
from tests.scheduler.jobs_support import offer, psi_pipeline, write_dataset

#: (family name, labels) -> value: one scrape, as Prometheus would read it.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(node: ProcessNode) -> Samples:
    response = node.admin.raw_get(paths.METRICS)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the node does not export it (a KeyError would hide
    which one was missing behind the test's own message)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture(scope="module")
def ran() -> Iterator[tuple[ProcessNode, ProcessNode, dict[str, str], dict[str, Any]]]:
    """A and B after one job that succeeded and one that failed; the pipeline's task
    name -> component name; each job's result by id."""
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect_all()
        write_dataset(a, "guest.csv", list(range(0, 300)), "x")
        write_dataset(b, "host.csv", list(range(100, 500)), "y")
        offer(b, a, "host.csv")
        good = psi_pipeline(a.node_id, b.node_id)
        bad = psi_pipeline(a.node_id, b.node_id)
        bad["config"]["task_params"]["host"]["0"]["psi_0"]["field_names"] = "no_such_column"
        results = {}
        for document in (good, bad):
            job_id = submit(a, document)
            results[job_id] = wait_finished(a, job_id)["result"]
        assert sorted(results.values()) == ["FAILED", "SUCCESS"]
        components = {c["name"]: c["componentName"] for c in good["dag"]["components"]}
        # B learns each result from A after job/stop; its gauges are read once it has
        wait_until(
            lambda: {j["status"] for j in b.admin.get(paths.ADMIN_JOBS)} == {"SUCCESS", "FAILED"},
            what="B to learn both results",
        )
        yield a, b, components, results


def test_jobs_are_counted_by_the_state_the_operator_sees(ran: Any) -> None:
    a, b, _, _ = ran
    on_a, on_b = scrape(a), scrape(b)
    for state, count in (("SUCCESS", 1), ("FAILED", 1), ("RUNNING", 0), ("FINISHED", 0)):
        assert value(on_a, "isthmus_jobs", side="scheduler", state=state) == count, state
        assert value(on_a, "isthmus_jobs", side="participant", state=state) == count, state
        assert value(on_b, "isthmus_jobs", side="participant", state=state) == count, state
    # B schedules nothing; every state is still exported, at 0
    scheduled_on_b = {
        dict(labels)["state"]: v
        for labels, v in named(on_b, "isthmus_jobs").items()
        if dict(labels)["side"] == "scheduler"
    }
    assert {"PENDING", "RUNNING", "SUCCESS", "FAILED", "STOPPED"} <= scheduled_on_b.keys()
    assert set(scheduled_on_b.values()) == {0.0}


def test_task_runs_and_their_durations_match_each_node_s_runs(ran: Any) -> None:
    """Every run a node lists is counted once in its state, and observed once in the
    duration histogram under its component and result."""
    _, _, components, results = ran
    for node in ran[:2]:
        runs = [
            run
            for job_id in results
            for run in node.admin.get(paths.ADMIN_JOB_TASKS.format(job_id=job_id))
            if run["party"] != "-"  # a task with no party of this node: nothing ran
        ]
        assert {r["status"] for r in runs} <= {"SUCCESS", "FAILED", "STOPPED"}, runs
        samples = scrape(node)
        for state in ("SUCCESS", "FAILED", "STOPPED", "RUNNING", "PENDING"):
            expected = sum(r["status"] == state for r in runs)
            assert value(samples, "isthmus_task_runs", state=state) == expected, state
        observed = {
            (dict(labels)["component"], dict(labels)["result"]): v
            for labels, v in named(samples, "isthmus_task_run_seconds_count").items()
        }
        expected_runs: dict[tuple[str, str], float] = {}
        for run in runs:
            key = (components[run["task_name"]], run["status"])
            expected_runs[key] = expected_runs.get(key, 0) + 1
        assert observed == expected_runs, node.node_id
        assert ("ecdh_psi", "SUCCESS") in observed
        total = sum(named(samples, "isthmus_task_run_seconds_sum").values())
        assert total > 0  # the runs took time, and it was measured in seconds
        assert total < 600


def test_bytes_per_partner_and_queues_drained(ran: Any) -> None:
    """The PSI's messages went both ways through the transport: each node counts what
    its partner confirmed it stored, and what it accepted from the partner; once the
    jobs ended, nothing waits in either direction."""
    a, b, _, _ = ran
    for node in (a, b):  # the queues drain once the jobs' sessions are released

        def drained(node: ProcessNode = node) -> bool:
            samples = scrape(node)
            return all(
                value(samples, name, direction=direction) == 0
                for name in ("isthmus_transport_queued_messages", "isthmus_transport_queued_bytes")
                for direction in ("in", "out")
            )

        wait_until(drained, timeout_s=30, what=f"{node.node_id}'s transport queues to drain")
    on_a, on_b = scrape(a), scrape(b)
    for sender, receiver, here, there in ((a, b, on_a, on_b), (b, a, on_b, on_a)):
        sent = value(here, "isthmus_transport_sent_bytes_total", partner=receiver.node_id)
        received = value(there, "isthmus_transport_received_bytes_total", partner=sender.node_id)
        assert sent > 0, f"{sender.node_id} counted nothing sent to {receiver.node_id}"
        # the receiver counts every accepted payload (resends too): never less
        assert received >= sent, (sender.node_id, sent, received)
    # a node is never its own partner
    assert value(on_a, "isthmus_transport_sent_bytes_total", partner=a.node_id) == 0
