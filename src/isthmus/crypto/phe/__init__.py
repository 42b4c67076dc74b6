"""Partially homomorphic encryption for the PHE model family (SGB, HE-LR).

Paillier with the DJN optimisation exactly as PPCA App. A specifies it and as
SecretFlow/HEU's "ic-paillier" implements it (:mod:`.paillier`), a fixed-base table for
its public base (:mod:`.fixed_base`), batches on every core (:mod:`.batch`) and the
fixed-point encoding SecretFlow's SGB uses for g/h (:mod:`.encoding`). Big integers are
gmpy2 (GMP): see :mod:`.paillier` for why.
"""

from isthmus.crypto.phe.batch import DecryptionPool, EncryptionPool, decrypt_batch, encrypt_batch
from isthmus.crypto.phe.encoding import SGB_FIXED_POINT_BITS, SGB_SCALE, FixedPointEncoder
from isthmus.crypto.phe.errors import (
    EncodingError,
    KeySizeRefused,
    MalformedCiphertext,
    PheError,
    PlaintextOutOfRange,
)
from isthmus.crypto.phe.paillier import (
    MIN_KEY_BITS,
    SUPPORTED_KEY_BITS,
    PaillierPrivateKey,
    PaillierPublicKey,
    check_key_bits,
    generate_keypair,
)

__all__ = [
    "MIN_KEY_BITS",
    "SGB_FIXED_POINT_BITS",
    "SGB_SCALE",
    "SUPPORTED_KEY_BITS",
    "DecryptionPool",
    "EncodingError",
    "EncryptionPool",
    "FixedPointEncoder",
    "KeySizeRefused",
    "MalformedCiphertext",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "PheError",
    "PlaintextOutOfRange",
    "check_key_bits",
    "decrypt_batch",
    "encrypt_batch",
    "generate_keypair",
]
