"""Checkpoints: each finished community's aggregates, written atomically and verified on resume.

A file is written to a temporary name, flushed to disk, then renamed, so a kill at any moment
leaves either no checkpoint or a whole one. Each file carries its binding (the run's
fingerprint, seed, community index and credsim version) and a digest of the binding and of its
arrays: a truncated, corrupt or foreign file (another run's, or another community's copied under
this one's name) is detected and the community recomputed, never silently used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from credsim.engine import CommunityResult
from credsim.version import __version__


def _digest(binding: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(binding.encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Checkpoints:
    """A run directory's checkpoints, each bound to the run's fingerprint (scenario, regime,
    catalogue, seed, credsim version) and to its community: any other file is refused, with
    its reason kept in ``discarded``."""

    def __init__(self, directory: Path, fingerprint: str, seed: int = 0):
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.seed = seed
        self.discarded: list[tuple[Path, str]] = []
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return self.dir / f"community-{index:07d}.npz"

    def binding(self, index: int) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "seed": str(self.seed), "community": str(index),
                "credsim_version": __version__}

    def save(self, res: CommunityResult) -> None:
        arrays = res.arrays()
        bind = self.binding(res.index)
        buf = io.BytesIO()
        np.savez_compressed(buf, digest=np.array(_digest(json.dumps(bind, sort_keys=True), arrays)),
                            binding=np.array(json.dumps(bind, sort_keys=True)), **arrays)
        final = self.path(res.index)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

    def load(self, index: int) -> CommunityResult | None:
        """The community's result if a whole checkpoint made for it exists, else None (with
        the reason in ``discarded`` when a file was there)."""
        p = self.path(index)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k not in ("digest", "binding")}
                digest = str(z["digest"])
                bind = json.loads(str(z["binding"])) if "binding" in z.files else None
        except Exception as exc:  # any unreadable file is recomputed, never trusted
            return self._discard(p, f"unreadable ({type(exc).__name__})")
        want = self.binding(index)
        if not isinstance(bind, dict):
            return self._discard(p, "made by an older credsim (no binding)")
        for key, what in (("credsim_version", "credsim"), ("fingerprint", "scenario"),
                          ("seed", "seed"), ("community", "community")):
            if bind.get(key) != want[key]:
                shown = str(bind.get(key))[:12]
                return self._discard(p, f"made for another {what} ({shown}, not {want[key][:12]})")
        if digest != _digest(json.dumps(bind, sort_keys=True), arrays):
            return self._discard(p, "corrupt (its digest does not match its contents)")
        res = CommunityResult.from_arrays(arrays)
        if res.index != index:
            return self._discard(p, f"holds community {res.index}, not {index}")
        return res

    def _discard(self, p: Path, why: str) -> None:
        self.discarded.append((p, why))
        return None

    def done(self, comms) -> list[int]:
        """The indices of ``comms`` that have a checkpoint file."""
        return [c.index for c in comms if self.path(c.index).exists()]

    def clear_temporaries(self) -> None:
        for p in self.dir.glob("*.tmp*"):
            p.unlink(missing_ok=True)
