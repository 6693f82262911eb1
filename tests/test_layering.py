"""skiaa's layers import only downwards (see "Layers" in docs/development.rst).

Two checks keep the layering from decaying silently:

- statically, every ``import`` statement of every module under ``src/skiaa``
  (at module level or inside a function: a lazy import is still a
  dependency) is checked against :data:`ALLOWED`, by layer. A module's layer
  is the first name after ``skiaa.``, so new modules and subpackages
  (``skiaa.agreement._pairs``, ``skiaa.study.steps``) fall under their
  layer's rule without editing this file; a new top-level name fails until
  it is given a place here.
- at run time, every module of the torch-free layers is imported in a fresh
  interpreter, which must then hold neither torch nor a higher layer.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import skiaa

SRC = Path(skiaa.__file__).resolve().parent

# Layer of each top-level name of the package (module or subpackage).
LAYERS = {
    "_version": "core",
    "_docstring": "core",
    "_masks": "core",
    "utils": "core",
    "agreement": "agreement",
    "datasets": "datasets",
    "stats": "stats",
    "page": "page",
    "nets": "nets",
    "_tv_backbones": "nets",  # the paper's torchvision backbones, re-exported by skiaa.nets
    "losses": "losses",
    "estimators": "estimators",
    "study": "study",
    "cli": "cli",
    "__init__": "package",
    "__main__": "package",
}

_NUMPY_LAYERS = {"core", "agreement", "datasets", "stats", "page"}
_EVERYTHING = set(LAYERS.values())

# Which layers each layer may import (itself included). Lower never imports
# higher: cli -> study -> estimators -> nets, losses; everything may use core;
# the numpy layers never import the torch layers, the study or the CLI.
ALLOWED = {
    "core": {"core"},
    # Consensus masks and AgreementTransformer live inside the agreement package.
    "agreement": {"core", "agreement"},
    "datasets": {"core", "agreement", "datasets"},
    "stats": {"core", "agreement", "datasets", "stats"},
    # The disagreement page lays out what the agreement layers compute, on the
    # masks and images the datasets layer reads.
    "page": {"core", "agreement", "datasets", "page"},
    "nets": {"core", "nets"},
    "losses": {"core", "losses"},
    "estimators": _NUMPY_LAYERS | {"nets", "losses", "estimators"},
    "study": _EVERYTHING - {"cli", "package"},
    "cli": _EVERYTHING - {"package"},
    "package": _EVERYTHING,
}

# Third-party packages that only some layers may import.
TORCH_STACK = {"torch", "torchvision", "timm", "skorch"}
# Where the torch stack may be imported: the torch layers, and the one torch
# module of the datasets (its Dataset class, loaded lazily on first access).
TORCH_ALLOWED = {"nets", "losses", "estimators", "study", "cli", "package"}
TORCH_MODULES = {"skiaa.datasets._torch"}
# Argument parsing belongs to the command line.
ARGPARSE_ALLOWED = {"cli"}

# A layer uses another layer through its public names only; the exceptions,
# each with its reason (importing layer, private module prefix):
PRIVATE_ALLOWED = {
    ("datasets", "skiaa.agreement._naming"): (
        "metric-name validation (check_metrics) is not public in skiaa.agreement yet"
    ),
    ("study", "skiaa.estimators._base"): (
        "run_study checks --device with the estimators' resolve_device before any work; "
        "resolve_device is not public in skiaa.estimators yet"
    ),
    ("datasets", "skiaa.agreement._engine"): (
        "mask_folder_agreement is one of the pairwise engine's builders of pair tables "
        "(with pairwise_agreement and the transformer), so the three cannot drift apart"
    ),
    ("stats", "skiaa.agreement._naming"): (
        "agreement_by_factor reads pair tables in either naming through the naming rules"
    ),
}


def _module_name(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(["skiaa", *parts])


def _layer(module_name):
    parts = module_name.split(".")
    return LAYERS.get(parts[1] if len(parts) > 1 else "__init__")


def _private_part(target):
    """True when a module below the layer's top name is private (``_name``)."""
    return any(part.startswith("_") for part in target.split(".")[2:])


def _imports(path, module_name):
    """``(line, absolute module name)`` of every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module_name.split(".") if is_package else module_name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target == "skiaa":
                # ``from .. import nets`` or ``from skiaa import stats``: each name
                # is a module of the package (or a name re-exported by its top).
                for alias in node.names:
                    yield node.lineno, f"skiaa.{alias.name}"
            else:
                yield node.lineno, target


def _source_files():
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _violations():
    found = []
    for path in _source_files():
        name = _module_name(path)
        layer = _layer(name)
        if layer is None:
            found.append(f"{name}: new top-level module; give it a layer in test_layering.py")
            continue
        for line, target in _imports(path, name):
            where = f"{path.relative_to(SRC.parent)}:{line}"
            top = target.split(".")[0]
            if top == "skiaa":
                other = _layer(target)
                if other is not None and other not in ALLOWED[layer]:
                    found.append(f"{where}: {layer} layer imports {target} ({other} layer)")
                elif (
                    other != layer
                    and _private_part(target)
                    and not any(
                        who == layer and target.startswith(prefix)
                        for who, prefix in PRIVATE_ALLOWED
                    )
                ):
                    found.append(f"{where}: {layer} layer imports private {target}")
            elif top in TORCH_STACK and layer not in TORCH_ALLOWED and name not in TORCH_MODULES:
                found.append(f"{where}: {layer} layer imports {target}")
            elif top == "argparse" and layer not in ARGPARSE_ALLOWED:
                found.append(f"{where}: only the CLI parses arguments, {name} imports argparse")
    return found


def test_imports_go_only_downwards():
    violations = _violations()
    assert not violations, "layering broken:\n" + "\n".join(violations)


def test_the_check_sees_relative_and_lazy_imports(tmp_path, monkeypatch):
    # The check can fail: a numpy-layer module importing the estimators
    # lazily (inside a function, relatively) and torch is reported.
    fake = tmp_path / "skiaa"
    (fake / "stats").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "stats" / "__init__.py").write_text("from . import _bad\n")
    (fake / "stats" / "_bad.py").write_text(
        "def f():\n    from ..estimators import IAARegressor\n    import torch\n"
        "    from .. import study\n    from ..datasets._images import load_images\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    found = _violations()
    assert any("stats layer imports skiaa.estimators (estimators layer)" in v for v in found)
    assert any("stats layer imports torch" in v for v in found)
    assert any("stats layer imports skiaa.study (study layer)" in v for v in found)
    assert any("stats layer imports private skiaa.datasets._images" in v for v in found)
    assert len(found) == 4


def _torch_free_modules():
    return sorted(
        info.name
        for info in pkgutil.walk_packages(skiaa.__path__, prefix="skiaa.")
        if _layer(info.name) in _NUMPY_LAYERS and info.name not in TORCH_MODULES
    )


_HIGHER = ("torch", "timm", "skorch", "skiaa.estimators", "skiaa.study", "skiaa.cli")


def test_torch_free_layers_load_nothing_higher():
    # A fresh interpreter, so that what this test process already imported does
    # not count. ``import skiaa`` loads every numpy layer; the loop also imports
    # the modules that no package __init__ imports.
    modules = ["skiaa", *_torch_free_modules()]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(' '.join(m for m in {_HIGHER!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the torch-free layers loaded {out.stdout.strip()}"
