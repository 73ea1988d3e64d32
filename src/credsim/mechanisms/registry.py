"""The registry: the mechanisms named by ``data/mechanisms.toml``, in its order, and what is built
from their declarations (the scenario's mechanism tables, ``MechanismTables``, their values).

Each section of the data file is one mechanism, declared by the module of the same name in this
package (``MECHANISM = Mechanism(...)``). Nothing else lists them: a new section and its module
are a new mechanism in every scenario, compiled table and kernel choice.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import Field, create_model, model_validator

from credsim.config import Strict, read_toml, validate
from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.mechanisms.base import Mechanism

if TYPE_CHECKING:  # pragma: no cover
    from credsim.behaviour import Catalogue
    from credsim.regime import Regime

DEFAULTS_FILE = data_path("mechanisms.toml")
LABELS = ("source", "assumption")


class Defaults(NamedTuple):
    """A mechanism's shipped defaults and the provenance labels that cover them."""

    values: dict[str, Any]
    labels: dict[str, str]  # "source", "assumption", "<key>_source", "<key>_assumption"

    def provenance(self, key: str) -> str:
        """The label of ``key``: its own (``<prefix>_source`` with ``key`` starting with the
        prefix), else the section's; assumptions say so."""
        for label, text in sorted(self.labels.items(), key=lambda kv: -len(kv[0])):
            prefix, _, kind = label.rpartition("_")
            if kind in LABELS and (not prefix or key == prefix or key.startswith(prefix + "_")):
                return text if kind == "source" else f"assumption: {text}"
        raise KeyError(key)


def _is_label(key: str) -> bool:
    return key in LABELS or key.endswith(tuple("_" + x for x in LABELS))


def _section(m: Mechanism, table: dict[str, Any]) -> tuple[Defaults, list[str]]:
    """A mechanism's defaults from its section, and what is wrong with them."""
    sec, fields = m.section, m.model.model_fields
    d = Defaults({k: v for k, v in table.items() if k in fields},
                 {k: v for k, v in table.items() if k not in fields and _is_label(k)})
    problems = [f"{sec}.{k}: not a key of [{sec}] ({sorted(fields)}) nor a provenance label "
                "('source', 'assumption', '<key>_source', '<key>_assumption')"
                for k in table if k not in d.values and k not in d.labels]
    problems += [f"{sec}.{k}: no default" for k in fields if k not in d.values]
    for label in d.labels:
        prefix = label.rpartition("_")[0]
        if prefix and not any(k == prefix or k.startswith(prefix + "_") for k in fields):
            problems.append(f"{sec}.{label}: labels no key (no key of [{sec}] starts with {prefix!r})")
    for k in d.values:
        try:
            d.provenance(k)
        except KeyError:
            problems.append(f"{sec}.{k}: no provenance: give the section a 'source' or an "
                            f"'assumption', or give '{k}_source' / '{k}_assumption'")
    return d, problems


def read_defaults(path: Path, mechanisms: Sequence[Mechanism]) -> dict[str, Defaults]:
    """Each mechanism's section of ``path``, validated: its keys are the model's or provenance
    labels, every key of the model has a default within its bounds, and every default is
    covered by a label."""
    raw = read_toml(path)
    problems: list[str] = []
    out: dict[str, Defaults] = {}
    for m in mechanisms:
        if not isinstance(raw.get(m.section), dict):
            problems.append(f"{m.section}: missing section (the defaults of mechanisms/{m.section}.py)")
            continue
        out[m.section], wrong = _section(m, raw[m.section])
        problems += wrong
    if problems:
        raise ConfigError(str(path), problems)
    for m in mechanisms:
        validate(m.model, out[m.section].values, str(path), prefix=(m.section,))
    return out


def load_mechanisms(path: Path = DEFAULTS_FILE) -> tuple[Mechanism, ...]:
    """The mechanisms named by the sections of ``path``, in its order."""
    found = []
    for section in read_toml(path):
        name = f"credsim.mechanisms.{section}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise ConfigError(str(path), [f"{section}: no module mechanisms/{section}.py"]) from None
        m = getattr(module, "MECHANISM", None)
        if not isinstance(m, Mechanism) or m.section != section:
            raise ConfigError(str(path), [f"{section}: mechanisms/{section}.py must declare "
                                          f"MECHANISM = Mechanism(section={section!r}, ...)"])
        found.append(m)
    return tuple(found)


MECHANISMS: tuple[Mechanism, ...] = load_mechanisms()
DEFAULTS: dict[str, Defaults] = read_defaults(DEFAULTS_FILE, MECHANISMS)
BY_SECTION: dict[str, Mechanism] = {m.section: m for m in MECHANISMS}


def default(section: str) -> dict[str, Any]:
    """The shipped default values of one mechanism's table."""
    return dict(DEFAULTS[section].values)


def provenance(section: str, key: str) -> str:
    """Where the shipped default of ``section.key`` comes from."""
    return DEFAULTS[section].provenance(key)


def mechanisms_off() -> dict[str, Any]:
    """Scenario tables that switch every mechanism off (a baseline for comparisons)."""
    return {m.section: dict(m.off) for m in MECHANISMS}


# ---------------------------------------------------------------- the scenario's tables
class _PartialTablesTakeDefaults(Strict):
    @model_validator(mode="before")
    @classmethod
    def _mechanism_defaults(cls, data: Any) -> Any:
        """A mechanism table given in part takes its other keys from data/mechanisms.toml, the
        one place their defaults (and sources) live."""
        if isinstance(data, dict):
            for sec in BY_SECTION:
                if isinstance(data.get(sec), dict):
                    data = {**data, sec: {**default(sec), **data[sec]}}
        return data


def _section_field(m: Mechanism) -> tuple[type, Any]:
    return m.model, Field(default_factory=lambda: m.model(**default(m.section)))


MechanismSections = create_model(
    "MechanismSections",
    __base__=_PartialTablesTakeDefaults,
    __module__=__name__,
    __doc__="One table per mechanism, named by its section: a base of ``scenario.Scenario``.",
    **{m.section: _section_field(m) for m in MECHANISMS},
)


# ---------------------------------------------------------------- MechanismTables
def tables_class(module: str, mechanisms: Sequence[Mechanism] = MECHANISMS) -> type:
    """The NamedTuple of every mechanism's fields, in registry order (``compile`` builds it once
    as ``MechanismTables``; ``module`` is where it lives, so that it pickles)."""
    fields = [f for m in mechanisms for f in m.tables]
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise TypeError(f"two mechanisms declare the same field: {names}")
    cls = NamedTuple("MechanismTables", [(f.name, f.kind) for f in fields])
    cls.__module__ = module
    cls.__doc__ = ("The mechanisms as numbers, each mechanism's fields in registry order "
                   f"({', '.join(m.section for m in mechanisms)}): see credsim.mechanisms.")
    for f in fields:
        getattr(cls, f.name).__doc__ = f.doc
    for m in mechanisms:
        for name, fn in m.derived.items():
            setattr(cls, name, property(fn, doc=fn.__doc__))
    return cls


def compile_tables(sc: Any, regime: Regime, cat: Catalogue, rt: Any,
                   mechanisms: Sequence[Mechanism] = MECHANISMS) -> dict[str, Any]:
    """Every mechanism's fields, each compiled from the scenario's table of it."""
    out: dict[str, Any] = {}
    for m in mechanisms:
        got: Mapping[str, Any] = m.compile(getattr(sc, m.section), regime, cat, rt) if m.compile else {}
        if set(got) != set(m.field_names):
            raise TypeError(f"mechanisms/{m.section}.py compiled {sorted(got)}, "
                            f"declares {sorted(m.field_names)}")
        out.update(got)
    return out
