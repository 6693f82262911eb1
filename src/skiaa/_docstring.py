"""One way to share docstring text: whole-line ``{name}`` placeholders.

Several functions document the same parameter the same way (the estimators'
two dozen common parameters, the meaning of ``random_state``). The text is
written once here or beside its users and put into each docstring by
:class:`Substitution`, in the spirit of imbalanced-learn's helper of that name,
with one difference that matters: Python 3.13 removes the common indentation
of docstrings at compile time, and older versions keep it. A placeholder must
therefore stand alone on its line, and the shared text is dedented and then
indented like that line, so that the result lines up under either behaviour.
Nothing else in the docstring is touched (no :meth:`str.format`: braces in
examples and maths need no escaping).
"""

import re
import textwrap

__all__ = ["RANDOM_STATE_DOC", "Substitution", "substitute"]

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}[ \t]*$")

#: The meaning of ``random_state`` in skiaa (scikit-learn's), for the end of a
#: ``random_state`` parameter description. See skiaa.utils.check_random_state.
RANDOM_STATE_DOC = """\
An int gives the same result on every call; None follows numpy's global
random state (``np.random.seed``), so two calls in a row differ; a
:class:`numpy.random.RandomState` is used and advanced. A numpy
``Generator`` is refused, as in scikit-learn."""


def substitute(doc, **texts):
    """Replace each line holding only ``{name}`` by ``texts[name]``, indented alike.

    Parameters
    ----------
    doc : str or None
        A docstring, as written or as Python 3.13 dedented it. None (docstrings
        stripped with ``python -OO``) is returned as is.
    **texts : str
        The shared text of each placeholder, at any indentation.

    Returns
    -------
    str or None

    Raises
    ------
    ValueError
        If a placeholder line names no given text, or a given text is used by
        no placeholder: either is a typo that would otherwise ship a docstring
        with a hole in it.
    """
    if doc is None:
        return None
    used = set()
    lines = []
    for line in doc.splitlines():
        match = _PLACEHOLDER.match(line)
        if match is None:
            lines.append(line)
            continue
        name = match["name"]
        if name not in texts:
            raise ValueError(f"docstring placeholder {{{name}}} has no text to put in")
        used.add(name)
        body = textwrap.indent(textwrap.dedent(texts[name]).strip("\n"), match["indent"])
        lines.append(body)
    unused = sorted(set(texts) - used)
    if unused:
        raise ValueError(f"docstring has no placeholder line for {unused}")
    return "\n".join(lines) + ("\n" if doc.endswith("\n") else "")


class Substitution:
    """Decorator filling a function's or class's docstring placeholders.

    Parameters
    ----------
    **texts : str
        The shared text of each placeholder (see :func:`substitute`).

    Examples
    --------
    >>> from skiaa._docstring import Substitution
    >>> @Substitution(seed="    random_state : int\\n        The seed.")
    ... def f(random_state):
    ...     '''Do it.
    ...
    ...     Parameters
    ...     ----------
    ...     {seed}
    ...     '''
    >>> print(f.__doc__.split("----------")[1].rstrip())
    <BLANKLINE>
        random_state : int
            The seed.
    """

    def __init__(self, **texts):
        self.texts = texts

    def __call__(self, obj):
        obj.__doc__ = substitute(obj.__doc__, **self.texts)
        return obj
