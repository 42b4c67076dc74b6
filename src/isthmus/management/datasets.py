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
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, inspect, literal_column, select, table
from sqlalchemy.engine import make_url

from isthmus.store.db import Store, now_ms
from isthmus.store.schema import DatasetRow
from isthmus.wire.errors import NotFound, StateConflict, ValidationFailed
from isthmus.wire.management import ColumnMeta, DatasetRecord, Distribution

SOURCES = ("csv", "parquet", "sql")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class DatasetDrift(ValidationFailed):
    """The source no longer has the columns it was registered with."""


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


def inspect_csv(path: Path) -> Inspection:
    try:
        return _inspect_csv(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationFailed(f"{path.name}: not a UTF-8 CSV file ({exc})") from exc


def _inspect_csv(path: Path) -> Inspection:
    with open(path, newline="", encoding="utf-8") as f:
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


def inspect_parquet(path: Path) -> Inspection:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError
        raise ValidationFailed(f"{path.name}: not a readable Parquet file: {exc}") from exc
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
    def __init__(self, store: Store, owner: str, storage_root: Path) -> None:
        self.store = store
        self.owner = owner  # our institution id, shown as the dataset's owner
        self.storage_root = storage_root

    def inspect_source(self, source: str, location: str, table_name: str = "") -> Inspection:
        if source == "csv":
            return inspect_csv(self._file(location))
        if source == "parquet":
            return inspect_parquet(self._file(location))
        if source == "sql":
            if not table_name:
                raise ValidationFailed("table: required for a sql dataset")
            return inspect_sql(location, table_name)
        raise ValidationFailed(f"source {source!r} is not one of {list(SOURCES)}")

    def _file(self, location: str) -> Path:
        path = Path(location).expanduser()
        if not path.is_absolute():
            path = self.storage_root / path
        if not path.is_file():
            raise NotFound(f"no file at {location}")
        return path

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
            if not value or not set(value) <= _NAME_CHARS or value.startswith("."):
                raise ValidationFailed(f"{what}: letters, digits, '_', '.', '-' only")
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
        """Refuse a source whose columns differ from the registration, naming each."""
        now = self.inspect_source(row.source, row.location, row.table_name)
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
        target = self.storage_root / row.namespace / row.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if row.source == "csv":
            source = self._file(row.location)
            if source.resolve() == target.resolve():
                return target

            def copy(out: Any) -> None:
                with open(source, "rb") as data:
                    shutil.copyfileobj(data, out)

            _atomic(target, copy)
        elif row.source == "parquet":
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            data = pq.read_table(self._file(row.location))
            _atomic(target, lambda out: pcsv.write_csv(data, out))
        else:
            _atomic(target, lambda out: _sql_to_csv(row.location, row.table_name, out))
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
