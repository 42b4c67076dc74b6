"""The kit's ECDH-PSI side (conf-psi): how to reach the target's PSI party, the kit's own
observing party and the kit as BFIA transport module for the blackbox link."""
