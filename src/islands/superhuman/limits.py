"""The machine's limits, measured by the suite itself, so every result can say what
fraction of the hardware it used.

    limits = measure_limits()     # Limits(gflops=61.2, memory_gbs=9.8, read_gbs=6.1, ...)

- **gflops**: a large float64 gemm through numpy's BLAS (2n³ flops / best time).
- **memory_gbs**: a STREAM-like copy of a large array (bytes read + bytes written / best time).
- **read_gbs**: reading one file of `file_mb` MB into a buffer, after writing it (so from the
  page cache: the limit a grep over a cached file can reach).

What it leaves out: cold-disk reads (dropping the page cache needs root and disturbs other
work), GPUs.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Limits", "measure_limits"]


@dataclass(frozen=True)
class Limits:
    gflops: float  # float64 gemm, GFLOP/s
    memory_gbs: float  # copy, GB/s (read + write)
    read_gbs: float  # one cached file, GB/s
    gemm_n: int
    copy_mb: int
    file_mb: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out = np.empty((n, n))
    np.matmul(a, b, out=out)  # warm the BLAS threads
    return 2.0 * n**3 / _best(lambda: np.matmul(a, b, out=out), repeats) / 1e9


def memory_gbs(mb: int = 256, repeats: int = 5) -> float:
    src = np.ones(mb * 1_000_000 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return 2.0 * src.nbytes / _best(lambda: np.copyto(dst, src), repeats) / 1e9


def read_gbs(mb: int = 256, repeats: int = 3, folder: Path | None = None) -> float:
    buf = bytearray(16 * 1024 * 1024)
    view = memoryview(buf)
    fd, name = tempfile.mkstemp(prefix="islands-read-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            chunk = os.urandom(len(buf))
            for _ in range(max(1, mb * 1_000_000 // len(buf))):
                f.write(chunk)

        def read() -> None:
            with open(name, "rb", buffering=0) as f:
                while f.readinto(view):
                    pass

        read()
        size = os.path.getsize(name)
        return size / _best(read, repeats) / 1e9
    finally:
        os.unlink(name)


def measure_limits(*, gemm_n: int = 2048, copy_mb: int = 256, file_mb: int = 256, folder: Path | None = None) -> Limits:
    """Peak GFLOP/s, memory bandwidth and cached file read speed of this machine, now."""
    return Limits(peak_gflops(gemm_n), memory_gbs(copy_mb), read_gbs(file_mb, folder=folder), gemm_n, copy_mb, file_mb)
