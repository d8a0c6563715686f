"""Scale: batch work over a pool of engines — local engines in Ray actors, or remote
servers — with progress, retries and results identical to the single-process run.

Ray is an optional dependency (the `scale` extra); `run_batch(..., workers=0)` runs in this
process without it.
"""

from islands.scale.batch import BatchResult, run_batch, run_here
from islands.scale.pool import EngineSpec

__all__ = ["BatchResult", "EngineSpec", "run_batch", "run_here"]
