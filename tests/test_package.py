"""The package's shape: public API, layering, the embedded model's assembly."""

from __future__ import annotations

import ast
from pathlib import Path

import islands

SRC = Path(islands.__file__).parent


def test_public_api_is_sorted_and_complete() -> None:
    assert islands.__all__ == sorted(islands.__all__, key=lambda s: (not s.isupper(), s.startswith("_"), s))
    for name in islands.__all__:
        assert hasattr(islands, name), name


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package -> every module it imports, at the top or inside a
    function, relative imports resolved; `from a import b` counts as `a` and `a.b`."""
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[: len(base) - node.level + 1] if node.level else []
                module = ".".join([*base, node.module] if node.module else base)
                names.add(module)
                names.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
        found[name] = names
    return found


def _importers(top: str) -> set[str]:
    return {m for m, names in _imports().items() if any(n == top or n.startswith(top + ".") for n in names)}


def test_the_import_scan_sees_function_level_and_relative_imports() -> None:
    imports = _imports()
    assert "islands.engine.grammar" in imports["islands.engine.core"]  # imported inside Engine.constraint
    assert "llguidance" in imports["islands.engine.llama"]  # inside a method
    assert len(imports) == len(list(SRC.rglob("*.py")))


def test_only_engine_llama_imports_llama_cpp() -> None:
    assert _importers("llama_cpp") == {"islands.engine.llama"}


def test_only_the_engine_compiles_grammars_with_llguidance() -> None:
    assert _importers("llguidance") <= {"islands.engine.grammar", "islands.engine.llama"}
    assert _importers("llguidance")  # the scan finds them at all


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


# What each layer may import (besides itself and the outside world): cli -> server, tasks ->
# flows -> memory -> tools -> engine -> the base modules (errors, params, grammar, files, home).
# Memory imports tools: it registers RECALL and MEMORY, like a plugin.
_BASE = {"errors", "params", "grammar", "files", "home"}
_BELOW = {
    "base": _BASE,
    "engine": _BASE,
    "tools": _BASE | {"engine"},
    "memory": _BASE | {"engine", "tools"},
    "flows": _BASE | {"engine", "tools", "memory"},
    "tasks": _BASE | {"engine", "tools", "memory", "flows"},
    "server": _BASE | {"engine", "tools", "memory", "flows"},
    "cli": _BASE | {"engine", "tools", "memory", "flows", "tasks", "server"},
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "islands" or len(parts) == 1:
        return None
    return "base" if parts[1] in _BASE else parts[1]


def test_layers_import_downward_only() -> None:
    offenders = []
    for module, names in _imports().items():
        layer = _layer(module)
        if module in ("islands", "islands.__main__") or layer is None:
            continue  # the package's facade and `python -m islands`
        assert layer in _BELOW, f"{module}: a layer the test does not know"
        for name in names:
            if name == "islands" or name.startswith("islands.__"):
                if layer != "cli":  # the CLI reads islands.__version__
                    offenders.append(f"{module} imports the facade `islands`")
                continue
            target = _layer(name)
            key = name.split(".")[1] if target == "base" else target
            if target is not None and target != layer and key not in _BELOW[layer]:
                offenders.append(f"{module} imports {name}")
    assert offenders == []
