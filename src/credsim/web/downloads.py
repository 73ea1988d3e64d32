"""The TOML downloads of a request: the scenario every arm starts from, and a credsim
experiment file with the arms and seeds that reproduces the comparison with ``credsim sweep``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from credsim import tomlw

if TYPE_CHECKING:  # pragma: no cover
    from credsim.web.jobs import Job


def scenario_text(job: Job) -> str:
    spec = job.specs[0]
    head = "# The scenario of a credsim explorer request (every arm starts from it).\n"
    if spec.upload_kind == "regime":
        head += "# Its regime is the uploaded file: save it next to this one as regime.toml.\n"
    if spec.upload_kind == "scenario":
        head += "# Built from the uploaded scenario, with the explorer's size, days and seed.\n"
    return head + tomlw.dumps(spec.scenario) + "\n"


def experiment_text(job: Job) -> str:
    r = job.req
    data = {"name": f"explorer-{job.key[:12]}",
            "description": "The arms of a credsim explorer request on the same seeds; run with "
                           "`credsim sweep experiment.toml -o runs/explorer` next to scenario.toml.",
            "scenario": "scenario.toml", "seeds": r.seeds, "first_seed": r.seed,
            "arms": [{"label": a.label, "set": dict(s.overrides)} for a, s in zip(r.arms, job.specs,
                                                                                   strict=True)]}
    return tomlw.dumps(data) + "\n"
