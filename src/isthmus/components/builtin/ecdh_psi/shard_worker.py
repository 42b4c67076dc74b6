"""One shard of a sharded ECDH-PSI, and the two ways to run K of them.

A shard is a whole two-party ECDH-PSI (``EcdhPsi2``, unchanged) over the keys of one
bucket, on a link of its own: through the transport, topics ``<self>-<peer>.shard<i>``
in the task's session (each shard pops only its own messages); over the direct link,
every rank's port plus ``1 + i``. It reads only its bucket file (row, key records),
streamed twice (its keys into the disk-backed spool, then the row numbers of the
matches), so its memory stays flat as its bucket grows, and it returns the *input rows*
(global indices) whose key matched, with its own peak RSS.

Shards run as Ray tasks when the container was told of a Ray cluster
(``system.compute``, set by the Ray runner) and as local worker processes otherwise.
Both start shards in index order with at most ``parallel`` at once, so the lowest
unfinished shard always runs on both sides and the partner never waits on a shard we
hold back. Everything a shard needs travels in a ``ShardJob``; through Ray it goes in
the object store (``ray.put``), never as an inline task argument Ray's control store
would keep, since it carries the session token; so does the bucket, in 8 MiB objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import struct
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from isthmus.components.builtin.ecdh_psi.protocol import EcdhPsi2, PsiSettings
from isthmus.components.builtin.ecdh_psi.spool import ItemSpool, has_bit
from isthmus.components.errors import AlgorithmError, ComponentError
from isthmus.crypto.ecdh import CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT
from isthmus.link import BlackboxBackend, DirectBackend, LinkBackend, LinkContext

#: Bucket file records: input row index, key length, then the key.
RECORD = struct.Struct("<QI")
#: The suites a job can name (by position): a suite object is not sent between processes.
SUITES = (CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT)
#: ``system.compute`` schemes that name a Ray cluster: ``ray+gcs://host:port`` joins
#: its GCS as a driver (what the Ray runner sets); ``ray://`` is Ray Client, verbatim.
RAY_GCS, RAY_CLIENT = "ray+gcs://", "ray://"


def shard_topic(shard: int) -> str:
    return f".shard{shard}"


def shard_address(address: str, shard: int) -> str:
    """The direct-link address of ``shard``: the rank's port plus ``1 + shard``."""
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + 1 + shard}"


@dataclass(frozen=True)
class ShardLink:
    """How a shard reaches its partner shard: the contract environment (through the
    transport) or the ranks' direct addresses."""

    rank: int
    env: dict[str, str]
    addresses: tuple[str, ...] | None
    recv_timeout_s: float
    max_chunk_bytes: int

    def backend(self, shard: int) -> LinkBackend:
        if self.addresses is not None:
            return DirectBackend(self.rank, [shard_address(a, shard) for a in self.addresses])
        backend, _ = BlackboxBackend.from_env(self.env, topic_suffix=shard_topic(shard))
        return backend


@dataclass(frozen=True)
class ShardJob:
    shard: int
    link: ShardLink
    settings: PsiSettings  # its suite replaced by ``suite_index`` on the way

    suite_index: int = 0

    @classmethod
    def of(cls, shard: int, link: ShardLink, settings: PsiSettings) -> ShardJob:
        index = next(i for i, s in enumerate(SUITES) if s is settings.suite)
        return cls(shard, link, replace(settings, suite=None), index)  # type: ignore[arg-type]

    def psi_settings(self) -> PsiSettings:
        return replace(self.settings, suite=SUITES[self.suite_index])


@dataclass(frozen=True)
class ShardResult:
    shard: int
    rows: int
    unique_keys: int
    #: Matched input rows (``array('Q')`` bytes), or None if this rank gets no result.
    matched_rows: bytes | None
    intersection_keys: int
    peak_rss_kib: int
    psi_s: float


def read_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(row, key) of a bucket file, in the order written (input order), streamed."""
    with open(path, "rb", buffering=1 << 20) as source:
        while head := source.read(RECORD.size):
            row, length = RECORD.unpack(head)
            yield row, source.read(length)


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count afresh (Linux: ``clear_refs`` 5), so a
    reused worker reports its shard's peak, not an earlier one's; elsewhere a no-op."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_kib() -> int:
    """Peak RSS since the last reset (``VmHWM``), else over the process's life."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_shard(job: ShardJob, bucket: Path, work: Path) -> ShardResult:
    """Run one shard to the end (in its own process: it owns an event loop)."""
    reset_peak_rss()
    work.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_run_shard(job, bucket, work))
    except ComponentError as exc:
        raise AlgorithmError(f"shard {job.shard}: {exc.message}") from None
    except Exception as exc:  # whatever it is, the parent gets a picklable error
        raise AlgorithmError(f"shard {job.shard}: {type(exc).__name__}: {exc}") from None


async def _run_shard(job: ShardJob, bucket: Path, work: Path) -> ShardResult:
    spool = ItemSpool(work)
    spool.build(key for _, key in read_records(bucket))
    settings = job.psi_settings()
    link = LinkContext(
        job.link.rank,
        2,
        job.link.backend(job.shard),
        recv_timeout_s=job.link.recv_timeout_s,
        max_chunk_bytes=job.link.max_chunk_bytes,
    )
    started = time.perf_counter()
    try:
        await link.start(connect_timeout_s=job.link.recv_timeout_s)
        with ThreadPoolExecutor(max_workers=settings.workers) as executor:
            protocol = EcdhPsi2(link, settings, executor)
            matched = await protocol.run_batches(spool.batches(settings.batch_size), work)
    except BaseException:
        await link.backend.stop()
        raise
    await link.close()
    elapsed = time.perf_counter() - started
    found: bytes | None = None
    keys_matched = 0
    if matched is not None:
        keys_matched = sum(bin(byte).count("1") for byte in matched)
        local = spool.matched_rows(matched)  # the spool's rows are the bucket's records
        records = enumerate(read_records(bucket))
        found = array("Q", (row for i, (row, _) in records if has_bit(local, i))).tobytes()
    return ShardResult(
        job.shard, spool.rows, spool.unique, found, keys_matched, peak_rss_kib(), round(elapsed, 3)
    )


#: Takes each shard's result as it arrives (the matched rows are merged, then dropped).
OnResult = Callable[[ShardResult], None]


def _summary(result: ShardResult, on_result: OnResult) -> ShardResult:
    on_result(result)
    kept = None if result.matched_rows is None else b""
    return replace(result, matched_rows=kept)


def run_local(
    jobs: Sequence[ShardJob],
    buckets: Sequence[Path],
    work: Path,
    parallel: int,
    on_result: OnResult,
) -> list[ShardResult]:
    """The shards as local worker processes (spawned, as this process runs an event loop
    and threads; a fresh one per shard), ``parallel`` at a time, in index order. Each
    result goes to ``on_result`` as it arrives; the summaries come back in shard order."""
    context = multiprocessing.get_context("spawn")
    summaries: dict[int, ShardResult] = {}
    with ProcessPoolExecutor(parallel, mp_context=context, max_tasks_per_child=1) as pool:
        # Only as_completed holds the futures: it lets go of each once it is yielded.
        for future in as_completed(
            [
                pool.submit(run_shard, job, bucket, work / f"shard-{job.shard}")
                for job, bucket in zip(jobs, buckets, strict=True)
            ]
        ):
            summary = _summary(future.result(), on_result)
            summaries[summary.shard] = summary
    return [summaries[job.shard] for job in jobs]


#: Bytes of a bucket per object-store object: the driver never holds a whole bucket.
CHUNK = 8 << 20


def _ray_shard(job: ShardJob, chunks: list[Any]) -> ShardResult:
    """A Ray task: the bucket arrives through the object store in chunks (no shared
    file system needed), goes to this worker's scratch, and the shard reads it there."""
    import ray

    with tempfile.TemporaryDirectory(prefix="isthmus-shard-") as scratch:
        bucket = Path(scratch) / "bucket"
        with open(bucket, "wb") as out:
            for chunk in chunks:  # refs inside a list: fetched one at a time
                out.write(ray.get(chunk))
        del chunks
        return run_shard(job, bucket, Path(scratch) / "work")


def _put_bucket(ray: Any, path: Path) -> list[Any]:
    with open(path, "rb") as source:
        return [ray.put(chunk) for chunk in iter(lambda: source.read(CHUNK), b"")]


def ray_address(compute: str) -> str | None:
    """The Ray address ``system.compute`` names, or None (no Ray cluster)."""
    if compute.startswith(RAY_GCS):
        return compute.removeprefix(RAY_GCS)
    if compute.startswith(RAY_CLIENT):
        return compute
    return None


def run_on_ray(
    address: str,
    jobs: Sequence[ShardJob],
    buckets: Sequence[Path],
    cpus_per_shard: float,
    on_result: OnResult,
) -> list[ShardResult]:
    """The shards as Ray tasks, as many at once as the cluster's free CPUs allow, in
    index order; results as in ``run_local``."""
    try:
        import ray as ray_module
    except ImportError as exc:
        raise AlgorithmError("system.compute names a Ray cluster, but Ray is missing") from exc
    ray: Any = ray_module
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # Ray raises ConnectionError and others
            raise AlgorithmError(f"cannot join the Ray cluster at {address}: {exc}") from None
    task: Any = ray.remote(num_cpus=cpus_per_shard, max_retries=0)(_ray_shard)
    free = float(ray.available_resources().get("CPU", 0.0))
    window = max(1, min(len(jobs), int(free // cpus_per_shard) if cpus_per_shard else len(jobs)))
    results: dict[int, ShardResult] = {}
    pending: dict[Any, int] = {}
    queue = list(zip(jobs, buckets, strict=True))
    while queue or pending:
        while queue and len(pending) < window:
            job, bucket = queue.pop(0)
            pending[task.remote(ray.put(job), _put_bucket(ray, bucket))] = job.shard
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            shard = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:
                cause = getattr(exc, "cause", None) or exc
                for other in pending:
                    ray.cancel(other, force=True)
                raise AlgorithmError(f"shard {shard} failed on Ray: {cause}") from None
            results[shard] = _summary(result, on_result)
    return [results[job.shard] for job in jobs]
