"""Import-time contracts of the package (torch-free layers: test_layering.py)."""

import pytest

import skiaa


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
