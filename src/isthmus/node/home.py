"""Creating and reading a node's home directory (``isthmus init``).

Layout::

    DIR/node.toml        configuration (see config.py)
    DIR/keys/node.key    private key, PKCS#8 PEM, mode 0600
    DIR/admin.token      bearer token of the admin API, mode 0600
    DIR/isthmus.db       SQLite store (unless store.url points elsewhere)
    DIR/logs/            node.log when started detached
    DIR/run/node.pid     pid of a detached node

**Owner-only.** The home holds the node's key, its admin token and its database (with
permit and session tokens): the home and everything ``init_home`` creates are owner-only
(0700 folders, 0600 files; a home folder that existed before keeps its mode, and doctor
warns if it is open), and a node process creates everything else owner-only too
(``restrict_new_files``, a process umask of 077, set first thing at start): database and
journals, logs, spill files, task storage. ``isthmus doctor`` warns when any of these
files is readable by others (``node.file_modes``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from isthmus.crypto import PrivateKey, generate_private_key, load_private_key
from isthmus.node.config import CONFIG_FILE, NodeConfig, describe
from isthmus.node.ports import derived_ports
from isthmus.wire.errors import ConfigError, InvalidKey

#: The process umask of a node: nothing it creates is readable by group or others.
PRIVATE_UMASK = 0o077


def restrict_new_files() -> int:
    """Make every file and folder this process creates from now on owner-only (umask
    077); returns the previous umask. A node calls it before it opens anything, so the
    guarantee holds for files created by libraries too (SQLite's journals, log rotation,
    task storage, spill files)."""
    return os.umask(PRIVATE_UMASK)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def _write_private(path: Path, data: bytes) -> None:
    if not path.parent.exists():
        _private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file (--force) keeps no old mode
        handle.write(data)


def init_home(
    home: Path,
    *,
    node_id: str,
    inst_id: str,
    name: str = "",
    institution: str = "",
    auth_type: str = "ED25519",
    interconn_port: int = 8101,
    admin_port: int | None = None,
    transport_port: int | None = None,
    transport_grpc_port: int | None = None,
    interconn_grpc_port: int | None = None,
    grpc: bool = False,
    host: str = "127.0.0.1",
    public_address: str = "",
    store_url: str = "",
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
    tls_ca_file: Path | None = None,
    force: bool = False,
) -> Path:
    """Create a node home with a fresh key pair, config and admin token. A port not
    given derives from ``interconn_port`` (``node.ports.OFFSETS``), so homes made with
    different interconn ports run side by side.

    Refuses to overwrite an existing home unless ``force``: a node's key *is* its identity
    to every partner, and losing it silently would cut off all contracts.
    """
    home = home.expanduser().resolve()
    config_path = home / CONFIG_FILE
    if config_path.exists() and not force:
        raise ConfigError(f"{config_path} already exists (use --force to replace the identity)")
    explicit = {"admin.port": admin_port, "transport.port": transport_port,
                "interconn.grpc_port": interconn_grpc_port,
                "transport.grpc_port": transport_grpc_port}  # fmt: skip
    ports = derived_ports(interconn_port, grpc=grpc, explicit=explicit)
    document: dict[str, Any] = {
        "node": {
            "node_id": node_id,
            "inst_id": inst_id,
            "name": name or node_id,
            "institution": institution or inst_id,
        },
        **_listener_sections(host, ports, public_address),
        "identity": {"auth_type": auth_type, "key_file": "keys/node.key"},
    }
    if store_url:
        document["store"] = {"url": store_url}
    if tls_cert_file or tls_key_file or tls_ca_file:
        document["interconn"]["tls"] = _tls_section(tls_cert_file, tls_key_file, tls_ca_file)
    # Validate before writing anything, so a bad option leaves no half-made home.
    try:
        NodeConfig.model_validate({"home": home, **document})
    except ValidationError as exc:
        raise ConfigError(f"invalid options: {describe(exc)}") from exc
    _write_home(home, document, auth_type)
    return home


def _listener_sections(
    host: str, ports: dict[str, int], public_address: str
) -> dict[str, dict[str, Any]]:
    """``[interconn]``, ``[admin]`` and ``[transport]`` with their ports; admin and
    transport on loopback; the gRPC faces written only when on (0 = off)."""
    sections: dict[str, dict[str, Any]] = {
        "interconn": {"host": host, "port": ports["interconn.port"]},
        "admin": {"host": "127.0.0.1", "port": ports["admin.port"]},
        "transport": {"host": "127.0.0.1", "port": ports["transport.port"]},
    }
    if public_address:
        sections["interconn"]["public_address"] = public_address
    if ports["interconn.grpc_port"]:
        sections["interconn"]["grpc_port"] = ports["interconn.grpc_port"]
    if ports["transport.grpc_port"]:
        sections["transport"]["grpc_port"] = ports["transport.grpc_port"]
    return sections


def _tls_section(cert: Path | None, key: Path | None, ca: Path | None) -> dict[str, Any]:
    """``[interconn.tls]``, on, with the files given (as absolute paths)."""
    files = (("cert_file", cert), ("key_file", key), ("ca_file", ca))
    return {"enabled": True, **{name: str(Path(v).resolve()) for name, v in files if v}}


def _write_home(home: Path, document: dict[str, Any], auth_type: str) -> None:
    """The key, the admin token, the folders and the configuration, all private."""
    if not home.exists():
        _private_dir(home)  # an existing folder keeps its mode: doctor warns if open
    key = generate_private_key(auth_type)
    _private_dir(home / "keys")
    _write_private(home / "keys" / "node.key", key.to_pem())
    _write_private(home / "admin.token", secrets.token_urlsafe(32).encode() + b"\n")
    _private_dir(home / "logs")
    _private_dir(home / "run")
    # The configuration may hold a database URL with its password.
    _write_private(home / CONFIG_FILE, tomli_w.dumps(document).encode("utf-8"))


def read_private_key(config: NodeConfig) -> PrivateKey:
    path = config.path(config.identity.key_file)
    try:
        key = load_private_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(f"identity.key_file: {path} does not exist") from exc
    except InvalidKey as exc:
        raise ConfigError(f"identity.key_file: {path}: {exc.message}") from exc
    if key.auth_type != config.identity.auth_type:
        raise ConfigError(
            f"identity.auth_type is {config.identity.auth_type} but {path} holds a "
            f"{key.auth_type} key"
        )
    return key


def read_admin_token(config: NodeConfig) -> str:
    path = config.path(config.admin.token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise ConfigError(f"admin.token_file: {path} does not exist") from exc
    if len(token) < 16:
        raise ConfigError(f"admin.token_file: {path} holds a token shorter than 16 characters")
    return token
