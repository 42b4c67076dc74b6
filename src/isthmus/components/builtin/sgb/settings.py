"""What the active party trains with: ``SgbSettings``, validated before anything is sent.

The active party (rank 0, the label holder) decides every training parameter: the
negotiated ones (``num_round``, ``max_depth``, row and column sampling, ``bucket_eps``,
``use_completely_sgb``, the PHE scheme: Paillier and its key size, or EC-ElGamal
and its curve) go to the passive parties in the
``HandshakeResponse``; the local ones (objective, ``reg_lambda``, ``gamma``,
``learning_rate``, ``seed``) never leave it, as in SecretFlow's interconnection mode.

Guarantee: a constructed ``SgbSettings`` is within the ranges SecretFlow's SGB accepts
(``sgb_v/core/params.py``) and the key size is one the PHE engine offers; anything else
is a ``ParameterError`` naming the parameter, so a typo never becomes a strange model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isthmus.components.builtin.sgb.bucketing import bucket_num_for
from isthmus.components.errors import ParameterError
from isthmus.crypto.phe import SUPPORTED_KEY_BITS, KeySizeRefused, check_key_bits

OBJECTIVES = ("logistic", "squared")
PHE_ALGOS = ("paillier", "ec_elgamal")
EC_CURVES = ("sm2", "ed25519")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ParameterError(name, f"must be finite, got {value!r}")
    return number


def _integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ParameterError(name, f"must be in [{low}, {high}], got {value}")
    return value


def _ratio(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 < number <= 1.0:
        raise ParameterError(name, f"must be in (0, 1], got {value!r}")
    return number


@dataclass(frozen=True)
class SgbSettings:
    """The active party's training settings (SecretFlow's defaults where it has one)."""

    num_round: int = 10
    max_depth: int = 5
    row_sample_by_tree: float = 1.0
    col_sample_by_tree: float = 1.0
    bucket_eps: float = 0.1
    use_completely_sgb: bool = False
    key_bits: int = 2048
    objective: str = "logistic"
    reg_lambda: float = 1.0
    gamma: float = 0.0
    learning_rate: float = 0.3
    seed: int = 1212
    base_score: float = 0.0
    allow_insecure_key_size: bool = False
    #: the PHE scheme: SecretFlow's Paillier (``key_bits``) or exponential EC-ElGamal on
    #: ``ec_curve`` (Isthmus passive parties only: SecretFlow does not offer it)
    phe_algo: str = "paillier"
    ec_curve: str = "sm2"

    def __post_init__(self) -> None:
        _integer("num_round", self.num_round, 1, 1024)
        _integer("max_depth", self.max_depth, 1, 16)
        _ratio("row_sample_by_tree", self.row_sample_by_tree)
        _ratio("col_sample_by_tree", self.col_sample_by_tree)
        bucket_num_for(self.bucket_eps)  # raises ParameterError("bucket_eps", ...)
        if not isinstance(self.use_completely_sgb, bool):
            raise ParameterError(
                "use_completely_sgb", f"must be a boolean: {self.use_completely_sgb!r}"
            )
        if self.key_bits not in SUPPORTED_KEY_BITS:
            raise ParameterError(
                "key_bits", f"must be one of {sorted(SUPPORTED_KEY_BITS)}, got {self.key_bits!r}"
            )
        try:
            check_key_bits(self.key_bits, allow_insecure=self.allow_insecure_key_size)
        except KeySizeRefused as exc:
            raise ParameterError(
                "key_bits", f"{exc} (set allow_insecure_key_size only in tests)"
            ) from None
        if self.phe_algo not in PHE_ALGOS:
            raise ParameterError("phe_algo", f"must be one of {PHE_ALGOS}, got {self.phe_algo!r}")
        if self.ec_curve not in EC_CURVES:
            raise ParameterError("ec_curve", f"must be one of {EC_CURVES}, got {self.ec_curve!r}")
        if self.objective not in OBJECTIVES:
            raise ParameterError(
                "objective", f"must be one of {OBJECTIVES}, got {self.objective!r}"
            )
        if not 0.0 <= _number("reg_lambda", self.reg_lambda) <= 10000.0:
            raise ParameterError("reg_lambda", f"must be in [0, 10000], got {self.reg_lambda!r}")
        if not 0.0 <= _number("gamma", self.gamma) <= 10000.0:
            raise ParameterError("gamma", f"must be in [0, 10000], got {self.gamma!r}")
        _ratio("learning_rate", self.learning_rate)
        _integer("seed", self.seed, 0, 2**32 - 1)
        if not -10.0 <= _number("base_score", self.base_score) <= 10.0:
            raise ParameterError("base_score", f"must be in [-10, 10], got {self.base_score!r}")

    @property
    def bucket_num(self) -> int:
        """Buckets per feature for ``bucket_eps`` (as every party computes it)."""
        return bucket_num_for(self.bucket_eps)
