"""Writing files so that a crash never leaves half of one: a temporary name beside the
target, then an atomic rename."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput

__all__ = ["write_jsonl"]


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
