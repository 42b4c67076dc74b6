"""Partially homomorphic encryption for the PHE model family (SGB, HE-LR).

Paillier with the DJN optimisation exactly as PPCA App. A specifies it and as
SecretFlow/HEU's "ic-paillier" implements it (:mod:`.paillier`), a fixed-base table for
its public base (:mod:`.fixed_base`), batches on every core (:mod:`.batch`) and the
fixed-point encoding SecretFlow's SGB uses for g/h (:mod:`.encoding`), and exponential
EC-ElGamal on SM2 and Ed25519 (:mod:`.ec_elgamal`, groups in :mod:`.ec_groups`). Big
integers are gmpy2 (GMP): see :mod:`.paillier` for why.
"""

from isthmus.crypto.phe.batch import DecryptionPool, EncryptionPool, decrypt_batch, encrypt_batch
from isthmus.crypto.phe.ec_batch import EcDecryptionPool, EcEncryptionPool
from isthmus.crypto.phe.ec_elgamal import (
    EcElGamalCiphertext,
    EcElGamalPrivateKey,
    EcElGamalPublicKey,
)
from isthmus.crypto.phe.ec_elgamal import generate_keypair as generate_ec_elgamal_keypair
from isthmus.crypto.phe.encoding import SGB_FIXED_POINT_BITS, SGB_SCALE, FixedPointEncoder
from isthmus.crypto.phe.errors import (
    EncodingError,
    InvalidPoint,
    KeySizeRefused,
    MalformedCiphertext,
    PheError,
    PlaintextOutOfRange,
    UnsupportedCurve,
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
    "EcDecryptionPool",
    "EcElGamalCiphertext",
    "EcElGamalPrivateKey",
    "EcElGamalPublicKey",
    "EcEncryptionPool",
    "EncodingError",
    "EncryptionPool",
    "FixedPointEncoder",
    "InvalidPoint",
    "KeySizeRefused",
    "MalformedCiphertext",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "PheError",
    "PlaintextOutOfRange",
    "UnsupportedCurve",
    "check_key_bits",
    "decrypt_batch",
    "encrypt_batch",
    "generate_ec_elgamal_keypair",
    "generate_keypair",
]
