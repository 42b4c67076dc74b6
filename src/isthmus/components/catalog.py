"""Which components this image holds: the built-in ones and those other installed
packages declare under the ``isthmus.components`` entry-point group.

Loading is explicit (``registry()``, ``lookup()``) rather than at import, so importing
the SDK never runs a third party's code, and the built-ins register the same way any
package's do: by being imported. ``lookup`` of a built-in name imports that component's
module alone, which is what a container running one component wants (see ``Catalog``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from isthmus.components.builtin import MODULES
from isthmus.components.runtime import Component, component, registered

#: Entry-point group through which other packages add components to this image.
ENTRY_POINT_GROUP = "isthmus.components"


def registry() -> dict[str, type[Component]]:
    """Every component of this image: the built-in ones and those other installed
    packages declare under the ``isthmus.components`` entry-point group."""
    for module in sorted(set(MODULES.values())):
        importlib.import_module(module)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if isinstance(loaded, type) and issubclass(loaded, Component):
            component(loaded)
    return registered()


def lookup(name: str) -> type[Component] | None:
    """The component named ``name``, importing as little as possible: a built-in's own
    module only; any other name loads the whole registry (entry points included)."""
    module = MODULES.get(name)
    if module is not None:
        importlib.import_module(module)
        found = registered().get(name)
        if found is not None:
            return found
    return registry().get(name)


class Catalog(Mapping[str, type[Component]]):
    """The image's components as a mapping that loads lazily: getting one name imports
    only what ``lookup`` needs; listing them (``iter``, ``len``) loads them all."""

    def __getitem__(self, name: str) -> type[Component]:
        found = lookup(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(registry())

    def __len__(self) -> int:
        return len(registry())
