"""Mechanisms that act on people: errors, surveillance feedback, appeals, behaviour response,
coupling through households and firms. One module each, declaring its scenario table, its
compiled fields and when the kernel needs it (``base.Mechanism``); its defaults, with their
sources, live in ``data/mechanisms.toml``, whose sections are the registry
(``registry.MECHANISMS``). docs/extending.md shows how to add one."""

from __future__ import annotations

from credsim.mechanisms.base import Mechanism, TableField
from credsim.mechanisms.features import features_in_use, kernel_features
from credsim.mechanisms.registry import (
    MECHANISMS,
    MechanismSections,
    compile_tables,
    default,
    mechanisms_off,
    provenance,
    tables_class,
)

__all__ = [
    "MECHANISMS",
    "Mechanism",
    "MechanismSections",
    "TableField",
    "compile_tables",
    "default",
    "features_in_use",
    "kernel_features",
    "mechanisms_off",
    "provenance",
    "tables_class",
]
