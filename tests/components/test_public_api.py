"""The component SDK's public surface (``isthmus.components``) is exactly this list.

An algorithm image imports these names; adding or removing one is a change of the SDK,
so it fails here until this list says so too.
"""

from __future__ import annotations

from tests.support.public_api import check_exports

EXPORTED = [
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
    "from_self_description",
    "open_storage",
    "read_env",
    "register_backend",
    "registry",
    "run_container",
]


def test_components_exports_exactly_its_documented_public_names() -> None:
    check_exports("isthmus.components", EXPORTED)
