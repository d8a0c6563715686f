"""Traces: one JSONL file per run — the prompt with its soft islands, then each output
with its sea and hard spans, tool timings, and per-token log-probabilities when asked.

Line 1: {"type": "prompt", "text", "soft": [spans], "stats"}
Then one line per branch: {"type": "output", "index", "text", "finish_reason", "seed",
"spans": [...], "logprobs": [...] | null}.

The file is written to a temporary name and renamed, so a crash never leaves half a trace.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from islands.engine import Generation, Output
from islands.files import write_jsonl
from islands.tools.soft import SoftSpan
from islands.tools.track import IslandGeneration, IslandOutput, Span

__all__ = ["write_trace"]


def write_trace(path: Path, prompt: str, result: Generation | IslandGeneration, soft: list[SoftSpan] | None = None) -> None:
    lines: list[dict[str, Any]] = [
        {"type": "prompt", "text": prompt, "soft": [asdict(s) for s in soft or []], "stats": result.stats.to_dict()}
    ]
    outputs: list[Output | IslandOutput] = list(result.outputs)
    for i, out in enumerate(outputs):
        spans = out.spans if isinstance(out, IslandOutput) else [Span(0, len(out.text), "sea")]
        logprobs = getattr(out, "logprobs", None)
        lines.append({
            "type": "output",
            "index": i,
            "text": out.text,
            "finish_reason": out.finish_reason,
            "seed": out.seed,
            "spans": [asdict(s) for s in spans],
            "logprobs": [asdict(lp) for lp in logprobs] if logprobs is not None else None,
        })
    write_jsonl(path, lines, what="trace")
