"""Deliberately broken Isthmus nodes: each module patches ONE behaviour, then runs the
normal entry point (``python -m tests.conformance.broken.<module> node start --home …``).
The defect lives only here, never behind a flag in the product."""
