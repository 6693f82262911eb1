"""Reader of the IMA++ release tables (and, optionally, its image and mask folders)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..agreement import CONSENSUS_CODES
from ..agreement._naming import summary_column
from ._names import parse_mask_filename
from ._tables import _IMAGE_SUFFIX, check_table, read_table, strip_image_suffix

#: File names of the four tables of the IMA++ release (folder ``output/``).
IMAPLUSPLUS_TABLES = {
    "metadata": "IMAplusplus_img_metadata.csv",
    "masks": "IMAplusplus_multiannotator_subset_seg_metadata.csv",
    "pairs": "IMAplusplus_multiannotator_subset_IAA_metrics.csv",
    "image_metrics": "IMAplusplus_multiannotator_subset_image_level_metrics.csv",
}

#: Sub-folders of the images and masks in a folder filled by
#: :func:`fetch_imaplusplus`; ``skiaa reproduce --imaplusplus DIR`` uses them
#: when present.
IMAPLUSPLUS_FOLDERS = {"images": "images", "masks": "masks"}

# Columns each table must have for the joins below.
_REQUIRED = {
    "metadata": ["isic_id", "benign_malignant"],
    "masks": ["ISIC_id", "img_filename", "seg_filename", "annotator", "tool", "skill_level"],
    "pairs": ["img_id", "mask1", "mask2", "annotator1", "annotator2", "dice_score"],
    "image_metrics": ["img_id", "dice_score_mean"],
}

# ISIC's ``benign_malignant`` -> the label used for the benign vs malignant
# comparison. "indeterminate/benign" and "indeterminate/malignant" are the
# pathologist's leaning, not a diagnosis: they are flagged indeterminate (kept,
# label missing) rather than counted as benign/malignant. This reproduces the
# paper's groups (1,880 benign, 505 malignant, 9 indeterminate).
_DIAGNOSIS = {
    "benign": "benign",
    "malignant": "malignant",
    "indeterminate": "indeterminate",
    "indeterminate/benign": "indeterminate",
    "indeterminate/malignant": "indeterminate",
}


# Rows identifying each table's rows: a repeated key would double a count
# (n_masks, n_pairs) or, in the metadata, let the first of two conflicting
# rows win silently. Exact repeats of a metadata row are harmless and dropped.
_KEYS = {
    "metadata": dict(key=["isic_id"], identical_duplicates="drop"),
    "masks": dict(key=["seg_filename"]),
    "pairs": dict(key=["img_id", "mask1", "mask2"], unordered=("mask1", "mask2")),
    "image_metrics": dict(key=["img_id"]),
}

# Columns of ``load_imaplusplus(root)`` derived from the tables: an image-level
# metrics table holding one of them would be ambiguous (which ``iaa``, which
# ``n_masks``?) or, joined, would clash. (Metadata columns named like these are
# kept under a ``_metadata`` suffix instead: ISIC exports have a ``diagnosis``.)
_DERIVED = (
    "image_id",
    "image_path",
    "label",
    "diagnosis",
    "split",
    "image_exists",
    "image_filename",
    "malignant",
    "is_indeterminate",
    "iaa",
    "n_masks",
    "n_annotators",
    "annotators",
    "n_pairs",
)

_TABLES = ("images", "masks", "pairs")


def _read_table(root, key):
    path = Path(root) / IMAPLUSPLUS_TABLES[key]
    if not path.is_file():
        raise FileNotFoundError(f"IMA++ table {IMAPLUSPLUS_TABLES[key]!r} not found in {root}")
    # The image-level metrics are joined into the per-image frame, where a
    # derived column name would be ambiguous (n_pairs is compared with the
    # pairs table instead, see _images_frame).
    reserved = [c for c in _DERIVED if c != "n_pairs"] if key == "image_metrics" else ()
    return read_table(
        path,
        name=f"IMA++ table {path.name!r}",
        required=_REQUIRED[key],
        reserved=reserved,
        **_KEYS[key],
    )


_strip_suffix = strip_image_suffix


def _index_folder(folder, kind):
    """Map lower-cased file name -> path for every file under ``folder``.

    Looked up by name (recursively, case-insensitively) because releases differ
    in sub-folders and in ``.JPG``/``.jpg`` case.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{kind} folder {str(folder)!r} does not exist")
    index, clashes = {}, set()
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            key = name.lower()
            if key in index:
                clashes.add(key)
            index[key] = Path(dirpath) / name
    return index, clashes


def _attach_paths(frame, name_column, folder, kind, on_missing):
    index, clashes = _index_folder(folder, kind)
    keys = frame[name_column].str.lower()
    ambiguous = sorted(set(keys) & clashes)
    if ambiguous:
        raise ValueError(
            f"{len(ambiguous)} {kind} file name(s) occur more than once under {folder}: "
            f"{ambiguous[:5]}"
        )
    if kind == "image":
        # The tables say ISIC_0000004.JPG; a copy may hold .jpg/.jpeg/.png.
        stems = {}
        for k, p in index.items():
            if _IMAGE_SUFFIX.search(k):
                stems.setdefault(_IMAGE_SUFFIX.sub("", k), []).append(p)
        found = [
            stems.get(_IMAGE_SUFFIX.sub("", k)) or ([index[k]] if k in index else []) for k in keys
        ]
        # Two files for one image (a .png converted from the .jpg beside it):
        # their pixels may differ, so picking one would be a silent choice.
        twice = [sorted(map(str, f)) for f in found if len(f) > 1]
        if twice:
            shown = "; ".join(" and ".join(f) for f in twice[:3])
            raise ValueError(
                f"{len(twice)} image(s) of the IMA++ tables have more than one file under "
                f"{folder}: {shown}{' ...' if len(twice) > 3 else ''}; keep one file per image"
            )
        paths = [f[0] if f else None for f in found]
    else:
        paths = [index.get(k) for k in keys]
    exists = np.array([p is not None for p in paths])
    if not exists.all() and on_missing == "raise":
        names = frame.loc[~exists, name_column].tolist()
        raise FileNotFoundError(
            f"{len(names)} {kind} file(s) listed in the IMA++ tables are missing under "
            f"{folder}: {names[:5]}{' ...' if len(names) > 5 else ''} "
            "(pass on_missing='flag' to keep them with a missing flag)"
        )
    frame[f"{kind}_path"] = pd.Series(
        [str(p) if p is not None else None for p in paths], index=frame.index, dtype="string"
    )
    frame[f"{kind}_exists"] = exists
    return frame


def load_imaplusplus(root, *, table="images", images=None, masks=None, on_missing="raise"):
    """Load the IMA++ multi-annotator tables: one row per image, mask or pair.

    Parameters
    ----------
    root : str or path-like
        Folder holding the four tables of the release (``output/`` of
        sfu-mial/IMAplusplus; names in ``IMAPLUSPLUS_TABLES``). Images and
        masks are not needed.
    table : {"images", "masks", "pairs"}, default="images"
        Which table to return: one row per image (the dataset table, with the
        core columns of every skiaa reader), per mask, or per pair of masks.
    images : str or path-like, default=None
        Folder of the ISIC images (searched recursively, file names matched
        case-insensitively, any of .jpg/.jpeg/.png), used by
        ``table="images"``. Without it ``image_path`` is <NA> and
        ``image_exists`` False for every image.
    masks : str or path-like, default=None
        Folder of the mask PNGs (searched recursively), used by
        ``table="masks"``: the per-mask frame then gets ``mask_path`` and
        ``mask_exists`` columns.
    on_missing : {"raise", "flag"}, default="raise"
        What to do when ``images``/``masks`` lack a file the tables list:
        raise a :class:`FileNotFoundError` naming the files, or keep every row
        with ``<kind>_exists = False`` and a missing path.

    Returns
    -------
    frame : pandas.DataFrame
        ``table="images"``: one row per image of the multi-annotator subset,
        sorted by ``image_id``, starting with the columns every skiaa reader
        has: ``image_id``, ``image_path``, ``label`` (nullable Int8: 1
        malignant, 0 benign, <NA> indeterminate), ``diagnosis`` ("benign",
        "malignant" or "indeterminate"), ``split`` (<NA>: IMA++ has no
        official split), ``image_exists``; then ``image_filename``,
        ``is_indeterminate``, ``iaa`` (mean pairwise Dice, the paper's IAA),
        ``n_masks``, ``n_annotators``, ``annotators`` (comma-separated codes,
        one per mask, sorted), ``n_pairs``, every ``*_mean``/``*_std`` column
        of the image-level metrics table, then the 36 ISIC metadata columns
        (``benign_malignant``, ``diagnosis_1``, ...).

        ``table="masks"``: one row per mask (consensus masks included,
        flagged): ``image_id``, ``image_filename``, ``mask_filename``,
        ``annotator``, ``tool``, ``skill``, ``object_id``, ``is_consensus``,
        ``mask_md5``, parsed with :func:`parse_mask_filename`.

        ``table="pairs"``: the release's pairwise table as is (``annotator1``,
        ``tool1``, ``skill_level1``, ... ``dice_score``, ...) plus
        ``image_id``, ``is_consensus_pair`` and ``same_annotator``; usable
        directly by :func:`skiaa.stats.agreement_by_factor`.

        ``frame.attrs`` holds ``dataset`` ("IMA++"), ``table`` and ``root``
        (the tables' folder).

    Raises
    ------
    FileNotFoundError
        If a table, the ``images``/``masks`` folder or (``on_missing="raise"``)
        a listed file is missing; the message names it.
    ValueError
        If a table lacks a required column, a mask file name does not follow the
        IMA++ scheme, a name disagrees with its row's annotator/tool/skill
        columns, an image has no metadata row, an image has two files under
        ``images`` (``.jpg`` and ``.png``, say; both are named), or ``table``
        or ``on_missing`` is invalid.

    See Also
    --------
    parse_mask_filename : the mask naming scheme.
    skiaa.stats.compare_groups : benign vs malignant IAA.

    Notes
    -----
    ``benign_malignant`` values ``indeterminate``, ``indeterminate/benign`` and
    ``indeterminate/malignant`` all map to ``diagnosis = "indeterminate"`` and
    ``label = <NA>``: a leaning is not a diagnosis, and counting it would
    change the paper's groups (1,880 benign, 505 malignant, 9 indeterminate in
    the release). The raw value stays in ``benign_malignant``.

    Image ids: the metadata table says ``isic_id = ISIC_0000004``, the metrics
    tables ``img_id = ISIC_0000004.JPG``; the suffix (any case) is stripped.

    Examples
    --------
    A tiny release written on the fly, in the real tables' layout:

    >>> import pandas as pd
    >>> from skiaa.datasets import load_imaplusplus
    >>> m = ["ISIC_0000001_A01_T1_S1_a.png", "ISIC_0000001_A02_T3_S2_b.png"]
    >>> pd.DataFrame({"isic_id": ["ISIC_0000001"], "benign_malignant": ["malignant"]}).to_csv(
    ...     "IMAplusplus_img_metadata.csv", index=False)
    >>> pd.DataFrame({"ISIC_id": ["ISIC_0000001"] * 2, "img_filename": ["ISIC_0000001.JPG"] * 2,
    ...     "seg_filename": m, "annotator": ["A01", "A02"], "tool": ["T1", "T3"],
    ...     "skill_level": ["S1", "S2"]}).to_csv(
    ...     "IMAplusplus_multiannotator_subset_seg_metadata.csv", index=False)
    >>> pd.DataFrame({"img_id": ["ISIC_0000001.JPG"], "mask1": m[:1], "mask2": m[1:],
    ...     "annotator1": ["A01"], "annotator2": ["A02"], "dice_score": [0.8]}).to_csv(
    ...     "IMAplusplus_multiannotator_subset_IAA_metrics.csv", index=False)
    >>> pd.DataFrame({"img_id": ["ISIC_0000001.JPG"], "dice_score_mean": [0.8]}).to_csv(
    ...     "IMAplusplus_multiannotator_subset_image_level_metrics.csv", index=False)
    >>> images = load_imaplusplus(".")
    >>> images[["image_id", "label", "diagnosis", "iaa", "n_masks", "annotators"]]
           image_id  label  diagnosis  iaa  n_masks annotators
    0  ISIC_0000001      1  malignant  0.8        2    A01,A02
    >>> load_imaplusplus(".", table="masks")[["annotator", "tool", "skill", "is_consensus"]]
      annotator tool skill  is_consensus
    0       A01   T1    S1         False
    1       A02   T3    S2         False
    """
    if table not in _TABLES:
        raise ValueError(f"table must be one of {list(_TABLES)}, got {table!r}")
    if on_missing not in ("raise", "flag"):
        raise ValueError(f"on_missing must be 'raise' or 'flag', got {on_missing!r}")
    root = Path(root)
    tables = {key: _read_table(root, key) for key in IMAPLUSPLUS_TABLES}

    mask_frame = _masks_frame(tables["masks"])
    if table == "masks":
        frame = mask_frame
        if masks is not None:
            frame = _attach_paths(frame, "mask_filename", masks, "mask", on_missing)
    elif table == "pairs":
        frame = _pairs_frame(tables["pairs"])
    else:
        frame = _images_frame(tables, mask_frame, _pairs_frame(tables["pairs"]))
        if images is not None:
            frame = _attach_paths(frame, "image_filename", images, "image", on_missing)
        else:
            frame["image_path"] = pd.Series(pd.NA, index=frame.index, dtype="string")
            frame["image_exists"] = False
        first = ["image_id", "image_path", "label", "diagnosis", "split", "image_exists"]
        frame = frame[first + [c for c in frame.columns if c not in first]]
    frame.attrs.update(dataset="IMA++", table=table, root=str(root))
    return frame


def label_diagnosis(table, metadata, *, id_column="img_id"):
    """Add the benign/malignant label of each image from the ISIC metadata.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per image, with image ids in ``id_column`` (``ISIC_0000004`` or
        ``ISIC_0000004.JPG``: a .jpg/.jpeg/.png suffix of any case is stripped).
    metadata : pandas.DataFrame
        ISIC metadata with ``isic_id`` and ``benign_malignant``.
    id_column : str, default="img_id"
        Column of ``table`` holding the image ids.

    Returns
    -------
    table : pandas.DataFrame
        A copy with ``image_id``, ``diagnosis`` (categorical: benign, malignant,
        indeterminate), ``label`` (Int8: 1 malignant, 0 benign, <NA> when
        indeterminate) and ``is_indeterminate``; rows in their original order,
        none dropped.

    Raises
    ------
    ValueError
        If a column is missing, an image has no metadata row, or
        ``benign_malignant`` holds an unknown value.
    """
    for name, frame, cols in [
        ("table", table, [id_column]),
        ("metadata", metadata, ["isic_id", "benign_malignant"]),
    ]:
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}")
    table = table.copy()
    if id_column != "image_id" or "image_id" not in table.columns:
        table["image_id"] = _strip_suffix(table[id_column])
    # One label per image: conflicting duplicate rows are refused, not resolved.
    labels = check_table(
        metadata[["isic_id", "benign_malignant"]],
        name="metadata",
        key=["isic_id"],
        ranges={},
        identical_duplicates="drop",
    )
    raw = labels.set_index("isic_id")["benign_malignant"]
    unknown = sorted(set(table["image_id"]) - set(raw.index))
    if unknown:
        raise ValueError(f"{len(unknown)} image(s) lack an ISIC metadata row: {unknown[:5]}")
    raw = raw.reindex(table["image_id"])
    # Compared as text: a column of 0/1 numbers mixed with words must give this
    # message, not a failed sort.
    bad = sorted({str(v) for v in raw.dropna()} - set(_DIAGNOSIS))
    if bad:
        raise ValueError(
            f"metadata, column 'benign_malignant': unknown value(s) {bad}; expected one of "
            f"{sorted(_DIAGNOSIS)} or empty"
        )
    # A missing benign_malignant is no diagnosis either: indeterminate, flagged.
    diagnosis = raw.map(_DIAGNOSIS).fillna("indeterminate").to_numpy(dtype=object)
    table["diagnosis"] = pd.Categorical(
        diagnosis, categories=["benign", "malignant", "indeterminate"]
    )
    table["label"] = pd.array(
        np.where(diagnosis == "indeterminate", None, diagnosis == "malignant"), dtype="Int8"
    )
    table["is_indeterminate"] = diagnosis == "indeterminate"
    return table


_ID_COLUMNS = ("img_id", "image_id", "isic_id")
# Columns read_iaa_table derives from the metadata; an IAA table holding one is ambiguous.
_LABEL_COLUMNS = ("diagnosis", "label", "malignant", "is_indeterminate")


def read_iaa_table(iaa_path, metadata_path, *, value_column=None):
    """Read a per-image agreement CSV and label each image from ISIC metadata.

    The library side of ``skiaa compare --iaa TABLE --metadata TABLE``: a table
    of your own (for instance ``image_level_metrics.csv`` written by ``skiaa
    agreement``) joined with the diagnosis of every image.

    Parameters
    ----------
    iaa_path : str or path-like
        CSV with one row per image: an id column (``img_id``, ``image_id`` or
        ``isic_id``, the first found; a .jpg/.jpeg/.png suffix is stripped)
        and ``value_column``.
    metadata_path : str or path-like
        ISIC metadata CSV with ``isic_id`` and ``benign_malignant``.
    value_column : str, default=None
        The column that must be present (the value to be compared). None
        means the IAA, the mean pairwise Dice, in either naming:
        ``dice_score_mean`` (the release's, ``skiaa agreement``'s) or
        ``dice_mean`` (:func:`skiaa.agreement.image_agreement` on a table in
        skiaa's naming). The column used is stored in
        ``table.attrs["value_column"]``.

    Returns
    -------
    table : pandas.DataFrame
        The IAA table with ``image_id``, ``diagnosis``, ``label`` and
        ``is_indeterminate`` added by :func:`label_diagnosis`; every row kept.

    Raises
    ------
    FileNotFoundError
        If a file does not exist (naming it).
    ValueError
        Naming the table, the column and the first offending ids: an empty,
        ``;``-separated or unparsable file; no id column or no
        ``value_column``; a non-numeric value; a metric value out of range (a
        Dice outside [0, 1]); an image in two rows (also when written once
        with and once without ``.JPG``); label columns (``diagnosis``,
        ``label``, ...) that would be ambiguous beside the ones derived from
        the metadata; conflicting metadata rows for one image; or any reason
        of :func:`label_diagnosis` (an image without metadata, ...).

    See Also
    --------
    label_diagnosis : the labelling rule.
    skiaa.stats.diagnosis_groups : the benign and malignant values of the table.
    check_table : the checks every table passes.
    """
    iaa_name = f"IAA table {str(iaa_path)!r}"
    table = read_table(iaa_path, name=iaa_name, ranges={})  # values checked once keyed
    id_column = next((c for c in _ID_COLUMNS if c in table.columns), None)
    if id_column is None:
        raise ValueError(
            f"{iaa_name} has no image id column ({', '.join(_ID_COLUMNS[:2])} or "
            f"{_ID_COLUMNS[2]}); it has {list(map(str, table.columns))}"
        )
    if value_column is None:
        value_column = summary_column(table.columns, "dice", "mean") or "dice_score_mean"
    if value_column not in table.columns:
        raise ValueError(f"{iaa_name} has no column {value_column!r}")
    reserved = [*_LABEL_COLUMNS] + (["image_id"] if id_column != "image_id" else [])
    check_table(table, name=iaa_name, reserved=reserved, ranges={})
    if id_column != "image_id":
        table.insert(0, "image_id", _strip_suffix(table[id_column]))
    else:
        table["image_id"] = _strip_suffix(table["image_id"])
    # Keyed on the id without its suffix: ISIC_0000001.JPG and ISIC_0000001 are one image.
    table = check_table(
        table, name=iaa_name, numeric=[value_column], key=["image_id"], ignore=[id_column]
    )
    metadata = read_table(
        metadata_path,
        name=f"metadata table {str(metadata_path)!r}",
        required=["isic_id", "benign_malignant"],
        key=["isic_id"],
        ranges={},
        identical_duplicates="drop",
    )
    table = label_diagnosis(table, metadata, id_column="image_id")
    table.attrs["value_column"] = value_column
    return table


def _masks_frame(table):
    parsed = pd.DataFrame([parse_mask_filename(name) for name in table["seg_filename"]])
    # The table's own columns must agree with the file names: a disagreement means
    # a corrupt or edited table, and which one to trust is not ours to guess.
    for ours, theirs in [
        ("image_id", "ISIC_id"),
        ("annotator", "annotator"),
        ("tool", "tool"),
        ("skill", "skill_level"),
    ]:
        bad = parsed[ours].to_numpy() != table[theirs].astype(str).to_numpy()
        if bad.any():
            name = table["seg_filename"][bad].iloc[0]
            raise ValueError(
                f"{int(bad.sum())} mask row(s) whose file name disagrees with column "
                f"{theirs!r}, e.g. {name!r}"
            )
    frame = pd.DataFrame(
        {
            "image_id": parsed["image_id"],
            "image_filename": table["img_filename"].astype(str),
            "mask_filename": table["seg_filename"].astype(str),
            "annotator": parsed["annotator"],
            "tool": parsed["tool"],
            "skill": parsed["skill"],
            "object_id": parsed["object_id"],
            "is_consensus": parsed["is_consensus"].astype(bool),
        }
    )
    if "mask_md5" in table.columns:
        frame["mask_md5"] = table["mask_md5"]
    return frame.sort_values(["image_id", "mask_filename"], ignore_index=True)


def _pairs_frame(table):
    pairs = table.copy()
    pairs["image_id"] = _strip_suffix(pairs["img_id"])
    codes = list(CONSENSUS_CODES)
    consensus = pairs["annotator1"].isin(codes) | pairs["annotator2"].isin(codes)
    pairs["is_consensus_pair"] = consensus
    pairs["same_annotator"] = (pairs["annotator1"] == pairs["annotator2"]) & ~consensus
    return pairs


def _images_frame(tables, mask_frame, pairs):
    metrics = tables["image_metrics"].copy()
    metrics.insert(0, "image_id", _strip_suffix(metrics.pop("img_id")))
    # Keyed again without the suffix: ISIC_0000001.JPG and ISIC_0000001 are one image.
    metrics = check_table(
        metrics,
        name=f"IMA++ table {IMAPLUSPLUS_TABLES['image_metrics']!r}",
        key=["image_id"],
        ranges={},
    )
    stated_pairs = metrics.pop("n_pairs") if "n_pairs" in metrics.columns else None

    annot = mask_frame[~mask_frame["is_consensus"]]
    per_image = annot.groupby("image_id").agg(
        image_filename=("image_filename", "first"),
        n_masks=("mask_filename", "size"),
        n_annotators=("annotator", "nunique"),
        annotators=("annotator", lambda a: ",".join(sorted(a))),
    )
    n_pairs = pairs[~pairs["is_consensus_pair"]].groupby("image_id").size().rename("n_pairs")

    no_masks = sorted(set(metrics["image_id"]) - set(per_image.index))
    if no_masks:
        raise ValueError(f"{len(no_masks)} image(s) have metrics but no masks: {no_masks[:5]}")
    # Every image with masks is kept; one absent from the image-level table
    # (not so in the release) gets NaN metrics rather than vanishing.
    frame = per_image.join(metrics.set_index("image_id"), how="left").join(n_pairs)
    frame = frame.rename_axis("image_id").reset_index()
    frame["n_masks"] = frame["n_masks"].astype(int)
    frame["n_annotators"] = frame["n_annotators"].astype(int)
    frame["n_pairs"] = frame["n_pairs"].fillna(0).astype(int)
    if stated_pairs is not None:
        # A table written by ``skiaa agreement`` states n_pairs: it must agree
        # with the pairs table, or the two tables describe different data.
        stated = pd.Series(stated_pairs.to_numpy(), index=metrics["image_id"])
        derived = frame.set_index("image_id")["n_pairs"].reindex(stated.index)
        differ = stated.index[(stated.to_numpy() != derived.to_numpy())].tolist()
        if differ:
            first = differ[0]
            raise ValueError(
                f"IMA++ table {IMAPLUSPLUS_TABLES['image_metrics']!r}, column 'n_pairs': "
                f"{len(differ)} image(s) disagree with the pairs table, e.g. {first!r} "
                f"({stated[first]:g} stated, {derived[first]} annotator pairs listed)"
            )

    frame = label_diagnosis(frame, tables["metadata"], id_column="image_id")
    frame["iaa"] = frame["dice_score_mean"]

    first = ["image_id", "image_filename", "label", "diagnosis", "is_indeterminate", "iaa"]
    first += ["n_masks", "n_annotators", "annotators", "n_pairs"]
    metric_cols = [c for c in metrics.columns if c != "image_id"]
    frame = frame[first + metric_cols]
    metadata = tables["metadata"].rename(columns={"isic_id": "image_id"})
    # A metadata column named like one of ours (e.g. "diagnosis" in other ISIC
    # exports) is kept under a suffix rather than replacing ours.
    frame = frame.merge(
        metadata, on="image_id", how="left", validate="1:1", suffixes=("", "_metadata")
    )
    frame["split"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame.sort_values("image_id", ignore_index=True)
