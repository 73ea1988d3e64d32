""""Save page": the explorer page of a finished request as one HTML file that works without the
server: its style, script, the vendored Vega libraries and the request's data inlined."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from credsim.web.jobs import Job
    from credsim.web.limits import ServeLimits

STATIC = Path(__file__).with_name("static")
_SCRIPT = re.compile(r'<script src="static/([A-Za-z0-9_./-]+)"></script>')
_STYLE = re.compile(r'<link rel="stylesheet" href="static/([A-Za-z0-9_./-]+)">')


def _safe(text: str) -> str:
    """Text that cannot end the inline element it is put in."""
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)


def _inline(name: str) -> str:
    return _safe((STATIC / name).read_text(encoding="utf-8"))


def self_contained(job: Job, limits: ServeLimits) -> str:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    snapshot = {"request": job.req.model_dump(mode="json"), "controls": job.controls,
                "limits": limits.public(), "result": {"id": job.id, **job.views.json()}}
    data = _safe(json.dumps(snapshot, allow_nan=False, default=str))
    html = _STYLE.sub(lambda m: f"<style>{_inline(m.group(1))}</style>", html)
    html = _SCRIPT.sub(lambda m: f"<script>{_inline(m.group(1))}</script>", html)
    return html.replace("<!--snapshot-->", f"<script>window.CREDSIM_SNAPSHOT = {data};</script>", 1)
