"""The package's shape: public API, layering, the embedded model's assembly."""

from __future__ import annotations

import re
from pathlib import Path

import islands

SRC = Path(islands.__file__).parent


def test_public_api_is_sorted_and_complete() -> None:
    assert islands.__all__ == sorted(islands.__all__, key=lambda s: (not s.isupper(), s.startswith("_"), s))
    for name in islands.__all__:
        assert hasattr(islands, name), name


def test_only_the_engine_imports_llama_cpp() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*(import llama_cpp|from llama_cpp)", text, re.M) and path.parent.name != "engine":
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_every_module_has_a_docstring_and_stays_small() -> None:
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert text.lstrip().startswith('"""'), f"{path} has no module docstring"
        assert text.count("\n") <= 600, f"{path} is longer than 600 lines"


def test_embedded_model_is_assembled_once(islands_home: Path, model_path: Path) -> None:
    from islands.engine.embedded import embedded_model_path

    assert model_path == embedded_model_path()
    assert model_path.is_relative_to(islands_home)
    assert model_path.read_bytes()[:4] == b"GGUF"
    assert not list(model_path.parent.glob(".*.part"))  # no half-written leftovers


def test_layers_import_downward_only() -> None:
    above = {
        "engine": ("islands.tools", "islands.flows", "islands.server", "islands.cli"),
        "tools": ("islands.memory", "islands.flows", "islands.server", "islands.cli"),
        "memory": ("islands.flows", "islands.server", "islands.cli"),  # it registers tools, like a plugin
        "flows": ("islands.server", "islands.cli"),
        "server": ("islands.cli",),
    }
    offenders = []
    for layer, forbidden in above.items():
        for path in (SRC / layer).rglob("*.py"):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith(("import ", "from ")) and any(stripped.split()[1].startswith(f) for f in forbidden):
                    offenders.append(f"{path.relative_to(SRC)}: {stripped}")
    assert offenders == []
