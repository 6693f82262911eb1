"""The masks of each image in a folder (IMA++ or per-image layout), and their agreement."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._masks import MASK_FILE_EXTENSIONS
from ..agreement import CONSENSUS_CODES, RELEASE_NAMES, EmptyMaskWarning, image_agreement

# The pairwise engine and metric-name validation are the agreement package's
# shared internals (one engine for every builder of pair tables).
from ..agreement._engine import check_labels_option, check_options, map_batches, pairs_frame
from ..agreement._naming import check_metrics
from ..utils import progress
from ._names import parse_mask_filename

_COLUMNS = ["image_id", "path", "mask", "annotator", "tool", "skill", "object_id"]


def _is_hidden(path):
    # .DS_Store, .ipynb_checkpoints and the like are file-system noise, not data.
    return path.name.startswith(".")


def _short_list(items, limit=5):
    """At most ``limit`` names (file names of paths), then how many more."""
    names = [p.name if isinstance(p, Path) else str(p) for p in items]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _mask_suffix(path, exts):
    """The extension of ``path`` among ``exts`` (``.nii.gz`` counts as one), or None."""
    name = path.name.lower()
    return next((e for e in sorted(exts, key=len, reverse=True) if name.endswith(e)), None)


def _mask_stem(path, exts):
    """File name without its mask extension (``A01.nii.gz`` -> ``A01``)."""
    suffix = _mask_suffix(path, exts)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.stem


def find_mask_sets(mask_dir, *, extensions=MASK_FILE_EXTENSIONS, include_consensus=False):
    """Find the annotators' masks of every image in a folder.

    Two layouts are recognised:

    - **flat, IMA++ names**: every mask directly in ``mask_dir``, named
      ``ISIC_<id>_<annotator>_<tool>_<skill>_<objectid>.png`` as in the IMA++
      release; masks are grouped by the image id of their name;
    - **one sub-folder per image**: ``mask_dir/<image_id>/*.png``, the folder
      name being the image id (a case: 2-D images or 3-D volumes).
      Files whose names follow the IMA++ scheme give annotator, tool and
      skill; for other names the annotator is the file name without its
      extension and tool and skill are missing.

    Parameters
    ----------
    mask_dir : str or path-like
        The folder to search (not recursively past the per-image folders).
    extensions : tuple of str, default=(".png", ".npy", ".nii", ".nii.gz")
        File extensions of masks, compared case-insensitively: images, NumPy
        arrays and NIfTI volumes (read by :func:`skiaa._masks.read_mask`).
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
        return path.is_file() and _mask_suffix(path, exts) is not None

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
                    fields = {"annotator": _mask_stem(path, exts), "tool": None, "skill": None}
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


# --------------------------------------------------------------------------- #
# Agreement of a mask folder, in the IMA++ release's layout
# --------------------------------------------------------------------------- #
def _release_metrics(metrics):
    """Validated skiaa metric names, Dice first when it was not asked for."""
    metrics = check_metrics(metrics)
    # Dice is always computed: it defines the IAA, an image's mean pairwise Dice.
    return metrics if "dice" in metrics else ["dice", *metrics]


def _class_values(labels):
    """Validated class values of label maps, or None; every image gets the same columns."""
    if isinstance(labels, str):
        raise ValueError(
            f"labels must name the class values (every image gets the same columns), got "
            f"{labels!r}"
        )
    return check_labels_option(labels)


def _release_pairs(image_id, masks, names, annotators, tools, skills, metrics, options):
    """Release-layout pairs of one image and its pairs with NaN distances."""
    spacing, hd_percentile, empty, labels = options
    pairs, lonely = pairs_frame(
        masks,
        metrics,
        names=names,
        annotators=annotators,
        image_id=image_id,
        spacing=spacing,
        hd_percentile=hd_percentile,
        empty=empty,
        naming="release",
        labels=labels,
    )
    i, j = pairs.pop("index1").to_numpy(), pairs.pop("index2").to_numpy()
    tools, skills = np.asarray(tools, dtype=object), np.asarray(skills, dtype=object)
    pairs["tool1"], pairs["skill_level1"] = tools[i], skills[i]
    pairs["tool2"], pairs["skill_level2"] = tools[j], skills[j]
    return pairs


def _release_batch(batch, metrics, options):
    """Pairs tables of a batch of images (one task per worker batch)."""
    return [_release_pairs(*item, metrics, options) for item in batch]


def _release_tables(
    items,
    metrics,
    *,
    spacing=None,
    hd_percentile="pooled",
    empty="nan",
    n_jobs=None,
    verbose=0,
    labels=None,
):
    """Pairwise and image-level tables of ``items`` in the release's layout.

    ``items`` yields ``(image_id, masks, names, annotators, tools, skills)``
    (masks as arrays or files); ``metrics`` are validated skiaa names. Images
    with fewer than two masks get an image-level row of NaN and ``n_pairs`` 0.
    Images are processed in contiguous batches by threads (the kernels release
    the GIL; arrays are shared rather than pickled to other processes).
    """
    items = list(items)
    multi = [it for it in items if len(it[1]) >= 2]
    options = (spacing, hd_percentile, empty, labels)
    results = map_batches(_release_batch, multi, n_jobs, metrics, options)
    tables = []
    with progress(verbose=verbose, desc="agreement", total=len(multi), unit="image") as bar:
        for batch in results:
            tables.extend(batch)
            bar.update(len(batch))
    if not tables:
        raise ValueError("no image has two or more masks: there is no pair to compare")
    pairs = pd.concat(tables, ignore_index=True)
    images = image_agreement(pairs, metrics, statistics=("mean", "std"))
    # Images without a pair are kept, with NaN statistics and n_pairs = 0, so
    # that the image-level table lists every image of the input.
    images = images.reindex([it[0] for it in items])
    images.index.name = "img_id"
    images["n_pairs"] = images["n_pairs"].fillna(0).astype(np.int64)
    return pairs, images.reset_index()


def mask_folder_agreement(
    mask_dir,
    metrics=None,
    *,
    extensions=MASK_FILE_EXTENSIONS,
    include_consensus=False,
    spacing=None,
    hd_percentile="pooled",
    empty="nan",
    n_jobs=None,
    verbose=0,
    labels=None,
):
    """Agreement between the annotators' masks of every image in a folder.

    The library side of ``skiaa agreement MASK_DIR``: the masks are found by
    :func:`find_mask_sets`, every pair of an image's masks is compared by
    :func:`~skiaa.agreement.pairwise_agreement`, and the pairs are summarised
    per image by :func:`~skiaa.agreement.image_agreement`, both tables in the
    column layout of the IMA++ release's files.

    Parameters
    ----------
    mask_dir : str or path-like
        A folder in one of the layouts of :func:`find_mask_sets`: flat with
        IMA++ mask names, or one sub-folder of masks per image.
    metrics : str or list of str, default=None
        Metric names, skiaa's or the release's (see
        :data:`skiaa.agreement.METRICS`); None means
        :data:`skiaa.agreement.DEFAULT_METRICS`, the release's eight. Dice is
        added in front when missing, as it defines the IAA. Names are checked
        before any file is read.
    extensions : tuple of str, default=(".png", ".npy", ".nii", ".nii.gz")
        File extensions of masks, compared case-insensitively.
    include_consensus : bool, default=False
        Whether to also pair the consensus masks (``ST``, ``MV``) with the
        others in ``pairs``, as the release does. The image-level statistics
        always exclude them.
    spacing : float or sequence of float, default=None
        Pixel (voxel) size along each axis, the same for every image. None
        means the voxel size stored in each case's NIfTI files (compared in
        world space: brought to the first file's orientation, they must lie on
        one voxel grid), else 1.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        See :func:`skiaa.agreement.hd95`; "pooled" is the release's.
    empty : {"nan", "worst"}, default="nan"
        Distances of a pair with exactly one empty mask: NaN, or the image
        diagonal (1.0 normalised). See :func:`skiaa.agreement.pairwise_agreement`.
    n_jobs : int, default=None
        Worker threads processing batches of images; None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 means all cores.
    verbose : int, default=0
        0: silent; 1 or more: a line on stderr saying what was found, and a
        progress bar over the images.
    labels : sequence of int, default=None
        The masks are label maps and these are the class values to measure:
        every metric column (``dice_score``: the mean over the classes) is
        followed by one column per class (``dice_score_label2``), as in
        :func:`~skiaa.agreement.pairwise_agreement`. The classes are named,
        not found (``"all"`` is refused), so that every image has the same
        columns. None: binary masks.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        pairs : pandas.DataFrame
            One row per pair of an image's masks, in the columns of the
            release's ``IMAplusplus_multiannotator_subset_IAA_metrics.csv``:
            ``img_id``, ``mask1``, ``mask2``, ``annotator1``, ``annotator2``,
            one ``<metric>_score`` column per metric, then ``tool1``,
            ``skill_level1``, ``tool2``, ``skill_level2``.
        images : pandas.DataFrame
            One row per image found, sorted by ``img_id``, with columns
            ``img_id``, ``<metric>_score_mean``, ``<metric>_score_std`` and
            ``n_pairs`` (the release's image-level layout, plus the statistics
            of every metric computed). The IAA is ``dice_score_mean``. Images
            with fewer than two annotator masks are kept with NaN statistics
            and ``n_pairs`` 0.
        masks : pandas.DataFrame
            The masks compared, as returned by :func:`find_mask_sets`.
        skipped : pandas.DataFrame
            The files left out, columns ``path`` and ``reason``, as returned
            by :func:`find_mask_sets`.
        layout : {"flat", "folders"}
            The layout found.

    Raises
    ------
    ValueError
        If a metric name is unknown, no image has two or more masks, or for
        any reason of :func:`find_mask_sets` or
        :func:`~skiaa.agreement.pairwise_agreement` (a mask file that cannot be
        read, masks of one image with different shapes, ...), naming the image
        or file.
    FileNotFoundError
        If ``mask_dir`` does not exist or is not a folder.

    Warns
    -----
    UserWarning
        When images have fewer than two annotator masks (they are listed), and
        for the files :func:`find_mask_sets` skips with a warning.
    EmptyMaskWarning
        Once, when pairs have an empty mask (their boundary distances are NaN,
        and so are their image's statistics).

    See Also
    --------
    find_mask_sets : Only find the masks of each image.
    skiaa.AgreementTransformer : Per-image agreement of in-memory masks.
    skiaa.agreement.image_agreement : Summarise a pairs table per image.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from pathlib import Path
    >>> from skiaa.datasets import mask_folder_agreement
    >>> Path("raters").mkdir()
    >>> mask = np.zeros((8, 8), np.uint8)
    >>> for name, rows in [("A01_T1_S1_a", slice(2, 6)), ("A02_T3_S2_b", slice(2, 7)),
    ...                    ("A03_T1_S1_c", slice(3, 6))]:
    ...     mask[:] = 0
    ...     mask[rows, 2:6] = 255
    ...     Image.fromarray(mask).save(f"raters/ISIC_0000001_{name}.png")
    >>> result = mask_folder_agreement("raters", ["dice", "hd95"])
    >>> result.pairs[["annotator1", "annotator2", "dice_score", "hd95_score", "tool2"]]
      annotator1 annotator2  dice_score  hd95_score tool2
    0        A01        A02    0.888889         1.0    T3
    1        A01        A03    0.857143         1.0    T1
    2        A02        A03    0.750000         1.0    T1
    >>> result.images[["img_id", "dice_score_mean", "n_pairs"]]
             img_id  dice_score_mean  n_pairs
    0  ISIC_0000001         0.832011        3
    """
    # A misspelt metric or option fails here, before the folder is read.
    metrics = _release_metrics(metrics)
    check_options(hd_percentile, empty)
    labels = _class_values(labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = find_mask_sets(
            mask_dir, extensions=extensions, include_consensus=include_consensus
        )
    masks = found.masks
    if verbose:
        n_consensus = int((found.skipped["reason"] == "consensus mask").sum())
        skipped = f"; {n_consensus} consensus masks skipped" if n_consensus else ""
        print(
            f"Found {len(masks)} masks of {masks['image_id'].nunique()} images in "
            f"{mask_dir} ({found.layout} layout{skipped}).",
            file=sys.stderr,
        )
    # Said after what was found, which they qualify, and from the caller's line.
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    items = [
        (
            image_id,
            group["path"].tolist(),
            group["mask"].tolist(),
            group["annotator"].tolist(),
            group["tool"].tolist(),
            group["skill"].tolist(),
        )
        for image_id, group in masks.groupby("image_id", sort=True)
    ]
    # Consensus masks, when included, are paired but never count as annotators.
    is_annotator = ~masks["annotator"].isin(list(CONSENSUS_CODES))
    per_image = (
        masks[is_annotator]
        .groupby("image_id")
        .size()
        .reindex([it[0] for it in items], fill_value=0)
    )
    lonely = per_image.index[per_image < 2].tolist()
    if lonely:
        warnings.warn(
            f"{len(lonely)} image(s) have fewer than 2 annotator masks, so no agreement "
            f"(NaN statistics and n_pairs = 0 in the image-level table): {_short_list(lonely)}",
            UserWarning,
            stacklevel=2,
        )
    pairs, images = _release_tables(
        items,
        metrics,
        spacing=spacing,
        hd_percentile=hd_percentile,
        empty=empty,
        n_jobs=n_jobs,
        verbose=verbose,
        labels=labels,
    )
    metric_cols = [c for c in pairs.columns if c in RELEASE_NAMES.values()]
    n_nan = int(pairs[metric_cols].isna().any(axis=1).sum())
    if n_nan:
        warnings.warn(
            f"{n_nan} pair(s) have an empty mask; their boundary distances are NaN",
            EmptyMaskWarning,
            stacklevel=2,
        )
    return Bunch(
        pairs=pairs, images=images, masks=masks, skipped=found.skipped, layout=found.layout
    )


def lesions_agreement(
    data,
    metrics=None,
    *,
    spacing=None,
    hd_percentile="pooled",
    empty="nan",
    n_jobs=None,
    verbose=0,
    labels=None,
):
    """Agreement between the synthetic annotators' masks of :func:`make_lesions`.

    The same tables as :func:`mask_folder_agreement`, in the IMA++ release's
    layout, for data generated in memory (``skiaa agreement --demo``). Mask
    names are ``<image_id>_<annotator>_<tool>_<skill>_<j>``, ``j`` the mask's
    position in its image.

    Parameters
    ----------
    data : :class:`~sklearn.utils.Bunch`
        As returned by :func:`make_lesions` (``image_ids``, ``masks``,
        ``annotators``, ``tools``, ``skills``).
    metrics : str or list of str, default=None
        As in :func:`mask_folder_agreement`; Dice is added when missing.
    spacing : float or sequence of float, default=None
        Pixel (voxel) size along each axis, the same for every image; None
        means 1.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        As in :func:`mask_folder_agreement`.
    empty : {"nan", "worst"}, default="nan"
        As in :func:`mask_folder_agreement`.
    n_jobs : int, default=None
        Worker threads processing batches of images.
    verbose : int, default=0
        A progress bar over the images when > 0.
    labels : sequence of int, default=None
        The masks are label maps and these are the class values to measure,
        as in :func:`mask_folder_agreement`. None: binary masks.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        pairs : pandas.DataFrame
            One row per pair of an image's masks (see
            :func:`mask_folder_agreement`).
        images : pandas.DataFrame
            One row per image, ``img_id``, ``<metric>_score_mean``,
            ``<metric>_score_std`` and ``n_pairs``; the IAA is
            ``dice_score_mean``.

    Raises
    ------
    ValueError
        If a metric name is unknown.

    See Also
    --------
    mask_folder_agreement : the same for a folder of mask files.

    Examples
    --------
    >>> from skiaa.datasets import lesions_agreement, make_lesions
    >>> data = make_lesions(3, image_size=32, n_masks=2, random_state=0)
    >>> result = lesions_agreement(data, ["dice"])
    >>> result.images.columns.tolist()
    ['img_id', 'dice_score_mean', 'dice_score_std', 'n_pairs']
    >>> result.images["n_pairs"].tolist()
    [1, 1, 1]
    """
    metrics = _release_metrics(metrics)
    check_options(hd_percentile, empty)
    items = []
    for image_id, masks, ann, tools, skills in zip(
        data.image_ids, data.masks, data.annotators, data.tools, data.skills
    ):
        names = [
            f"{image_id}_{a}_{t}_{s}_{j}" for j, (a, t, s) in enumerate(zip(ann, tools, skills))
        ]
        items.append((str(image_id), masks, names, list(ann), list(tools), list(skills)))
    pairs, images = _release_tables(
        items,
        metrics,
        spacing=spacing,
        hd_percentile=hd_percentile,
        empty=empty,
        n_jobs=n_jobs,
        verbose=verbose,
        labels=_class_values(labels),
    )
    return Bunch(pairs=pairs, images=images)
