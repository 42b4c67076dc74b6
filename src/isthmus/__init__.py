"""Isthmus: a BFIA interconnection node for heterogeneous privacy-computing platforms."""

__version__ = "0.1.0"
