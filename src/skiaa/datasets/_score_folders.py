"""A folder of predicted masks scored against a folder of annotators' masks."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..agreement import EmptyMaskWarning, score_segmentation, summarize_scores
from ..utils import progress
from ._mask_folders import _is_hidden, _short_list, find_mask_sets

__all__ = ["score_mask_folder"]


def _match_predictions(pred_dir, image_ids, extensions):
    """Map each image id to its prediction file; return (matches, unmatched files).

    A prediction belongs to an image when its file stem is the image id, or the
    image id followed by ``_`` and a suffix (``ISIC_0000000_segmentation.png``,
    the ISIC challenge's naming).
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.exists():
        raise FileNotFoundError(f"prediction folder {pred_dir} does not exist")
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir} is not a folder")
    exts = tuple(e.lower() for e in extensions)
    files = sorted(
        p
        for p in pred_dir.iterdir()
        if p.is_file() and not _is_hidden(p) and p.suffix.lower() in exts
    )
    if not files:
        raise ValueError(f"no prediction files ({', '.join(exts)}) found in {pred_dir}")
    by_image = {}
    used = set()
    ids = set(image_ids)
    for path in files:
        stem = path.stem
        owner = stem if stem in ids else None
        if owner is None:
            # Longest image id that prefixes the stem followed by "_".
            parts = stem.split("_")
            for cut in range(len(parts) - 1, 0, -1):
                head = "_".join(parts[:cut])
                if head in ids:
                    owner = head
                    break
        if owner is None:
            continue
        if owner in by_image:
            raise ValueError(
                f"image {owner} has several predictions in {pred_dir}: "
                f"{by_image[owner].name} and {path.name}"
            )
        by_image[owner] = path
        used.add(path)
    unmatched = [p for p in files if p not in used]
    return by_image, unmatched


def _score_one(image_id, pred_path, mask_paths, annotators, metrics, kwargs):
    """Scores of one image (runs in a worker thread).

    Per-pair empty-mask warnings are silenced by the caller for the whole run
    (a filter set in the main thread, which worker threads see) and summed up
    in one warning: ``catch_warnings`` inside a thread is not safe.
    """
    return score_segmentation(
        pred_path, mask_paths, metrics, annotators=annotators, image_id=image_id, **kwargs
    )


def score_mask_folder(
    pred_dir,
    mask_dir,
    metrics=None,
    *,
    consensus="staple",
    threshold=0.65,
    hd_percentile="pooled",
    empty="nan",
    extensions=(".png",),
    missing="raise",
    n_jobs=None,
    verbose=0,
):
    """Score a folder of predicted masks against the annotators' masks of each image.

    The library side of ``skiaa score PRED_DIR MASK_DIR``: the annotators'
    masks are found by :func:`find_mask_sets`, each image's prediction is
    matched by name and scored by :func:`skiaa.agreement.score_segmentation`,
    and the images are summarised by :func:`skiaa.agreement.summarize_scores`.

    Parameters
    ----------
    pred_dir : str or path-like
        Folder of predicted binary masks (0/255 or 0/1 PNG), one per image,
        named after the image (``<image_id>.png``) or the image id followed by
        ``_`` and anything (``<image_id>_segmentation.png``, the ISIC naming).
    mask_dir : str or path-like
        The annotators' masks, in a layout of :func:`find_mask_sets` (consensus
        masks ``ST``/``MV`` are not annotators and are skipped).
    metrics : str or list of str, default=None
        Metric names of :func:`skiaa.agreement.score_segmentation`; None means
        :data:`skiaa.agreement.SCORE_METRICS`. Checked before any file is read.
    consensus : {"staple", "majority"}, default="staple"
        The consensus the prediction is also scored against.
    threshold : float, default=0.65
        Threshold of ``threshold_jaccard``.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 definition; see :func:`skiaa.agreement.hd95`.
    empty : {"nan", "worst"}, default="nan"
        Distances when exactly one mask of a pair is empty (an empty
        prediction, say): NaN, or the image diagonal (the release's worst case).
    extensions : tuple of str, default=(".png",)
        File extensions of masks and predictions, compared case-insensitively.
    missing : {"raise", "skip"}, default="raise"
        What to do when an image with annotators' masks has no prediction:
        raise a ``ValueError`` listing them, or leave them out with a warning
        (they are listed in ``missing`` of the result). Scoring a subset
        changes every mean, so it is never done silently.
    n_jobs : int, default=None
        Images scored in parallel by joblib (-1: all cores).
    verbose : int, default=0
        Show a progress bar over images when > 0.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        images : pandas.DataFrame
            One row per image and metric, the ``summary`` columns of
            :class:`skiaa.agreement.SegmentationScore` (``image_id``,
            ``metric``, ``model_mean``, ... ``percentile``, ``n_annotators``)
            plus ``prediction`` (the file name).
        annotators : pandas.DataFrame
            One row per annotator mask: ``image_id``, ``index``, ``annotator``,
            then the prediction's value of each metric against that mask.
        summary : pandas.DataFrame
            :func:`skiaa.agreement.summarize_scores` of ``images``.
        missing : list of str
            Image ids without a prediction (empty unless ``missing="skip"``).
        unmatched : list of str
            Prediction files that match no image (listed, otherwise ignored).
        skipped : pandas.DataFrame
            Files of ``mask_dir`` left out by :func:`find_mask_sets`.

    Raises
    ------
    ValueError
        If a parameter is unknown, no prediction matches, an image lacks its
        prediction (with ``missing="raise"``), has fewer than two annotator
        masks, or two predictions; if a mask or prediction file cannot be read
        or their shapes differ (naming the image).
    FileNotFoundError
        If a folder does not exist.

    Warns
    -----
    UserWarning
        When predictions are missing (``missing="skip"``) or unmatched, and
        once when images have undefined distances (an empty mask beside a
        non-empty one: their rows hold NaN).

    See Also
    --------
    skiaa.agreement.score_segmentation : the same for one image in memory.
    mask_folder_agreement : the annotators' agreement alone.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from pathlib import Path
    >>> from skiaa.datasets import score_mask_folder
    >>> Path("annotators").mkdir(); Path("model").mkdir()
    >>> mask = np.zeros((8, 8), np.uint8)
    >>> for name, rows in [("A01_T1_S1_a", slice(2, 6)), ("A02_T3_S2_b", slice(2, 7)),
    ...                    ("A03_T1_S1_c", slice(3, 6))]:
    ...     mask[:] = 0
    ...     mask[rows, 2:6] = 255
    ...     Image.fromarray(mask).save(f"annotators/ISIC_0000001_{name}.png")
    >>> mask[:] = 0; mask[2:6, 2:6] = 255
    >>> Image.fromarray(mask).save("model/ISIC_0000001_segmentation.png")
    >>> result = score_mask_folder("model", "annotators", ["dice"])
    >>> result.images[["image_id", "model_mean", "human_mean", "percentile"]].round(3)
           image_id  model_mean  human_mean  percentile
    0  ISIC_0000001       0.915       0.832       100.0
    """
    # Every parameter is checked, and metric names made skiaa's, by scoring a
    # 1-pixel image the way every image will be scored, before any file is read.
    probe = score_segmentation(
        np.zeros((1, 1), bool),
        np.zeros((2, 1, 1), bool),
        metrics,
        consensus=consensus,
        threshold=threshold,
        hd_percentile=hd_percentile,
        empty=empty,
    )
    names = probe.summary["metric"].tolist()
    if missing not in ("raise", "skip"):
        raise ValueError(f"missing must be 'raise' or 'skip', got {missing!r}")
    found = find_mask_sets(mask_dir, extensions=extensions)
    groups = {image_id: part for image_id, part in found.masks.groupby("image_id", sort=True)}
    matches, unmatched = _match_predictions(pred_dir, list(groups), extensions)
    if not matches:
        raise ValueError(
            f"no prediction in {pred_dir} matches an image of {mask_dir} (predictions are "
            f"matched by name: <image_id>.png or <image_id>_*.png; found "
            f"{_short_list(unmatched)})"
        )
    absent = [image_id for image_id in groups if image_id not in matches]
    if absent and missing == "raise":
        raise ValueError(
            f"{len(absent)} of {len(groups)} images have no prediction in {pred_dir}: "
            f"{_short_list(absent)} (missing='skip', or --skip-missing, scores the others)"
        )
    if absent:
        warnings.warn(
            f"{len(absent)} images have no prediction and are left out: {_short_list(absent)}",
            UserWarning,
            stacklevel=2,
        )
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} prediction files match no image and are ignored: "
            f"{_short_list(unmatched)}",
            UserWarning,
            stacklevel=2,
        )
    kwargs = {"consensus": consensus, "threshold": threshold}
    kwargs.update(hd_percentile=hd_percentile, empty=empty)
    items = [
        (
            image_id,
            str(matches[image_id]),
            part["path"].tolist(),
            part["annotator"].tolist(),
        )
        for image_id, part in groups.items()
        if image_id in matches
    ]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=EmptyMaskWarning)
        if n_jobs == 1 or n_jobs is None:
            results = (_score_one(*it, names, kwargs) for it in items)
        else:
            from joblib import Parallel, delayed

            jobs = (delayed(_score_one)(*it, names, kwargs) for it in items)
            # Threads: PNG decoding and the numpy/scipy kernels release the GIL,
            # and nothing has to be pickled to another process.
            results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)
        bar = progress(results, verbose=verbose, desc="score", total=len(items), unit="image")
        scores = list(bar)
    images = pd.concat([s.summary for s in scores], ignore_index=True)
    images.insert(2, "prediction", images["image_id"].map(lambda i: matches[i].name))
    annotators = pd.concat([s.annotators for s in scores], ignore_index=True)
    nan = images[["model_mean", "human_mean"]].isna().any(axis=1)
    undefined = images.loc[nan, "image_id"].unique()
    if undefined.size:
        warnings.warn(
            f"{undefined.size} images have undefined boundary distances (an empty mask "
            f"beside a non-empty one; their rows hold NaN): {_short_list(list(undefined))}",
            EmptyMaskWarning,
            stacklevel=2,
        )
    return Bunch(
        images=images,
        annotators=annotators,
        summary=summarize_scores(images),
        missing=absent,
        unmatched=[p.name for p in unmatched],
        skipped=found.skipped,
    )
