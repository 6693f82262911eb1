"""Readers of the external dermoscopy datasets of the paper (melanoma vs other).

The paper fine-tunes its IMA++ model on ISIC 2018 (Task 3), ISIC 2019,
derm7pt and PH2, each as a binary melanoma-vs-other task. The images cannot be
shipped; these readers take the folder of the public release, in its own
layout, and return one table per dataset:

========== ===========================================================
column     meaning
========== ===========================================================
image_id   the dataset's own image/case id
image_path path of the dermoscopic image (None when missing and flagged)
label      1 for melanoma, 0 for any other diagnosis
diagnosis  the original diagnosis (class code, text or PH2 category)
split      the official split ("train", "val", "test") or <NA> if none
========== ===========================================================

plus ``image_exists`` (bool). Every row of the release is kept.
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._tables import check_table, read_table

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")

_ISIC2018_FILES = {
    "train": ("ISIC2018_Task3_Training_GroundTruth.csv", "ISIC2018_Task3_Training_Input"),
    "val": ("ISIC2018_Task3_Validation_GroundTruth.csv", "ISIC2018_Task3_Validation_Input"),
    "test": ("ISIC2018_Task3_Test_GroundTruth.csv", "ISIC2018_Task3_Test_Input"),
}
_ISIC2019_FILES = {
    "train": ("ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Input"),
    "test": ("ISIC_2019_Test_GroundTruth.csv", "ISIC_2019_Test_Input"),
}
_DERM7PT_SPLITS = {
    "train": "train_indexes.csv",
    "val": "valid_indexes.csv",
    "test": "test_indexes.csv",
}
# PH2_dataset.txt codes its "Clinical Diagnosis" column 0/1/2.
_PH2_DIAGNOSIS = {"0": "Common Nevus", "1": "Atypical Nevus", "2": "Melanoma"}


def _check_on_missing(on_missing):
    if on_missing not in ("raise", "flag"):
        raise ValueError(f"on_missing must be 'raise' or 'flag', got {on_missing!r}")


def _find_file(root, name, what):
    """``root/name`` or, failing that, the one file of that name below ``root``.

    Releases are often unpacked with an extra folder level; searching keeps the
    reader independent of it, and two candidates are an error, not a guess.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} folder {str(root)!r} does not exist")
    direct = root / name
    if direct.is_file():
        return direct
    found = [Path(d) / name for d, _, files in os.walk(root) if name in files]
    if not found:
        raise FileNotFoundError(f"{what}: file {name!r} not found under {root}")
    if len(found) > 1:
        raise ValueError(f"{what}: {name!r} found more than once under {root}: {found[:3]}")
    return found[0]


def _find_dir(root, name, what):
    """``root/name`` or the one folder of that name below ``root``."""
    root = Path(root)
    if (root / name).is_dir():
        return root / name
    found = [Path(d) / name for d, dirs, _ in os.walk(root) if name in dirs]
    if not found:
        raise FileNotFoundError(f"{what}: image folder {name!r} not found under {root}")
    if len(found) > 1:
        raise ValueError(f"{what}: folder {name!r} found more than once under {root}")
    return found[0]


def _require_columns(table, columns, source):
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}")


def _finish(frame, on_missing, what):
    # One row per image across the splits: an image in two splits leaks the
    # test set into training, and one listed twice counts twice.
    check_table(frame[["image_id", "split"]], name=what, key=["image_id"], ranges={})
    exists = frame["image_path"].map(lambda p: isinstance(p, str) and Path(p).is_file())
    frame["image_exists"] = exists.astype(bool)
    if not frame["image_exists"].all():
        missing = frame.loc[~frame["image_exists"], "image_id"].tolist()
        if on_missing == "raise":
            first = frame.loc[~frame["image_exists"], "image_path"].iloc[0]
            looked = f"; looked for {first}" if isinstance(first, str) else ""
            raise FileNotFoundError(
                f"{what}: {len(missing)} image(s) listed but not found: {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}{looked} "
                "(pass on_missing='flag' to keep them)"
            )
        frame.loc[~frame["image_exists"], "image_path"] = None
    frame["label"] = frame["label"].astype(np.int64)
    frame["split"] = frame["split"].astype("string")
    frame["image_path"] = frame["image_path"].astype("string")
    frame["diagnosis"] = frame["diagnosis"].astype("string")
    frame.attrs["dataset"] = what
    cols = ["image_id", "image_path", "label", "diagnosis", "split", "image_exists"]
    return frame[cols + [c for c in frame.columns if c not in cols]].reset_index(drop=True)


def _image_in(folder, image_id, what):
    """Path of ``image_id`` with any usual image extension in ``folder`` (or None).

    Two files for one image (a ``.png`` converted from the ``.jpg`` beside it)
    are an error naming both: their pixels may differ, and taking one would be
    a silent choice.
    """
    found = {}
    for ext in _IMAGE_EXT:
        for candidate in (folder / f"{image_id}{ext}", folder / f"{image_id}{ext.upper()}"):
            if candidate.is_file():
                info = candidate.stat()  # one file under two spellings on a case-insensitive disk
                found.setdefault((info.st_dev, info.st_ino), str(candidate))
    if len(found) > 1:
        raise ValueError(
            f"{what}: image {image_id!r} has more than one file: "
            f"{' and '.join(sorted(found.values()))}; keep one file per image"
        )
    return next(iter(found.values()), None)


def _read_one_hot(root, path, classes, split, input_folder, what):
    # An image listed twice would be trained (or tested) on twice.
    table = read_table(
        path,
        name=f"{what} table {path.name!r}",
        required=["image", *classes],
        numeric=list(classes),
        key=["image"],
        ranges={},
    )
    onehot = table[list(classes)].to_numpy(dtype=float)
    bad = ~np.isclose(onehot.sum(axis=1), 1.0) | ~np.isin(onehot, (0.0, 1.0)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{path.name}: {int(bad.sum())} row(s) are not one-hot over {list(classes)}, e.g. "
            f"image {table.loc[bad, 'image'].iloc[0]!r}"
        )
    diagnosis = np.asarray(classes)[onehot.argmax(axis=1)]
    folder = _find_dir(root, input_folder, what)
    return pd.DataFrame(
        {
            "image_id": table["image"].astype(str),
            "image_path": [_image_in(folder, i, what) for i in table["image"].astype(str)],
            "label": (diagnosis == "MEL").astype(int),
            "diagnosis": diagnosis,
            "split": split,
        }
    )


def load_isic2018(root, *, splits=("train", "val", "test"), on_missing="raise"):
    """Read ISIC 2018 Task 3 (HAM10000 and its validation/test sets), melanoma vs other.

    Parameters
    ----------
    root : str or path-like
        Folder holding the release: for each split ``s`` in Training, Validation
        and Test, ``ISIC2018_Task3_<s>_GroundTruth.csv`` (anywhere below
        ``root``, usually in ``ISIC2018_Task3_<s>_GroundTruth/``) with columns
        ``image, MEL, NV, BCC, AKIEC, BKL, DF, VASC`` (one-hot), and the images
        ``ISIC2018_Task3_<s>_Input/<image>.jpg``.
    splits : sequence of {"train", "val", "test"}, default=all three
        Official splits to read; each must be present.
    on_missing : {"raise", "flag"}, default="raise"
        A listed image that is not on disk raises :class:`FileNotFoundError`
        (naming it), or is kept with ``image_exists=False``.

    Returns
    -------
    frame : pandas.DataFrame
        ``image_id``, ``image_path``, ``label`` (1 = MEL), ``diagnosis`` (class
        code), ``split``, ``image_exists``; train, val, test in that order.

    Raises
    ------
    FileNotFoundError
        If a ground-truth file, image folder or (``on_missing="raise"``) image
        is missing; the message names it.
    ValueError
        If a column is missing or a row is not one-hot.

    See Also
    --------
    load_isic2019, load_derm7pt, load_ph2

    Examples
    --------
    >>> from pathlib import Path
    >>> from skiaa.datasets import load_isic2018
    >>> for s, split in [("Training", "train"), ("Validation", "val"), ("Test", "test")]:
    ...     gt = Path(f"ISIC2018_Task3_{s}_GroundTruth")
    ...     gt.mkdir()
    ...     _ = (gt / f"ISIC2018_Task3_{s}_GroundTruth.csv").write_text(
    ...         "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\\n"
    ...         f"ISIC_{split},1.0,0.0,0.0,0.0,0.0,0.0,0.0\\n")
    ...     Path(f"ISIC2018_Task3_{s}_Input").mkdir()
    >>> df = load_isic2018(".", on_missing="flag")
    >>> df[["image_id", "label", "diagnosis", "split", "image_exists"]]
        image_id  label diagnosis  split  image_exists
    0  ISIC_train      1       MEL  train         False
    1    ISIC_val      1       MEL    val         False
    2   ISIC_test      1       MEL   test         False
    """
    _check_on_missing(on_missing)
    return _read_isic(root, splits, _ISIC2018_FILES, ISIC2018_CLASSES, on_missing, "ISIC 2018")


def load_isic2019(root, *, splits=None, on_missing="raise"):
    """Read ISIC 2019 (training set, and the test set when its ground truth is there).

    Parameters
    ----------
    root : str or path-like
        Folder with ``ISIC_2019_Training_GroundTruth.csv`` (columns ``image,
        MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK``, one-hot) and the images in
        ``ISIC_2019_Training_Input/``; optionally ``ISIC_2019_Test_GroundTruth.csv``
        with ``ISIC_2019_Test_Input/``.
    splits : sequence of {"train", "test"}, default=None
        None reads "train", plus "test" when its ground-truth file exists (the
        challenge published it after the fact). Named splits must exist.
    on_missing : {"raise", "flag"}, default="raise"
        As in :func:`load_isic2018`.

    Returns
    -------
    frame : pandas.DataFrame
        As in :func:`load_isic2018`; ``label`` is 1 for MEL. ISIC 2019 has no
        official validation split.

    Raises
    ------
    FileNotFoundError
        If a ground-truth file, image folder or (``on_missing="raise"``) image
        is missing; the message names it.
    ValueError
        If a column is missing or a row is not one-hot.

    See Also
    --------
    load_isic2018
    """
    _check_on_missing(on_missing)
    if splits is None:
        splits = ["train"]
        try:
            _find_file(root, _ISIC2019_FILES["test"][0], "ISIC 2019")
            splits.append("test")
        except FileNotFoundError:
            pass
    return _read_isic(root, splits, _ISIC2019_FILES, ISIC2019_CLASSES, on_missing, "ISIC 2019")


def _read_isic(root, splits, files, classes, on_missing, what):
    """The one-hot ground truth of each split of an ISIC challenge, concatenated."""
    splits = _check_splits(splits, files, what)
    frames = []
    for split in splits:
        csv_name, input_folder = files[split]
        path = _find_file(root, csv_name, what)
        frames.append(_read_one_hot(root, path, classes, split, input_folder, what))
    return _finish(pd.concat(frames, ignore_index=True), on_missing, what)


def _check_splits(splits, known, what):
    splits = [splits] if isinstance(splits, str) else list(splits)
    unknown = [s for s in splits if s not in known]
    if unknown or not splits:
        raise ValueError(f"{what}: unknown split(s) {unknown}; choose from {list(known)}")
    return splits


def load_derm7pt(root, *, on_missing="raise"):
    """Read derm7pt (the seven-point checklist dataset), dermoscopic images only.

    Parameters
    ----------
    root : str or path-like
        The ``release_v0`` folder: ``meta/meta.csv`` (columns ``case_num``,
        ``diagnosis``, ``derm``, ...), ``meta/train_indexes.csv``,
        ``meta/valid_indexes.csv``, ``meta/test_indexes.csv`` (column
        ``indexes``: 0-based rows of meta.csv) and ``images/`` (``derm`` holds
        each dermoscopic image's path relative to it).
    on_missing : {"raise", "flag"}, default="raise"
        As in :func:`load_isic2018`.

    Returns
    -------
    frame : pandas.DataFrame
        One row per case, in meta.csv order: ``image_id`` (``case_num``),
        ``image_path`` (the ``derm`` image; clinical images are not used),
        ``label`` (1 when the diagnosis starts with "melanoma": melanoma, its
        in-situ and thickness sub-types and melanoma metastasis, as derm7pt's
        own MEL group), ``diagnosis``, ``split``, ``image_exists``.

    Raises
    ------
    FileNotFoundError
        If meta.csv, an index file or (``on_missing="raise"``) an image is
        missing; the message names it.
    ValueError
        If a column is missing, an index is out of range, or a case falls in
        two splits or in none.

    See Also
    --------
    load_isic2018

    Examples
    --------
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from skiaa.datasets import load_derm7pt
    >>> Path("meta").mkdir()
    >>> pd.DataFrame({"case_num": [1, 2], "diagnosis": ["melanoma (in situ)", "blue nevus"],
    ...               "derm": ["A/a.jpg", "A/b.jpg"]}).to_csv("meta/meta.csv", index=False)
    >>> for name, rows in [("train", [0]), ("valid", []), ("test", [1])]:
    ...     pd.DataFrame({"indexes": rows}).to_csv(f"meta/{name}_indexes.csv", index=False)
    >>> load_derm7pt(".", on_missing="flag")[["image_id", "label", "split"]]
      image_id  label  split
    0        1      1  train
    1        2      0   test
    """
    _check_on_missing(on_missing)
    root = Path(root)
    meta_path = _find_file(root, "meta.csv", "derm7pt")
    meta = pd.read_csv(meta_path)
    _require_columns(meta, ["case_num", "diagnosis", "derm"], "derm7pt meta.csv")
    split = np.full(len(meta), None, dtype=object)
    for name, file_name in _DERM7PT_SPLITS.items():
        idx_path = meta_path.parent / file_name
        if not idx_path.is_file():
            raise FileNotFoundError(
                f"derm7pt: split file {file_name!r} not found in {meta_path.parent}"
            )
        idx = pd.read_csv(idx_path)
        _require_columns(idx, ["indexes"], f"derm7pt {file_name}")
        rows = idx["indexes"].to_numpy(dtype=int)
        out = rows[(rows < 0) | (rows >= len(meta))]
        if out.size:
            raise ValueError(f"derm7pt {file_name}: index {int(out[0])} outside meta.csv's rows")
        twice = [r for r in rows if split[r] is not None]
        if twice:
            raise ValueError(f"derm7pt: row {twice[0]} of meta.csv is in two splits")
        split[rows] = name
    unassigned = np.flatnonzero(pd.isna(split))
    if unassigned.size:
        raise ValueError(
            f"derm7pt: {unassigned.size} case(s) of meta.csv are in no split file, "
            f"e.g. row {int(unassigned[0])}"
        )
    images = meta_path.parent.parent / "images"
    diagnosis = meta["diagnosis"].astype(str)
    frame = pd.DataFrame(
        {
            "image_id": meta["case_num"].astype(str),
            "image_path": [str(images / d) for d in meta["derm"].astype(str)],
            "label": diagnosis.str.strip().str.lower().str.startswith("melanoma").astype(int),
            "diagnosis": diagnosis,
            "split": split,
        }
    )
    return _finish(frame, on_missing, "derm7pt")


def _parse_ph2_txt(path):
    rows = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if "||" not in line:
            continue
        fields = [f.strip() for f in line.split("||")]
        if len(fields) < 2 or not re.match(r"(?i)imd\s*\d", fields[1]):
            continue  # header and legend lines
        # A case row that cannot be read is an error, never a row left out.
        if not re.fullmatch(r"IMD\d+", fields[1]) or len(fields) < 4:
            raise ValueError(
                f"{path.name} line {lineno}: case row {line.strip()!r} is not "
                "'|| IMDxxx || histology || 0/1/2 || ...'"
            )
        code = fields[3]
        if code not in _PH2_DIAGNOSIS:
            raise ValueError(
                f"{path.name} line {lineno}: clinical diagnosis {code!r} of {fields[1]} "
                "is not 0, 1 or 2"
            )
        rows.append((fields[1], _PH2_DIAGNOSIS[code], fields[2]))
    if not rows:
        raise ValueError(
            f"{path.name}: no case rows ('|| IMDxxx || histology || 0/1/2 || ...') found"
        )
    return rows


def load_ph2(root, *, on_missing="raise"):
    """Read PH2 (200 dermoscopic images: common nevus, atypical nevus, melanoma).

    Parameters
    ----------
    root : str or path-like
        The ``PH2Dataset`` folder: ``PH2_dataset.txt`` (the ``||``-separated
        table; its third field is the clinical diagnosis coded 0 = Common
        Nevus, 1 = Atypical Nevus, 2 = Melanoma) and ``PH2 Dataset images/
        IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp``.
    on_missing : {"raise", "flag"}, default="raise"
        As in :func:`load_isic2018`.

    Returns
    -------
    frame : pandas.DataFrame
        ``image_id`` (IMDxxx), ``image_path``, ``label`` (1 = Melanoma),
        ``diagnosis`` (the clinical category), ``split`` (<NA>: PH2 has no
        official split), ``image_exists``, and ``histology`` (the text of
        the histological-diagnosis field, often empty).

    Raises
    ------
    FileNotFoundError
        If ``PH2_dataset.txt`` or (``on_missing="raise"``) an image is missing;
        the message names the ids and the path looked for.
    ValueError
        If the text file holds no case rows, a case row that cannot be read
        (``IMD 058``, ``imd058``, a truncated row; named with its line), or an
        unknown diagnosis code.

    See Also
    --------
    load_isic2018

    Notes
    -----
    The release also ships ``PH2_dataset.xlsx`` with the same content; the
    text file is read because it needs no spreadsheet dependency.

    Examples
    --------
    >>> from pathlib import Path
    >>> from skiaa.datasets import load_ph2
    >>> _ = Path("PH2_dataset.txt").write_text(
    ...     "|| Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry ||\\n"
    ...     "|| IMD003 ||                        ||         0          ||     0     ||\\n"
    ...     "|| IMD058 ||                        ||         2          ||     2     ||\\n")
    >>> load_ph2(".", on_missing="flag")[["image_id", "label", "diagnosis"]]
      image_id  label     diagnosis
    0   IMD003      0  Common Nevus
    1   IMD058      1      Melanoma
    """
    _check_on_missing(on_missing)
    txt = _find_file(root, "PH2_dataset.txt", "PH2")
    rows = _parse_ph2_txt(txt)
    images = txt.parent / "PH2 Dataset images"
    frame = pd.DataFrame(rows, columns=["image_id", "diagnosis", "histology"])
    frame["image_path"] = [
        str(images / i / f"{i}_Dermoscopic_Image" / f"{i}.bmp") for i in frame["image_id"]
    ]
    frame["label"] = (frame["diagnosis"] == "Melanoma").astype(int)
    frame["split"] = None
    return _finish(frame, on_missing, "PH2")
