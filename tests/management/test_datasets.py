"""Datasets from CSV, Parquet and SQL tables (SQLite and PostgreSQL): the metadata read
at registration, the CSV a task reads, and drift between registration and use."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from isthmus.management.datasets import DatasetDrift, DatasetService, SourcePolicy, SourceRefused
from isthmus.store import Store
from isthmus.wire.errors import ConfigError, NotFound, StateConflict, ValidationFailed


@pytest.fixture
def service(tmp_path: Path) -> DatasetService:
    url = f"sqlite:///{tmp_path}/node.db"
    store = Store(url)
    store.migrate()
    policy = SourcePolicy((tmp_path,), own_database=url)
    return DatasetService(store, "INST_B", tmp_path / "data", sources=policy)


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_a_csv_dataset_is_described_and_copied_for_tasks(
    service: DatasetService, tmp_path: Path
) -> None:
    source = tmp_path / "accounts.csv"
    source.write_text("id,name,balance,age\n1,ann,10.5,30\n2,bob,,41\n3,cy,7,\n")
    view = service.register(
        namespace="bank", name="accounts", source="csv", location=str(source),
        join_columns=["id"], label_columns=["age"], descriptions={"age": "years"},
        actor="operator:ann",
    )  # fmt: skip
    assert view["dataset_id"] == "bank#accounts" and view["count"] == 3
    assert [(c["name"], c["data_type"], c["distribution"]) for c in view["column_metas"]] == [
        ("id", "int", "DISCRETE"),
        ("name", "varchar", "DISCRETE"),
        ("balance", "double", "CONTINUOUS"),
        ("age", "int", "DISCRETE"),
    ]
    assert view["column_metas"][3]["description"] == "years"
    row = service.get("bank#accounts")
    assert row is not None
    target = service.materialize(row)
    assert target == tmp_path / "data" / "bank" / "accounts"
    assert target.read_text() == source.read_text()
    with pytest.raises(StateConflict):
        service.register(namespace="bank", name="accounts", source="csv", location=str(source))


def test_schema_drift_is_named_column_by_column(service: DatasetService, tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("id,score,city\n1,2,x\n")
    service.register(namespace="n", name="t", source="csv", location=str(source))
    source.write_text("id,score,region\n1,high,x\n")
    row = service.get("n#t")
    assert row is not None
    with pytest.raises(DatasetDrift) as drift:
        service.materialize(row)
    message = drift.value.message
    assert "column 'city' is gone" in message and "column 'region' is new" in message
    assert "column 'score' was int, is now varchar" in message
    assert not (tmp_path / "data" / "n" / "t").exists()  # nothing handed to a task


def test_a_parquet_dataset_becomes_the_csv_tasks_read(
    service: DatasetService, tmp_path: Path
) -> None:
    source = tmp_path / "f.parquet"
    table = pa.table({"id": [1, 2, 3], "amount": [1.5, 2.0, None], "tag": ["a", "b", "c"]})
    pq.write_table(table, source)
    view = service.register(namespace="p", name="f", source="parquet", location=str(source))
    assert view["count"] == 3
    assert [(c["name"], c["data_type"]) for c in view["column_metas"]] == [
        ("id", "bigint"), ("amount", "double"), ("tag", "varchar"),
    ]  # fmt: skip
    row = service.get("p#f")
    assert row is not None
    written = rows_of(service.materialize(row))
    assert written[0] == ["id", "amount", "tag"] and written[1] == ["1", "1.5", "a"]
    assert len(written) == 4


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sql_table_dataset(
    service: DatasetService, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/source.db"
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_url")).replace(
            "postgresql://", "postgresql+psycopg://"
        )
    )
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE loans (id INTEGER, amount DOUBLE PRECISION, grade VARCHAR(4))")
        )
        connection.execute(text("INSERT INTO loans VALUES (1, 100.5, 'A'), (2, 7, 'B')"))
    view = service.register(
        namespace="sql", name="loans", source="sql", location=url, table_name="loans"
    )
    assert view["count"] == 2
    assert [(c["name"], c["data_type"]) for c in view["column_metas"]] == [
        ("id", "bigint"), ("amount", "double"), ("grade", "varchar"),
    ]  # fmt: skip
    row = service.get("sql#loans")
    assert row is not None
    written = rows_of(service.materialize(row))
    assert written[0] == ["id", "amount", "grade"] and sorted(written[1:]) == [
        ["1", "100.5", "A"], ["2", "7.0", "B"],
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE loans ADD COLUMN note VARCHAR(10)"))
    with pytest.raises(DatasetDrift, match="column 'note' is new"):
        service.materialize(row)
    engine.dispose()


def test_a_database_password_is_never_shown(service: DatasetService, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER)"))
    engine.dispose()
    row = service.register(namespace="s", name="t", source="sql", location=url, table_name="t")
    assert row["location"] == url
    from isthmus.management.datasets import masked

    assert masked("postgresql+psycopg://u:secret@db/x", "sql") == "postgresql+psycopg://u:***@db/x"


def test_bad_registrations_say_what_is_wrong(service: DatasetService, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no file at"):
        service.register(namespace="n", name="x", source="csv", location=str(tmp_path / "none"))
    (tmp_path / "h.csv").write_text("id\n1\n")
    with pytest.raises(ValidationFailed, match="join_columns: no column nope"):
        service.register(namespace="n", name="x", source="csv", location=str(tmp_path / "h.csv"),
                         join_columns=["nope"])  # fmt: skip
    with pytest.raises(ValidationFailed, match=r"namespace: '\.\./x' is not a valid id"):
        service.register(namespace="../x", name="x", source="csv", location=str(tmp_path / "h.csv"))
    with pytest.raises(ValidationFailed, match="source 'xls'"):
        service.register(namespace="n", name="x", source="xls", location=str(tmp_path / "h.csv"))


def test_unreadable_sources_are_refused_not_crashed_on(
    service: DatasetService, tmp_path: Path
) -> None:
    with pytest.raises(ValidationFailed, match="not a usable database URL"):
        service.register(namespace="n", name="x", source="sql", location="0.1.0", table_name="t")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"id\n\xff\xfe\x00\n")
    with pytest.raises(ValidationFailed, match="not a UTF-8 CSV"):
        service.register(namespace="n", name="x", source="csv", location=str(binary))
    not_parquet = tmp_path / "p.parquet"
    not_parquet.write_text("nope")
    with pytest.raises(ValidationFailed, match="not a readable Parquet"):
        service.register(namespace="n", name="x", source="parquet", location=str(not_parquet))


def test_data_roots_never_include_the_home_or_what_holds_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    assert SourcePolicy.for_node(home, [Path("data")]).roots == (home / "data",)
    for root in (home, tmp_path, Path("/"), Path("logs"), home / "keys"):
        with pytest.raises(ConfigError, match=r"management\.data_roots"):
            SourcePolicy.for_node(home, [root])
    outside = tmp_path / "lake"
    assert SourcePolicy.for_node(home, [Path("data"), outside]).roots == (home / "data", outside)


def test_sources_outside_the_roots_or_private_are_refused(tmp_path: Path) -> None:
    home, lake = tmp_path / "home", tmp_path / "lake"
    (home / "data").mkdir(parents=True)
    lake.mkdir()
    token = home / "admin.token"
    token.write_text("secret-token\n")
    database = lake / "node.db"
    database.write_bytes(b"")
    policy = SourcePolicy.for_node(
        home, [Path("data"), lake], private=[token], own_database=f"sqlite:///{database}"
    )
    good = lake / "t.csv"
    good.write_text("id\n1\n")
    assert policy.file(good, str(good)) == good
    (lake / "link.csv").symlink_to(token)
    for path in (token, Path("/etc/passwd"), lake / "link.csv", database,
                 Path(f"{database}-wal"), home / "data" / ".." / "admin.token",
                 Path("a\x00b")):  # fmt: skip
        with pytest.raises(SourceRefused) as caught:
            policy.file(path, str(path))
        assert "secret-token" not in caught.value.message and str(home) not in caught.value.message
    with pytest.raises(SourceRefused, match="own database"):
        SourcePolicy((lake,), own_database="postgresql+psycopg://u:p@localhost/isthmus").database(
            "postgresql://other:pw@127.0.0.1:5432/isthmus"
        )
    other = "postgresql+psycopg://u:p@db.example/lake"
    assert SourcePolicy((lake,), own_database="postgresql://u@localhost/isthmus").database(other)
    for url in (f"sqlite:///{database}", "sqlite://", "sqlite:///relative.db",
                f"sqlite:///file:{good}?uri=true"):  # fmt: skip
        with pytest.raises(SourceRefused):
            policy.database(url)
