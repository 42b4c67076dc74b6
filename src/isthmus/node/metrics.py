"""Prometheus metrics of one node. A registry per node (not the global default) so that
several in-process nodes in tests do not share counters.

Every label has a bounded set of values: routes, statuses, reasons, component names
(the registry's), partner node ids (the node's contracts); never a job, task or session
id. The families are listed, with their meaning, in ``docs/operator-guide.md``."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlalchemy.orm import Session

from isthmus.scheduler import status as st
from isthmus.scheduler.outcomes import shown
from isthmus.scheduler.views import NO_PARTY
from isthmus.store import Store
from isthmus.store.schema import JobRow, LocalTaskRow, ScheduledJobRow
from isthmus.transport.service import QueueDepths
from isthmus.wire.node import ContractStatus

#: Task runs last from seconds to the task timeout (a day by default).
TASK_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

#: Every state a job may be shown in (its status, or its result once ended) and every
#: status of a task run: each is exported, 0 when none is in it, so that a state that
#: empties reads 0 instead of keeping its last count.
JOB_STATES = tuple(dict.fromkeys([*st.JOB_STATUSES, *sorted(st.JOB_RESULTS)]))
TASK_STATES = st.TASK_STATUSES


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "isthmus_http_requests",
            "HTTP requests served, by listener, route and BFIA code",
            ["app", "route", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "isthmus_http_request_seconds",
            "Time to serve an HTTP request",
            ["app", "route"],
            registry=self.registry,
        )
        self.auth_refusals = Counter(
            "isthmus_auth_refusals",
            "East-west requests refused during authentication, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.unsigned_accepted = Counter(
            "isthmus_unsigned_accepted",
            "East-west requests accepted without a signature (interconn.unsigned_partners)",
            ["source"],
            registry=self.registry,
        )
        self.peer_calls = Counter(
            "isthmus_peer_calls",
            "Calls made to partner nodes, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.contracts = Gauge(
            "isthmus_contracts",
            "Contracts by status",
            ["status"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "isthmus_outbox_pending",
            "Messages to partners not yet delivered",
            registry=self.registry,
        )
        self._jobs_and_tasks()
        self._transport()

    def _jobs_and_tasks(self) -> None:
        """Jobs and task runs by state (gauges read from the store at scrape time) and
        how long task runs take (observed as each ends)."""
        self.jobs = Gauge(
            "isthmus_jobs",
            "Jobs by the state the operator sees (an ended job's result, else its status); "
            "side=scheduler: jobs this node schedules, side=participant: jobs it takes part in",
            ["side", "state"],
            registry=self.registry,
        )
        self.task_runs = Gauge(
            "isthmus_task_runs",
            "This node's task runs (one per task and party it computes), by status",
            ["state"],
            registry=self.registry,
        )
        self.task_run_seconds = Histogram(
            "isthmus_task_run_seconds",
            "Time from a task run's start to its end on this node, by component and result",
            ["component", "result"],
            buckets=TASK_BUCKETS_S,
            registry=self.registry,
        )

    def _transport(self) -> None:
        """The transport's queue depths (read at scrape time) and the east-west bytes
        per partner (counted as they pass)."""
        self.transport_queued_messages = Gauge(
            "isthmus_transport_queued_messages",
            "Transport messages pending: direction=out waiting to be forwarded to a "
            "partner, direction=in waiting to be popped by a local component",
            ["direction"],
            registry=self.registry,
        )
        self.transport_queued_bytes = Gauge(
            "isthmus_transport_queued_bytes",
            "Payload bytes of the transport messages pending, by direction (as above)",
            ["direction"],
            registry=self.registry,
        )
        self.transport_sent_bytes = Counter(
            "isthmus_transport_sent_bytes",
            "Payload bytes of transport messages a partner node confirmed it stored",
            ["partner"],
            registry=self.registry,
        )
        self.transport_received_bytes = Counter(
            "isthmus_transport_received_bytes",
            "Payload bytes of transport messages accepted from a partner node (resends included)",
            ["partner"],
            registry=self.registry,
        )

    # The hooks the scheduler and the transport are given (they may not import the
    # node): plain methods, so any test can pass its own recorder instead.

    def task_run_ended(self, component: str, result: str, seconds: float) -> None:
        """A local task run ended (``scheduler.runs.RunEnded``)."""
        self.task_run_seconds.labels(component=component, result=result).observe(seconds)

    def sent_to(self, partner: str, size: int) -> None:
        """``size`` payload bytes reached ``partner`` (``transport.forwarder.TrafficMeter``)."""
        self.transport_sent_bytes.labels(partner=partner).inc(size)

    def received_from(self, partner: str, size: int) -> None:
        """``size`` payload bytes came in from ``partner``."""
        self.transport_received_bytes.labels(partner=partner).inc(size)

    def traffic(self) -> dict[str, dict[str, int]]:
        """East-west transport payload bytes per partner since this node started:
        ``{partner: {"sent_bytes": …, "received_bytes": …}}`` (the two counters above)."""
        totals: dict[str, dict[str, int]] = {}
        for counter, key in (
            (self.transport_sent_bytes, "sent_bytes"),
            (self.transport_received_bytes, "received_bytes"),
        ):
            for family in counter.collect():
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        row = totals.setdefault(
                            sample.labels["partner"], {"sent_bytes": 0, "received_bytes": 0}
                        )
                        row[key] = int(sample.value)
        return dict(sorted(totals.items()))

    # --- readings at scrape time --------------------------------------------------------

    def scrape(self, store: Store, depths: QueueDepths) -> bytes:
        """The registry in Prometheus' text format, with the gauges read now: from the
        store (call this off the event loop) and the transport's ``depths`` (read them
        on the loop, where they change)."""
        with store.session() as s:
            contracts = Tally(row.status for row in store.contracts.list(s))
            pending = len(store.outbox.pending(s))
            scheduled = _job_states(s, ScheduledJobRow)
            taken_part = _job_states(s, JobRow)
            runs = Tally[str](
                dict(
                    s.query(LocalTaskRow.status, func.count())
                    .filter(LocalTaskRow.party != NO_PARTY)  # no party of ours: nothing ran
                    .group_by(LocalTaskRow.status)
                    .all()
                )
            )
        _set(self.contracts, [c.value for c in ContractStatus], contracts, "status")
        self.outbox_pending.set(pending)
        _set(self.jobs, JOB_STATES, scheduled, "state", side="scheduler")
        _set(self.jobs, JOB_STATES, taken_part, "state", side="participant")
        _set(self.task_runs, TASK_STATES, runs, "state")
        for direction, messages, size in (
            ("out", depths.out_messages, depths.out_bytes),
            ("in", depths.in_messages, depths.in_bytes),
        ):
            self.transport_queued_messages.labels(direction=direction).set(messages)
            self.transport_queued_bytes.labels(direction=direction).set(size)
        return bytes(generate_latest(self.registry))


def _job_states(s: Session, table: type[JobRow] | type[ScheduledJobRow]) -> Tally[str]:
    """How many jobs of ``table`` are in each state the operator sees."""
    counts: Tally[str] = Tally()
    query = s.query(table.status, table.result, func.count()).group_by(table.status, table.result)
    for status, result, count in query:
        counts[shown(status, result)] += count
    return counts


def _set(gauge: Gauge, known: Iterable[str], counts: Tally[str], label: str, **fixed: str) -> None:
    """Every known value of ``label`` set (0 when ``counts`` has none), and any other
    value ``counts`` has (a status the code does not list is exported, not lost)."""
    for value in dict.fromkeys([*known, *sorted(counts)]):
        gauge.labels(**{label: value}, **fixed).set(counts[value])
