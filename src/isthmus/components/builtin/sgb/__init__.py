"""The SecureBoost (SGB) components, wire-compatible with SecretFlow's interconnection mode.

This package holds the pieces the coming ``sgb`` train and predict components are built
from; nothing here is registered as a component yet. ``bucketing`` turns each party's
feature columns into bucket indices exactly as a SecretFlow peer does, so that the global
bucket indices exchanged on the wire mean the same split on both sides.
"""
