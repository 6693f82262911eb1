"""The benign and malignant samples of a per-image table, and what was left out."""

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

#: The two diagnoses compared; any other value (IMA++'s "indeterminate", a
#: missing diagnosis) is left out of a benign vs malignant comparison.
DIAGNOSIS_GROUPS = ("benign", "malignant")


def diagnosis_groups(table, value_column="iaa", *, on_missing="raise"):
    """Split a per-image table into the values of benign and malignant images.

    What ``skiaa compare`` and ``skiaa reproduce`` both do before
    :func:`compare_groups`: images whose ``diagnosis`` is neither "benign" nor
    "malignant" are left out and counted, and so (``on_missing="drop"``) are
    images without a value, so that a report can say how many images its
    numbers rest on.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per image with a ``diagnosis`` column (as every skiaa reader
        returns) and ``value_column``.
    value_column : str, default="iaa"
        The per-image value to compare.
    on_missing : {"raise", "drop"}, default="raise"
        What to do with a benign or malignant image whose value is NaN, None
        or infinite: raise a ``ValueError`` naming the first one (its
        ``image_id`` when the table has one), or leave it out and count it.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        data : pandas.Series
            The values of the benign and malignant images, float, named
            ``value_column``, in table order (index kept).
        groups : numpy.ndarray of str
            "benign" or "malignant", aligned with ``data``.
        n_indeterminate : int
            Images left out for their diagnosis.
        n_missing : int
            Images left out for a missing value (0 with ``on_missing="raise"``).

    Raises
    ------
    ValueError
        If a column is missing, ``on_missing`` is invalid, or (``"raise"``) a
        kept image has no finite value.

    See Also
    --------
    compare_groups : the comparison these samples feed.

    Examples
    --------
    >>> import pandas as pd
    >>> from skiaa.stats import diagnosis_groups
    >>> table = pd.DataFrame({"image_id": ["a", "b", "c", "d"],
    ...                       "diagnosis": ["benign", "malignant", "indeterminate", "benign"],
    ...                       "iaa": [0.9, 0.7, 0.8, 0.85]})
    >>> result = diagnosis_groups(table)
    >>> result.data.tolist(), result.groups.tolist(), result.n_indeterminate
    ([0.9, 0.7, 0.85], ['benign', 'malignant', 'benign'], 1)
    """
    if on_missing not in ("raise", "drop"):
        raise ValueError(f"on_missing must be 'raise' or 'drop', got {on_missing!r}")
    missing_cols = [c for c in ("diagnosis", value_column) if c not in table.columns]
    if missing_cols:
        raise ValueError(f"the table has no column(s) {missing_cols}")
    diagnosis = table["diagnosis"].astype("string")
    known = diagnosis.isin(DIAGNOSIS_GROUPS).to_numpy(dtype=bool)  # <NA>: False
    values = pd.to_numeric(table[value_column], errors="coerce").astype(float)
    finite = np.isfinite(values.to_numpy())
    lacking = known & ~finite
    if lacking.any() and on_missing == "raise":
        first = table.index[lacking][0]
        name = table.loc[first, "image_id"] if "image_id" in table.columns else f"row {first}"
        raise ValueError(
            f"{int(lacking.sum())} benign or malignant image(s) have no {value_column!r} "
            f"value, e.g. {name!r}"
        )
    kept = known & finite
    return Bunch(
        data=values[kept].rename(value_column),
        groups=diagnosis[kept].to_numpy(dtype=str),
        n_indeterminate=int((~known).sum()),
        n_missing=int(lacking.sum()),
    )
