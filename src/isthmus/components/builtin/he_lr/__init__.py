"""HE-LR: vertical logistic regression with Paillier, no third party (docs/protocol.md §14).

``he_lr`` trains, ``he_lr_predict`` scores; ``protocol`` is the algorithm over the link,
``handshake`` the v2 negotiation, ``codec`` the masked scores and big integers on the wire.
"""

from isthmus.components.builtin.he_lr import component

__all__ = ["component"]
