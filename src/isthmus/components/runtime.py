"""What a component is, and what it sees while it runs.

A component subclasses ``Component`` (its ``spec`` and ``run``) and registers with
``@component``; ``RunContext`` is everything it gets: its parameters, its input and
output tables, its storage, links to its partners, a logger. Nothing here knows which
components exist (``catalog``) or how a container lives (``container``), so a built-in
component imports this module and nothing imports the built-ins back.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from isthmus.components.env import ContainerEnv, TableRef
from isthmus.components.errors import ContractError
from isthmus.components.spec import ComponentSpec, Param
from isthmus.components.storage import Storage
from isthmus.link import BlackboxBackend, DirectBackend, LinkBackend, LinkContext

#: The parameters of every multi-party component's link, declared once: a component adds
#: them to its spec and opens its link with ``RunContext.link_from_params``.
LINK_PARAMS = (
    Param(
        "link_addresses",
        description="Isthmus extension: host:port of every rank, comma-separated, "
        "for the direct gRPC link instead of system.transport",
    ),
    Param("recv_timeout_s", type="float", default=600.0, validator="(0,86400]"),
    Param(
        "link_max_chunk_bytes",
        type="int",
        default=1024 * 1024,
        validator="(4096,inf)",
        description="Isthmus extension: larger link messages are sent CHUNKED",
    ),
)


class Component(ABC):
    """Subclass, set ``spec``, implement ``run``; register with ``@component``."""

    spec: ClassVar[ComponentSpec]

    @abstractmethod
    async def run(self, ctx: RunContext) -> None:
        """Do the work; raise a ComponentError subclass to fail with its exit code."""


_REGISTRY: dict[str, type[Component]] = {}

#: After a failed run, how long to wait for the partners' FIN (they answer ours at once).
FAILED_CLOSE_S = 5.0


def component(cls: type[Component]) -> type[Component]:
    """Class decorator: make a component runnable by its ``componentName``."""
    name = cls.spec.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"two components are named {name!r}")
    _REGISTRY[name] = cls
    return cls


def registered() -> dict[str, type[Component]]:
    """The components registered so far in this process (``catalog.registry`` loads the
    image's before reading this)."""
    return dict(_REGISTRY)


@dataclass
class RunContext:
    """What a running component sees: the contract, its parameters, its storage and
    a way to open its link. Nothing of the node that started it."""

    env: ContainerEnv
    params: dict[str, Any]
    storage: Storage
    log: logging.Logger
    report: dict[str, Any] = field(default_factory=dict)
    _links: list[LinkContext] = field(default_factory=list)

    def input(self, name: str) -> TableRef:
        try:
            return self.env.inputs[name]
        except KeyError:
            raise ContractError(f"runtime.component.input.{name} is required and missing") from None

    def output(self, name: str) -> TableRef:
        try:
            return self.env.outputs[name]
        except KeyError:
            raise ContractError(
                f"runtime.component.output.{name} is required and missing"
            ) from None

    async def link(
        self,
        *,
        addresses: list[str] | None = None,
        recv_timeout_s: float = 60.0,
        **options: Any,
    ) -> LinkContext:
        """The white-box link to the other parties, started and connected; closed (FIN
        sent and awaited) when the run ends. Through ``system.transport`` (the BFIA
        black-box mode), or with ``addresses`` (one ``host:port`` per rank, in rank
        order) directly over gRPC, as PPCA deployments without a transport module do."""
        if addresses is not None:
            if len(addresses) != len(self.env.parties):
                raise ContractError(
                    f"{len(addresses)} link addresses for {len(self.env.parties)} parties"
                )
            backend: LinkBackend = DirectBackend(self.env.rank, addresses)
            rank = self.env.rank
        else:
            if not self.env.transport:
                raise ContractError("system.transport is required for a multi-party component")
            backend, rank = BlackboxBackend.from_env(self.env.raw)
        link = LinkContext(
            rank, len(self.env.parties), backend, recv_timeout_s=recv_timeout_s, **options
        )
        await link.start(connect_timeout_s=recv_timeout_s)
        self._links.append(link)
        return link

    async def link_from_params(self) -> LinkContext:
        """``link`` as the component's ``LINK_PARAMS`` say: direct gRPC when
        ``link_addresses`` is given, else ``system.transport``."""
        p = self.params
        addresses = str(p["link_addresses"]).split(",") if p.get("link_addresses") else None
        return await self.link(
            addresses=addresses,
            recv_timeout_s=float(p["recv_timeout_s"]),
            max_chunk_bytes=int(p["link_max_chunk_bytes"]),
        )

    async def close(self, *, failed: bool = False) -> None:
        """Close every link: FIN sent, the partners' awaited. After a failure the wait is
        short (``FAILED_CLOSE_S``) and a close that fails is logged, never raised: the
        error that ended the run is the one to report, and the partners learn of it from
        our FIN (``isthmus.link.context``)."""
        for link in self._links:
            if not failed:
                await link.close()
                continue
            try:
                await link.close(timeout_s=FAILED_CLOSE_S)
            except Exception as exc:  # the run's own error is the one to report
                self.log.warning("link not closed cleanly after the failure: %s", exc)
