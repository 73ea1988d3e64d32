"""What a mechanism declares: the one object its module exports as ``MECHANISM``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from credsim.behaviour import Catalogue
    from credsim.config import Strict
    from credsim.regime import Regime

    Compile = Callable[[Any, Regime, Catalogue, Any], dict[str, Any]]  # (..., compile.RegimeTables)


class Compiled(Protocol):
    """What a mechanism's ``uses`` reads of a compiled scenario (``engine.EngineSpec``; named
    here, not imported, so that the engine can import the mechanisms)."""

    regime: Any  # compile.RegimeTables
    behaviour: Any  # compile.BehaviourTables
    mechanisms: Any  # compile.MechanismTables
    n_lists: int
    peer: tuple | None


class TableField(NamedTuple):
    """One field of ``compile.MechanismTables``: the kernels read it by ``name``."""

    name: str
    kind: type  # its Python type (``np.ndarray`` for arrays; the docstring gives the dtype)
    doc: str


@dataclass(frozen=True)
class Mechanism:
    """A mechanism that acts on people, declared in one module of this package.

    ``section`` names its scenario table and its section of ``data/mechanisms.toml`` (the
    defaults, each with its source or labelled assumption), and is also the module's name.
    ``model`` validates that table (keys, bounds; no defaults of its own: they come from the
    data file). ``off`` is the table that switches it off (``mechanisms_off``). ``tables`` are
    the fields it adds to ``MechanismTables``, which ``compile`` computes from its validated
    table, the regime, the catalogue and the compiled regime. ``uses`` says which kernel
    features (``layout.FEAT_*`` bits) a compiled scenario needs for it: 0 when it has no use
    for it. ``derived`` adds read-only properties to ``MechanismTables``.
    """

    section: str
    model: type[Strict]
    off: Mapping[str, Any]
    uses: Callable[[Compiled], int]
    tables: tuple[TableField, ...] = ()
    compile: Compile | None = None
    derived: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.tables)
