"""Run every docstring example of the installed package as a test.

Done through :mod:`doctest` on the imported modules (rather than
``pytest --doctest-modules src``) so that the examples run against the package
that tox installed, not the source tree.
"""

import doctest
import importlib
import pkgutil

import pytest

import skiaa


def _public_modules():
    names = []
    for info in pkgutil.walk_packages(skiaa.__path__, prefix="skiaa."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    # Examples that write files do so in a fresh folder.
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
