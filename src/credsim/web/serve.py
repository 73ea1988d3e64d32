"""``credsim serve``: the explorer's app on uvicorn, with its limits from the command line."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from credsim.web.limits import ServeLimits

DEFAULT_HOST = "127.0.0.1"  # this machine only, unless told otherwise
DEFAULT_PORT = 8050


def limits_from(caps: dict[str, Any]) -> ServeLimits:
    return replace(ServeLimits(), **caps)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, caps: dict[str, Any] | None = None) -> None:
    import uvicorn

    from credsim.web.app import create_app

    limits = limits_from(caps or {})
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"credsim serve: listening on {host}: the explorer is open to the network", file=sys.stderr)
    print(f"credsim explorer on http://{host}:{port} ({limits.workers} worker(s) loading the "
          "kernels; runs wait until they are ready)", file=sys.stderr)
    uvicorn.run(create_app(limits), host=host, port=port, log_level="warning")
