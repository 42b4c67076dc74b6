"""Sharded ECDH-PSI, the parts that need no worker process: the bucket function (a
keyed hash: deterministic, in range, dependent on the key), the agreement of K and the
bucket key over the in-memory link (a mismatch or an unsharded partner is refused
before any item goes out), and the split/merge bookkeeping."""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.ecdh_psi.protocol import ENC, PsiSettings, encode_batch
from isthmus.components.builtin.ecdh_psi.shard_worker import (
    RECORD,
    ShardJob,
    ShardLink,
    ShardResult,
    ray_address,
    read_records,
    run_shard,
    shard_address,
)
from isthmus.components.builtin.ecdh_psi.sharding import Buckets, agree, bucket_of, merge, split
from isthmus.crypto.ecdh import CURVE25519
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.scheduler.ray_runner import COMPUTE_VARIABLE, RAY_GCS_SCHEME, ray_client_env
from isthmus.testing import free_port
from isthmus.wire.errors import ErrorCode, ShardsMismatch

keys = st.binary(min_size=32, max_size=32)
items = st.binary(max_size=40)
counts = st.integers(min_value=1, max_value=1024)


@given(keys, items, counts)
def test_the_bucket_is_deterministic_and_in_range(key: bytes, item: bytes, k: int) -> None:
    bucket = bucket_of(key, item, k)
    assert 0 <= bucket < k
    assert bucket_of(key, item, k) == bucket


@given(st.binary(max_size=100), items, counts)
def test_the_fast_bucket_hash_is_hmac_sha256(key: bytes, item: bytes, k: int) -> None:
    """Keys of any length, longer than SHA-256's block too (RFC 2104 hashes those)."""
    assert Buckets(key, k)(item) == bucket_of(key, item, k)


@settings(max_examples=30)
@given(keys, keys)
def test_the_buckets_depend_on_the_key(a: bytes, b: bytes) -> None:
    """Two keys put 64 items in 16 buckets the same way with chance 16^-64."""
    sample = [b"user%06d" % i for i in range(64)]
    same = [bucket_of(a, x, 16) for x in sample] == [bucket_of(b, x, 16) for x in sample]
    assert same == (a == b)


def test_buckets_spread_sequential_ids_evenly() -> None:
    sizes = [0] * 4
    for i in range(4000):
        sizes[bucket_of(b"k" * 32, b"user%06d" % i, 4)] += 1
    assert min(sizes) > 850  # 1000 expected each; a constant bucket would fail


async def pair(
    run0: Callable[[LinkContext], Awaitable[object]],
    run1: Callable[[LinkContext], Awaitable[object]],
) -> list[object]:
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=5) for r in (0, 1)]
    await asyncio.gather(*(link.start() for link in links))
    return list(await asyncio.gather(run0(links[0]), run1(links[1]), return_exceptions=True))


def agreeing(shards: int) -> Callable[[LinkContext], Awaitable[object]]:
    return lambda link: agree(link, shards)


def test_both_parties_agree_one_fresh_bucket_key() -> None:
    first = asyncio.run(pair(agreeing(4), agreeing(4)))
    second = asyncio.run(pair(agreeing(4), agreeing(4)))
    assert first[0] == first[1] and isinstance(first[0], bytes) and len(first[0]) == 32
    assert second[0] != first[0]  # a new key every run


def test_another_shard_count_is_refused_on_both_sides() -> None:
    got = asyncio.run(pair(agreeing(2), agreeing(4)))
    for error in got:
        assert isinstance(error, ShardsMismatch)
        assert error.code == ErrorCode.PSI_SHARDS_MISMATCH == 40301
        assert "shards=2" in error.message and "shards=4" in error.message


def test_an_unsharded_partner_is_refused() -> None:
    async def unsharded(link: LinkContext) -> object:
        await link.send(0, encode_batch(ENC, 0, [b"\x01" * 32], last=False))
        return None

    got = asyncio.run(pair(agreeing(2), unsharded))
    assert isinstance(got[0], ShardsMismatch) and "unsharded" in got[0].message


def test_a_share_that_does_not_open_its_commitment_is_refused() -> None:
    async def cheat(link: LinkContext) -> object:
        await link.send(0, (await link.recv(0)))  # echo rank 0's offer as our own
        await link.recv(0)
        await link.send(0, b"\x00" * 32)  # and reveal something else
        return None

    got = asyncio.run(pair(agreeing(3), cheat))
    assert isinstance(got[0], ShardsMismatch) and "commitment" in got[0].message


def test_split_keeps_input_order_per_bucket_and_merge_marks_input_rows(tmp_path: Path) -> None:
    rows = [b"k%d" % (i % 7) for i in range(50)]  # duplicates on purpose
    done = split(iter(rows), b"s" * 32, 3, tmp_path)
    assert done.rows == 50
    seen = [list(read_records(path)) for path in done.buckets]
    assert sorted(row for bucket in seen for row, _ in bucket) == list(range(50))
    for b, bucket in enumerate(seen):
        assert [row for row, _ in bucket] == sorted(row for row, _ in bucket)
        assert all(rows[row] == key and bucket_of(b"s" * 32, key, 3) == b for row, key in bucket)
    results = [
        ShardResult(0, 0, 0, array("Q", [3, 40]).tobytes(), 1, 0, 0.0),
        ShardResult(1, 0, 0, array("Q", [0]).tobytes(), 1, 0, 0.0),
    ]
    bitmap = merge(results, 50)
    assert bitmap is not None
    assert [i for i in range(50) if bitmap[i >> 3] >> (i & 7) & 1] == [0, 3, 40]
    assert merge([ShardResult(0, 0, 0, None, 0, 0, 0.0)], 50) is None


@pytest.mark.parametrize(
    ("address", "shard", "expected"),
    [("127.0.0.1:9000", 0, "127.0.0.1:9001"), ("[::1]:9000", 3, "[::1]:9004")],
)
def test_each_shard_has_its_own_direct_port(address: str, shard: int, expected: str) -> None:
    assert shard_address(address, shard) == expected


def test_system_compute_names_the_ray_cluster_the_runner_sets() -> None:
    assert RAY_GCS_SCHEME == "ray+gcs://" and COMPUTE_VARIABLE == "system.compute"
    assert ray_address(RAY_GCS_SCHEME + "10.0.0.5:6379") == "10.0.0.5:6379"
    assert ray_address("ray://head:10001") == "ray://head:10001"  # Ray Client, verbatim
    assert ray_address("spark://host:7077") is None
    assert ray_address("") is None


def test_one_shard_in_threads_gives_only_the_result_holder_its_rows(tmp_path: Path) -> None:
    """``run_shard`` itself (no worker process): rank 1 alone learns its matched input
    rows, as global row numbers; rank 0 learns nothing, and neither does the merge."""
    keys_of = {0: [b"x", b"c1", b"y", b"c2"], 1: [b"c2", b"z", b"c1", b"c1"]}
    settings_ = PsiSettings(suite=CURVE25519, batch_size=2, result_to_rank=1)
    shard = 3  # its ports are the ranks' plus 4: bases chosen so that those are free ones
    addresses = tuple(f"127.0.0.1:{free_port() - 1 - shard}" for _ in range(2))

    def party(rank: int) -> ShardResult:
        bucket = tmp_path / f"bucket{rank}"
        with open(bucket, "wb") as out:  # as split writes them: rows 10, 11, … of the input
            for i, key in enumerate(keys_of[rank]):
                out.write(RECORD.pack(10 + i, len(key)) + key)
        link = ShardLink(rank, {}, addresses, 10.0, 1 << 20)
        job = ShardJob.of(shard, link, settings_)
        return run_shard(job, bucket, tmp_path / f"work{rank}")

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(party, (0, 1))
    assert first.matched_rows is None and first.rows == 4 and first.unique_keys == 4
    assert second.matched_rows is not None and second.unique_keys == 3
    assert list(array("Q", second.matched_rows)) == [10, 12, 13]
    assert second.intersection_keys == 2 and second.peak_rss_kib > 0
    assert merge([second, first], 20) is None


def test_the_component_gets_rays_auth_and_tls_settings_and_nothing_else() -> None:
    wanted = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "/t", "RAY_USE_TLS": "1",
              "RAY_TLS_CA_CERT": "/ca"}  # fmt: skip
    others = {"HOME": "/root", "RAY_ADDRESS": "x", "SECRET": "s"}
    assert ray_client_env({**wanted, **others}) == wanted
