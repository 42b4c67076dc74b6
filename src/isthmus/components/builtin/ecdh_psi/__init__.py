"""``ecdh_psi``: ECDH private set intersection, wire-compatible with SecretFlow."""

from isthmus.components.builtin.ecdh_psi.component import EcdhPsiComponent

__all__ = ["EcdhPsiComponent"]
