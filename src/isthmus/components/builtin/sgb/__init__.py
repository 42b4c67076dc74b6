"""The SecureBoost (SGB) components, wire-compatible with SecretFlow's interconnection mode.

``component`` registers ``sgb`` (training) and ``sgb_predict``; the active party's side
is ``settings``, ``negotiate``, ``active``, ``active_model`` and ``predict_active``.
``bucketing`` turns each party's feature columns into bucket indices exactly as a
SecretFlow peer does, so that the global bucket indices exchanged on the wire mean the
same split on both sides.
"""
