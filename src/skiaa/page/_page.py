"""The disagreement page: what a study's annotators disagree on, image by image.

The page shows results, it does not compute them: the pairwise and image
tables come from :func:`skiaa.datasets.mask_folder_agreement` (or
:func:`~skiaa.datasets.lesions_agreement` for masks in memory), each annotator
against the others' consensus from
:func:`skiaa.agreement.annotator_vs_consensus`, the disagreement map from
:func:`skiaa.agreement.uncertainty_map`. This module lays them out.
"""

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.utils import Bunch

from .._docstring import Substitution

# The masks' own NIfTI reader and reorientation: an image volume must be read
# exactly as its masks are, or the outlines would fall on other voxels.
from .._masks import (
    _grid_difference,
    _read_nifti,
    _reorient,
    check_mask_stack,
    load_mask_stack,
)
from ..agreement import (
    CONSENSUS_CODES,
    RELEASE_NAMES,
    annotator_vs_consensus,
    uncertainty_map,
)
from ..datasets import lesions_agreement, load_images, mask_folder_agreement
from ..utils import OutputFolder, progress
from . import _figures, _html
from ._render import (
    PALETTE,
    as_rgb,
    centre_slice,
    colour_table,
    fit_size,
    jpeg_bytes,
    map_picture,
    outline_picture,
)

#: File name of the page in the output folder.
PAGE_FILE = "disagreement.html"
#: Folder beside the page holding its pictures (referenced relatively).
FILES_DIR = "disagreement_files"

#: Extensions of image files :func:`find_images` looks for (volumes: ``.npy``, NIfTI).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".npy", ".nii", ".nii.gz")
_CONSENSUS_METHODS = ("staple", "majority")
_FROM_RELEASE = {v: k for k, v in RELEASE_NAMES.items()}


# --------------------------------------------------------------------------- #
# Checks before any work
# --------------------------------------------------------------------------- #
def _check_size(value, name, *, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 16:
        allowed = "None or an int" if allow_none else "an int"
        raise ValueError(f"{name} must be {allowed} of at least 16 (pixels), got {value!r}")
    return int(value)


def _check_page_options(consensus, thumbnail_size, detail_size):
    if consensus not in _CONSENSUS_METHODS:
        raise ValueError(f"consensus must be one of {_CONSENSUS_METHODS}, got {consensus!r}")
    thumbnail_size = _check_size(thumbnail_size, "thumbnail_size")
    detail_size = _check_size(detail_size, "detail_size", allow_none=True)
    if detail_size is not None and detail_size <= thumbnail_size:
        raise ValueError(
            f"detail_size ({detail_size}) must be larger than thumbnail_size "
            f"({thumbnail_size}), or None for no larger view"
        )
    return thumbnail_size, detail_size


def _check_labels(labels):
    if labels is None:
        return None
    if isinstance(labels, str) or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in labels
    ):
        raise ValueError(f"labels must be None or a list of int class values, got {labels!r}")
    return [int(c) for c in labels]


def _output_names(tables, labels=None):
    names = [f"{FILES_DIR}/"] + [page_name(tag) for tag, _ in _views(labels)]
    if tables is not None:
        tables = tuple(tables)
        if len(tables) != 2 or not all(isinstance(t, str) and t for t in tables):
            raise ValueError(
                f"tables must be two file names (pairs table, image table), got {tables!r}"
            )
        names.extend(tables)
    return names, tables


# --------------------------------------------------------------------------- #
# Images
# --------------------------------------------------------------------------- #
def _image_suffix(path):
    name = path.name.lower()
    return next(
        (e for e in sorted(IMAGE_EXTENSIONS, key=len, reverse=True) if name.endswith(e)), None
    )


def find_images(image_dir, image_ids):
    """Find the image file of each image id in a folder.

    Parameters
    ----------
    image_dir : str or path-like
        The folder, holding files named ``<image id>`` plus one of
        :data:`IMAGE_EXTENSIONS` (compared case-insensitively; hidden files
        are ignored).
    image_ids : sequence of str
        The ids to look for.

    Returns
    -------
    found : dict of str to pathlib.Path
        The file of each id that has one.
    missing : list of str
        The ids without a file, in the order of ``image_ids``.

    Raises
    ------
    FileNotFoundError
        If ``image_dir`` is not a folder.
    ValueError
        If an id has several files (``ISIC_1.jpg`` and ``ISIC_1.png``): which
        one is meant cannot be guessed.

    Examples
    --------
    >>> from pathlib import Path
    >>> from skiaa.page import find_images
    >>> Path("photos").mkdir()
    >>> _ = Path("photos/ISIC_0000001.JPG").write_bytes(b"")
    >>> found, missing = find_images("photos", ["ISIC_0000001", "ISIC_0000002"])
    >>> found["ISIC_0000001"].name, missing
    ('ISIC_0000001.JPG', ['ISIC_0000002'])
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder {image_dir} does not exist or is not a folder")
    candidates = {}
    for path in sorted(image_dir.iterdir()):
        suffix = _image_suffix(path)
        if suffix is None or path.name.startswith(".") or not path.is_file():
            continue
        candidates.setdefault(path.name[: len(path.name) - len(suffix)], []).append(path)
    found, missing = {}, []
    for image_id in image_ids:
        paths = candidates.get(str(image_id), [])
        if len(paths) > 1:
            raise ValueError(
                f"image {image_id}: several image files in {image_dir}: "
                f"{', '.join(p.name for p in paths)}; keep one"
            )
        if paths:
            found[image_id] = paths[0]
        else:
            missing.append(image_id)
    return found, missing


def _mask_affine(masks):
    """Voxel-to-world affine of the first NIfTI file among ``masks`` (None if none).

    The mask reader brings every mask of an image to that file's orientation.
    """
    for item in masks if not isinstance(masks, np.ndarray) else ():
        if isinstance(item, (str, os.PathLike)) and _image_suffix(Path(item)) in (
            ".nii",
            ".nii.gz",
        ):
            return _read_nifti(Path(item))[1]
    return None


def _read_nifti_image(path, mask_shape, reference, image_id):
    """A NIfTI image volume in the orientation and on the grid of its masks."""
    image, affine = _read_nifti(path)
    if image.ndim != len(mask_shape) or affine is None or reference is None:
        return image  # checked against the masks' shape by the caller
    image, affine = _reorient(image, affine, reference)
    differs = _grid_difference(image.shape, affine, tuple(mask_shape), reference)
    if differs is not None:
        raise ValueError(
            f"image {image_id}: {path.name} does not lie on its masks' voxel grid "
            f"(they differ in {differs}); the outlines would fall on other voxels"
        )
    return image


def _read_image(path, mask_shape, image_id, reference=None):
    """The image at ``path`` as an array whose leading axes are ``mask_shape``.

    ``reference`` is the affine of the masks' NIfTI files, to which a NIfTI
    image is reoriented as the masks are.
    """
    path = Path(path)
    suffix = _image_suffix(path)
    if suffix == ".npy":
        try:
            image = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"image {image_id}: cannot read {path}: {exc}") from exc
    elif suffix in (".nii", ".nii.gz"):
        image = _read_nifti_image(path, mask_shape, reference, image_id)
    else:
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, ValueError) as exc:
            raise ValueError(f"image {image_id}: cannot read {path}: {exc}") from exc
        if (height, width) != tuple(mask_shape):
            raise ValueError(
                f"image {image_id}: {path.name} is {height} x {width} pixels but its masks "
                f"are {' x '.join(map(str, mask_shape))}; the outlines would not fall on "
                "the lesion"
            )
        return load_images([path], (height, width))[0]
    image = np.asarray(image)
    if image.shape[: len(mask_shape)] != tuple(mask_shape) or image.ndim > len(mask_shape) + 1:
        raise ValueError(
            f"image {image_id}: {path.name} has shape {image.shape} but its masks have "
            f"shape {tuple(mask_shape)}; the outlines would not fall on the structure"
        )
    return image


def _check_image_array(image, mask_shape, image_id):
    image = np.asarray(image)
    ok = image.shape[: len(mask_shape)] == tuple(mask_shape) and (
        image.ndim == len(mask_shape)
        or (image.ndim == len(mask_shape) + 1 and image.shape[-1] in (1, 3, 4))
    )
    if not ok:
        raise ValueError(
            f"image {image_id}: the image has shape {image.shape} but its masks have shape "
            f"{tuple(mask_shape)}; the outlines would not fall on the lesion"
        )
    return image


# --------------------------------------------------------------------------- #
# One image: its pictures, its pairs, each annotator against the others
# --------------------------------------------------------------------------- #
def _leave_one_out(stack, annotators, consensus, image_id):
    """Dice of each mask with the consensus of the other annotators' masks (NaN if none)."""
    if stack.shape[0] < 2 or len(set(annotators)) < 2:
        return np.full(stack.shape[0], np.nan)
    table = annotator_vs_consensus(
        stack, annotators, method=consensus, metrics=["dice"], image_id=image_id, exclude=()
    )
    return table["dice"].to_numpy(dtype=float)


def _views(labels):
    """``(tag, classes)`` of each page: one for binary masks (classes None); for
    label maps every class together (tag ``""``) then each class alone."""
    if labels is None:
        return [("", None)]
    return [("", tuple(labels))] + [(f"_label{c}", (c,)) for c in labels]


def _read_stack(case, labels):
    image_id = case["image_id"]
    if labels is None:
        stack = check_mask_stack(case["masks"], image_index=image_id, min_masks=1)
    else:
        stack = load_mask_stack(case["masks"], image_index=image_id, min_masks=1, labels=True)[0]
    if stack.ndim > 4:
        raise ValueError(
            f"image {image_id}: the page shows 2-D images and 3-D volumes, "
            f"got masks of shape {stack.shape[1:]}"
        )
    return stack


def _render_view(stacks, image, annotators, number, tag, folder, colours, sizes, lut):
    """The pictures of one view of an image; ``stacks`` one bool stack per class."""
    union = np.any(stacks, axis=0)
    plane = None
    if union.ndim == 4:  # a volume: the slice through the centre of the structure
        plane = centre_slice(union)
        depth = union.shape[1]
        stacks = [stack[:, plane] for stack in stacks]
        image = None if image is None else image[plane]
    image = None if image is None else as_rgb(image)
    shape2d = union.shape[-2:]
    # Where the annotators disagree on any class: the largest entropy over the classes.
    entropy = np.zeros(shape2d)
    for stack in stacks:
        if len(stack):
            entropy = np.maximum(entropy, uncertainty_map(stack).entropy)
    outline_colours = [colours[a] for a in annotators]
    files = {}
    shapes = {size_tag: fit_size(shape2d, size) for size_tag, size in sizes.items() if size}
    for size_tag, shape in shapes.items():
        if size_tag and shape == shapes[""]:
            continue  # a small image: the thumbnail is already its full size
        for kind, picture in (
            ("outlines", outline_picture(image, stacks, outline_colours, shape)),
            ("map", map_picture(image, entropy, shape, lut)),
        ):
            name = f"{number:05d}{tag}-{kind}{size_tag}.jpg"
            (Path(folder) / name).write_bytes(jpeg_bytes(picture))
            files[kind + size_tag] = (f"{FILES_DIR}/{name}", shape)
    return files, None if plane is None else (plane, depth)


def _render_case(case, number, folder, colours, sizes, consensus, lut, views):
    """Write one image's pictures into ``folder``; return its card in each view."""
    image_id = case["image_id"]
    labels = views[0][1]
    stack = _read_stack(case, labels)
    keep = [j for j, a in enumerate(case["annotators"]) if a not in CONSENSUS_CODES]
    stack = stack[keep]
    annotators = [case["annotators"][j] for j in keep]
    image = case["image"]
    if image is not None:
        image = (
            _read_image(image, stack.shape[1:], image_id, _mask_affine(case["masks"]))
            if isinstance(image, (str, os.PathLike))
            else _check_image_array(image, stack.shape[1:], image_id)
        )
    per_class = {} if labels is None else {c: stack == c for c in labels}
    loo_of = {
        c: _leave_one_out(binary, annotators, consensus, image_id)
        for c, binary in per_class.items()
    }
    cards = {}
    for tag, classes in views:
        if classes is None:
            stacks = [stack]
            loo = _leave_one_out(stack, annotators, consensus, image_id)
        else:
            stacks = [per_class[c] for c in classes]
            # Over several classes, the mean of the classes' values, as the tables'
            # mean columns (NaN when a class has none).
            loo = np.mean([loo_of[c] for c in classes], axis=0)
        files, where = _render_view(
            stacks, image, annotators, number, tag, folder, colours, sizes, lut
        )
        cards[tag] = {
            "number": number,
            "image_id": image_id,
            "files": files,
            "masks": [
                {
                    "name": case["names"][j],
                    "annotator": case["annotators"][j],
                    "tool": case["tools"][j],
                    "skill": case["skills"][j],
                    "loo": float(value),
                }
                for j, value in zip(keep, loo)
            ],
            "slice": where,
        }
    return cards


# --------------------------------------------------------------------------- #
# The page
# --------------------------------------------------------------------------- #
def _annotator_colours(cases):
    codes = sorted(
        {a for case in cases for a in case["annotators"] if a not in CONSENSUS_CODES}, key=str
    )
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(codes)}


def _metric_columns(pairs):
    return [c for c in pairs.columns if c in _FROM_RELEASE and c != "img_id"]


def _summary(cards, pairs, images, colours):
    """Summary figures (PNG bytes) and per-annotator rows."""
    iaa = images["dice_score_mean"].to_numpy(dtype=float)
    loo = {}
    tools, skills, image_sets = {}, {}, {}
    for card in cards:
        for mask in card["masks"]:
            code = mask["annotator"]
            loo.setdefault(code, []).append(mask["loo"])
            tools.setdefault(code, set()).add(mask["tool"])
            skills.setdefault(code, set()).add(mask["skill"])
            image_sets.setdefault(code, set()).add(card["image_id"])
    rows = []
    for code, values in loo.items():
        values = np.asarray(values, dtype=float)
        finite = values[np.isfinite(values)]
        rows.append(
            {
                "annotator": code,
                "colour": colours[code],
                "tools": sorted(str(t) for t in tools[code] if t is not None),
                "skills": sorted(str(s) for s in skills[code] if s is not None),
                "images": len(image_sets[code]),
                "masks": len(values),
                "loo_mean": float(finite.mean()) if finite.size else float("nan"),
                "loo_median": float(np.median(finite)) if finite.size else float("nan"),
            }
        )
    rows.sort(key=lambda r: (np.nan_to_num(r["loo_mean"], nan=2.0), str(r["annotator"])))
    figures = [("Agreement per image", _figures.iaa_histogram(iaa))]
    with_values = {r["annotator"]: loo[r["annotator"]] for r in rows if np.isfinite(r["loo_mean"])}
    if with_values:
        figures.append(
            (
                "Each annotator against the others' consensus",
                _figures.boxes(
                    {str(k): v for k, v in with_values.items()},
                    "Dice with the leave-one-out consensus",
                    "Each annotator against the others' consensus",
                    {str(k): colours[k] for k in with_values},
                ),
            )
        )
    with_tools = pairs[pairs[["tool1", "tool2"]].notna().all(axis=1)]
    if len(with_tools):
        # A pair is unordered: T3 - T1 is T1 - T3.
        first = with_tools[["tool1", "tool2"]].astype(str).min(axis=1)
        second = with_tools[["tool1", "tool2"]].astype(str).max(axis=1)
        by_tools = {
            f"{t1} – {t2}": group["dice_score"].to_numpy(dtype=float)
            for (t1, t2), group in with_tools.groupby([first, second])
        }
        figures.append(
            (
                "Pairwise Dice by the pair's tools",
                _figures.boxes(by_tools, "pairwise Dice", "Pairwise Dice by the pair's tools"),
            )
        )
    return figures, rows


def _matrix(pairs):
    """``{(annotator, annotator): (mean pairwise Dice, pairs)}``, both orders of each pair."""
    cells = {}
    for a1, a2, value in zip(pairs["annotator1"], pairs["annotator2"], pairs["dice_score"]):
        for key in ((a1, a2), (a2, a1)):
            cells.setdefault(key, []).append(value)
    return {key: (float(np.mean(values)), len(values)) for key, values in cells.items()}


def page_name(tag):
    """File name of a view's page: the page itself, or one class's (``_label2``)."""
    return PAGE_FILE if not tag else PAGE_FILE.replace(".html", f"{tag}.html")


def _view_table(table, tag):
    """``table`` with one class's columns (``dice_score_label2``) under the plain names."""
    if not tag:
        return table
    table = table.copy()
    for column in list(table.columns):
        if tag + "_" in column or column.endswith(tag):
            table[column.replace(tag, "", 1)] = table[column]
    return table


def _worst_first(cards, images):
    """Cards by agreement, worst first; images without agreement (no pair) last."""
    iaa = dict(zip(images["img_id"], images["dice_score_mean"]))

    def key(card):
        value = iaa.get(card["image_id"], np.nan)
        known = bool(np.isfinite(value))
        return (not known, value if known else 0.0, str(card["image_id"]))

    return sorted(cards, key=key)


def _build(
    folder,
    cases,
    tables,
    *,
    labels,
    table_files,
    consensus,
    thumbnail_size,
    detail_size,
    title,
    verbose,
):
    """Render every case and write the pages (and the tables) as one set of files."""
    views = _views(labels)
    colours = _annotator_colours(cases)
    lut = colour_table()
    sizes = {"": thumbnail_size, "-large": detail_size}
    cards = []

    def write_pictures(folder):
        for number, case in enumerate(
            progress(cases, verbose=verbose, desc="page", unit="image"), start=1
        ):
            cards.append(_render_case(case, number, folder, colours, sizes, consensus, lut, views))

    navigation = (
        None
        if labels is None
        else [("every class", page_name(""))]
        + [(f"class {c}", page_name(tag)) for tag, (c,) in views[1:]]
    )

    def page_writer(tag):
        def write_page(path):
            pairs = _view_table(tables.pairs, tag)
            images = _view_table(tables.images, tag)
            # Consensus masks (when the pairs table includes them) are not annotators.
            codes = list(CONSENSUS_CODES)
            is_annotator = ~(pairs["annotator1"].isin(codes) | pairs["annotator2"].isin(codes))
            annotator_pairs = pairs[is_annotator]
            view_cards = _worst_first([card[tag] for card in cards], images)
            figures, annotator_rows = _summary(view_cards, annotator_pairs, images, colours)
            page = _html.page(
                title=title if not tag else f"{title}, class {tag.removeprefix('_label')}",
                cards=view_cards,
                stats=images.set_index("img_id"),
                pairs_by_image=dict(list(annotator_pairs.groupby("img_id", sort=False))),
                metric_columns=_metric_columns(pairs),
                metric_names=_FROM_RELEASE,
                figures=figures,
                annotators=annotator_rows,
                # Beyond 40 annotators the table is wider than any screen.
                matrix=_matrix(annotator_pairs) if len(annotator_rows) <= 40 else None,
                colours=colours,
                consensus=consensus,
                table_files=table_files,
                navigation=navigation,
                current=page_name(tag),
            )
            Path(path).write_text(page, encoding="utf-8")

        return write_page

    writers = {f"{FILES_DIR}/": write_pictures}
    writers.update({page_name(tag): page_writer(tag) for tag, _ in views})
    if table_files is not None:
        writers[table_files[0]] = lambda path: tables.pairs.to_csv(path, index=False)
        writers[table_files[1]] = lambda path: tables.images.to_csv(path, index=False)
    folder.commit(writers)
    return Bunch(
        path=folder.path / PAGE_FILE,
        pairs=tables.pairs,
        images=tables.images,
        annotators=_annotators_frame(cards, views),
    )


def _annotators_frame(cards, views):
    import pandas as pd

    rows = []
    for card in cards:
        for j, mask in enumerate(card[""]["masks"]):
            row = {
                "image_id": card[""]["image_id"],
                "mask": mask["name"],
                "annotator": mask["annotator"],
                "tool": mask["tool"],
                "skill": mask["skill"],
                "dice_vs_others": mask["loo"],
            }
            for tag, _ in views[1:]:
                row[f"dice_vs_others{tag}"] = card[tag]["masks"][j]["loo"]
            rows.append(row)
    columns = ["image_id", "mask", "annotator", "tool", "skill", "dice_vs_others"]
    return pd.DataFrame(rows, columns=columns + [f"dice_vs_others{t}" for t, _ in views[1:]])


_PAGE_PARAMETERS = """hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
    See :func:`skiaa.agreement.hd95`.
empty : {"nan", "worst"}, default="nan"
    See :func:`skiaa.agreement.pairwise_agreement`.
labels : list of int, default=None
    The masks are label maps and these are their class values (as in
    :func:`skiaa.datasets.mask_folder_agreement`): the page shows every
    class together (outlines of each class, agreement the mean over the
    classes) and links one page per class, ``disagreement_label<c>.html``,
    with that class's outlines, map, agreement and tables, and the slice
    of a volume through that class's centre. None: binary masks.
consensus : {"staple", "majority"}, default="staple"
    The consensus each annotator is compared with, made from the *other*
    annotators' masks of the image (see
    :func:`skiaa.agreement.annotator_vs_consensus`).
thumbnail_size : int, default=256
    Longest side, in pixels, of the pictures in the page's grid.
detail_size : int or None, default=768
    Longest side of the larger pictures shown when a picture is clicked
    (loaded only then); None writes no larger pictures, which halves the
    files of a large study. Pictures are never enlarged beyond the masks'
    size.
title : str, default=None
    Title of the page; None names the input.
tables : tuple of two str, default=None
    File names under which to write the pairwise and image-level tables
    (the IMA++ release's layout, as :func:`skiaa.datasets.mask_folder_agreement`
    returns them) beside the page, in the same set of files; None writes
    the page only.
force : bool, default=False
    Whether to replace an existing page (and tables) in ``out``.
wait : bool, default=False
    When another skiaa run is writing to ``out``, wait for it to end instead
    of raising. ``out`` is locked from the check to the last file written.
n_jobs : int, default=None
    Worker threads computing the agreement tables.
verbose : int, default=0
    Progress bars on stderr when > 0."""

_PAGE_RETURNS = """result : :class:`~sklearn.utils.Bunch`
    path : pathlib.Path
        The page, ``out/disagreement.html``; its pictures are in
        ``out/disagreement_files/``.
    pairs : pandas.DataFrame
        The pairwise table (one row per pair of masks of an image).
    images : pandas.DataFrame
        The image-level table; the agreement (IAA) is ``dice_score_mean``.
    annotators : pandas.DataFrame
        One row per annotator mask shown: ``image_id``, ``mask``,
        ``annotator``, ``tool``, ``skill`` and ``dice_vs_others``, the Dice
        of the mask with the consensus of the other annotators' masks (NaN
        when no other annotator marked the image)."""


def _per_image(values, n, name, default):
    """``values`` as a list of one entry per image (``default(i)`` where None)."""
    if values is None:
        return [default(i) for i in range(n)]
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} must have one entry per image ({n}), got {len(values)}")
    return values


def _per_mask(values, k, name, image_id, default):
    if values is None:
        return [default(j) for j in range(k)]
    values = list(values)
    if len(values) != k:
        raise ValueError(
            f"image {image_id}: {name} must have one entry per mask ({k}), got {len(values)}"
        )
    return values


@Substitution(page_parameters=_PAGE_PARAMETERS, page_returns=_PAGE_RETURNS)
def disagreement_page(
    out,
    masks,
    images=None,
    *,
    image_ids=None,
    annotators=None,
    tools=None,
    skills=None,
    metrics=None,
    spacing=None,
    hd_percentile="pooled",
    empty="nan",
    labels=None,
    consensus="staple",
    thumbnail_size=256,
    detail_size=768,
    title=None,
    tables=None,
    force=False,
    wait=False,
    n_jobs=None,
    verbose=0,
):
    """Write a page showing where the annotators of each image disagree.

    One self-contained HTML page, ``out/disagreement.html``, that opens from
    the file system without a network (its pictures are files in
    ``out/disagreement_files/``, referenced relatively): the images sorted
    by agreement, worst first, each with every annotator's outline over the
    image in the annotator's colour, the disagreement map (the pixel entropy
    of :func:`skiaa.agreement.uncertainty_map`), its pairwise table and each
    annotator's Dice with the consensus of the others; filters by annotator
    and tool; and summary figures (agreement per image, each annotator
    against the others, pairwise Dice by tools) with a table of who agrees
    with whom. For 3-D volumes the pictures show the slice (along the first
    axis) through the centre of the union of the masks.

    Parameters
    ----------
    out : str or path-like
        Output folder (created if needed).
    masks : sequence of n mask stacks
        The annotators' masks of each image: an array ``(k, H, W)`` or
        ``(k, D, H, W)``, or a list of ``k`` arrays or mask files (bool, 0/1
        or 0/255), as :class:`skiaa.AgreementTransformer` takes them.
    images : array-like or sequence, default=None
        The image under each image's masks: an array ``(n, H, W, 3)`` (or
        grey ``(n, H, W)``, volumes ``(n, D, H, W)``), or a sequence with
        one array, image file or None per image. Without an image the
        outlines are drawn on grey. An image must have its masks' size.
    image_ids : sequence of str, default=None
        One name per image; None numbers them from 0.
    annotators : sequence of sequences of str, default=None
        Per image, one annotator code per mask; None names masks by their
        position (``R1``, ``R2``...), so that the per-annotator summary
        groups masks by position. Masks of the release's consensus codes
        (``ST``, ``MV``) are not drawn.
    tools, skills : sequence of sequences of str, default=None
        Per image, the tool and skill of each mask, shown and filtered on.
    metrics : str or list of str, default=None
        Metrics of the pairwise tables (see
        :func:`skiaa.datasets.mask_folder_agreement`); Dice is always added,
        as it defines the agreement the page is sorted by.
    spacing : float or sequence of float, default=None
        Pixel (voxel) size along each axis, for the distances.
    {page_parameters}

    Returns
    -------
    {page_returns}

    Raises
    ------
    skiaa.OutputFolderError
        Before any work, if the page exists in ``out`` and not ``force``, or
        ``out`` cannot be written or another run is writing to it (and not
        ``wait``); later, if a file cannot be written (a full disk), naming
        it.
    ValueError
        If an option is invalid, the per-image or per-mask lists do not have
        one entry per image or mask, an image's size differs from its masks'
        (naming the image), or for the reasons of
        :func:`skiaa.datasets.mask_folder_agreement`.

    See Also
    --------
    mask_folder_page : The same page for a folder of mask files.
    skiaa.agreement.uncertainty_map : The disagreement map.

    Examples
    --------
    >>> from skiaa.datasets import make_lesions
    >>> from skiaa.page import disagreement_page
    >>> data = make_lesions(4, image_size=48, random_state=0)
    >>> result = disagreement_page(
    ...     "review", data.masks, data.images, image_ids=data.image_ids,
    ...     annotators=data.annotators, tools=data.tools, skills=data.skills,
    ...     metrics=["dice"])
    >>> result.path.name, len(result.images)
    ('disagreement.html', 4)
    """
    thumbnail_size, detail_size = _check_page_options(consensus, thumbnail_size, detail_size)
    labels = _check_labels(labels)
    names, tables = _output_names(tables, labels)
    with OutputFolder(out, names, force=force, wait=wait, option="out") as folder:
        n = len(masks)
        image_ids = [str(i) for i in _per_image(image_ids, n, "image_ids", str)]
        if len(set(image_ids)) != n:
            raise ValueError("image_ids must be unique")
        if images is None:
            images = [None] * n
        elif len(images) != n:
            raise ValueError(f"images must have one entry per image ({n}), got {len(images)}")
        annotators = _per_image(annotators, n, "annotators", lambda i: None)
        tools = _per_image(tools, n, "tools", lambda i: None)
        skills = _per_image(skills, n, "skills", lambda i: None)
        cases = []
        for i, image_id in enumerate(image_ids):
            k = len(masks[i])
            codes = [
                str(a)
                for a in _per_mask(annotators[i], k, "annotators", image_id, lambda j: f"R{j + 1}")
            ]
            cases.append(
                {
                    "image_id": image_id,
                    "masks": masks[i],
                    "names": [f"{image_id}_{a}_{j}" for j, a in enumerate(codes)],
                    "annotators": codes,
                    "tools": _per_mask(tools[i], k, "tools", image_id, lambda j: None),
                    "skills": _per_mask(skills[i], k, "skills", image_id, lambda j: None),
                    "image": images[i],
                }
            )
        data = Bunch(
            image_ids=image_ids,
            masks=[case["masks"] for case in cases],
            annotators=[case["annotators"] for case in cases],
            tools=[case["tools"] for case in cases],
            skills=[case["skills"] for case in cases],
        )
        result = lesions_agreement(
            data,
            metrics,
            labels=labels,
            spacing=spacing,
            hd_percentile=hd_percentile,
            empty=empty,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        return _build(
            folder,
            cases,
            result,
            labels=labels,
            table_files=tables,
            consensus=consensus,
            thumbnail_size=thumbnail_size,
            detail_size=detail_size,
            title=title or f"Disagreement of {n} images",
            verbose=verbose,
        )


@Substitution(page_parameters=_PAGE_PARAMETERS, page_returns=_PAGE_RETURNS)
def mask_folder_page(
    mask_dir,
    out,
    *,
    image_dir=None,
    metrics=None,
    include_consensus=False,
    spacing=None,
    hd_percentile="pooled",
    empty="nan",
    labels=None,
    consensus="staple",
    thumbnail_size=256,
    detail_size=768,
    title=None,
    tables=None,
    force=False,
    wait=False,
    n_jobs=None,
    verbose=0,
):
    """Write the disagreement page of a folder of annotators' masks.

    The page of :func:`disagreement_page` for the masks that
    :func:`skiaa.datasets.find_mask_sets` finds in ``mask_dir``, drawn over
    the image files of ``image_dir``; the library side of
    ``skiaa agreement MASK_DIR --images IMG_DIR --html``.

    Parameters
    ----------
    mask_dir : str or path-like
        A mask folder in one of the layouts of
        :func:`skiaa.datasets.find_mask_sets`.
    out : str or path-like
        Output folder (created if needed).
    image_dir : str or path-like, default=None
        Folder of the images, one file per image named ``<image id>`` plus
        an image extension (``.jpg``, ``.png``, ``.tif``... or, for volumes,
        ``.npy``, ``.nii``, ``.nii.gz``), compared case-insensitively. Images
        without a file are drawn on grey, with a warning; None draws every
        image on grey.
    metrics : str or list of str, default=None
        As in :func:`skiaa.datasets.mask_folder_agreement`.
    include_consensus : bool, default=False
        As in :func:`skiaa.datasets.mask_folder_agreement` (the pairs table);
        consensus masks are never drawn.
    spacing : float or sequence of float, default=None
        As in :func:`skiaa.datasets.mask_folder_agreement`.
    {page_parameters}

    Returns
    -------
    {page_returns}

    Raises
    ------
    skiaa.OutputFolderError
        Before any work, if the page exists in ``out`` and not ``force``, or
        ``out`` cannot be written or another run is writing to it (and not
        ``wait``); later, if a file cannot be written (a full disk), naming
        it.
    FileNotFoundError
        If ``mask_dir`` or ``image_dir`` does not exist.
    ValueError
        If an option is invalid, two image files share an image id, an image
        differs in size from its masks (naming the image), or for the reasons
        of :func:`skiaa.datasets.mask_folder_agreement`.

    Warns
    -----
    UserWarning
        When images have no file in ``image_dir`` (they are listed), and for
        the reasons of :func:`skiaa.datasets.mask_folder_agreement`.

    See Also
    --------
    disagreement_page : The page for masks in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from pathlib import Path
    >>> from skiaa.page import mask_folder_page
    >>> Path("raters").mkdir()
    >>> mask = np.zeros((32, 32), np.uint8)
    >>> for name, rows in [("A01_T1_S1_a", slice(8, 24)), ("A02_T3_S2_b", slice(6, 26))]:
    ...     mask[:] = 0
    ...     mask[rows, 8:24] = 255
    ...     Image.fromarray(mask).save(f"raters/ISIC_0000001_{name}.png")
    >>> result = mask_folder_page("raters", "raters_review", metrics=["dice"])
    >>> result.annotators[["annotator", "dice_vs_others"]]
      annotator  dice_vs_others
    0       A01        0.888889
    1       A02        0.888889
    """
    thumbnail_size, detail_size = _check_page_options(consensus, thumbnail_size, detail_size)
    labels = _check_labels(labels)
    names, tables = _output_names(tables, labels)
    with OutputFolder(out, names, force=force, wait=wait, option="out") as folder:
        if image_dir is not None and not Path(image_dir).is_dir():
            raise FileNotFoundError(f"image folder {image_dir} does not exist or is not a folder")
        result = mask_folder_agreement(
            mask_dir,
            metrics,
            labels=labels,
            include_consensus=include_consensus,
            spacing=spacing,
            hd_percentile=hd_percentile,
            empty=empty,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        groups = list(result.masks.groupby("image_id", sort=True))
        found = {}
        if image_dir is not None:
            found, missing = find_images(image_dir, [image_id for image_id, _ in groups])
            if missing:
                shown = ", ".join(map(str, missing[:5])) + (
                    f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                )
                warnings.warn(
                    f"{len(missing)} image(s) have no image file in {image_dir}; their outlines "
                    f"are drawn on grey: {shown}",
                    UserWarning,
                    stacklevel=2,
                )
        cases = [
            {
                "image_id": image_id,
                "masks": group["path"].tolist(),
                "names": group["mask"].tolist(),
                "annotators": group["annotator"].tolist(),
                "tools": group["tool"].tolist(),
                "skills": group["skill"].tolist(),
                "image": found.get(image_id),
            }
            for image_id, group in groups
        ]
        return _build(
            folder,
            cases,
            result,
            labels=labels,
            table_files=tables,
            consensus=consensus,
            thumbnail_size=thumbnail_size,
            detail_size=detail_size,
            title=title or f"Disagreement in {Path(mask_dir).name or mask_dir}",
            verbose=verbose,
        )
