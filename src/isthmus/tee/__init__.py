"""TEE unified remote attestation (digest §6, issue 17): turn a Unified Attestation
Report into a verified attribute set, offline, at an injected time, and judge it by a
policy.

``isthmus.tee`` sits between ``isthmus.crypto`` and ``isthmus.peer | isthmus.link``: it
imports only crypto, wire and itself, so management, node and the CLI can use it while
nothing it does can reach the network or a clock (the verification time and the
collateral are always handed in through a ``VerifyContext``).

Entry points: ``verify.verify_report``, ``verify.check_policy``, ``verify.attest`` and the
UAI functions in ``uai``.
"""
