"""Where islands keeps its files: `$ISLANDS_HOME`, else `$XDG_CACHE_HOME/islands`,
else `~/.cache/islands`. Created on first use."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["islands_home"]


def islands_home() -> Path:
    env = os.environ.get("ISLANDS_HOME")
    if env:
        base = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "islands"
    base.mkdir(parents=True, exist_ok=True)
    return base
