"""SM2 signatures (GB/T 32918.2 with SM3) in OpenSSL 3's C code, through ctypes.

The pure-Python verifier of :mod:`isthmus.crypto.sm2` multiplies an arbitrary point in
about 3 ms; libcrypto does the whole verification in about 0.6 ms, and ctypes releases
the GIL around each call. This module only moves the arithmetic: callers
(:func:`isthmus.crypto.sm2.sign` and ``verify``) keep the key types, the strict DER
checks and the distinguishing-ID default, so both paths accept exactly the same inputs.

Private keys are rebuilt from their raw scalar per signature (``EVP_PKEY_fromdata``,
about 30 µs), so nothing secret outlives a call. Public keys, which a node verifies
against again and again (one per partner), are kept parsed in a bounded LRU cache keyed
by their encoding: that saves the same 30 µs, a tenth of a verification. A parsed
``EVP_PKEY`` is only read after creation, which OpenSSL allows from many threads.

Availability: :func:`available` is True when libcrypto loads, is version 3 or later,
and can build an ``SM2`` key and digest with ``SM3`` (a libcrypto built with
``no-sm2``/``no-sm3`` fails the probe); otherwise callers use the pure-Python code.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Final

from isthmus.crypto.openssl_ec import OpenSslUnavailable, _lib

_SELECT_PUBLIC: Final = 0x86  # EVP_PKEY_PUBLIC_KEY
_SELECT_KEYPAIR: Final = 0x87  # EVP_PKEY_KEYPAIR
_MAX_SIGNATURE: Final = 80  # DER of two 256-bit integers is at most 72 octets


@functools.cache
def _evp() -> ctypes.CDLL:
    lib = _lib()
    vp, sz, cp, ci = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int
    pvp, psz = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
    signatures: dict[str, tuple[list[type], type | None]] = {
        "OpenSSL_version_num": ([], ctypes.c_ulong),
        "OSSL_PARAM_BLD_new": ([], vp),
        "OSSL_PARAM_BLD_free": ([vp], None),
        "OSSL_PARAM_BLD_push_utf8_string": ([vp, cp, cp, sz], ci),
        "OSSL_PARAM_BLD_push_octet_string": ([vp, cp, cp, sz], ci),
        "OSSL_PARAM_BLD_push_BN": ([vp, cp, vp], ci),
        "OSSL_PARAM_BLD_to_param": ([vp], vp),
        "OSSL_PARAM_free": ([vp], None),
        "BN_bin2bn": ([cp, ci, vp], vp),
        "BN_clear_free": ([vp], None),
        "EVP_PKEY_CTX_new_from_name": ([vp, cp, cp], vp),
        "EVP_PKEY_CTX_free": ([vp], None),
        "EVP_PKEY_fromdata_init": ([vp], ci),
        "EVP_PKEY_fromdata": ([vp, pvp, ci, vp], ci),
        "EVP_PKEY_free": ([vp], None),
        "EVP_PKEY_CTX_set1_id": ([vp, cp, ci], ci),
        "EVP_MD_CTX_new": ([], vp),
        "EVP_MD_CTX_free": ([vp], None),
        "EVP_DigestSignInit_ex": ([vp, pvp, cp, vp, cp, vp, vp], ci),
        "EVP_DigestVerifyInit_ex": ([vp, pvp, cp, vp, cp, vp, vp], ci),
        "EVP_DigestSign": ([vp, cp, psz, cp, sz], ci),
        "EVP_DigestVerify": ([vp, cp, sz, cp, sz], ci),
        "ERR_clear_error": ([], None),
    }
    for symbol, (args, result) in signatures.items():
        function = getattr(lib, symbol, None)
        if function is None:
            raise OpenSslUnavailable(f"libcrypto has no {symbol} (OpenSSL 3 needed)")
        function.argtypes = args
        function.restype = result
    return lib


def _pkey(point: bytes, private: bytes | None) -> int | None:
    """An SM2 EVP_PKEY (caller frees) from an uncompressed point and optional scalar."""
    lib = _evp()
    bld = lib.OSSL_PARAM_BLD_new()
    bn = lib.BN_bin2bn(private, len(private), None) if private is not None else None
    params = ctx = None
    try:
        if not (
            bld
            and lib.OSSL_PARAM_BLD_push_utf8_string(bld, b"group", b"SM2", 0)
            and lib.OSSL_PARAM_BLD_push_octet_string(bld, b"pub", point, len(point))
            and (private is None or (bn and lib.OSSL_PARAM_BLD_push_BN(bld, b"priv", bn)))
        ):
            return None
        params = lib.OSSL_PARAM_BLD_to_param(bld)
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        pkey = ctypes.c_void_p()
        selection = _SELECT_PUBLIC if private is None else _SELECT_KEYPAIR
        if not (
            params
            and ctx
            and lib.EVP_PKEY_fromdata_init(ctx) > 0
            and lib.EVP_PKEY_fromdata(ctx, ctypes.byref(pkey), selection, params) > 0
        ):
            return None
        return pkey.value
    finally:
        lib.EVP_PKEY_CTX_free(ctx)
        lib.OSSL_PARAM_free(params)
        lib.BN_clear_free(bn)
        lib.OSSL_PARAM_BLD_free(bld)


class _Handle:
    """Owns one EVP_PKEY; frees it when the cache drops the last reference."""

    __slots__ = ("_free", "pkey")

    def __init__(self, pkey: int) -> None:
        self.pkey = pkey
        self._free = _evp().EVP_PKEY_free  # held so interpreter teardown can still free

    def __del__(self) -> None:
        self._free(self.pkey)


@functools.lru_cache(maxsize=256)
def _public_handle(point: bytes) -> _Handle | None:
    pkey = _pkey(point, None)
    if pkey is None:
        _evp().ERR_clear_error()
        return None
    return _Handle(pkey)


def _with_md_ctx(pkey: int, ident: bytes, *, signing: bool) -> int | None:
    lib = _evp()
    md_ctx = lib.EVP_MD_CTX_new()
    if not md_ctx:
        return None
    pctx = ctypes.c_void_p()
    init = lib.EVP_DigestSignInit_ex if signing else lib.EVP_DigestVerifyInit_ex
    if (
        init(md_ctx, ctypes.byref(pctx), b"SM3", None, None, pkey, None) > 0
        and lib.EVP_PKEY_CTX_set1_id(pctx, ident, len(ident)) > 0
    ):
        return int(md_ctx)
    lib.EVP_MD_CTX_free(md_ctx)
    return None


def sign(private: bytes, point: bytes, message: bytes, ident: bytes) -> bytes | None:
    """DER signature by the 32-octet scalar ``private`` whose uncompressed public point
    is ``point``; None when libcrypto fails (the caller falls back)."""
    lib = _evp()
    pkey = _pkey(point, private)
    if pkey is None:
        lib.ERR_clear_error()
        return None
    md_ctx = None
    try:
        md_ctx = _with_md_ctx(pkey, ident, signing=True)
        out = ctypes.create_string_buffer(_MAX_SIGNATURE)
        length = ctypes.c_size_t(_MAX_SIGNATURE)
        if (
            md_ctx is None
            or lib.EVP_DigestSign(md_ctx, out, ctypes.byref(length), message, len(message)) <= 0
        ):
            lib.ERR_clear_error()
            return None
        return out.raw[: length.value]
    finally:
        lib.EVP_MD_CTX_free(md_ctx)
        lib.EVP_PKEY_free(pkey)


def verify(point: bytes, message: bytes, signature: bytes, ident: bytes) -> bool | None:
    """True or False from libcrypto; None only when libcrypto could not run the check
    (``point`` is not a valid SM2 public key, or an allocation failed)."""
    lib = _evp()
    handle = _public_handle(point)
    if handle is None:
        return None
    md_ctx = _with_md_ctx(handle.pkey, ident, signing=False)
    if md_ctx is None:
        lib.ERR_clear_error()
        return None
    try:
        verdict: int = lib.EVP_DigestVerify(
            md_ctx, signature, len(signature), message, len(message)
        )
        if verdict != 1:
            lib.ERR_clear_error()
        return verdict == 1
    finally:
        lib.EVP_MD_CTX_free(md_ctx)


# The standard's generator as an uncompressed point, and the key pair d = 1 (public = G):
# enough for the probe to sign and verify once without the pure-Python arithmetic.
_PROBE_POINT: Final = bytes.fromhex(
    "04"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


@functools.cache
def available() -> bool:
    """Whether this libcrypto signs and verifies SM2/SM3 (probed once per process)."""
    try:
        if _evp().OpenSSL_version_num() < 0x30000000:
            return False
        scalar = (1).to_bytes(32, "big")
        signature = sign(scalar, _PROBE_POINT, b"probe", b"1234567812345678")
        return signature is not None and bool(
            verify(_PROBE_POINT, b"probe", signature, b"1234567812345678")
        )
    except (OpenSslUnavailable, OSError, AttributeError):
        return False
