"""Checks of a package's public surface, in the style of httpx's exported-members test.

A package's ``__all__`` is its promise to the code outside (an algorithm image built on
the component SDK, another implementation's conformance run on the test harness). The
checks keep that promise exact: ``__all__`` is the pinned list, every public name the
package binds is in it, and every name in it imports and carries its own docstring.
"""

from __future__ import annotations

import importlib
import inspect
import types
from typing import Any


def public_names(package: types.ModuleType) -> list[str]:
    """The names ``package`` binds that are not private and not submodules (a submodule
    becomes an attribute of its package as soon as anything imports it, so it is not
    part of the promise)."""
    return sorted(
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )


def own_doc(value: Any) -> str:
    """The docstring ``value`` has of its own: not one inherited from ``type`` or a base
    class, and not the signature a dataclass writes when it has none."""
    doc = value.__doc__ if inspect.isclass(value) or inspect.isroutine(value) else None
    if not doc or (inspect.isclass(value) and doc.startswith(f"{value.__name__}(")):
        return ""
    return inspect.cleandoc(doc)


def check_exports(package_name: str, by_module: dict[str, list[str]]) -> None:
    """``package_name`` exports exactly the names of ``by_module`` (submodule -> names
    it defines), each importable from the package, defined where it says and documented."""
    package = importlib.import_module(package_name)
    exported = list(package.__all__)
    expected = [name for names in by_module.values() for name in names]
    assert sorted(exported) == sorted(expected), (
        f"{package_name}.__all__ changed: added {sorted(set(exported) - set(expected))}, "
        f"removed {sorted(set(expected) - set(exported))}; update the test with the package"
    )
    assert len(exported) == len(set(exported)), f"{package_name}.__all__ repeats a name"
    assert public_names(package) == sorted(exported), (
        f"{package_name} binds public names outside __all__: "
        f"{sorted(set(public_names(package)) - set(exported))}"
    )
    missing = [name for name in exported if not hasattr(package, name)]
    assert not missing, f"{package_name}.__all__ names what it does not bind: {missing}"
    misplaced = [
        f"{name} ({getattr(package, name).__module__})"
        for module, names in by_module.items()
        for name in names
        if getattr(package, name).__module__ != f"{package_name}.{module}"
    ]
    assert not misplaced, f"{package_name} exports names defined elsewhere: {misplaced}"
    undocumented = [name for name in exported if not own_doc(getattr(package, name))]
    assert not undocumented, f"{package_name} exports undocumented names: {undocumented}"
