"""PPCA SS-LR: vertical logistic regression on secret shares (``ss_lr``,
``ss_lr_predict``; docs/protocol.md §18)."""
