"""Prometheus metrics of one node. A registry per node (not the global default) so that
several in-process nodes in tests do not share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
