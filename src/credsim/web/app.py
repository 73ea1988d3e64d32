"""The explorer's ASGI app (``credsim serve``): the page, its static files, and a small JSON API
over the run queue (``credsim.web.jobs``).

No endpoint executes user code or reads a file a request names: static files come from the
package's own folder, uploads are TOML text validated in memory (``credsim.web.requests``), and
downloads are built from a finished job's tables.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from credsim.web.jobs import Job, JobQueue, QueueFull
from credsim.web.limits import ServeLimits
from credsim.web.requests import RequestError, plan
from credsim.web.views import VIEWS

STATIC = Path(__file__).with_name("static")
# the page runs only its own scripts (no inline handlers: injected markup cannot run); Vega
# compiles its expressions with Function, hence 'unsafe-eval'; nothing is fetched elsewhere
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (HTTP 413), whether or not they say their size."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_big = JSONResponse({"error": f"the request body is larger than {self.limit:,} bytes "
                                         "(the server's --max-body-bytes)"}, status_code=413)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_big(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooBig
            return msg

        try:
            await self.app(scope, counted, send)
        except _TooBig:
            await too_big(scope, receive, send)


class _TooBig(Exception):
    pass


def create_app(limits: ServeLimits | None = None, queue: JobQueue | None = None) -> FastAPI:
    """The explorer app; it starts its worker processes when it starts serving."""
    limits = limits or ServeLimits()
    jobs = queue or JobQueue(limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not jobs.workers:
            jobs.start()
        # the first request's checks import and validate what every later one reuses: do it now
        threading.Thread(target=_warm_planner, args=(limits,), daemon=True).start()
        yield
        jobs.close()

    app = FastAPI(title="credsim explorer", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.jobs, app.state.limits = jobs, limits
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def _job(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise _NotFound(f"no request {job_id!r} on this server (it may have been forgotten: "
                            "run it again)")
        return job

    def _done(job_id: str) -> Job:
        job = _job(job_id)
        if job.state != "done":
            raise _NotDone(f"request {job_id} is {job.state}" + (f": {job.error}" if job.error else ""))
        return job

    @app.exception_handler(_NotFound)
    async def _nf(request: Request, exc: _NotFound):
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(_NotDone)
    async def _nd(request: Request, exc: _NotDone):
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={
            "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"})

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        with jobs.lock:
            active = sum(j.state in ("queued", "running") for j in jobs.jobs.values())
        return {"ready": jobs.ready(), "workers": len(jobs.workers), "queued_or_running": active,
                "limits": limits.public(), "stats": dict(jobs.stats)}

    @app.get("/api/regimes")
    def regimes() -> list[dict[str, str]]:
        from credsim.regime import load_regime, shipped_regimes

        return [{"name": n, "description": " ".join(load_regime(n).summary.split())[:300]}
                for n in shipped_regimes()]

    @app.post("/api/controls")
    async def controls(request: Request):
        body = await _json(request)
        if isinstance(body, Response):
            return body
        body = {**body, "arms": [{"label": "A"}], "persons": 100, "days": 1, "seeds": 1}  # controls only
        try:
            _, _, ctl = await asyncio.to_thread(plan, body, limits)
        except RequestError as exc:
            return JSONResponse({"errors": exc.errors}, status_code=400)
        return ctl

    @app.post("/api/runs")
    async def runs(request: Request):
        body = await _json(request)
        if isinstance(body, Response):
            return body
        try:
            req, specs, ctl = await asyncio.to_thread(plan, body, limits)
            job, cached = jobs.submit(req, specs, ctl)
        except RequestError as exc:
            return JSONResponse({"errors": exc.errors}, status_code=400)
        except QueueFull as exc:
            return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": "5"})
        return JSONResponse({**job.snapshot(), "cached": cached}, status_code=202)

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        return _job(job_id).snapshot()

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request):
        job = _job(job_id)

        async def stream():
            last = None
            while True:
                snap = job.snapshot()
                now = {k: v for k, v in snap.items() if k != "seconds"}
                if now != last:
                    yield f"data: {json.dumps(snap)}\n\n"
                    last = now
                if snap["state"] in ("done", "failed") or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/result")
    def result(job_id: str):
        job = _done(job_id)
        if job.result_json is None:  # encoded once: the views are large, identical requests many
            payload = {"id": job.id, "request": job.req.model_dump(mode="json"), **job.views.json()}
            job.result_json = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        return Response(job.result_json, media_type="application/json")

    @app.get("/api/jobs/{job_id}/views/{name}.{fmt}")
    def view_file(job_id: str, name: str, fmt: str):
        job = _done(job_id)
        if name not in VIEWS or fmt not in ("csv", "parquet"):
            raise _NotFound(f"no view {name}.{fmt} (views: {', '.join(VIEWS)}; as .csv or .parquet)")
        data = job.views.csv(name) if fmt == "csv" else job.views.parquet(name)
        media = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
        return Response(data, media_type=media, headers=_attachment(f"credsim-{name}.{fmt}"))

    @app.get("/api/jobs/{job_id}/scenario.toml")
    def scenario_toml(job_id: str):
        from credsim.web.downloads import scenario_text

        return Response(scenario_text(_job(job_id)), media_type="application/toml",
                        headers=_attachment("scenario.toml"))

    @app.get("/api/jobs/{job_id}/experiment.toml")
    def experiment_toml(job_id: str):
        from credsim.web.downloads import experiment_text

        return Response(experiment_text(_job(job_id)), media_type="application/toml",
                        headers=_attachment("experiment.toml"))

    @app.get("/api/jobs/{job_id}/regime.toml")
    def regime_toml(job_id: str):
        job = _job(job_id)
        if job.specs[0].upload_kind != "regime":
            raise _NotFound("this request uses a shipped regime (or an uploaded scenario): no regime upload")
        return Response(job.specs[0].upload_text, media_type="application/toml",
                        headers=_attachment("regime.toml"))

    @app.get("/api/jobs/{job_id}/page.html")
    def saved_page(job_id: str):
        from credsim.web.page import self_contained

        job = _done(job_id)
        return Response(self_contained(job, limits), media_type="text/html",
                        headers=_attachment(f"credsim-explorer-{job.id}.html"))

    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    return app


def _warm_planner(limits: ServeLimits) -> None:
    try:
        plan({"persons": 1_000, "days": 1}, limits)
    except RequestError:  # limits too small for the probe: nothing to warm
        pass


class _NotFound(LookupError):
    pass


class _NotDone(RuntimeError):
    pass


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def _json(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"errors": {"request": ["the body is not JSON"]}}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"errors": {"request": ["the body must be a JSON object"]}}, status_code=400)
    return body
