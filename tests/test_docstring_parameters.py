"""Docstrings of the public API agree with the signatures.

Every public function and class in ``skiaa.__all__`` and in the ``__all__`` of
the public submodules, and every public method a skiaa class defines (``fit``,
``transform``, ``to_dict``...; those inherited from scikit-learn are its own
business), goes through :func:`numpydoc.validate.validate`. Only the codes
below fail the test:

- ``GL08``: no docstring at all;
- ``SS01``: no one-line summary;
- ``PR01``, ``PR02``, ``PR03``: a parameter missing from the docstring, a
  documented parameter that the signature does not have, or the two in a
  different order. These are the mistakes that make a docstring lie after a
  signature changes, the point of the test;
- ``PR04``, ``PR07``, ``PR10``: a parameter without a type, without a
  description, or written ``name: type`` (numpydoc then reads the whole line
  as the name, so the parameter silently goes missing from the rendered docs);
- ``RT01``, ``RT03``: a function that returns something but has no Returns
  section, or a returned value without a description.

Left out on purpose, as matters of taste rather than of correctness, or
already covered elsewhere: ``ES01`` (extended summary), ``SA01``-``SA04``
(See Also), ``EX01`` (Examples: ``test_docstrings.py`` runs those that
exist), ``RT02`` (numpydoc wants a bare type on the first Returns line, where
skiaa names its returned values, like scikit-learn's ``self : object``),
``RT04``/``SS05``/``SS06`` and the other wording rules.

Result containers (dataclasses, named tuples) document their fields under
Attributes, which is where readers look for them, so a field documented there
counts as documented for ``PR01``.

The ``torch``-based modules are imported inside the test, when they exist, so
that collecting this file keeps ``import skiaa`` torch-free.
"""

import dataclasses
import inspect

# numpydoc is in the 'test' extra: without it this module fails to import
# instead of skipping, so that no test run passes without checking docstrings.
import numpydoc.validate as numpydoc_validate
import pytest
from numpydoc.docscrape import ClassDoc

from _helpers import existing_public_modules, public_functions_and_classes

CHECKED_CODES = {"GL08", "SS01", "PR01", "PR02", "PR03", "PR04", "PR07", "PR10", "RT01", "RT03"}


def _is_result_container(cls):
    return dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def _public_methods(cls):
    """Qualified names of the public methods that skiaa itself defines on ``cls``."""
    names = []
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or not member.__module__.startswith("skiaa"):
            continue
        # Named after the class that defines it, so each is checked once.
        names.append(f"{member.__module__}.{member.__qualname__}")
    return names


def _objects_to_check(module_name):
    names = []
    for qualified, obj in public_functions_and_classes(module_name):
        names.append((qualified, obj))
        if inspect.isclass(obj):
            names.extend((method, obj) for method in _public_methods(obj))
    return names


def _errors(qualified, obj):
    result = numpydoc_validate.validate(qualified)
    errors = [(code, msg) for code, msg in result["errors"] if code in CHECKED_CODES]
    if inspect.isclass(obj) and _is_result_container(obj) and qualified.endswith(obj.__qualname__):
        attributes = {
            name.strip() for entry in ClassDoc(obj)["Attributes"] for name in entry.name.split(",")
        }
        params = set(inspect.signature(obj).parameters)
        errors = [(c, m) for c, m in errors if not (c == "PR01" and params <= attributes)]
    return [f"{qualified}: {code} {msg}" for code, msg in errors]


@pytest.mark.parametrize("module_name", existing_public_modules())
def test_docstring_parameters(module_name):
    failures = []
    for qualified, obj in _objects_to_check(module_name):
        failures.extend(_errors(qualified, obj))
    assert not failures, "docstrings disagree with signatures:\n" + "\n".join(failures)


def test_checks_catch_a_lying_docstring():
    # The checks can fail: a parameter renamed in the signature but not in the
    # docstring is reported (PR01 and PR02), as is an undocumented return value.
    def lying(mask, threshold=0.5):
        """Threshold a mask.

        Parameters
        ----------
        mask : ndarray
            The mask.
        cutoff : float, default=0.5
            Renamed to ``threshold`` in the signature, not here.
        """
        return mask > threshold

    doc = numpydoc_validate.get_doc_object(lying)
    codes = {code for code, _ in numpydoc_validate.validate(doc)["errors"]} & CHECKED_CODES
    assert codes == {"PR01", "PR02", "RT01"}
