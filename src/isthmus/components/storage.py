"""Inputs and outputs through ``system.storage`` (digest §2.7).

A table ``{namespace, name}`` lives at ``<root>/<namespace>/<name>/data_<partition>``
beside a ``metadata`` JSON document (name, namespace, count, partitions, column_info,
file_type, create_time…), the layout the spec gives for S3 and HDFS and that Kuscia uses
on local disks. An input may also be a plain file at ``<root>/<namespace>/<name>``.

Backends are chosen by URL scheme. ``file://`` is built in; ``s3://`` and ``hdfs://``
plug in through ``register_backend`` with the same three operations, so components never
see which one they run on. Writes are atomic: a reader sees the old table or the whole
new one, never half of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from isthmus.components.env import TableRef
from isthmus.components.errors import StorageError
from isthmus.wire.clock import now_ms


@dataclass
class TableMeta:
    """The spec's table meta entity."""

    name: str
    namespace: str
    count: int = 0
    partitions: int = 1
    column_info: list[dict[str, str]] = field(default_factory=list)
    description: str = ""
    file_type: str = "csv"
    data_type: str = "dense"
    create_time: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)


class Storage(ABC):
    """What a component may do with tables."""

    @abstractmethod
    def reader(self, ref: TableRef) -> contextlib.AbstractContextManager[IO[bytes]]:
        """The table's data (partitions in order), as one binary stream."""

    @abstractmethod
    def writer(self, ref: TableRef) -> contextlib.AbstractContextManager[IO[bytes]]:
        """A binary stream for the table's data; published when the block ends cleanly."""

    @abstractmethod
    def write_meta(self, ref: TableRef, meta: TableMeta) -> None:
        """Publish the table's metadata (after its data)."""

    @abstractmethod
    def read_meta(self, ref: TableRef) -> TableMeta | None:
        """The table's metadata, or None if it has none (a plain file)."""


_BACKENDS: dict[str, Callable[[str], Storage]] = {}


def register_backend(scheme: str, factory: Callable[[str], Storage]) -> None:
    """Make ``<scheme>://`` URLs usable (the factory gets the whole URL)."""
    _BACKENDS[scheme] = factory


def open_storage(url: str) -> Storage:
    """The storage behind ``system.storage``; StorageError naming the schemes this image
    knows when no backend is registered for the URL's scheme."""
    scheme = urlsplit(url).scheme
    factory = _BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in sorted(_BACKENDS))
        raise StorageError(f"system.storage {scheme}:// is not supported by this image ({known})")
    return factory(url)


class FileStorage(Storage):
    """``file:///root`` (a local disk or an NFS mount shared with the platform)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"file:// storage must be local, not on host {parts.netloc!r}")
        self.root = Path(unquote(parts.path) or "/")
        if not self.root.is_dir():
            raise StorageError(f"storage root {self.root} is not a directory")

    def _place(self, ref: TableRef) -> Path:
        for part in (ref.namespace, ref.name):
            if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
                raise StorageError(f"table {ref.namespace}/{ref.name}: unsafe name part {part!r}")
        return self.root / ref.namespace / ref.name

    @contextlib.contextmanager
    def reader(self, ref: TableRef) -> Iterator[IO[bytes]]:
        place = self._place(ref)
        if place.is_file():
            with open(place, "rb") as f:
                yield f
            return
        parts = sorted(place.glob("data_*"), key=lambda p: int(p.name[5:] or 0))
        if not parts:
            raise StorageError(f"input {ref.namespace}/{ref.name} not found under {self.root}")
        if len(parts) == 1:
            with open(parts[0], "rb") as f:
                yield f
            return
        with tempfile.TemporaryFile() as joined:  # several partitions: one stream
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, joined)
            joined.seek(0)
            yield joined

    @contextlib.contextmanager
    def writer(self, ref: TableRef) -> Iterator[IO[bytes]]:
        place = self._place(ref)
        place.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".data_0.", dir=place)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, place / "data_0")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def write_meta(self, ref: TableRef, meta: TableMeta) -> None:
        place = self._place(ref)
        place.mkdir(parents=True, exist_ok=True)
        meta.create_time = meta.create_time or now_ms()
        temp = place / ".metadata.tmp"
        temp.write_text(meta.to_json(), encoding="utf-8")
        os.replace(temp, place / "metadata")

    def read_meta(self, ref: TableRef) -> TableMeta | None:
        path = self._place(ref) / "metadata"
        if not path.is_file():
            return None
        try:
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return TableMeta(**document)
        except (ValueError, TypeError) as exc:
            raise StorageError(
                f"metadata of {ref.namespace}/{ref.name} is unreadable: {exc}"
            ) from exc


register_backend("file", FileStorage)
