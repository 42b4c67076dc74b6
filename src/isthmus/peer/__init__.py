"""Link to partner nodes: request signing and the east-west HTTP client.

Sits above ``isthmus.crypto`` and ``isthmus.wire``; knows nothing of storage or of the
node's apps, so the scheduler, the transport and the management plane all call partners
through the same signed client.
"""
