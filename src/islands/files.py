"""Files for commands: reading an input file with one-line errors, writing so that a crash
never leaves half of one (a temporary name beside the target, then an atomic rename), and
whether the process a record file names still runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput

__all__ = ["pid_alive", "read_input", "write_jsonl"]


def pid_alive(pid: int) -> bool:
    """The process `pid` (from a record a process wrote: a server, a queue's worker) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def read_input(path: Path, what: str) -> str:
    """The text of the input file `path` (UTF-8); InvalidInput "WHAT does not exist" or
    "WHAT cannot be read: why" otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{what} cannot be read: {e}") from None


def write_jsonl(path: Path, lines: Iterable[dict[str, Any]], *, what: str = "") -> None:
    """One JSON object per line, all or nothing; InvalidInput names the path on failure."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise InvalidInput(f"cannot write {what + ' ' if what else ''}{path}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
