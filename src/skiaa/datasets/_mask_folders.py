"""Finding the masks of each image in a folder (IMA++ layout or one folder per image)."""

import warnings
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from ._names import parse_mask_filename

_COLUMNS = ["image_id", "path", "mask", "annotator", "tool", "skill", "object_id"]


def _is_hidden(path):
    # .DS_Store, .ipynb_checkpoints and the like are file-system noise, not data.
    return path.name.startswith(".")


def _short_list(paths, limit=5):
    names = [p.name for p in paths]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def find_mask_sets(mask_dir, *, extensions=(".png",), include_consensus=False):
    """Find the annotators' masks of every image in a folder.

    Two layouts are recognised:

    - **flat, IMA++ names**: every mask directly in ``mask_dir``, named
      ``ISIC_<id>_<annotator>_<tool>_<skill>_<objectid>.png`` as in the IMA++
      release; masks are grouped by the image id of their name;
    - **one sub-folder per image**: ``mask_dir/<image_id>/*.png``, the folder
      name being the image id. Files whose names follow the IMA++ scheme give
      annotator, tool and skill; for other names the annotator is the file's
      stem and tool and skill are missing.

    Parameters
    ----------
    mask_dir : str or path-like
        The folder to search (not recursively past the per-image folders).
    extensions : tuple of str, default=(".png",)
        File extensions of masks, compared case-insensitively.
    include_consensus : bool, default=False
        Whether to keep the release's consensus masks (annotator ``ST``, STAPLE,
        and ``MV``, majority vote). By default they are skipped, as the IAA of
        an image is computed over the annotators' masks only, and listed in
        ``skipped``.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        masks : pandas.DataFrame
            One row per mask, sorted by image id then file name, with columns
            ``image_id``, ``path`` (str), ``mask`` (file name), ``annotator``,
            ``tool``, ``skill`` and ``object_id`` (missing values as None where
            a name does not carry them). ``masks.groupby("image_id")`` gives
            the masks of each image. Images with a single mask are kept: what
            to do with them is the caller's choice.
        skipped : pandas.DataFrame
            One row per file left out, columns ``path`` and ``reason``
            (``"consensus mask"``, ``"not a mask file"`` or, for an image
            folder without masks, ``"no mask in folder"``).
        layout : {"flat", "folders"}
            The layout found.

    Raises
    ------
    FileNotFoundError
        If ``mask_dir`` does not exist or is not a folder.
    ValueError
        If no mask is found; if a file with a mask extension in the flat layout
        does not follow the IMA++ naming (it could not be assigned to an image,
        and silently dropping it would change that image's agreement); or if
        the folder mixes mask files and per-image folders.

    Warns
    -----
    UserWarning
        When files without a mask extension, or image folders without masks,
        are skipped (they are listed).
        Hidden files (names starting with ``.``) are ignored.

    See Also
    --------
    skiaa.datasets.parse_mask_filename : The IMA++ naming scheme.
    skiaa.agreement.pairwise_agreement : Agreement between the masks of an image.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from pathlib import Path
    >>> from skiaa.datasets import find_mask_sets
    >>> Path("masks").mkdir()
    >>> for name in ["ISIC_0000001_A01_T1_S1_a", "ISIC_0000001_A02_T3_S2_b",
    ...              "ISIC_0000001_ST_ST_ST_ST"]:
    ...     Image.fromarray(np.zeros((4, 4), np.uint8)).save(f"masks/{name}.png")
    >>> found = find_mask_sets("masks")
    >>> found.masks[["image_id", "annotator", "tool", "skill"]]
           image_id annotator tool skill
    0  ISIC_0000001       A01   T1    S1
    1  ISIC_0000001       A02   T3    S2
    >>> found.skipped["reason"].tolist(), found.layout
    (['consensus mask'], 'flat')
    """
    mask_dir = Path(mask_dir)
    if not mask_dir.exists():
        raise FileNotFoundError(f"mask folder {mask_dir} does not exist")
    if not mask_dir.is_dir():
        raise FileNotFoundError(f"{mask_dir} is not a folder")
    exts = tuple(e.lower() for e in extensions)

    def is_mask(path):
        return path.is_file() and path.suffix.lower() in exts

    entries = sorted(p for p in mask_dir.iterdir() if not _is_hidden(p))
    folders = [p for p in entries if p.is_dir()]
    top_masks = [p for p in entries if is_mask(p)]
    others = [p for p in entries if p.is_file() and not is_mask(p)]
    if folders and top_masks:
        raise ValueError(
            f"{mask_dir} mixes mask files ({_short_list(top_masks)}) and sub-folders "
            f"({_short_list(folders)}); use either the flat IMA++ layout or one "
            "sub-folder per image"
        )

    rows, skipped = [], []
    if folders:
        layout = "folders"
        empty = []
        for folder in folders:
            n_rows = len(rows)
            for path in sorted(p for p in folder.iterdir() if not _is_hidden(p)):
                if not is_mask(path):
                    others.append(path)
                    continue
                try:
                    fields = parse_mask_filename(path.name)
                except ValueError:
                    fields = {"annotator": path.stem, "tool": None, "skill": None}
                    fields["object_id"], fields["is_consensus"] = None, False
                if fields["is_consensus"] and not include_consensus:
                    skipped.append((str(path), "consensus mask"))
                    continue
                rows.append(_row(folder.name, path, fields))
            if len(rows) == n_rows:
                empty.append(folder)
        if empty and rows:
            # An image folder without masks is most likely a mistake (wrong
            # extension, masks one level deeper): say so rather than lose the image.
            warnings.warn(
                f"{len(empty)} image folder(s) hold no mask file: {_short_list(empty)}",
                UserWarning,
                stacklevel=2,
            )
            skipped.extend((str(p), "no mask in folder") for p in empty)
    else:
        layout = "flat"
        bad = []
        for path in top_masks:
            try:
                fields = parse_mask_filename(path.name)
            except ValueError:
                bad.append(path)
                continue
            if fields["is_consensus"] and not include_consensus:
                skipped.append((str(path), "consensus mask"))
                continue
            rows.append(_row(fields["image_id"], path, fields))
        if bad:
            raise ValueError(
                f"{len(bad)} file(s) in {mask_dir} do not follow the IMA++ mask naming "
                f"ISIC_<id>_<annotator>_<tool>_<skill>_<objectid>.png: {_short_list(bad)}. "
                "Rename them, or put each image's masks in a sub-folder named after the image"
            )

    if others:
        warnings.warn(
            f"skipped {len(others)} file(s) that are not masks "
            f"(extensions {', '.join(exts)}): {_short_list(others)}",
            UserWarning,
            stacklevel=2,
        )
        skipped.extend((str(p), "not a mask file") for p in others)
    if not rows:
        what = f" ({len(skipped)} file(s) skipped)" if skipped else ""
        raise ValueError(f"no mask files found in {mask_dir}{what}")

    masks = pd.DataFrame(rows, columns=_COLUMNS)
    masks = masks.sort_values(["image_id", "mask"], kind="stable", ignore_index=True)
    skipped = pd.DataFrame(skipped, columns=["path", "reason"])
    return Bunch(masks=masks, skipped=skipped, layout=layout)


def _row(image_id, path, fields):
    return (
        image_id,
        str(path),
        path.name,
        fields["annotator"],
        fields["tool"],
        fields["skill"],
        fields["object_id"],
    )
