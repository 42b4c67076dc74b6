"""The PCK extension reader (inline short-form DER) agrees with a plain element-by-element
DER reading on the real extension and on any mutation of it: same fields, or both
refuse with TeeMalformed."""

from __future__ import annotations

from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import der
from isthmus.tee.intel import chain
from isthmus.tee.intel.pck import (
    SGX_EXTENSION_OID,
    PckExtension,
    parse_pck_extension,
    parse_pck_extension_value,
)
from isthmus.tee.intel.quote import parse_quote
from isthmus.tee.verdict import INTEL_SGX_ROOT_PUBLIC_KEY
from isthmus.wire.errors import InvalidKey, TeeMalformed
from tests.support.shared import shared_path

_D = shared_path("tee-vectors", "intel", "dcap-qvl")
_TCB = SGX_EXTENSION_OID + ".2"


def _leaf(name: str) -> x509.Certificate:
    quote = parse_quote((_D / name).read_bytes())
    return chain.Scope(INTEL_SGX_ROOT_PUBLIC_KEY).load_chain(quote.pck_chain_pem, "pck")[0]


_VALUES = []
for _name in ("sgx_quote", "tdx_quote"):
    _ext = _leaf(_name).extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert isinstance(_ext.value, x509.UnrecognizedExtension)
    _VALUES.append(_ext.value.value)


def _plain_pairs(content: bytes) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    for tag, child in der.decode_children(content):
        if tag != der.SEQUENCE:
            raise InvalidKey("entry")
        parts = der.decode_children(child)
        if len(parts) != 2 or parts[0][0] != der.OBJECT_IDENTIFIER:
            raise InvalidKey("entry")
        oid = der.decode_oid(parts[0][1])
        if oid in out:
            raise InvalidKey("twice")
        out[oid] = parts[1]
    return out


def _plain(value: bytes) -> PckExtension | None:
    def get(entries: dict[str, tuple[int, bytes]], oid: str, tag: int) -> bytes:
        if oid not in entries or entries[oid][0] != tag:
            raise InvalidKey("missing")
        return entries[oid][1]

    try:
        top = _plain_pairs(der.decode_single(value, der.SEQUENCE))
        tcb = _plain_pairs(get(top, _TCB, der.SEQUENCE))
        svns = tuple(der.decode_integer(get(tcb, f"{_TCB}.{i}", der.INTEGER)) for i in range(1, 17))
        pce_svn = der.decode_integer(get(tcb, f"{_TCB}.17", der.INTEGER))
        cpu_svn = get(tcb, f"{_TCB}.18", der.OCTET_STRING)
        fmspc = get(top, SGX_EXTENSION_OID + ".4", der.OCTET_STRING)
        pce_id = get(top, SGX_EXTENSION_OID + ".3", der.OCTET_STRING)
    except InvalidKey:
        return None
    if not all(0 <= v <= 255 for v in svns) or not 0 <= pce_svn <= 0xFFFF:
        return None
    if len(cpu_svn) != 16 or len(fmspc) != 6 or len(pce_id) != 2:
        return None
    return PckExtension(fmspc, pce_id, svns, pce_svn, cpu_svn)


def _ours(value: bytes) -> PckExtension | None:
    try:
        return parse_pck_extension_value(value)
    except TeeMalformed:
        return None


def test_the_vectors_read_alike() -> None:
    for name, value in zip(("sgx_quote", "tdx_quote"), _VALUES, strict=True):
        assert _ours(value) is not None
        assert _ours(value) == _plain(value) == parse_pck_extension(_leaf(name))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_VALUES), st.data())
def test_mutations_read_alike(value: bytes, data: st.DataObject) -> None:
    mutated = bytearray(value)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        if data.draw(st.booleans()):
            mutated[at] = (mutated[at] + data.draw(st.sampled_from([-2, -1, 1, 2]))) % 256
        else:
            mutated[at] = data.draw(
                st.sampled_from([0x00, 0x02, 0x04, 0x06, 0x30, 0x7F, 0x81, 0xFF])
            )
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    assert _ours(bytes(mutated)) == _plain(bytes(mutated))


def _with_entry(value: bytes, entry: bytes) -> bytes:
    content = der.decode_single(value, der.SEQUENCE)
    return der.encode_tlv(der.SEQUENCE, content + entry)


def test_long_form_and_padded_entries_read_alike() -> None:
    unknown = der.encode_oid(SGX_EXTENSION_OID + ".99")
    long_value = der.encode_sequence(unknown, der.encode_octet_string(bytes(200)))
    padded = der.encode_tlv(der.SEQUENCE, unknown + der.encode_octet_string(b"x") + b"\x05\x00")
    for value in _VALUES:
        extended = _with_entry(value, long_value)  # long-form lengths: valid, ignored
        assert _ours(extended) is not None
        assert _ours(extended) == _plain(extended) == _ours(value)
        assert _ours(_with_entry(value, padded)) is None  # bytes after (OID, value)
        assert _plain(_with_entry(value, padded)) is None
