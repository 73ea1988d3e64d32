"""Checkpoints: each finished community's aggregates, written atomically and verified on resume.

A file is written to a temporary name, flushed to disk, then renamed, so a kill at any moment
leaves either no checkpoint or a whole one. Each file carries a digest of the run's
fingerprint and of its own arrays: a truncated, corrupt or foreign file is detected and the
community recomputed, never silently used.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from credsim.engine import CommunityResult


def _digest(fingerprint: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(fingerprint.encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Checkpoints:
    def __init__(self, directory: Path, fingerprint: str):
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return self.dir / f"community-{index:07d}.npz"

    def save(self, res: CommunityResult) -> None:
        arrays = res.arrays()
        buf = io.BytesIO()
        np.savez_compressed(buf, digest=np.array(_digest(self.fingerprint, arrays)), **arrays)
        final = self.path(res.index)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

    def load(self, index: int) -> CommunityResult | None:
        """The community's result if a whole, matching checkpoint exists, else None."""
        p = self.path(index)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != "digest"}
                digest = str(z["digest"])
        except Exception:
            return None
        if digest != _digest(self.fingerprint, arrays):
            return None
        return CommunityResult.from_arrays(arrays)

    def clear_temporaries(self) -> None:
        for p in self.dir.glob("*.tmp*"):
            p.unlink(missing_ok=True)
