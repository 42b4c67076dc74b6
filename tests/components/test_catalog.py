"""The image's catalogue: ``builtin.MODULES`` names every built-in component's module,
``lookup`` imports only the one asked for, and ``Catalog`` is the lazy mapping the
container runs from."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from isthmus.components.builtin import MODULES
from isthmus.components.catalog import Catalog, lookup, registry

BUILTIN_PACKAGE = "isthmus.components.builtin."


def test_every_builtin_component_is_named_with_its_module() -> None:
    builtins = {
        name: cls.__module__
        for name, cls in registry().items()
        if cls.__module__.startswith(BUILTIN_PACKAGE)
    }
    assert builtins == MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_lookup_finds_each_builtin(name: str) -> None:
    found = lookup(name)
    assert found is not None
    assert found.spec.name == name
    assert found.__module__ == MODULES[name]


def test_looking_up_one_builtin_imports_no_other() -> None:
    """In a fresh interpreter: what a container running ``ecdh_psi`` pays at start-up."""
    script = (
        "import json, sys\n"
        "from isthmus.components.catalog import lookup\n"
        "lookup('ecdh_psi')\n"
        "prefix = 'isthmus.components.builtin.'\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefix))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(json.loads(done.stdout))
    others = {
        module
        for name, module in MODULES.items()
        if not module.startswith("isthmus.components.builtin.ecdh_psi.")
    }
    assert MODULES["ecdh_psi"] in loaded
    assert not loaded & others


def test_the_catalog_is_a_mapping_that_loads_on_demand() -> None:
    catalog = Catalog()
    assert catalog["ecdh_psi"] is lookup("ecdh_psi")
    assert catalog.get("no_such_component") is None
    with pytest.raises(KeyError):
        catalog["no_such_component"]
    assert "sgb" in catalog
    assert sorted(catalog) == sorted(registry())
    assert len(catalog) == len(registry())
