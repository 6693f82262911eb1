"""Share docstring sections between functions, whatever the interpreter's dedenting.

Python 3.13 strips the common leading whitespace of docstrings at compile time,
3.12 and older keep it. A shared block pasted with ``str.replace`` then sits at
the wrong depth on one of them (numpydoc reads a shifted ``Parameters`` block as
text). :func:`fill_doc` replaces a placeholder line ``{name}`` by the block,
re-indented to the placeholder's own indentation, so the result is right on
every version.
"""

import textwrap

__all__ = ["fill_doc"]


def fill_doc(**blocks):
    """Decorator replacing placeholder lines ``{name}`` of a docstring by ``blocks[name]``.

    A placeholder must stand alone on its line; the block is dedented, then
    indented like the placeholder. Braces elsewhere in the docstring are left
    alone. An unknown placeholder or an unused block raises ``ValueError`` at
    import time, so a typo cannot ship a docstring with a hole.

    Examples
    --------
    >>> from skiaa.agreement._docstring import fill_doc
    >>> @fill_doc(params="x : int\\n    The input.")
    ... def f(x):
    ...     '''Do nothing.
    ...
    ...     Parameters
    ...     ----------
    ...     {params}
    ...     '''
    >>> print(f.__doc__.splitlines()[4:6])
    ['    x : int', '        The input.']
    """
    texts = {name: textwrap.dedent(text).strip("\n") for name, text in blocks.items()}

    def decorate(func):
        doc = func.__doc__ or ""
        used = set()
        lines = []
        for line in doc.splitlines():
            key = line.strip()
            if key.startswith("{") and key.endswith("}") and key[1:-1].isidentifier():
                name = key[1:-1]
                if name not in texts:
                    raise ValueError(f"{func.__qualname__}: no docstring block named {name!r}")
                indent = line[: len(line) - len(line.lstrip())]
                lines.extend((indent + part) if part else "" for part in texts[name].splitlines())
                used.add(name)
            else:
                lines.append(line)
        unused = set(texts) - used
        if unused:
            raise ValueError(f"{func.__qualname__}: docstring blocks {sorted(unused)} not used")
        func.__doc__ = "\n".join(lines) + ("\n" if doc.endswith("\n") else "")
        return func

    return decorate
