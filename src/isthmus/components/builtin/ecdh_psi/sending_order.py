"""Where each of our items goes in our sending order: a pseudo-random function of the
item under a secret of this party, fresh per run and never sent.

A peer that learns the intersection learns where its matched items sit in our sending
order. If the bucket (or the order within it) were a public function of the key, that
would tell it the public function's value for our items it does *not* hold (8 bits of
SHA-256 or CRC-32 per item, before this module). Here the tag of an item is
AES-128(secret, block) with the block a digest of the item padded to 16 bytes: without
the secret, the tags of distinct blocks are indistinguishable from random (AES is a
pseudo-random permutation), so the sending order is a random permutation of our unique
items as far as the peer can tell, whatever the input order. The same item always gets
the same tag in a run, so deduplication (equal keys in one bucket) keeps working; two
distinct items with the same block only share a tag, which moves nothing but the split.

One AES-ECB call tags a whole chunk (no Python work per item): a million tags cost
about 10 ms.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 16


class SendingOrder:
    """Tags under a fresh secret (``secret`` only for tests: 16 bytes)."""

    def __init__(self, secret: bytes | None = None) -> None:
        # ECB is right here: AES is used as a pseudo-random function on single blocks
        # (one tag per block), not to hide a message.
        key = algorithms.AES(secret or os.urandom(_BLOCK))
        self._cipher = Cipher(key, modes.ECB())  # noqa: S305

    def tag_blocks(self, digests: np.ndarray) -> np.ndarray:
        """The 16-byte tag of each row of ``digests`` (uniform bytes, e.g. SHA-256
        points): AES of its first 16 bytes (zero-padded if narrower), (n, 16) uint8."""
        blocks = np.zeros((len(digests), _BLOCK), dtype=np.uint8)
        width = min(_BLOCK, digests.shape[1]) if digests.ndim == 2 else 0
        blocks[:, :width] = digests[:, :width]
        encryptor = self._cipher.encryptor()
        tags = encryptor.update(blocks.tobytes()) + encryptor.finalize()
        return np.frombuffer(tags, dtype=np.uint8).reshape(-1, _BLOCK)

    def tag_keys(self, keys: Sequence[bytes]) -> np.ndarray:
        """The tags of arbitrary keys: the block is the key's 64-bit ``hash`` (SipHash,
        computed in C; distinct keys of one input share it about never, and a shared
        block only puts two keys in one bucket) and its length."""
        blocks = np.empty((len(keys), 2), dtype=np.int64)
        blocks[:, 0] = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        blocks[:, 1] = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        return self.tag_blocks(blocks.view(np.uint8).reshape(-1, _BLOCK))

    @staticmethod
    def bucket(tags: np.ndarray, buckets: int) -> np.ndarray:
        """Each tag's bucket (its first byte, mod ``buckets``)."""
        bucket: np.ndarray = tags[:, 0].astype(np.intp) % buckets
        return bucket

    @staticmethod
    def rank(tags: np.ndarray) -> np.ndarray:
        """Each tag's place key within its bucket (its last eight bytes, as an integer)."""
        rank: np.ndarray = np.ascontiguousarray(tags[:, 8:]).view("<u8").ravel()
        return rank
