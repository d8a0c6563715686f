"""The package's shape: public API, layering, the embedded model's assembly."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import islands
import islands.engine
import islands.flows
import islands.tools

SRC = Path(islands.__file__).parent


def _all_modules() -> list[ModuleType]:
    """Every module of the package, imported (`python -m islands` aside)."""
    names = [m.name for m in pkgutil.walk_packages(islands.__path__, "islands.") if not m.name.endswith("__main__")]
    return [islands, *(importlib.import_module(n) for n in names)]


def _sort_key(name: str) -> tuple[int, str]:
    """CONSTANTS, then Classes, then functions (each alphabetical), as ruff's RUF022 sorts."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_every_all_is_sorted_and_resolves() -> None:
    checked = 0
    for module in _all_modules():
        names = getattr(module, "__all__", None)
        if names is None:
            continue
        checked += 1
        assert list(names) == sorted(names, key=_sort_key), f"{module.__name__}.__all__ is not sorted"
        assert len(set(names)) == len(names), f"{module.__name__}.__all__ repeats a name"
        for name in names:
            assert getattr(module, name, None) is not None, f"{module.__name__}.__all__ names {name}, which is not there"
    assert checked > 40


def test_the_readme_docs_and_examples_imports_resolve() -> None:
    texts = [(SRC.parents[1] / "README.md").read_text()]
    texts += [p.read_text() for p in (SRC.parents[1] / "docs").glob("*.md")]
    texts += [p.read_text() for p in (SRC.parents[1] / "examples").rglob("*.py")]
    imports = [(m, n) for t in texts for m, names in re.findall(r"^\s*from (islands[\w.]*) import ([\w, ]+)$", t, re.M)
               for n in names.replace(" ", "").split(",")]
    imports += [("islands", n) for t in texts for n in re.findall(r"\bislands\.([A-Z]\w+)\(", t)]
    assert len(imports) > 10
    for module, name in imports:
        assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


def test_the_public_surface() -> None:
    assert {"Engine", "RemoteEngine", "Grammar", "SamplingParams", "Unsupported", "Generator", "Brancher"} <= set(islands.__all__)
    assert islands.RemoteEngine.__name__ == "RemoteEngine"  # loaded on first use
    internals = {"Model", "ModelInfo", "Sampler", "CallScanner", "Call", "IslandTrack", "find_call", "Node"}
    for package in (islands.engine, islands.tools, islands.flows):
        assert not internals & set(package.__all__), package.__name__
    from islands.engine.model import Model, ModelInfo, Sampler  # still importable from their modules
    from islands.flows.search import Node
    from islands.tools.calls import CallScanner, find_call
    from islands.tools.track import IslandTrack

    assert all((Model, ModelInfo, Sampler, Node, CallScanner, find_call, IslandTrack))


def test_the_exception_tree_drawing_lists_every_exception() -> None:
    from islands.errors import IslandsError

    _all_modules()  # every subclass is defined by now
    found: set[type] = set()
    todo = [IslandsError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    ours = {c for c in found if c.__module__.startswith("islands.")}
    assert {"CalcError", "ToolError", "SandboxError", "FetchError", "Cancelled"} <= {c.__name__ for c in ours}
    doc = islands.errors.__doc__ or ""
    drawing = doc.split("Not in the tree")[0]
    missing = sorted(c.__name__ for c in ours if not re.search(rf"[─ ]{c.__name__}\b", drawing))
    assert missing == [], f"errors.py's drawing lacks {missing}"


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


# What each layer may import (besides itself and the outside world): cli -> scale -> the
# applications (tasks, people, radio, superhuman) and server -> flows -> memory -> tools -> engine
# -> the base modules (errors, params, grammar, files, home).
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
    # applications built on flows: each stands alone, none imports another
    "people": _BASE | {"engine", "tools", "memory", "flows"},
    "radio": _BASE | {"engine", "tools", "memory", "flows"},
    "superhuman": _BASE | {"engine", "tools", "memory", "flows"},
    # batch work over many engines (Ray): runs the applications' jobs
    "scale": _BASE | {"engine", "tools", "memory", "flows", "tasks", "people", "radio", "superhuman"},
    "cli": _BASE | {"engine", "tools", "memory", "flows", "tasks", "server", "people", "radio", "superhuman", "scale"},
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
