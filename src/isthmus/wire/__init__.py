"""Wire contracts: what crosses the network, spelt exactly as BFIA peers spell it.

This is the lowest layer. It imports nothing from the rest of Isthmus, so every other
layer (and every algorithm container) can depend on it.
"""
