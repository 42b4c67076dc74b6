"""The BFIA container contract, read from the environment (digest §2.7).

Every input of a component run is a dotted environment variable: ``system.*`` (where
storage, transport and the callback are), ``config.*`` (who the parties are, the
session, the token) and ``runtime.component.*`` (which component, its parameters, its
input and output tables). This module turns them into one typed object and names the
exact variable when one is missing or malformed. It reads nothing else: no node
configuration, no database, so any BFIA platform can start the container.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.components.errors import ContractError
from isthmus.wire.errors import ValidationFailed
from isthmus.wire.ids import is_valid_id

PARAMETER = "runtime.component.parameter."
INPUT = "runtime.component.input."
OUTPUT = "runtime.component.output."
NODE_ID = "config.node_id."
INST_ID = "config.inst_id."


@dataclass(frozen=True)
class TableRef:
    """A table or file the scheduler allocated: ``{"namespace": …, "name": …}``."""

    namespace: str
    name: str


@dataclass(frozen=True)
class ContainerEnv:
    """The BFIA container contract, read from the dotted environment variables
    (``system.*``, ``config.*``, ``runtime.component.*``): everything a component may know
    about its task, and nothing of the node that launched it."""

    storage: str
    transport: str
    callback: str | None
    self_roles: tuple[str, ...]
    task_id: str
    node_ids: dict[str, str]  # party ("guest.0") -> node id
    inst_ids: dict[str, str]
    session_id: str
    trace_id: str
    token: str
    log_path: str | None
    component: str
    parameters: dict[str, Any]
    inputs: dict[str, TableRef]
    outputs: dict[str, TableRef]
    raw: dict[str, str]

    @property
    def parties(self) -> list[str]:
        """Every party of the task, in rank order: the lexicographic order of the party
        ids, as SecretFlow's yacl assigns ranks (``host.10`` sorts before ``host.2``)."""
        return sorted(self.node_ids)

    @property
    def self_role(self) -> str:
        """The (first) party this container plays."""
        return self.self_roles[0]

    @property
    def rank(self) -> int:
        return self.parties.index(self.self_role)

    @property
    def callback_role(self) -> str:
        return ",".join(self.self_roles)


def read_env(environ: Mapping[str, str]) -> ContainerEnv:
    """The contract from ``environ``; ContractError naming the first bad variable."""
    env = {k: v for k, v in environ.items() if k.startswith(("system.", "config.", "runtime."))}
    node_ids = _indexed(env, NODE_ID)
    if not node_ids:
        raise ContractError("no config.node_id.<role>.<index> variable: who are the parties?")
    roles = tuple(r.strip() for r in _required(env, "config.self_role").split(",") if r.strip())
    for role in roles:
        if role not in node_ids:
            raise ContractError(
                f"config.self_role names {role!r}, which has no config.node_id.{role}"
            )
    if not roles:
        raise ContractError("config.self_role is empty")
    inst_ids = _indexed(env, INST_ID)
    return ContainerEnv(
        storage=_storage_url(env),
        transport=env.get("system.transport", ""),
        callback=env.get("system.callback") or None,
        self_roles=roles,
        task_id=_required(env, "config.task_id"),
        node_ids=node_ids,
        inst_ids={party: inst_ids.get(party, node) for party, node in node_ids.items()},
        session_id=_required(env, "config.session_id"),
        trace_id=env.get("config.trace_id", ""),
        token=env.get("config.token", ""),
        log_path=env.get("config.log.path") or None,
        component=_required(env, "runtime.component.name"),
        parameters={
            k.removeprefix(PARAMETER): _decoded(v)
            for k, v in env.items()
            if k.startswith(PARAMETER)
        },
        inputs=_tables(env, INPUT),
        outputs=_tables(env, OUTPUT),
        raw=env,
    )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ContractError(f"{name} is required and missing")
    return value


def _storage_url(env: Mapping[str, str]) -> str:
    # interconnection-impl also reads ``system.storage.host.url`` (digest §5.2).
    value = env.get("system.storage") or env.get("system.storage.host.url")
    if not value:
        raise ContractError("system.storage is required and missing")
    return value


def _indexed(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(prefix):
            continue
        party = key.removeprefix(prefix)
        role, _, index = party.rpartition(".")
        if not role or not index.isdigit():
            raise ContractError(f"{key}: expected {prefix}<role>.<index>")
        if not value.strip():
            raise ContractError(f"{key} is empty")
        found[party] = value.strip()
    return found


def _decoded(value: str) -> Any:
    """Scalars stay text (the self-description types them); dicts and lists arrive as
    JSON text (FATE and Kuscia encode them so) and are decoded."""
    text = value.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _tables(env: Mapping[str, str], prefix: str) -> dict[str, TableRef]:
    tables: dict[str, TableRef] = {}
    for key, value in env.items():
        if not key.startswith(prefix):
            continue
        try:
            document = json.loads(value)
            tables[key.removeprefix(prefix)] = TableRef(
                namespace=str(document["namespace"]), name=str(document["name"])
            )
        except (ValueError, KeyError, TypeError):
            raise ContractError(f'{key}: expected JSON {{"namespace": …, "name": …}}') from None
    return tables


DATASET_KEYS = ("namespace", "name", "dataset_id")


def dataset_table(params: Mapping[str, Any], where: str = "task_params") -> TableRef | None:
    """The one dataset a party's task parameters name, or None if they name none.

    Parameters may name it as ``namespace`` + ``name`` (the guide, Kuscia) or FATE's
    ``dataset_id`` (``namespace#name``), or both. **This is the only reading of those
    keys**: the node's permit gate, its audit entry and the task's environment all take
    the table from here, so what was checked is what is read. Both forms given and
    disagreeing, one half of ``namespace`` + ``name`` alone, or a part that is not a
    valid id is refused (``ValidationFailed``, naming ``where``), never guessed at.
    """
    given = {k: params[k] for k in DATASET_KEYS if params.get(k) not in (None, "")}
    if not given:
        return None
    table: TableRef | None = None
    if "dataset_id" in given:
        value = given["dataset_id"]
        if not isinstance(value, str) or value.count("#") != 1:
            raise ValidationFailed(f"{where}.dataset_id: not a dataset id 'namespace#name'")
        namespace, name = value.split("#")
        table = TableRef(namespace, name)
    if "namespace" in given or "name" in given:
        if "namespace" not in given or "name" not in given:
            raise ValidationFailed(f"{where}: namespace and name go together")
        named = TableRef(str(given["namespace"]), str(given["name"]))
        if table is not None and named != table:
            raise ValidationFailed(
                f"{where}: dataset_id {table.namespace}#{table.name} and namespace + name "
                f"{named.namespace}/{named.name} name different datasets"
            )
        table = named
    assert table is not None
    for part, value in (("namespace", table.namespace), ("name", table.name)):
        if not is_valid_id(value):
            raise ValidationFailed(f"{where}.{part}: {value[:60]!r} is not a valid id")
    return table
