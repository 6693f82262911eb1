"""Shared docstring text lines up whether or not Python dedented the docstring.

Python 3.13 removes the common indentation of docstrings at compile time;
earlier versions keep it. :func:`skiaa._docstring.substitute` must give the
same rendered docstring in both cases, and no public docstring may be left
with a placeholder or a Parameters section shifted off its column.
"""

import inspect
import re
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import existing_public_modules, public_functions_and_classes
from skiaa._docstring import RANDOM_STATE_DOC, Substitution, substitute

_SHARED = """\
    seed : int
        The seed.
        {random_state}
    verbose : int, default=0
        Chatter."""


def _template(indent):
    pad = " " * indent
    return "\n".join(
        [
            "Do something.",
            "",
            f"{pad}Parameters",
            f"{pad}----------",
            f"{pad}X : array-like",
            f"{pad}    Data; braces {{like}} these stay.",
            f"{pad}{{params}}",
            "",
            f"{pad}Returns",
            f"{pad}-------",
            f"{pad}out : float",
            f"{pad}    A number.",
            pad,
        ]
    )


def _as_python_313_compiles(doc):
    """The first line as is, the rest with its common indentation removed."""
    first, _, rest = doc.partition("\n")
    return first + "\n" + textwrap.dedent(rest)


def _render(doc, shared_indent):
    params = substitute(
        textwrap.indent(textwrap.dedent(_SHARED), " " * shared_indent),
        random_state=RANDOM_STATE_DOC,
    )
    return inspect.cleandoc(substitute(doc, params=params))


@given(st.integers(0, 8), st.integers(0, 8))
def test_same_result_as_written_and_as_313_dedents(indent, shared_indent):
    raw = _template(indent)
    expected = _render(_template(4), 4)
    assert _render(raw, shared_indent) == expected
    assert _render(_as_python_313_compiles(raw), shared_indent) == expected


def test_rendered_parameters_sit_in_their_column():
    rendered = _render(_as_python_313_compiles(_template(4)), 0)
    lines = rendered.splitlines()
    start = lines.index("Parameters") + 2
    assert lines[start : start + 3] == [
        "X : array-like",
        "    Data; braces {like} these stay.",
        "seed : int",
    ]
    assert lines[start + 4].startswith("    An int gives the same result")
    assert "verbose : int, default=0" in lines


def test_typos_are_errors_not_holes():
    with pytest.raises(ValueError, match="placeholder {params} has no text"):
        substitute("Doc.\n\n    {params}\n")
    with pytest.raises(ValueError, match=r"no placeholder line for \['common'\]"):
        substitute("Doc.\n\n    Parameters\n", common="x : int")
    assert substitute(None, common="x") is None  # python -OO strips docstrings


def test_decorator_on_a_class():
    @Substitution(common="x : int\n    The x.")
    class Thing:
        """A thing.

        Parameters
        ----------
        {common}
        """

    doc = inspect.cleandoc(Thing.__doc__)
    assert "----------\nx : int\n    The x." in doc


_SECTION = re.compile(
    r"^(?P<indent> *)(?P<name>Parameters|Attributes|Returns|Raises)\n *-+\n", flags=re.MULTILINE
)
_PLACEHOLDER_LINE = re.compile(r"^\s*\{[A-Za-z_]\w*\}\s*$", flags=re.MULTILINE)


def _public_docstrings():
    for module_name in existing_public_modules():
        for qualified, obj in public_functions_and_classes(module_name):
            if obj.__doc__:
                yield qualified, inspect.cleandoc(obj.__doc__)


def test_no_public_docstring_keeps_a_placeholder_or_a_shifted_section():
    bad = []
    for qualified, doc in _public_docstrings():
        if _PLACEHOLDER_LINE.search(doc):
            bad.append(f"{qualified}: unfilled placeholder")
        for match in _SECTION.finditer(doc):
            first = doc[match.end() :].split("\n", 1)[0]
            # A section header and its first entry start in column 0 (what
            # Python 3.13's dedent plus text pasted at a fixed indent breaks).
            if match["indent"] or (first.strip() and first != first.lstrip()):
                bad.append(f"{qualified}: {match['name']} section shifted right: {first!r}")
    assert not bad, "\n".join(bad)
