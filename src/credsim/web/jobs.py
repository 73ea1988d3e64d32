"""The run queue of ``credsim serve``: requests become jobs of (arm, seed) runs, given to a fixed
set of worker processes (one per core by default), never run in the server's event loop.

A dispatcher thread hands runs to idle workers in request order (a run alone on the machine
gets every core's threads; results do not depend on the thread count), collects progress and results
over each worker's pipe, kills and replaces a worker whose request passes its wall time, and
turns a finished job's runs into its views. At most ``max_queue`` jobs wait or run (one more is
refused: ``QueueFull``, HTTP 429); identical requests share one job, and the last
``cache_entries`` finished ones are served from a small LRU cache.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any

from credsim.web.limits import ServeLimits
from credsim.web.requests import RunIn, RunSpec, request_key

KEEP_JOBS = 64  # finished jobs kept for their id (progress, downloads), beyond the cache
RESPAWN_SECONDS = 2.0


class QueueFull(RuntimeError):
    """The server has ``max_queue`` requests waiting or running."""


@dataclass
class Job:
    id: str
    key: str
    req: RunIn
    specs: list[RunSpec]
    controls: dict[str, Any]
    tasks: list[tuple[int, int]]  # (arm, seed) of each run
    state: str = "queued"  # queued, running, done, failed
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    next_task: int = 0
    progress: dict[int, float] = field(default_factory=dict)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    runs_done: int = 0
    views: Any = None  # credsim.web.views.Views once done
    result_json: bytes | None = None  # the result endpoint's body, encoded on first use

    def snapshot(self) -> dict[str, Any]:
        n = len(self.tasks)
        done = sum(self.progress.get(i, 0.0) for i in range(n))
        return {"id": self.id, "state": self.state, "error": self.error, "runs": n,
                "runs_done": self.runs_done, "fraction": round(done / n, 4) if n else 1.0,
                "seconds": round((self.finished or time.monotonic()) - (self.started or self.created), 3)}


@dataclass
class Worker:
    index: int
    proc: Any
    conn: Any
    ready: bool = False
    busy: tuple[str, int] | None = None  # (job id, task index)
    spawned: float = field(default_factory=time.monotonic)
    dead: bool = False  # its pipe closed: replaced by the dispatcher


class JobQueue:
    """Jobs over ``limits.workers`` worker processes. ``start()`` spawns them (each loads the
    compiled kernels), ``close()`` ends them."""

    def __init__(self, limits: ServeLimits):
        self.limits = limits
        self.workers: list[Worker] = []
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.cache: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx = get_context("spawn")
        self._ids = itertools.count()
        self.stats = {"runs": 0, "jobs_done": 0, "jobs_failed": 0, "refused": 0, "cache_hits": 0,
                      "workers_replaced": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for i in range(self.limits.workers):
            self.workers.append(self._spawn(i))
        self._thread = threading.Thread(target=self._loop, name="credsim-serve-dispatch", daemon=True)
        self._thread.start()

    def _spawn(self, index: int) -> Worker:
        from credsim.web import worker

        threads = max(1, (os.cpu_count() or 1) // self.limits.workers)
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=worker.main, args=(index, child, threads, os.getpid()),
                                 name=f"credsim-serve-worker-{index}", daemon=True)
        proc.start()
        child.close()
        return Worker(index, proc, parent)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for w in self.workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.proc.join(timeout=3)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=3)

    def ready(self) -> bool:
        return bool(self.workers) and all(w.ready for w in self.workers)

    # ------------------------------------------------------------------ requests
    def submit(self, req: RunIn, specs: list[RunSpec], controls: dict[str, Any]) -> tuple[Job, bool]:
        """A job for the request and whether it came from the cache: a cached or identical one if
        there is one, else a new one; QueueFull when ``max_queue`` jobs wait or run."""
        key = request_key(req)
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache.move_to_end(key)
                self.stats["cache_hits"] += 1
                self._remember(hit)
                return hit, True
            for j in self.jobs.values():
                if j.key == key and j.state in ("queued", "running"):
                    return j, False
            active = sum(j.state in ("queued", "running") for j in self.jobs.values())
            if active >= self.limits.max_queue:
                self.stats["refused"] += 1
                raise QueueFull(f"the server is busy: {active} requests are queued or running "
                                f"(at most {self.limits.max_queue}); try again in a moment")
            seeds = [req.seed + k for k in range(req.seeds)]
            tasks = [(a, s) for a in range(len(specs)) for s in seeds]
            job = Job(f"{next(self._ids)}-{uuid.uuid4().hex[:8]}", key, req, specs, controls, tasks)
            self._remember(job)
            return job, False

    def _remember(self, job: Job) -> None:
        self.jobs[job.id] = job
        self.jobs.move_to_end(job.id)
        while len(self.jobs) > KEEP_JOBS:
            old = next((k for k, j in self.jobs.items() if j.state in ("done", "failed")), None)
            if old is None:
                break
            del self.jobs[old]

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    # ------------------------------------------------------------------ dispatcher
    def _loop(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                self._assign()
            conns = [w.conn for w in self.workers if not w.dead]
            try:
                for conn in wait(conns, timeout=0.1):
                    w = next(x for x in self.workers if x.conn is conn)
                    try:
                        msg = conn.recv()
                    except (EOFError, OSError):
                        w.dead = True
                        continue
                    with self.lock:
                        self._handle(w, msg)
            except (OSError, ValueError):  # a connection closed while waiting: checked below
                pass
            with self.lock:
                self._check_time()
                for w in list(self.workers):
                    # (one that dies as it starts is replaced at most every RESPAWN_SECONDS)
                    if (w.dead or not w.proc.is_alive()) and time.monotonic() - w.spawned > RESPAWN_SECONDS:
                        self._replace(w, "a worker process ended unexpectedly")

    def _assign(self) -> None:
        for w in self.workers:
            if not w.ready or w.busy is not None:
                continue
            job = next((j for j in self.jobs.values() if j.state in ("queued", "running")
                        and j.next_task < len(j.tasks)), None)
            if job is None:
                return
            ti = job.next_task
            job.next_task += 1
            arm, seed = job.tasks[ti]
            if job.started is None:
                job.started, job.state = time.monotonic(), "running"
            w.busy = (job.id, ti)
            w.conn.send(((job.id, ti), job.specs[arm], seed, self._threads()))

    def _threads(self) -> int:
        """Threads for the run just assigned: every core when it is the only run going and
        nothing waits (a lone request uses the whole machine), else the worker's share."""
        cores = os.cpu_count() or 1
        busy = sum(w.busy is not None for w in self.workers)
        waiting = any(j.next_task < len(j.tasks) for j in self.jobs.values()
                      if j.state in ("queued", "running"))
        if busy == 1 and not waiting:
            return cores
        return max(1, cores // self.limits.workers)

    def _handle(self, w: Worker, msg: tuple) -> None:
        kind, key, payload = msg
        if kind == "ready":
            w.ready = True
            return
        job = self.jobs.get(key[0])
        if kind != "progress":
            w.busy = None
        if job is None or job.state != "running":
            return
        ti = key[1]
        if kind == "progress":
            job.progress[ti] = 0.98 * float(payload)
        elif kind == "done":
            self.stats["runs"] += 1
            job.results[ti] = payload
            job.runs_done += 1
            job.progress[ti] = 1.0
            if len(job.results) == len(job.tasks):
                self._finish(job)
        else:
            self._fail(job, payload)

    def _finish(self, job: Job) -> None:
        from credsim.web.views import Finished, build_views

        try:
            job.views = build_views(Finished(job.req, job.controls, job.tasks, job.results))
        except Exception as exc:  # shown to the page rather than lost in the dispatcher
            self._fail(job, f"building the views failed ({type(exc).__name__}: {exc})")
            return
        job.results = {}  # the views hold what is needed; memory stays bounded
        job.state, job.finished = "done", time.monotonic()
        self.stats["jobs_done"] += 1
        self.cache[job.key] = job
        while len(self.cache) > self.limits.cache_entries:
            self.cache.popitem(last=False)

    def _fail(self, job: Job, why: str) -> None:
        if job.state in ("done", "failed"):
            return
        job.state, job.error, job.finished = "failed", why, time.monotonic()
        job.results = {}
        self.stats["jobs_failed"] += 1
        for w in self.workers:  # its other runs stop now
            if w.busy is not None and w.busy[0] == job.id:
                self._replace(w, None)

    def _check_time(self) -> None:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job.state == "running" and now - job.started > self.limits.max_wall_seconds:
                self._fail(job, f"stopped after {self.limits.max_wall_seconds:g} s, the server's "
                                "wall-time limit per request (--max-wall-seconds): ask for fewer "
                                "agents, days, seeds or arms")

    def _replace(self, w: Worker, why: str | None) -> None:
        """Kill ``w`` and start a fresh worker in its place (its run's job fails with ``why``)."""
        busy = w.busy
        w.busy = None
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(timeout=5)
        w.conn.close()
        self.stats["workers_replaced"] += 1
        self.workers[self.workers.index(w)] = self._spawn(w.index)
        if busy is not None and why is not None:
            job = self.jobs.get(busy[0])
            if job is not None:
                self._fail(job, why)
