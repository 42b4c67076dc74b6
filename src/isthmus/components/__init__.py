"""The component SDK: the seam between a node and its algorithms (BFIA part 2).

A component declares its self-description in code (``ComponentSpec``), implements
``Component.run`` and registers with ``@component``. At run time it sees only the BFIA
container contract (``ContainerEnv``: the dotted environment variables), its storage
(``system.storage``), its link (``system.transport``) and the callback — never the
node's internals — so any BFIA platform can load it as a container, and the node loads
anyone's. ``python -m isthmus.components`` runs whichever component the environment
names. ``csv_rows`` / ``csv_writer`` / ``write_csv`` read and write a CSV table the way
the built-in components do (streamed, metadata published after the data).
"""

from isthmus.components.catalog import registry
from isthmus.components.container import run_container
from isthmus.components.env import ContainerEnv, TableRef, read_env
from isthmus.components.errors import (
    AlgorithmError,
    ComponentError,
    ContractError,
    ParameterError,
    StorageError,
    UnknownComponent,
)
from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param, from_self_description
from isthmus.components.storage import Storage, TableMeta, open_storage, register_backend
from isthmus.components.tables import csv_rows, csv_writer, write_csv

__all__ = [
    "AlgorithmError",
    "Component",
    "ComponentError",
    "ComponentSpec",
    "ContainerEnv",
    "ContractError",
    "DataSlot",
    "Param",
    "ParameterError",
    "RunContext",
    "Storage",
    "StorageError",
    "TableMeta",
    "TableRef",
    "UnknownComponent",
    "component",
    "csv_rows",
    "csv_writer",
    "from_self_description",
    "open_storage",
    "read_env",
    "register_backend",
    "registry",
    "run_container",
    "write_csv",
]
