"""The dev set: 17 BIG-bench families, fetched once from PyPI's `bigbench` 1.0.0 sdist.

    fetch()                         # $ISLANDS_HOME/bigbench: the sdist, raw/, tasks/
    load_tasks("arithmetic,navigate")

`fetch` downloads the sdist with pip (358 MB, hash-pinned; only package registries are
reachable here) into the cache folder, reads from it only the `task.json` (or generating
`task.py`) files of the families below, and writes each family as plain JSONL
(`tasks/NAME.jsonl`, format in `tasks/NAME.json`, see `islands.tasks.data`), with
`tasks/manifest.json` last. It is idempotent (a complete manifest means nothing to do) and
never half-written: everything is built in a staging folder and renamed into place. The
other BIG-bench families are held out for validation: their files are never extracted.

A family's order: its task.json's examples in file order; a family with subtasks takes
them in turn (one of each subtask, then the second of each, ...), so its first examples
cover every subtask; elementary_math_qa's subtasks ask the same questions with different
hints, so question k comes from subtask k mod 5 (each question once); list_functions is its
`03_shot_baseline` subtask (each question carries three examples of its own function).
multistep_arithmetic and boolean_expressions are generated (`islands.tasks.generators`).

What it leaves out: BIG-bench's own random sampling of shots and queries (the bench's
protocol is "the first 3 teach, the next N test"), and generative metrics other than exact match.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from islands.errors import InvalidInput, IslandsError
from islands.home import islands_home
from islands.tasks.data import CHOICE, EXACT, Example, Format, Metric, Task, load_task, write_task
from islands.tasks.generators import boolean_expressions, multistep_arithmetic

__all__ = ["FAMILIES", "SDIST", "Family", "FetchError", "FetchResult", "default_data_dir", "fetch", "load_tasks"]

VERSION = "1.0.0"
SDIST = f"bigbench-{VERSION}.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
SDIST_BYTES = 358_249_635
ROOT = f"bigbench-{VERSION}/bigbench/benchmark_tasks/"
DEFAULT_REGEX = r"[^\.\?\!\;\n]+"  # BIG-bench's answer when a task names neither regex nor stop string

Progress = Callable[[str, int, int], None]  # (what, done, total)


class FetchError(IslandsError):
    """The dev set could not be fetched: no network, disk full, a corrupt archive."""


@dataclass(frozen=True)
class Family:
    """A BIG-bench family of the dev set and how its examples are ordered."""

    name: str
    subtasks: tuple[str, ...] = ()  # read in this order; () = the family's own task.json
    parallel: bool = False  # the subtasks ask the same questions: question k from subtask k mod S
    generate: Callable[[], list[Example]] | None = None  # a task.py that generates its examples
    metric: Metric = EXACT  # of a generated family (json families say theirs)
    format: Format | None = None  # of a generated family


_OBJECTS = ("three_objects", "five_objects", "seven_objects")
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("arithmetic", tuple(f"{d}_digit_{op}" for d in range(1, 6)
                               for op in ("addition", "subtraction", "multiplication", "division"))),
    Family("multistep_arithmetic", generate=multistep_arithmetic, metric=EXACT,
           format=Format(input_prefix="", output_prefix=" = ", separator="\n", output_regex=r"[-+]?\d+")),
    Family("elementary_math_qa", ("question_only", "question_with_mathematical_hint", "question_with_language_hint",
                                  "mathematical_hint_only", "language_hint_only"), parallel=True),
    Family("dyck_languages"),
    Family("navigate"),
    Family("date_understanding"),
    Family("tracking_shuffled_objects", _OBJECTS),
    Family("logical_deduction", _OBJECTS),
    Family("word_unscrambling"),
    Family("cs_algorithms", ("lcs", "valid_parentheses")),
    Family("list_functions", ("03_shot_baseline",)),
    Family("matrixshapes"),
    Family("operators"),
    Family("simple_arithmetic_json"),
    Family("penguins_in_a_table"),
    Family("temporal_sequences"),
    Family("boolean_expressions", generate=boolean_expressions, metric=CHOICE,
           format=Format(input_prefix="", output_prefix=" is ", separator=" . ", append_choices=False)),
)}


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    fetched: bool  # False: everything was already there
    downloaded: bool
    families: dict[str, int]  # name -> examples


def default_data_dir() -> Path:
    return islands_home() / "bigbench"


# -- download ------------------------------------------------------------------------------

_OFFLINE = ("NewConnectionError", "Failed to establish a new connection", "Name or service not known",
            "Temporary failure in name resolution", "Network is unreachable", "ConnectTimeout",
            "Connection refused", "ProxyError", "No route to host")


def _pip_failure(output: str) -> str:
    if "No space left on device" in output:
        return "disk full while downloading bigbench: free some space and fetch again"
    if any(marker in output for marker in _OFFLINE):
        return f"cannot download bigbench=={VERSION}: PyPI is unreachable (no network?)"
    if "DO NOT MATCH THE HASHES" in output:
        return f"the downloaded bigbench=={VERSION} does not match its pinned sha256 (corrupt download); fetch again"
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    last = errors[-1] if errors else (output.strip().splitlines() or ["no output"])[-1]
    return f"pip could not download bigbench=={VERSION}: {last.removeprefix('ERROR:').strip()}"


def _largest_file(folder: Path) -> int:
    best = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                best = max(best, os.stat(os.path.join(root, name)).st_size)
            except OSError:
                pass  # pip removed it meanwhile
    return best


def _download(folder: Path, progress: Progress) -> Path:
    """pip download of the pinned sdist into `folder`; its bytes are reported as they land
    (pip writes into our TMPDIR first)."""
    work = folder / f".download-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / "tmp").mkdir(parents=True)
        requirement = work / "requirements.txt"
        requirement.write_text(f"bigbench=={VERSION} --hash=sha256:{SDIST_SHA256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
               "-r", str(requirement), "-d", str(work / "out"), "--progress-bar", "off", "--disable-pip-version-check"]
        env = {**os.environ, "TMPDIR": str(work / "tmp"), "PIP_NO_INPUT": "1"}
        lines: list[str] = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
            reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
            reader.start()
            while proc.poll() is None:
                progress("download", min(_largest_file(work), SDIST_BYTES), SDIST_BYTES)
                time.sleep(0.25)
            reader.join()
        if proc.returncode != 0:
            raise FetchError(_pip_failure("".join(lines)))
        got = work / "out" / SDIST
        if not got.is_file():
            raise FetchError(f"pip reported success but wrote no {SDIST}")
        progress("download", SDIST_BYTES, SDIST_BYTES)
        os.replace(got, folder / SDIST)
        return folder / SDIST
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise FetchError(f"disk full while downloading into {folder}: free some space and fetch again") from None
        raise FetchError(f"cannot download into {folder}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- extraction ----------------------------------------------------------------------------

class _Counting:
    """A read-only file that reports how many bytes were read from it."""

    def __init__(self, f: IO[bytes], report: Callable[[int], None]) -> None:
        self._f, self._report, self.done = f, report, 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.done += len(data)
        self._report(self.done)
        return data

    def seek(self, n: int) -> int:
        raise io.UnsupportedOperation("the archive is read forward only")


def _wanted(member: tarfile.TarInfo, names: set[str]) -> tuple[str, str] | None:
    """(family, path inside it) for the task files of a chosen family; None for the rest."""
    if not member.name.startswith(ROOT) or not member.isfile():
        return None
    family, _, inner = member.name[len(ROOT):].partition("/")
    if family not in names or inner.rsplit("/", 1)[-1] not in ("task.json", "task.py"):
        return None
    if inner.startswith("/") or any(part in ("", ".", "..") for part in inner.split("/")):
        raise FetchError(f"archive member {member.name!r} has an unsafe path")
    return family, inner


def _extract(sdist: Path, raw: Path, names: set[str], progress: Progress) -> None:
    size = sdist.stat().st_size
    try:
        with sdist.open("rb") as f:
            counting = _Counting(f, lambda done: progress("extract", done, size))
            # gzip here, not tarfile's "r|gz": GzipFile checks the end-of-stream marker and the
            # CRC, so a truncated archive fails instead of ending early as if it were complete
            with gzip.GzipFile(fileobj=counting, mode="rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    where = _wanted(member, names)
                    if where is None:
                        continue
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    dest = raw.joinpath(where[0], *where[1].split("/"))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(source.read())
                while gz.read(1 << 20):  # the padding after the archive, to the end of the stream
                    pass
    except (gzip.BadGzipFile, tarfile.TarError, EOFError, zlib.error) as e:  # other OSErrors: writing
        sdist.unlink(missing_ok=True)
        raise FetchError(f"corrupt archive {sdist} ({e or type(e).__name__}): removed it; "
                         f"fetch again to download it anew") from None


# -- conversion ----------------------------------------------------------------------------

def _read_json(path: Path, label: str) -> dict[str, Any]:
    if not path.is_file():
        raise FetchError(f"the archive has no {label}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FetchError(f"{label} is not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("examples"), list):
        raise FetchError(f"{label} has no examples list")
    return doc


def _from_task_json(doc: dict[str, Any], subtask: str | None, label: str) -> tuple[list[Example], Format, Metric]:
    """A BIG-bench task.json as examples, its format (json_task's defaults) and its metric."""
    metric: Metric = CHOICE if doc.get("preferred_score") == "multiple_choice_grade" else EXACT
    regex, stop = doc.get("output_regex"), doc.get("stop_string")
    fmt = Format(task_prefix=str(doc.get("task_prefix", "")), input_prefix=doc.get("example_input_prefix", "\nQ: "),
                 output_prefix=doc.get("example_output_prefix", "\nA: "),
                 separator=doc.get("few_shot_example_separator", "\n"),
                 choice_prefix=doc.get("choice_prefix", "\n  choice: "),
                 append_choices=bool(doc.get("append_choices_to_input", True)),
                 output_regex=DEFAULT_REGEX if regex is None and stop is None else regex, stop_string=stop)
    out: list[Example] = []
    for i, e in enumerate(doc["examples"]):
        try:
            if metric == CHOICE:
                scores: dict[str, float] = e["target_scores"]
                best = max(scores.values())
                correct = tuple(k for k, v in scores.items() if v == best)
                out.append(Example(e["input"], correct, tuple(scores), subtask))
            else:
                target = e["target"]
                out.append(Example(e["input"], (target,) if isinstance(target, str) else tuple(target), None, subtask))
        except (KeyError, TypeError, ValueError) as err:
            raise FetchError(f"{label} example {i}: unexpected shape ({err!r})") from None
    return out, fmt, metric


def _interleave(groups: Sequence[list[Example]], parallel: bool) -> list[Example]:
    """Round robin over the groups; `parallel`: item k from group k mod len(groups)."""
    if parallel:
        return [groups[k % len(groups)][k] for k in range(min(len(g) for g in groups))]
    longest = max(len(g) for g in groups)
    return [g[i] for i in range(longest) for g in groups if i < len(g)]


def generated_task(family: Family) -> Task:
    """A generated family's Task, made here from its generator (no download needed)."""
    assert family.generate is not None and family.format is not None
    order: dict[str, list[Example]] = {}
    for e in family.generate():
        order.setdefault(e.subtask or "", []).append(e)
    return Task(family.name, tuple(_interleave(list(order.values()), False)), family.metric, family.format,
                f"BIG-bench {VERSION} (PyPI sdist), {family.name} (generated like its task.py)")


def build_family(family: Family, raw: Path) -> Task:
    """The family's Task from its extracted files (or its generator)."""
    source = f"BIG-bench {VERSION} (PyPI sdist), {family.name}"
    if family.generate is not None:
        if not (raw / family.name / "task.py").is_file():
            raise FetchError(f"the archive has no {family.name}/task.py")
        return generated_task(family)
    if not family.subtasks:
        examples, fmt, metric = _from_task_json(_read_json(raw / family.name / "task.json", f"{family.name}/task.json"),
                                                None, family.name)
        return Task(family.name, tuple(examples), metric, fmt, source)
    groups, formats, metrics = [], {}, set()
    for sub in family.subtasks:
        label = f"{family.name}/{sub}/task.json"
        examples, fmt, metric = _from_task_json(_read_json(raw / family.name / sub / "task.json", label), sub, label)
        groups.append(examples)
        formats[sub] = fmt
        metrics.add(metric)
    if len(metrics) != 1:
        raise FetchError(f"{family.name}: its subtasks disagree on the metric")
    return Task(family.name, tuple(_interleave(groups, family.parallel)), metrics.pop(),
                formats[family.subtasks[0]], source, formats)


# -- fetch ---------------------------------------------------------------------------------

def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / "tasks" / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("families"), dict) else None


def _swap_in(staged: Path, final: Path) -> None:
    """Replace `final` by `staged` (a folder) with renames: no moment holds half of either."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def check_families(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise InvalidInput(f"unknown family {unknown[0]!r}: the dev set has {', '.join(FAMILIES)}")
    return list(dict.fromkeys(names))


def _adopt(local: Path, folder: Path, progress: Progress) -> None:
    """Copy a local copy of the sdist (where pip cannot reach it) into `folder`, after
    checking it is the pinned file: its size and sha256."""
    import hashlib

    if not local.is_file():
        raise InvalidInput(f"no such file: {local}")
    size = local.stat().st_size
    if size != SDIST_BYTES:
        raise InvalidInput(f"{local} is not the bigbench {VERSION} sdist: {size:,} bytes, expected {SDIST_BYTES:,}")
    digest = hashlib.sha256()
    tmp = folder / f".{SDIST}.{os.getpid()}"
    try:
        with local.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
                progress("copy", dst.tell(), size)
        if digest.hexdigest() != SDIST_SHA256:
            raise InvalidInput(f"{local} is not the bigbench {VERSION} sdist: its sha256 differs")
        tmp.replace(folder / SDIST)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(folder: Path | None = None, families: Sequence[str] | None = None,
          progress: Progress = lambda _what, _done, _total: None, sdist: Path | None = None) -> FetchResult:
    """Make sure `folder` (default `$ISLANDS_HOME/bigbench`) holds the chosen families
    (default all 17) as task files; download the sdist only when it is not there (or take
    the local copy `sdist`, checked against the pinned hash)."""
    folder = folder if folder is not None else default_data_dir()
    names = check_families(families if families is not None else list(FAMILIES))
    manifest = _manifest(folder)
    have = dict(manifest["families"]) if manifest else {}
    if all(n in have and (folder / "tasks" / f"{n}.jsonl").is_file() for n in names):
        return FetchResult(folder, False, False, {n: int(have[n]) for n in names})
    names = list(dict.fromkeys([*names, *(n for n in have if n in FAMILIES)]))
    staging = folder / f".staging-{os.getpid()}"
    local = sdist
    try:
        folder.mkdir(parents=True, exist_ok=True)
        sdist = folder / SDIST
        downloaded = not sdist.is_file()
        if downloaded and local is not None:
            _adopt(local, folder, progress)
            downloaded = False
        elif downloaded:
            _download(folder, progress)
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "tasks").mkdir(parents=True)
        _extract(sdist, staging / "raw", set(names), progress)
        counts: dict[str, int] = {}
        for i, name in enumerate(names):
            progress("convert", i, len(names))
            task = build_family(FAMILIES[name], staging / "raw")
            write_task(task, staging / "tasks", {"subtasks": list(FAMILIES[name].subtasks)})
            counts[name] = len(task.examples)
        progress("convert", len(names), len(names))
        doc = {"source": f"PyPI bigbench=={VERSION} sdist", "sha256": SDIST_SHA256, "families": counts}
        (staging / "tasks" / "manifest.json").write_text(json.dumps(doc, indent=1) + "\n")
        _swap_in(staging / "raw", folder / "raw")
        _swap_in(staging / "tasks", folder / "tasks")
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise FetchError(f"disk full while writing {folder}: free some space and fetch again") from None
        raise FetchError(f"cannot write the dev set into {folder}: {e.strerror or e}") from None
    except InvalidInput as e:  # a write_task failure
        raise FetchError(str(e)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(folder, True, downloaded, {n: counts[n] for n in names})


def load_tasks(spec: str | Sequence[str] | None = None, folder: Path | None = None) -> list[Task]:
    """Tasks by name: a dev-set family, a NAME.jsonl in the dev set's tasks folder, or a path
    to a .jsonl file. None: every family of the dev set."""
    folder = folder if folder is not None else default_data_dir()
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec or FAMILIES) if s.strip()]
    if not names:
        raise InvalidInput("no tasks named")
    names = list(dict.fromkeys(names))
    stored = {n: folder / "tasks" / f"{n}.jsonl" for n in names if not n.endswith(".jsonl")}
    unknown = [n for n, path in stored.items() if n not in FAMILIES and not path.is_file()]
    if unknown:  # every name is checked before any file is read
        raise InvalidInput(f"unknown task {unknown[0]!r}: not a family of the dev set "
                           f"({', '.join(FAMILIES)}) nor a .jsonl file")
    missing = [n for n, path in stored.items() if not path.is_file() and FAMILIES[n].generate is None]
    if missing:
        raise InvalidInput(f"family {missing[0]!r} is not in {folder}: run `islands bench tasks fetch` first")
    generated = {n for n, path in stored.items() if not path.is_file()}  # made on the spot, no download
    return [generated_task(FAMILIES[n]) if n in generated else load_task(stored[n], n) if n in stored
            else load_task(Path(n).expanduser()) for n in names]
