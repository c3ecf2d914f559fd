"""The package tree is the architecture: dependencies point one way, from core up to the CLI.

Layers, lowest first (a module may import its own layer and the layers below, never above):

    core (vr2/*.py: errors, files, config, samples, the public API) and plugins (hookspecs,
        registry: config asks the registry which reward names a recipe may weight)
    scoring
    judge
    video, model, data
    train, eval, explain
    curate, devtools
    cli

vr2's own modules are imported at the top of a module (a function-local import hides the real
graph); only heavy third-party packages are imported lazily. The plugin packages in plugins/ use
only the public API (`from vr2 import ...`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "vr2"

RANKS = {"core": 0, "plugins": 0, "scoring": 2, "judge": 3, "video": 4, "model": 4, "data": 4,
         "train": 5, "eval": 5, "explain": 5, "curate": 6, "devtools": 6, "cli": 7}
# Modules that sit outside the layering: `python -m vr2` starts the CLI.
EXEMPT = {"vr2.__main__"}
# vr2 modules that subclass a heavy package's classes at import time, so they are imported lazily
# like the package itself (module -> why).
LAZY = {"vr2.train.trl_trainers": "subclasses TRL's trainers, so importing it imports torch and trl"}
HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "sentence_transformers", "av",
         "deepspeed", "vllm", "openrlhf")
# The public API re-exports names from every layer (lazily, on first use).
FACADE = "vr2"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else "core"


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _vr2_imports(tree: ast.AST):
    """(imported module, line, inside a function?) for every import of vr2's own modules."""

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module == "vr2":
                    for alias in child.names:
                        yield f"vr2.{alias.name}", child.lineno, in_function
                elif child.module.startswith("vr2."):
                    for alias in child.names:  # `from vr2.train import trl_trainers` imports a module
                        sub = f"{child.module}.{alias.name}"
                        yield (sub if _is_module(sub) else child.module), child.lineno, in_function
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == "vr2" or alias.name.startswith("vr2."):
                        yield alias.name, child.lineno, in_function
            yield from walk(child, nested)

    yield from walk(tree, False)


def _sources():
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        if name not in EXEMPT:
            yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def test_every_package_has_a_known_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANKS), f"add {sorted(packages - set(RANKS))} to RANKS and the docstring"


def test_imports_point_down_the_layers():
    wrong = []
    for name, path, tree in _sources():
        if name == FACADE:
            continue
        here = _layer(name)
        for target, line, _ in _vr2_imports(tree):
            if target in ("vr2", "vr2.__version__"):
                continue
            there = _layer(target)
            if RANKS[there] > RANKS[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({here}) imports {target} ({there})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_nothing_imports_the_cli():
    wrong = [f"{path.relative_to(REPO)}:{line}" for name, path, tree in _sources() if _layer(name) != "cli"
             for target, line, _ in _vr2_imports(tree) if _layer(target) == "cli"]
    assert not wrong


def test_vr2_modules_are_imported_at_the_top():
    local = [f"{path.relative_to(REPO)}:{line} imports {target} inside a function"
             for name, path, tree in _sources()
             for target, line, in_function in _vr2_imports(tree)
             if in_function and target != "vr2.__version__" and target not in LAZY]
    assert not local, "\n".join(local)


def test_worker_processes_come_only_from_vr2_processes():
    # Its pools spawn workers that end with their parent; a bare pool would leave idle workers
    # behind every killed run (tests/test_processes.py).
    wrong = [f"{path.relative_to(REPO)}:{node.lineno}" for name, path, tree in _sources() if name != "vr2.processes"
             for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("ProcessPoolExecutor", "Pool", "Process")]
    assert not wrong, "start worker processes with vr2.processes.process_pool:\n" + "\n".join(wrong)


def test_only_the_lazy_modules_import_heavy_packages_at_the_top():
    wrong = []
    for name, path, tree in _sources():
        for node in tree.body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in HEAVY for n in names) and name not in LAZY:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not wrong, "import these inside the function that needs them:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", sorted((REPO / "plugins").glob("*/src/*")), ids=lambda p: p.name)
def test_plugin_packages_use_only_the_public_api(package):
    import vr2

    wrong = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.startswith("vr2."):
                    wrong.append(f"{path.name}:{node.lineno} from {node.module}")
                elif node.module == "vr2":
                    wrong += [f"{path.name}:{node.lineno} vr2.{a.name} is not public"
                              for a in node.names if a.name not in vr2.__all__]
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if a.name.startswith("vr2.")]
    assert not wrong, "\n".join(wrong)


def test_public_api_names_resolve():
    import vr2

    for name in vr2.__all__:
        assert getattr(vr2, name) is not None


def test_help_imports_no_torch():
    code = ("import sys\nfrom vr2.cli.main import app\nfrom typer.testing import CliRunner\n"
            "CliRunner().invoke(app, ['--help'])\nheavy = [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
