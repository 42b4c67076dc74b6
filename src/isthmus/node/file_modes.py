"""``isthmus doctor``'s local check: are the node's private files owner-only?

The home holds the node's key and admin token, the database holds permit and session
tokens, logs hold ids and reasons, spill files hold partners' payloads. A node creates all
of them owner-only (``node.home``), but a file copied in, restored from a backup or
created by an older version may not be: this check lists every such file that group or
others may read, write or enter, with the ``chmod`` that fixes it. It only reads modes
(``lstat``); it changes nothing.

Task storage (``HOME/data``, ``HOME/jobs``) is not checked: under the docker runner a
container running as another user may need to read it, which is the scheduler's call.
"""

from __future__ import annotations

import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from isthmus.node.config import NodeConfig

_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class ModeFinding:
    path: str
    mode: str
    expected: str
    advice: str


def private_paths(config: NodeConfig) -> list[Path]:
    """The node's private files and folders, whether they exist or not."""
    home = config.home
    paths = [
        home,
        home / "keys",
        config.path(config.identity.key_file),
        config.path(config.admin.token_file),
        home / "node.toml",
        home / "logs",
        home / "run",
        home / "spill",
    ]
    tls = config.interconn.tls
    if tls.key_file is not None:
        paths.append(config.path(tls.key_file))
    url = make_url(config.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths += [Path(f"{url.database}{suffix}") for suffix in _SQLITE_COMPANIONS]
    logs = home / "logs"
    if logs.is_dir():
        paths += sorted(p for p in logs.iterdir() if not p.is_symlink())
    if config.log.file is not None:
        paths.append(config.path(config.log.file))
    return list(dict.fromkeys(paths))


def examine(config: NodeConfig) -> list[dict[str, Any]]:
    """Every existing private file or folder that is open to group or others."""
    findings: list[dict[str, Any]] = []
    for path in private_paths(config):
        try:
            info = path.lstat()
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not mode & 0o077:
            continue
        folder = stat.S_ISDIR(info.st_mode)
        expected = 0o700 if folder else 0o600
        findings.append(
            asdict(
                ModeFinding(
                    path=str(path),
                    mode=f"{mode:04o}",
                    expected=f"{expected:04o}",
                    advice=f"chmod {expected:o} {path}",
                )
            )
        )
    return findings
