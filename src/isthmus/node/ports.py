"""The node's listening ports: derived from one number, and checked before they are
opened.

**One number.** ``isthmus init --interconn-port P`` gives every listener of the node a
port from ``P``, so two nodes initialised on one machine with different ``P`` (8101,
8201) never collide: interconn ``P``, admin ``P+1``, transport ``P+2``, and, when the
gRPC faces are on, interconn gRPC ``P+3`` and transport gRPC ``P+4`` (``OFFSETS``). A
port given explicitly (``--admin-port``) wins over the derived one.

**Checked before opening.** A port another program listens on would otherwise surface
as uvicorn's exit code 3 under a traceback; ``refuse_busy_ports`` names the setting and
the port instead, in one sentence an operator can act on.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from isthmus.node.config import NodeConfig
from isthmus.wire.errors import ConfigError

#: Each listener's port as an offset from the interconn port (``isthmus init``).
OFFSETS: dict[str, int] = {
    "interconn.port": 0,
    "admin.port": 1,
    "transport.port": 2,
    "interconn.grpc_port": 3,
    "transport.grpc_port": 4,
}


@dataclass(frozen=True)
class Listener:
    """One socket the node opens: the setting that names its port, host and port."""

    setting: str
    host: str
    port: int


def derived_ports(
    interconn_port: int,
    *,
    grpc: bool = False,
    explicit: dict[str, int | None] | None = None,
) -> dict[str, int]:
    """Every listener's port from the interconn port (``OFFSETS``), an explicit value
    winning; the gRPC ports are 0 (off) unless ``grpc``. Refuses a port past 65535."""
    given = {k: v for k, v in (explicit or {}).items() if v is not None}
    ports: dict[str, int] = {}
    for setting, offset in OFFSETS.items():
        if setting.endswith("grpc_port") and not grpc and setting not in given:
            ports[setting] = 0
            continue
        port = given.get(setting, interconn_port + offset)
        if not 0 <= port <= 65535:
            raise ConfigError(
                f"{setting} would be {port} (--interconn-port {interconn_port} + {offset}): "
                "choose an --interconn-port at most 65531"
            )
        ports[setting] = port
    return ports


def listeners(config: NodeConfig) -> list[Listener]:
    """The sockets a node with this configuration opens (gRPC ones only when on)."""
    found = [
        Listener("interconn.port", config.interconn.host, config.interconn.port),
        Listener("admin.port", config.admin.host, config.admin.port),
        Listener("transport.port", config.transport.host, config.transport.port),
    ]
    if config.interconn.grpc_port:
        found.append(
            Listener("interconn.grpc_port", config.interconn.host, config.interconn.grpc_port)
        )
    if config.transport.grpc_port:
        found.append(
            Listener("transport.grpc_port", config.transport.host, config.transport.grpc_port)
        )
    return found


def busy(listener: Listener) -> str | None:
    """Why ``listener`` cannot be opened now (in use, or not an address of this
    machine), or ``None``. Binds and closes at once, with ``SO_REUSEADDR`` as the
    listeners themselves do, so a port in TIME_WAIT is not reported."""
    if listener.port == 0:
        return None
    try:
        infos = socket.getaddrinfo(
            listener.host or None, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"cannot be opened: the host does not resolve ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is in use (another node or program listens there)"
            return f"cannot be opened: {exc.strerror or exc}"
    return None


def refuse_busy_ports(config: NodeConfig) -> None:
    """Before any listener opens: two settings sharing a port, or a port that cannot be
    opened, stop the node with a ``ConfigError`` naming the setting to change."""
    seen: dict[tuple[str, int], str] = {}
    for listener in listeners(config):
        key = (listener.host, listener.port)
        if listener.port and key in seen:
            raise ConfigError(
                f"{listener.setting} and {seen[key]} are both {listener.port} on "
                f"{listener.host}: give each its own port in {config.home / 'node.toml'}"
            )
        seen[key] = listener.setting
    for listener in listeners(config):
        problem = busy(listener)
        if problem is not None:
            raise ConfigError(
                f"{listener.setting} {listener.port} on {listener.host} {problem}: change "
                f"{listener.setting} in {config.home / 'node.toml'}, or stop what holds it"
            )
