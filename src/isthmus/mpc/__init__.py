"""The secret-sharing engine: rings, fixed point, PRGs, Beaver products, truncation.

Layer 2b: imports ``isthmus.wire``, ``isthmus.crypto`` and ``isthmus.link`` only.
"""
