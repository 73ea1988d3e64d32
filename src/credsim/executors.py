"""Where communities run: in this process, in local worker processes, or on a Dask cluster.

Every executor yields the same ``CommunityResult`` for the same community, so a run's results
are bit-identical whatever runs it; only speed differs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context

from credsim.checkpoint import Checkpoints
from credsim.engine import CommunityResult, EngineSpec, release_scratch, run_community
from credsim.population import Community


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Limit a worker's Numba threads (workers share the cores); with ``parent``, die with it."""
    import numba

    if parent is not None:
        die_with_parent(parent)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends, even by kill -9: the kernel's parent-death signal
    on Linux, and a watchdog thread everywhere (a worker never outlives its run)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="credsim-parent-watch", daemon=True).start()


def _task(spec: EngineSpec, c: Community, ckpt: Checkpoints | None = None) -> CommunityResult:
    """Run one community; with ``ckpt``, checkpoint it here, in the worker, before returning."""
    res = run_community(spec, c)
    if ckpt is not None:
        ckpt.save(res)
    return res


class Executor(ABC):
    """Runs communities and yields their results as they finish."""

    name = "base"

    @abstractmethod
    def map(self, spec: EngineSpec, comms: Iterable[Community],
            ckpt: Checkpoints | None = None) -> Iterator[CommunityResult]:
        """Yield the result of every community, in any order, each already checkpointed when
        ``ckpt`` is given (workers write their own checkpoints)."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to release
        """Release workers (nothing to do for executors that hold none)."""


class InProcess(Executor):
    """One worker: this process, with Numba's threads over blocks of each community."""

    name = "in-process"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map(self, spec, comms, ckpt=None):
        if self.threads:
            import numba

            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        for c in comms:
            yield _task(spec, c, ckpt)

    def close(self):
        release_scratch()  # the communities' per-agent arrays, kept for reuse during the run


class LocalProcesses(Executor):
    """``workers`` local processes, one community at a time each, one thread each by default."""

    name = "processes"

    def __init__(self, workers: int, threads_per_worker: int = 1):
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads_per_worker, os.getpid()),
        )

    def map(self, spec, comms, ckpt=None):
        return bounded_map(self.pool, lambda c: (_task, spec, c, ckpt), comms, 2 * self.workers)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def bounded_map(pool, call, items: Iterable, width: int) -> Iterator:
    """Results of ``pool.submit(*call(item))`` for every item as they finish, with at most
    ``width`` submitted at once: memory stays O(workers), not O(items)."""
    it = iter(items)
    pending = {pool.submit(*call(x)) for _, x in zip(range(width), it, strict=False)}
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for f in done:
            yield f.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.add(pool.submit(*call(nxt)))


class DaskCluster(Executor):
    """A Dask distributed cluster: an existing scheduler address, or ``local`` for a LocalCluster."""

    name = "dask"

    def __init__(self, address: str, workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise RuntimeError(
                "the Dask executor needs the optional extra: pip install 'credsim[distributed]'"
            ) from exc
        self._cluster = None
        if address == "local":
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)
        self.client.run(_init_worker, 1)

    def map(self, spec, comms, ckpt=None):
        from distributed import as_completed

        spec_f = self.client.scatter(spec, broadcast=True)
        comms = list(comms)
        # on a cluster the run directory must be on storage the workers share for checkpoints
        futures = [self.client.submit(_task, spec_f, c, ckpt, pure=False) for c in comms]
        for f in as_completed(futures):
            res = f.result()
            f.release()
            yield res

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int | None = None, dask: str | None = None,
                  n_communities: int = 1, threads: int | None = None) -> Executor:
    """The executor a user asked for; by default local processes on a multi-core machine."""
    if dask:
        return DaskCluster(dask, workers or 2)
    cores = os.cpu_count() or 1
    if workers is None:
        workers = cores if n_communities > 1 else 1
    workers = max(1, min(workers, n_communities))
    if workers == 1:
        return InProcess(threads)
    return LocalProcesses(workers, max(1, cores // workers))
