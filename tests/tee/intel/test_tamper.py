"""Flipping any byte of a signed region (quote header+body, QE report, TCB info text, QE
identity text) refuses; truncated, oversized, wrong-version and random input never
raise anything but TeeMalformed / TeeRefused."""

from __future__ import annotations

import contextlib
import json
import struct
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.tee.intel import load_collateral_json, parse_quote, verify_quote
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import DcapCollateral, TeeReason
from tests.support.shared import shared_path

_D = shared_path("tee-vectors", "intel", "dcap-qvl")
_AT = {
    "sgx_quote": datetime(2025, 6, 19, 11, 56, 11, tzinfo=UTC),
    "tdx_quote": datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC),
}
_QUOTES = {n: (_D / n).read_bytes() for n in _AT}
_COLS = {n: (_D / f"{n}_collateral.json").read_text() for n in _AT}
_LOADED = {n: load_collateral_json(t) for n, t in _COLS.items()}


def _refused(name: str, quote: bytes, col: DcapCollateral) -> None:
    try:
        verify_quote(quote, col, at=_AT[name])
    except (TeeRefused, TeeMalformed):
        return
    raise AssertionError("a tampered input verified")


def _signed_spans(name: str) -> list[tuple[int, int]]:
    q = parse_quote(_QUOTES[name])
    qe = _QUOTES[name].find(q.qe_report.raw)
    return [(0, len(q.signed)), (qe, qe + 384)]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_AT)), st.data(), st.integers(1, 255))
def test_flipping_a_signed_quote_byte_refuses(name: str, data: st.DataObject, mask: int) -> None:
    spans = _signed_spans(name)
    start, end = data.draw(st.sampled_from(spans))
    pos = data.draw(st.integers(start, end - 1))
    quote = bytearray(_QUOTES[name])
    quote[pos] ^= mask
    _refused(name, bytes(quote), _LOADED[name])


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(_AT)), st.sampled_from(["tcb_info", "qe_identity"]), st.data())
def test_flipping_a_signed_document_byte_refuses(
    name: str, field: str, data: st.DataObject
) -> None:
    obj = json.loads(_COLS[name])
    text = obj[field]
    pos = data.draw(st.integers(0, len(text) - 1))
    repl = data.draw(st.sampled_from([c for c in '0123456789 ,:{}aZ"' if c != text[pos]]))
    obj[field] = text[:pos] + repl + text[pos + 1 :]
    try:
        col = load_collateral_json(json.dumps(obj))
    except TeeMalformed:
        return
    _refused(name, _QUOTES[name], col)


def test_truncated_quotes_refuse_cleanly() -> None:
    raw = _QUOTES["tdx_quote"]
    for cut in [0, 1, 47, 48, 100, 632, 636, 700, 1100, 2000, 4935]:
        try:
            parse_quote(raw[:cut])
        except TeeMalformed as exc:
            assert exc.details["reason"] == TeeReason.MALFORMED
        else:
            raise AssertionError(f"a quote cut at {cut} parsed")


def test_oversized_wrong_version_key_type_and_inner_garbage() -> None:
    raw = _QUOTES["sgx_quote"]
    for bad in [raw + bytes(70_000)]:
        try:
            parse_quote(bad)
            raise AssertionError("oversized parsed")
        except TeeMalformed:
            pass
    for patch, value in [(0, 2), (0, 6), (2, 3), (4, 0x81)]:
        bad = bytearray(raw)
        struct.pack_into("<H" if patch < 4 else "<I", bad, patch, value)
        try:
            parse_quote(bytes(bad))
            raise AssertionError("a bad header parsed")
        except TeeRefused as exc:
            assert exc.reason == TeeReason.UNSUPPORTED_VERSION
    # a signature-data length one byte longer than its content: inner garbage
    off = 48 + 384
    n = struct.unpack_from("<I", raw, off)[0]
    longer = bytearray(raw[: off + 4 + n] + b"\x00")
    struct.pack_into("<I", longer, off, n + 1)
    try:
        parse_quote(bytes(longer))
        raise AssertionError("trailing bytes inside the signature data parsed")
    except TeeMalformed:
        pass
    # bytes after the signature data are signed by nothing: ignored, never kept
    assert parse_quote(raw + b"junk").raw == raw


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_only_refuse(blob: bytes) -> None:
    try:
        verify_quote(blob, _LOADED["sgx_quote"], at=_AT["sgx_quote"])
    except (TeeRefused, TeeMalformed):
        return
    raise AssertionError("random bytes verified")


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_mutated_real_quote_prefix_only_refuses(data: st.DataObject) -> None:
    raw = bytearray(_QUOTES["tdx_quote"])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(TeeRefused, TeeMalformed):
        verify_quote(bytes(raw[:cut]), _LOADED["tdx_quote"], at=_AT["tdx_quote"])
