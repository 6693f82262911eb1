"""Reading and validating the CSV tables skiaa consumes (IAA, metadata, pairs, masks).

Every table that reaches a statistic passes through :func:`check_table`: a
duplicated row would be counted twice, an IAA of 7.5 would move a mean, and a
conflicting metadata row would be resolved by whichever came first. Each of
these is refused with a ``ValueError`` naming the table, the column and the
first offending ids, rather than computed on.
"""

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["check_table", "metric_ranges", "read_table"]

# Separators a spreadsheet may have used instead of a comma.
_OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# Ids shown in a message: enough to find the rows, few enough for one line.
_SHOWN = 3

_IMAGE_SUFFIX = re.compile(r"\.(jpe?g|png)$", flags=re.IGNORECASE)

# Agreement metrics by range: overlaps (and distances normalised by the image
# diagonal) lie in [0, 1]; raw boundary distances in [0, inf).
_UNIT = ("dice", "jaccard", "generalized_dice", "surface_dice", "boundary_f1", "iaa")
_DISTANCE = ("hd", "hd95", "hausdorff", "assd")
_METRIC_NAME = re.compile(
    r"^(?P<base>[a-z0-9_]+?)(?P<score>_score)?(?P<norm>_normalized)?(?:_label\d+)?"
    r"(?:_(?P<stat>mean|std|min|max|median))?$"
)


def metric_ranges(columns):
    """Valid range of each agreement-metric column among ``columns``.

    Parameters
    ----------
    columns : iterable of str
        Column names, in skiaa's naming (``dice``, ``hd95_normalized_mean``) or
        the IMA++ release's (``dice_score``, ``hd95_score_normalized``,
        ``dice_score_mean``); ``iaa`` is the mean pairwise Dice.

    Returns
    -------
    ranges : dict of str to (float, float)
        ``(low, high)`` for every recognised metric column: ``[0, 1]`` for
        Dice, Jaccard, surface Dice, boundary F1, the IAA and distances
        normalised by the image diagonal; ``[0, inf)`` for raw boundary
        distances and for every ``*_std``. Other columns are left out.

    Examples
    --------
    >>> from skiaa.datasets import metric_ranges
    >>> metric_ranges(["img_id", "dice_score_mean", "hd95_score", "hd95_score_std"])
    {'dice_score_mean': (0.0, 1.0), 'hd95_score': (0.0, inf), 'hd95_score_std': (0.0, inf)}
    """
    ranges = {}
    for column in columns:
        match = _METRIC_NAME.match(str(column))
        if match is None:
            continue
        base, norm, stat = match["base"], match["norm"], match["stat"]
        if base.endswith("_normalized"):  # skiaa's naming: hd95_normalized_mean
            base, norm = base[: -len("_normalized")], True
        if base not in _UNIT + _DISTANCE:
            continue
        if stat == "std" or (base in _DISTANCE and not norm):
            ranges[column] = (0.0, np.inf)
        else:
            ranges[column] = (0.0, 1.0)
    return ranges


def _ids(frame, rows, id_columns, values=None):
    """A short list naming ``rows`` by their ids (or CSV line numbers), with values."""
    rows = list(rows)
    if id_columns:
        shown = [
            repr("/".join(str(frame.at[row, c]) for c in id_columns)) for row in rows[:_SHOWN]
        ]
    else:
        shown = [f"line {row + 2}" for row in rows[:_SHOWN]]  # +2: header, 1-based
    if values is not None:
        shown = [f"{s} ({v:g})" for s, v in zip(shown, values)]
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return ", ".join(shown) + more


def _key_frame(frame, key, unordered):
    keys = frame[list(key)].astype(str)
    if unordered:
        # A pair (a, b) and its mirror (b, a) are the same pair.
        a, b = unordered
        both = np.sort(frame[[a, b]].astype(str).to_numpy(), axis=1)
        keys = keys.assign(**{a: both[:, 0], b: both[:, 1]})
    return keys


def check_table(
    frame,
    *,
    name,
    required=(),
    numeric=(),
    key=None,
    unordered=None,
    ranges=None,
    reserved=(),
    identical_duplicates="raise",
    ignore=(),
):
    """Validate a table's columns, values and keys; raise on the first problem.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (not modified).
    name : str
        How messages name the table, e.g. ``"IAA table 'iaa.csv'"``.
    required : sequence of str, default=()
        Columns that must be present.
    numeric : sequence of str, default=()
        Columns that must hold numbers (missing values allowed); returned as
        float. A column absent from the table is skipped.
    key : sequence of str, default=None
        Columns identifying a row. Two rows with the same key are refused:
        rows repeated exactly would be counted twice, rows that differ
        conflict and neither can be chosen silently.
    unordered : (str, str), default=None
        Two columns of ``key`` forming an unordered pair (``mask1``,
        ``mask2``): a row and its mirror image are duplicates.
    ranges : dict of str to (float, float), default=None
        Valid closed range of each column; values must also be finite.
        Missing values are allowed (whoever uses the column decides about
        them). None means :func:`metric_ranges` of the table's columns.
    reserved : sequence of str, default=()
        Column names the table must not have (because the reader derives them).
    identical_duplicates : {"raise", "drop"}, default="raise"
        What to do with rows repeated exactly under ``key``: refuse them (for
        tables whose rows are counted) or keep one (for lookup tables such as
        the ISIC metadata). Conflicting duplicates are always refused.
    ignore : sequence of str, default=()
        Columns left out when telling exact repeats from conflicting rows (the
        raw id a key column was derived from).

    Returns
    -------
    frame : pandas.DataFrame
        A copy, with ``numeric`` columns as float and, with
        ``identical_duplicates="drop"``, exact repeats removed.

    Raises
    ------
    ValueError
        Naming the table, the column and the first offending ids (the values
        of ``key``, else the CSV line numbers): a missing or reserved column, a
        non-numeric value, a value out of range, a duplicated or conflicting
        row.

    Examples
    --------
    >>> import pandas as pd
    >>> from skiaa.datasets import check_table
    >>> table = pd.DataFrame({"img_id": ["a", "b", "b"], "dice_score_mean": [0.8, 0.7, 0.7]})
    >>> check_table(table, name="IAA table", key=["img_id"])
    Traceback (most recent call last):
        ...
    ValueError: IAA table: 1 img_id value(s) occur in more than one row (a row would be \
counted twice): 'b'; remove the repeated rows
    >>> table["dice_score_mean"] = [0.8, 7.5, 0.6]
    >>> check_table(table.iloc[:2], name="IAA table", key=["img_id"])
    Traceback (most recent call last):
        ...
    ValueError: IAA table, column 'dice_score_mean': 1 value(s) outside [0, 1], e.g. 'b' (7.5)
    """
    if identical_duplicates not in ("raise", "drop"):
        raise ValueError(
            f"identical_duplicates must be 'raise' or 'drop', got {identical_duplicates!r}"
        )
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(map(str, frame.columns))}"
        )
    clash = [c for c in reserved if c in frame.columns]
    if clash:
        raise ValueError(
            f"{name} has column(s) {clash} that skiaa derives itself from the other "
            "tables; rename or drop them"
        )
    key = list(key or [])
    id_columns = key or None
    frame = frame.copy()

    ranges = metric_ranges(frame.columns) if ranges is None else ranges
    # A metric column must hold numbers: a stray word would otherwise become NaN.
    numeric = list(dict.fromkeys([*numeric, *ranges]))
    for column in numeric:
        if column not in frame.columns:
            continue
        values = frame[column]
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            rows = frame.index[bad.to_numpy()]
            raise ValueError(
                f"{name}, column {column!r}: non-numeric value {values[rows[0]]!r} at "
                f"{_ids(frame, rows, id_columns)}; expected numbers"
            )
        frame[column] = converted.astype(float)

    for column, (low, high) in ranges.items():
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            bad = present & ~(np.isfinite(values) & (values >= low) & (values <= high))
        if bad.any():
            rows = frame.index[bad]
            span = f"[{low:g}, {high:g}]" if np.isfinite(high) else f"[{low:g}, inf)"
            raise ValueError(
                f"{name}, column {column!r}: {int(bad.sum())} value(s) outside {span}, "
                f"e.g. {_ids(frame, rows, id_columns, values=values[bad])}"
            )

    if key:
        missing = [c for c in key if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks key column(s) {missing}")
        for column in key:
            # A row without its id cannot be matched to anything ("nan" is no image).
            empty = frame[column].isna().to_numpy()
            if empty.any():
                raise ValueError(
                    f"{name}, column {column!r}: {int(empty.sum())} row(s) without a value, "
                    f"at {_ids(frame, frame.index[empty], None)}; fill in or remove those rows"
                )
        frame = _check_duplicates(frame, name, key, unordered, ignore, identical_duplicates)
    return frame


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _check_duplicates(frame, name, key, unordered, ignore, identical_duplicates):
    keys = _key_frame(frame, key, unordered)
    repeated = keys.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return frame
    first_repeats = keys.duplicated(keep="first").to_numpy()
    what = "/".join(key)
    # Rows compared as text (0.8 and "0.8" agree), without the ignored columns
    # (the raw id a key was derived from: ISIC_0000001.JPG vs ISIC_0000001).
    rows = frame.drop(columns=[c for c in ignore if c not in key])
    # Missing values are equal to each other whatever their spelling (None, NaN, NA).
    rows = rows.astype(object).where(rows.notna(), "<missing>").astype(str)
    if not unordered:
        conflicting = repeated & ~rows.duplicated(keep=False).to_numpy()
        if conflicting.any():
            first = frame.index[conflicting][0]
            same = frame.index[(keys == keys.loc[first]).all(axis=1).to_numpy()]
            other = next(r for r in same if r != first)
            column = next(
                c for c in rows.columns if c not in key and rows.at[first, c] != rows.at[other, c]
            )
            n_keys = int(keys[conflicting].drop_duplicates().shape[0])
            raise ValueError(
                f"{name}: {n_keys} {what} value(s) occur in rows that differ in column "
                f"{column!r}, e.g. {_ids(frame, [first], key)}: "
                f"{_plain(frame.at[first, column])!r} vs {_plain(frame.at[other, column])!r}; "
                "which one is right cannot be guessed"
            )
        if identical_duplicates == "drop":
            return frame[~first_repeats]
    # A pair listed twice, in either order, is refused whatever its other
    # columns say (mirrored rows swap annotator1/annotator2 and the like).
    what += " (in either order)" if unordered else ""
    raise ValueError(
        f"{name}: {int(first_repeats.sum())} {what} value(s) occur in more than one row "
        f"(a row would be counted twice): {_ids(frame, frame.index[first_repeats], key)}; "
        "remove the repeated rows"
    )


def _sniff_separator(path, header):
    """Name of the separator the one-column header seems to use, or None."""
    for sep, word in _OTHER_SEPARATORS.items():
        if sep in header:
            return f"{word} ({sep!r})"
    return None


def read_table(path, *, name=None, **checks):
    """Read a comma-separated table, with messages that name the file.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    name : str, default=None
        How messages name the table; default ``"table '<path>'"``.
    **checks
        Passed to :func:`check_table` (``required``, ``numeric``, ``key``,
        ``unordered``, ``ranges``, ``reserved``, ``identical_duplicates``).

    Returns
    -------
    frame : pandas.DataFrame
        As returned by :func:`check_table`.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the file is empty, has a header but no row, is not comma-separated
        (a ``;``-, tab- or ``|``-separated export), cannot be parsed, or fails
        a check of :func:`check_table`. The message names the file.

    Examples
    --------
    >>> from pathlib import Path
    >>> from skiaa.datasets import read_table
    >>> _ = Path("semi.csv").write_text("img_id;dice_score_mean\\nISIC_0000001;0.8\\n")
    >>> read_table("semi.csv", required=["img_id"])
    Traceback (most recent call last):
        ...
    ValueError: table 'semi.csv' has a single column 'img_id;dice_score_mean' that holds \
semicolon (';') characters; skiaa reads comma-separated tables: save it as CSV with commas
    """
    path = Path(path)
    name = name or f"table {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{name} is empty; expected comma-separated columns with a header row"
            + (f" ({', '.join(checks['required'])})" if checks.get("required") else "")
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{name} is not a readable CSV table: {exc}") from exc
    if len(frame.columns) == 1:
        sep = _sniff_separator(path, str(frame.columns[0]))
        if sep is not None:
            raise ValueError(
                f"{name} has a single column {str(frame.columns[0])!r} that holds {sep} "
                "characters; skiaa reads comma-separated tables: save it as CSV with commas"
            )
    # A line of commas alone (a spreadsheet's trailing row) holds no data: it
    # is not a row. The index keeps the CSV line numbers messages give.
    frame = frame[frame.notna().any(axis=1)]
    if frame.empty:
        raise ValueError(f"{name} has a header but no rows")
    return check_table(frame, name=name, **checks)


def strip_image_suffix(ids):
    """Image ids without a .jpg/.jpeg/.png suffix of any case (a pandas Series).

    A missing id stays missing (not the text "nan"), for the key check to name it.
    """
    return ids.astype(str).str.replace(_IMAGE_SUFFIX, "", regex=True).where(ids.notna())
