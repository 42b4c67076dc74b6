"""Components built into the Isthmus image, by name: the module that registers each.

Importing this package imports none of them. A container runs one component, so it
imports only that one's module (``catalog.lookup``): every other built-in's imports
(Paillier, SPU-compatible MPC, the tree learner) would only cost it start-up time.
``catalog.registry`` imports them all when every self-description is wanted.
"""

#: componentName -> the module whose import registers it.
MODULES: dict[str, str] = {
    "column_select": "isthmus.components.builtin.column_select",
    "data_split": "isthmus.components.builtin.data_split",
    "ecdh_psi": "isthmus.components.builtin.ecdh_psi.component",
    "evaluate": "isthmus.components.builtin.evaluate",
    "he_lr": "isthmus.components.builtin.he_lr.component",
    "he_lr_predict": "isthmus.components.builtin.he_lr.component",
    "sgb": "isthmus.components.builtin.sgb.component",
    "sgb_predict": "isthmus.components.builtin.sgb.component",
    "ss_lr": "isthmus.components.builtin.ss_lr.component",
    "ss_lr_predict": "isthmus.components.builtin.ss_lr.component",
    "summary_stats": "isthmus.components.builtin.summary_stats",
}

__all__ = ["MODULES"]
