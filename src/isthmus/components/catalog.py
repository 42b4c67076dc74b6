"""Which components this image holds: the built-in ones and those other installed
packages declare under the ``isthmus.components`` entry-point group.

Loading is explicit (``registry()``) rather than at import, so importing the SDK never
runs a third party's code, and the built-ins register the same way any package's do:
by being imported.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from isthmus.components.runtime import Component, component, registered

#: Entry-point group through which other packages add components to this image.
ENTRY_POINT_GROUP = "isthmus.components"


def registry() -> dict[str, type[Component]]:
    """Every component of this image: the built-in ones and those other installed
    packages declare under the ``isthmus.components`` entry-point group."""
    import isthmus.components.builtin  # noqa: F401 - registers the built-in components

    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if isinstance(loaded, type) and issubclass(loaded, Component):
            component(loaded)
    return registered()
