"""Who the kit is: a node home's identity, or a fresh one for this run.

With ``--home`` the kit speaks and signs reports as that node (its node id and key; the
node need not run — the kit listens itself). Without, it makes an Ed25519 identity for
the run: reports still verify (integrity) but name no institution (provenance).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from isthmus.conformance.context import KitIdentity
from isthmus.crypto import generate_private_key
from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity


def from_home(home: Path) -> KitIdentity:
    config = load_config(home)
    key = read_private_key(config)
    return KitIdentity(NodeIdentity(config.node.node_id, config.node.inst_id, key))


def ephemeral(auth_type: str = "ED25519") -> KitIdentity:
    node_id = f"conformance-kit-{secrets.token_hex(4)}"
    return KitIdentity(NodeIdentity(node_id, f"INST_{node_id}", generate_private_key(auth_type)))
