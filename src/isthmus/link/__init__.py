"""The PPCA white-box link: how algorithm parties exchange messages (BFIA digest §4.5).

A component creates one ``LinkContext`` per task over a backend:

* ``DirectBackend`` — gRPC ``org.interconnection.link.ReceiverService/Push`` between the
  parties' own addresses (the PPCA deployment);
* ``BlackboxBackend`` — through the node's south-north transport API
  (``system.transport``), so every message crosses the nodes (the BFIA deployment).

The context numbers keys exactly as SecretFlow's yacl does (``connect_<rank>``,
``<channel>:P2P-<n>:<src>-><dst>`` from 1, collectives), understands yacl's
``\\x01\\x02<seq>`` suffixes, ACKs and FIN, and splits large values into CHUNKED pieces.
This package depends only on ``isthmus.wire``: algorithm containers use it without any
node internals.
"""

from isthmus.link.backends import (
    BlackboxBackend,
    DirectBackend,
    LinkBackend,
    MemoryBackend,
    MemoryNetwork,
)
from isthmus.link.context import LinkContext

__all__ = [
    "BlackboxBackend",
    "DirectBackend",
    "LinkBackend",
    "LinkContext",
    "MemoryBackend",
    "MemoryNetwork",
]
