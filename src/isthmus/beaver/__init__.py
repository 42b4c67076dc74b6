"""The PPCA Beaver triple service (the SS-LR "TTP", docs/protocol.md §16).

Parties register a PRG seed per session (``sessions``); the adjust rank then asks for
the correction that turns every party's PRG-drawn buffers into a valid triple
(``adjust``); ``servicer`` is the gRPC face the node serves on its east-west listener.
The service sees every seed of a session and therefore every share: it is a trusted
third party by design, and it never logs a seed.
"""

from isthmus.beaver.sessions import BeaverLimits, Refusal, SessionTable

__all__ = ["BeaverLimits", "Refusal", "SessionTable"]
