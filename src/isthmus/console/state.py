"""What the console keeps per admin app: the node it shows and its sessions.

Handlers are module-level functions (as the admin API's are): they find this through
``request.app.state.console``, which ``mount`` sets, so one process can serve several
nodes' consoles (the in-process harness)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from starlette.requests import Request

from isthmus.console.session import ConsoleSessions
from isthmus.node.context import NodeContext


@dataclass
class ConsoleState:
    ctx: NodeContext
    sessions: ConsoleSessions = field(default_factory=ConsoleSessions)
    #: per-page caches (e.g. the overview's last doctor run), keyed by the page's name
    caches: dict[str, Any] = field(default_factory=dict)


def console_state(request: Request) -> ConsoleState:
    return cast(ConsoleState, request.app.state.console)


def node_ctx(request: Request) -> NodeContext:
    return console_state(request).ctx
