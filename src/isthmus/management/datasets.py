"""Datasets: local data registered with column metadata, shown to partners as metadata
only, and handed to this node's tasks as the CSV tables components read.

Sources: CSV and Parquet files, and tables in SQL databases (SQLite, PostgreSQL, any
SQLAlchemy URL). Registration reads the source's columns, SQL-like types, distribution
and row count; what a source looks like at use is compared with what was registered,
and a difference (a column gone, new, or of another type) is refused with each
difference named: a job never silently computes on data that is not what its owner
approved.

Rows never leave through here: ``record`` is metadata, ``materialize`` writes to this
node's own task storage.

**Where sources may be** (``SourcePolicy``): a file source (CSV, Parquet, and the file
of a ``sqlite`` URL) must lie under one of the node's data roots
(``management.data_roots``, by default only ``HOME/data``) once every link is resolved;
nothing else in the node's home, and none of the node's own secrets (its key, admin
token, TLS key, database and its journals) is ever a source, whatever the roots say. A
server database URL (PostgreSQL…) must not name the node's own database. The rule is
checked at registration *and* at every use (a link swapped in after registration is
refused then), and a file is opened without following a final link and checked again
through the descriptor it was opened as, so what is read is what was checked. A refusal
names the rule, never what the file holds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import create_engine, func, inspect, literal_column, select, table
from sqlalchemy.engine import URL, make_url

from isthmus.store.db import Store
from isthmus.store.schema import DatasetRow
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import ConfigError, NotFound, StateConflict, ValidationFailed
from isthmus.wire.ids import check_id, inside
from isthmus.wire.management import ColumnMeta, DatasetRecord, Distribution

SOURCES = ("csv", "parquet", "sql")


class DatasetDrift(ValidationFailed):
    """The source no longer has the columns it was registered with."""


class SourceRefused(ValidationFailed):
    """A source the node may not read: outside the data roots, one of the node's own
    files, or the node's own database."""


_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "[::1]"})
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _server_database(url: URL) -> tuple[str, str, int | None, str] | None:
    """(backend, host, port, database) of a server database URL, normalised enough to
    tell that two URLs name the same database; ``None`` for SQLite."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return None
    host = (url.host or str(url.query.get("host") or "")).lower()
    host = "localhost" if host in _LOCAL_HOSTS or host.startswith("/") else host
    default_port = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(backend)
    return backend, host, url.port or default_port, url.database or ""


@dataclass(frozen=True)
class SourcePolicy:
    """Which sources the node may read (see the module docstring).

    ``roots`` are absolute; ``home`` is the node's home (only ``HOME/data`` in it may
    be read); ``private`` the node's own secret files; ``own_database`` its store URL.
    """

    roots: tuple[Path, ...]
    home: Path | None = None
    private: tuple[Path, ...] = ()
    own_database: str = ""
    _private: frozenset[Path] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        private = {p.resolve() for p in self.private}
        database = self._own_sqlite_file()
        if database is not None:
            private |= {Path(f"{database}{suffix}") for suffix in _SQLITE_COMPANIONS}
        object.__setattr__(self, "_private", frozenset(private))

    @classmethod
    def for_node(
        cls,
        home: Path,
        roots: Iterable[Path],
        *,
        private: Iterable[Path] = (),
        own_database: str = "",
    ) -> SourcePolicy:
        """The policy of a node, refusing (``ConfigError``, at start) a root that is the
        home, holds the home, or lies in the home outside ``HOME/data``."""
        home = home.resolve()
        data = (home / "data").resolve()
        absolute: list[Path] = []
        for root in roots:
            path = root if root.is_absolute() else home / root
            resolved = path.resolve()
            if home.is_relative_to(resolved):
                raise ConfigError(
                    f"management.data_roots: {root} is the node's home or holds it; "
                    "list folders of data only"
                )
            if resolved.is_relative_to(home) and not resolved.is_relative_to(data):
                raise ConfigError(
                    f"management.data_roots: {root} is in the node's home outside "
                    f"{data}: only that folder of the home may hold data"
                )
            absolute.append(path)
        return cls(tuple(absolute), home, tuple(private), own_database)

    def _own_sqlite_file(self) -> Path | None:
        if not self.own_database:
            return None
        url = make_url(self.own_database)
        if url.get_backend_name() != "sqlite" or not url.database:
            return None
        return Path(url.database).resolve()

    def file(self, path: Path, location: str) -> Path:
        """``path`` resolved (every link followed), if the node may read it; otherwise
        ``SourceRefused``. Whether the file exists is said only for allowed paths, and a
        refusal names no path (it may reach a partner whose job wanted the dataset)."""
        try:
            if "\x00" in str(path):
                raise ValueError("NUL in a path")
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):  # a link loop, NUL, a name too long
            raise SourceRefused("location: not a usable path") from None
        if resolved in self._private:
            raise SourceRefused("location: one of the node's own files, never a source")
        refusal = "location: not under a data root of this node (management.data_roots)"
        if self.home is not None:
            home = self.home.resolve()
            if resolved.is_relative_to(home) and not resolved.is_relative_to(
                (home / "data").resolve()
            ):
                raise SourceRefused(f"{refusal}; the node's home is not a data root")
        if not any(resolved.is_relative_to(root.resolve()) for root in self.roots):
            raise SourceRefused(refusal)
        return resolved

    def open(self, path: Path, location: str) -> BinaryIO:
        """The file at ``path``, opened for reading after ``file`` allowed it: the
        final name is opened without following a link, and the opened file's own path
        (``/proc/self/fd``) is checked again, so a link swapped in between the check and
        the open is refused, not read."""
        resolved = self.file(path, location)
        try:
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"no file at {location[:200]}") from None
        except OSError:
            raise SourceRefused("location: the file cannot be opened") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotFound(f"no file at {location[:200]}")
            opened = Path(f"/proc/self/fd/{fd}")
            if opened.exists():
                self.file(Path(os.readlink(opened)), location)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    def database(self, location: str) -> str:
        """A database URL the node may read: a ``sqlite`` URL names an absolute file the
        node may read (the URL returned names it by its resolved path), any other URL
        must not name the node's own database."""
        try:
            url = make_url(location)
        except Exception as exc:  # ArgumentError and friends
            raise ValidationFailed(
                f"location: not a usable database URL ({type(exc).__name__})"
            ) from exc
        own = make_url(self.own_database) if self.own_database else None
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database in ("", ":memory:") or database.startswith("file:") or url.query:
                raise SourceRefused("location: a sqlite URL must name a database file")
            if not Path(database).is_absolute():
                raise SourceRefused("location: a sqlite URL must give the file's absolute path")
            resolved = self.file(Path(database), masked(location, "sql"))
            if not resolved.is_file():
                raise NotFound(f"no database file at {masked(location, 'sql')}")
            return url.set(database=str(resolved)).render_as_string(hide_password=False)
        if own is not None and _server_database(own) == _server_database(url):
            raise SourceRefused("location: that is the node's own database")
        return location


def dataset_id(namespace: str, name: str) -> str:
    return f"{namespace}#{name}"


@dataclass(frozen=True)
class Inspection:
    columns: list[ColumnMeta]
    row_count: int

    @property
    def fingerprint(self) -> str:
        shape = [(c.name, c.data_type) for c in self.columns]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()


# --- reading sources ----------------------------------------------------------------


def _csv_type(values: set[str]) -> str:
    """The narrowest SQL-like type every non-empty value fits."""
    present = [v for v in values if v != ""]
    if not present:
        return "varchar"
    for kind, parse in (("int", int), ("double", float)):
        try:
            for value in present:
                parse(value)
        except ValueError:
            continue
        return kind
    return "varchar"


def inspect_csv(path: Path | BinaryIO) -> Inspection:
    name = path.name if isinstance(path, Path) else "source"
    try:
        return _inspect_csv(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        # The reason only: csv.Error can quote the offending text.
        raise ValidationFailed(f"{name}: not a UTF-8 CSV file ({type(exc).__name__})") from exc


def _inspect_csv(path: Path | BinaryIO) -> Inspection:
    raw = open(path, "rb") if isinstance(path, Path) else path  # noqa: SIM115 - closed below
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise ValidationFailed(f"{path.name}: no header row")
        kinds: list[str] = ["int"] * len(header)
        count = 0
        for row in reader:
            if not row:
                continue
            count += 1
            for i, value in enumerate(row[: len(header)]):
                if value == "" or kinds[i] == "varchar":
                    continue
                if kinds[i] == "int":
                    try:
                        int(value)
                        continue
                    except ValueError:
                        kinds[i] = "double"
                try:
                    float(value)
                except ValueError:
                    kinds[i] = "varchar"
    return Inspection([_meta(n, k) for n, k in zip(header, kinds, strict=True)], count)


def _arrow_type(kind: Any) -> str:
    import pyarrow as pa

    checks = (
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_integer, "bigint"),
        (pa.types.is_floating, "double"),
        (pa.types.is_decimal, "decimal"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date, "date"),
        (pa.types.is_string, "varchar"),
        (pa.types.is_large_string, "varchar"),
    )
    return next((name for check, name in checks if check(kind)), str(kind))


def inspect_parquet(path: Path | BinaryIO) -> Inspection:
    import pyarrow.parquet as pq

    name = path.name if isinstance(path, Path) else "source"
    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError
        raise ValidationFailed(
            f"{name}: not a readable Parquet file ({type(exc).__name__})"
        ) from exc
    schema = meta.schema_arrow
    columns = [_meta(f.name, _arrow_type(f.type)) for f in schema]
    return Inspection(columns, int(meta.metadata.num_rows))


def _sql_type(column_type: Any) -> str:
    try:
        python = column_type.python_type
    except NotImplementedError:
        return str(column_type).lower()
    names = {bool: "boolean", int: "bigint", float: "double", str: "varchar"}
    if python in names:
        return names[python]
    return str(column_type).lower().split("(")[0]


def inspect_sql(url: str, table_name: str) -> Inspection:
    try:
        engine = create_engine(url)
    except Exception as exc:  # ArgumentError, a missing driver (NoSuchModuleError)…
        raise ValidationFailed(
            f"location: not a usable database URL ({type(exc).__name__})"
        ) from exc
    try:
        columns = inspect(engine).get_columns(table_name)
        if not columns:
            raise NotFound(f"table {table_name!r} not found in the database")
        with engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(table(table_name)))
            rows = int(count.scalar_one())
    except NotFound:
        raise
    except Exception as exc:  # driver errors: unreachable, no such table, no rights
        raise ValidationFailed(f"cannot read table {table_name!r}: {type(exc).__name__}") from exc
    finally:
        engine.dispose()
    return Inspection([_meta(str(c["name"]), _sql_type(c["type"])) for c in columns], rows)


def _meta(name: str, data_type: str) -> ColumnMeta:
    continuous = data_type in ("double", "decimal", "float", "real")
    distribution = Distribution.CONTINUOUS if continuous else Distribution.DISCRETE
    return ColumnMeta(name=name, data_type=data_type, distribution=distribution)


def masked(location: str, source: str) -> str:
    """A location fit to show: a database URL without its password."""
    if source != "sql":
        return location
    return make_url(location).render_as_string(hide_password=True)


# --- the service ----------------------------------------------------------------------


class DatasetService:
    """Registers, describes and materializes datasets; reads only what ``sources``
    (the node's ``SourcePolicy``) allows, at registration and at every use."""

    def __init__(
        self, store: Store, owner: str, storage_root: Path, *, sources: SourcePolicy
    ) -> None:
        self.store = store
        self.owner = owner  # our institution id, shown as the dataset's owner
        self.storage_root = storage_root
        self.sources = sources

    def inspect_source(self, source: str, location: str, table_name: str = "") -> Inspection:
        if source == "csv":
            return inspect_csv(self._open(location))
        if source == "parquet":
            with self._open(location) as data:
                return inspect_parquet(data)
        if source == "sql":
            if not table_name:
                raise ValidationFailed("table: required for a sql dataset")
            return inspect_sql(self.sources.database(location), table_name)
        raise ValidationFailed(f"source {source!r} is not one of {list(SOURCES)}")

    def _path(self, location: str) -> Path:
        path = Path(location)
        return path if path.is_absolute() else self.storage_root / path

    def _open(self, location: str) -> BinaryIO:
        """The source file, opened only if the policy allows it (checked each time)."""
        return self.sources.open(self._path(location), location)

    def register(
        self,
        *,
        namespace: str,
        name: str,
        source: str,
        location: str,
        table_name: str = "",
        description: str = "",
        category: str = "",
        join_columns: list[str] | None = None,
        label_columns: list[str] | None = None,
        descriptions: dict[str, str] | None = None,
        public: bool = True,
        actor: str = "",
    ) -> dict[str, Any]:
        for what, value in (("namespace", namespace), ("name", name)):
            check_id(value, what)
        found = self.inspect_source(source, location, table_name)
        names = {c.name for c in found.columns}
        for field, listed in (("join_columns", join_columns), ("label_columns", label_columns)):
            unknown = sorted(set(listed or []) - names)
            if unknown:
                raise ValidationFailed(f"{field}: no column {', '.join(unknown)} in the source")
        columns = [
            c.model_copy(update={"description": (descriptions or {}).get(c.name, "")})
            for c in found.columns
        ]
        key = dataset_id(namespace, name)
        stamp = now_ms()
        with self.store.session() as s:
            if s.get(DatasetRow, key) is not None:
                raise StateConflict(f"dataset {key} is registered already")
            row = DatasetRow(
                dataset_id=key,
                namespace=namespace,
                name=name,
                description=description,
                category=category,
                source=source,
                location=location,
                table_name=table_name,
                column_metas=json.dumps([c.model_dump(mode="json") for c in columns]),
                join_columns=json.dumps(join_columns or []),
                label_columns=json.dumps(label_columns or []),
                row_count=found.row_count,
                public=public,
                schema_fingerprint=found.fingerprint,
                registered_by=actor,
                created_at=stamp,
                updated_at=stamp,
            )
            s.add(row)
            self.store.audit.append(
                s,
                actor=actor or "operator",
                action="dataset.registered",
                subject=key,
                outcome="ok",
                details={"source": source, "columns": len(columns), "rows": found.row_count},
            )
            return self.view(row)

    def view(self, row: DatasetRow) -> dict[str, Any]:
        return {
            **self.record(row).model_dump(mode="json"),
            "namespace": row.namespace,
            "source": row.source,
            "location": masked(row.location, row.source),
            "table": row.table_name,
            "public": row.public,
            "registered_by": row.registered_by,
            "created_at": row.created_at,
        }

    def record(self, row: DatasetRow) -> DatasetRecord:
        return DatasetRecord(
            dataset_id=row.dataset_id,
            name=row.name,
            description=row.description,
            category=row.category,
            count=row.row_count,
            owner=self.owner,
            join_columns=json.loads(row.join_columns),
            label_columns=json.loads(row.label_columns),
            column_metas=[ColumnMeta(**c) for c in json.loads(row.column_metas)],
        )

    def get(self, key: str) -> DatasetRow | None:
        with self.store.session() as s:
            return s.get(DatasetRow, key)

    def list(self, *, public_only: bool = False) -> list[DatasetRow]:
        with self.store.session() as s:
            query = s.query(DatasetRow).order_by(DatasetRow.dataset_id)
            if public_only:
                query = query.filter(DatasetRow.public.is_(True))
            return list(query.all())

    def remove(self, key: str, actor: str) -> None:
        with self.store.session() as s:
            row = s.get(DatasetRow, key)
            if row is None:
                raise NotFound(f"no dataset {key}")
            s.delete(row)
            self.store.audit.append(
                s, actor=actor, action="dataset.removed", subject=key, outcome="ok", details={}
            )

    # --- at use ---------------------------------------------------------------------

    def check_drift(self, row: DatasetRow) -> None:
        """Refuse a source whose columns differ from the registration, naming each; or
        that is gone or no longer allowed (a refusal at use names no path: it may be
        answered to a partner)."""
        try:
            now = self.inspect_source(row.source, row.location, row.table_name)
        except SourceRefused as exc:
            raise SourceRefused(f"dataset {row.dataset_id}: {exc.message}") from None
        except NotFound:
            raise NotFound(f"dataset {row.dataset_id}: its source is gone") from None
        if now.fingerprint == row.schema_fingerprint:
            return
        then = {c["name"]: c["data_type"] for c in json.loads(row.column_metas)}
        current = {c.name: c.data_type for c in now.columns}
        changes = [f"column {n!r} is gone" for n in then if n not in current]
        changes += [f"column {n!r} is new" for n in current if n not in then]
        changes += [
            f"column {n!r} was {then[n]}, is now {current[n]}"
            for n in then
            if n in current and then[n] != current[n]
        ]
        if not changes:
            changes = ["the columns are in another order"]
        raise DatasetDrift(
            f"dataset {row.dataset_id} changed since it was registered: {'; '.join(changes)}",
            details={"dataset_id": row.dataset_id, "changes": changes},
        )

    def prepare(self, key: str) -> None:
        """Before a task reads ``key``: materialize it if it is a registered dataset
        (anything else is a job's own intermediate table, or unregistered local data
        of this node's own jobs, which the gate already allowed)."""
        row = self.get(key)
        if row is not None:
            self.materialize(row)

    def materialize(self, row: DatasetRow) -> Path:
        """Write the dataset where this node's tasks read it
        (``<storage>/<namespace>/<name>``, CSV), after a drift check."""
        self.check_drift(row)
        target = inside(
            self.storage_root, check_id(row.namespace, "namespace"), check_id(row.name, "name")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        if row.source == "csv":
            source = self.sources.file(self._path(row.location), row.location)
            if source == target.resolve():
                return target

            def copy(out: Any) -> None:
                with self._open(row.location) as data:
                    shutil.copyfileobj(data, out)

            _atomic(target, copy)
        elif row.source == "parquet":
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            with self._open(row.location) as source_file:
                data = pq.read_table(source_file)
            _atomic(target, lambda out: pcsv.write_csv(data, out))
        else:
            url = self.sources.database(row.location)
            _atomic(target, lambda out: _sql_to_csv(url, row.table_name, out))
        return target


def _sql_to_csv(url: str, table_name: str, out: Any) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query: Any = select(literal_column("*")).select_from(table(table_name))
            result = connection.execution_options(stream_results=True).execute(query)
            text = _TextOut(out)
            writer = csv.writer(text)
            writer.writerow(list(result.keys()))
            for chunk in _chunks(result):
                writer.writerows(chunk)
    finally:
        engine.dispose()


def _chunks(result: Any, size: int = 10_000) -> Iterator[list[Any]]:
    while True:
        rows = result.fetchmany(size)
        if not rows:
            return
        yield [list(r) for r in rows]


class _TextOut:
    """A text ``write`` over a binary file, for ``csv.writer``."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text.encode("utf-8"))
        return len(text)


def _atomic(target: Path, write: Any) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
