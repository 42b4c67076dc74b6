"""The local data components through the container entry point: a split that two
parties agree on without talking, and statistics that reveal no row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.components.conftest import container_env


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isthmus.components"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def table(namespace: str, name: str) -> str:
    return json.dumps({"namespace": namespace, "name": name})


def split_env(storage: Path, name: str, **params: str) -> dict[str, str]:
    env = container_env(
        storage,
        **{
            "runtime.component.name": "data_split",
            "runtime.component.input.data": table("ns", name),
            "runtime.component.output.train_data": table("o", f"{name}-train"),
            "runtime.component.output.test_data": table("o", f"{name}-test"),
            **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
        },
    )
    del env["runtime.component.output.data"], env["runtime.component.parameter.columns"]
    return env


def ids(path: Path) -> list[str]:
    return [line.split(",")[0] for line in path.read_text().split()[1:]]


def test_parties_split_their_aligned_tables_the_same_way(storage: Path) -> None:
    keys = [f"user{i:04d}" for i in range(1000)]
    (storage / "ns" / "guest").write_text(
        "id,x\n" + "".join(f"{k},{i}\n" for i, k in enumerate(keys))
    )
    (storage / "ns" / "host").write_text(
        "id,y\n" + "".join(f"{k},{-i}\n" for i, k in enumerate(reversed(keys)))
    )
    for party in ("guest", "host"):
        done = run(split_env(storage, party, key_field="id", test_ratio="0.3", seed="7"))
        assert done.returncode == 0, done.stdout
    out = storage / "o"
    guest_test = set(ids(out / "guest-test" / "data_0"))
    assert guest_test == set(ids(out / "host-test" / "data_0"))  # same keys, any row order
    assert 240 < len(guest_test) < 360  # about 30 %
    assert set(ids(out / "guest-train" / "data_0")) | guest_test == set(keys)
    meta = json.loads((out / "guest-test" / "metadata").read_text())
    assert meta["count"] == len(guest_test)


def test_a_seeded_split_is_reproducible_and_bad_keys_are_named(storage: Path) -> None:
    runs = []
    for _ in range(2):
        assert run(split_env(storage, "people", seed="3", test_ratio="0.5")).returncode == 0
        runs.append((storage / "o" / "people-test" / "data_0").read_text())
    assert runs[0] == runs[1]
    bad = run(split_env(storage, "people", key_field="nope"))
    assert bad.returncode == 65 and "'nope' is not a column" in bad.stdout
    assert run(split_env(storage, "people", test_ratio="1")).returncode == 65


def test_summary_statistics_report_aggregates_only(storage: Path) -> None:
    (storage / "ns" / "mixed").write_text("id,age,city\n1,30,beijing\n2,,shanghai\n3,50,beijing\n")
    env = container_env(
        storage,
        **{
            "runtime.component.name": "summary_stats",
            "runtime.component.input.data": json.dumps({"namespace": "ns", "name": "mixed"}),
            "runtime.component.output.report": json.dumps({"namespace": "o", "name": "stats"}),
        },
    )
    del env["runtime.component.output.data"], env["runtime.component.parameter.columns"]
    done = run(env)
    assert done.returncode == 0, done.stdout
    report = json.loads((storage / "o" / "stats" / "data_0").read_text())
    assert report["rows"] == 3
    assert report["columns"]["age"] == {
        "count": 2, "missing": 1, "type": "number", "min": 30.0, "max": 50.0, "mean": 40.0,
        "std": 10.0,
    }  # fmt: skip
    assert report["columns"]["city"] == {"count": 3, "missing": 0, "type": "string", "distinct": 2}
    assert "beijing" not in json.dumps(report) and "beijing" not in done.stdout
