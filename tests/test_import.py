"""Import-time contracts of the package."""

import subprocess
import sys

import pytest

import skiaa


def _modules_after_import(statement):
    code = f"import sys; {statement}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize(
    "statement",
    [
        "import skiaa",
        "import skiaa.agreement",
        "import skiaa.consensus",
        "import skiaa.transformers",
        "import skiaa.datasets",
        "import skiaa.stats",
    ],
)
def test_numpy_layers_do_not_import_torch(statement):
    # DESIGN.md: agreement and statistics users never pay torch's import time.
    assert _modules_after_import(statement) == "False"


def test_all_names_resolve():
    for name in skiaa.__all__:
        assert getattr(skiaa, name) is not None, name


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        skiaa.not_a_name  # noqa: B018


def test_cli_version(capsys):
    from skiaa.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert skiaa.__version__ in capsys.readouterr().out
