"""The component SDK's public surface (``isthmus.components``) is exactly this list.

An algorithm image imports these names; adding or removing one is a change of the SDK,
so it fails here until this list says so too.
"""

from __future__ import annotations

from tests.support.public_api import check_exports

#: The exported names, by the module that defines them.
EXPORTED = {
    "env": ["ContainerEnv", "TableRef", "read_env"],
    "errors": [
        "AlgorithmError", "ComponentError", "ContractError", "ParameterError",
        "StorageError", "UnknownComponent",
    ],
    "catalog": ["registry"],
    "container": ["run_container"],
    "runtime": ["Component", "RunContext", "component"],
    "spec": ["ComponentSpec", "DataSlot", "Param", "from_self_description"],
    "storage": ["Storage", "TableMeta", "open_storage", "register_backend"],
    "tables": ["csv_rows", "csv_writer", "write_csv"],
}  # fmt: skip


def test_components_exports_exactly_its_documented_public_names() -> None:
    check_exports("isthmus.components", EXPORTED)
