"""Agreement of 3-D (n-D) stacks with spacing, against medpy and SimpleITK; the options
``hd_percentile`` and ``empty``; NIfTI/.npy volume files; one naming of tables."""

import itertools
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from medpy.metric import binary as medpy_binary
from scipy import ndimage

from _helpers import examples
from skiaa import AgreementTransformer
from skiaa.agreement import (
    EmptyMaskWarning,
    assd,
    hausdorff,
    hd95,
    image_agreement,
    majority_vote,
    pairwise_agreement,
    staple,
)
from skiaa.agreement._surfels import surface_elements
from skiaa.datasets import mask_folder_agreement
from skiaa.stats import agreement_by_factor

nibabel = pytest.importorskip("nibabel")

ND_METRICS = ["dice", "jaccard", "hausdorff", "hd95", "assd", "hd95_normalized"]


@st.composite
def volume_stacks(draw, min_masks=2, max_masks=4, max_side=7, ndim=3):
    k = draw(st.integers(min_masks, max_masks))
    shape = tuple(draw(st.integers(2, max_side)) for _ in range(ndim))
    stack = draw(arrays(bool, (k, *shape)))
    assume(all(m.any() for m in stack))
    return stack


spacings_3d = st.one_of(
    st.none(), st.tuples(*(st.floats(0.2, 5.0, allow_subnormal=False) for _ in range(3)))
)


def _border(mask):
    """medpy's border by its definition: mask minus its face-connected erosion."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, cross, border_value=0)


def _directed(a, b, spacing):
    """Distances from each border voxel of ``a`` to the nearest of ``b`` (brute force)."""
    scale = np.ones(a.ndim) if spacing is None else np.asarray(spacing)
    pa, pb = np.argwhere(_border(a)) * scale, np.argwhere(_border(b)) * scale
    return np.sqrt(((pa[:, None] - pb[None]) ** 2).sum(-1)).min(axis=1)


# --------------------------------------------------------------------------- #
# 3-D stacks against medpy, and the hd_percentile choice against its definition
# --------------------------------------------------------------------------- #
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(volume_stacks(), spacings_3d)
def test_3d_pairs_equal_medpy_with_spacing(stack, spacing):
    # A last axis of 1, 3 or 4 voxels is spatial only when the spacing says so
    # (otherwise it is read as colour channels): None is given as 1 per axis.
    pairs = pairwise_agreement(stack, ND_METRICS, spacing=spacing or (1.0, 1.0, 1.0))
    extent = np.asarray(stack.shape[1:]) * (1 if spacing is None else np.asarray(spacing))
    diagonal = np.sqrt((extent**2).sum())
    for row, (i, j) in zip(pairs.itertuples(), itertools.combinations(range(len(stack)), 2)):
        a, b = stack[i], stack[j]
        assert (row.index1, row.index2) == (i, j)
        assert row.dice == pytest.approx(medpy_binary.dc(a, b), abs=1e-12)
        assert row.jaccard == pytest.approx(medpy_binary.jc(a, b), abs=1e-12)
        assert row.hausdorff == pytest.approx(medpy_binary.hd(a, b, spacing), rel=1e-9)
        assert row.hd95 == pytest.approx(medpy_binary.hd95(a, b, spacing), rel=1e-9)
        assert row.assd == pytest.approx(medpy_binary.assd(a, b, spacing), rel=1e-9)
        assert row.hd95_normalized == pytest.approx(row.hd95 / diagonal, rel=1e-12)


@settings(max_examples=examples(40), deadline=None)
@given(volume_stacks(min_masks=2, max_masks=2), spacings_3d)
def test_hd_percentile_max_is_the_larger_directed_percentile(stack, spacing):
    a, b = stack
    d12, d21 = _directed(a, b, spacing), _directed(b, a, spacing)
    expected = max(np.percentile(d12, 95), np.percentile(d21, 95))
    assert hd95(a, b, spacing=spacing, hd_percentile="max") == pytest.approx(expected, abs=1e-9)
    pooled = np.percentile(np.concatenate([d12, d21]), 95)
    assert hd95(a, b, spacing=spacing) == pytest.approx(pooled, abs=1e-9)
    # Symmetric in the two masks, whichever choice.
    assert hd95(b, a, spacing=spacing, hd_percentile="max") == pytest.approx(expected, abs=1e-9)


def test_hd_percentile_choices_differ_when_one_border_is_longer():
    # b is a plus a far 2x3 islet: its 6 border pixels are over 5% of b's
    # border (76 + 6) but under 5% of both borders pooled (158), so the pooled
    # HD95 sees no error and the larger directed percentile does.
    a = np.zeros((60, 60), bool)
    a[5:25, 5:25] = True
    b = a.copy()
    b[50:52, 50:53] = True
    assert hd95(a, b) == 0.0 == medpy_binary.hd95(a, b)
    islet_to_square = np.percentile(_directed(b, a, None), 95)
    assert (
        hd95(a, b, hd_percentile="max") == pytest.approx(islet_to_square) and islet_to_square > 30
    )


# --------------------------------------------------------------------------- #
# Symmetry and annotator permutation invariance of the image-level values
# --------------------------------------------------------------------------- #
@settings(max_examples=examples(25), deadline=None)
@given(volume_stacks(min_masks=3, max_masks=4), st.randoms(use_true_random=False))
def test_image_values_are_invariant_to_annotator_order(stack, rnd):
    order = list(range(len(stack)))
    rnd.shuffle(order)
    # spacing with one value per axis: the volumes' last axis is spatial even
    # when it is 1, 3 or 4 voxels long.
    unit = (1.0, 1.0, 1.0)
    t = AgreementTransformer(
        metrics=ND_METRICS, statistics=["mean", "min", "max", "median"], spacing=unit
    )
    a, b = t.fit_transform([stack, stack[order]])
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # Each pair's values are symmetric in its two masks.
    forward = pairwise_agreement(stack[:2], ND_METRICS, spacing=unit)
    backward = pairwise_agreement(stack[1::-1], ND_METRICS, spacing=unit)
    np.testing.assert_allclose(forward[ND_METRICS], backward[ND_METRICS], rtol=1e-12)


# --------------------------------------------------------------------------- #
# Consensus in n-D against SimpleITK
# --------------------------------------------------------------------------- #
def _sitk_images(stack):
    return [sitk.GetImageFromArray(m.astype(np.uint8)) for m in stack]


def _blob_volumes(seed, k=4, shape=(12, 14, 16)):
    """Annotators' masks of one 3-D lesion: a ball with per-annotator boundary noise."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(float)
    centre = np.asarray(shape)[:, None, None, None] / 2
    radius = np.sqrt(((grid - centre) ** 2).sum(0))
    masks = []
    for _ in range(k):
        noise = ndimage.gaussian_filter(rng.normal(size=shape), 1.5) * 6
        masks.append(radius + noise < rng.uniform(3.5, 5.5))
    return np.stack(masks)


@pytest.mark.parametrize("seed", range(4))
def test_staple_3d_equals_simpleitk(seed):
    stack = _blob_volumes(seed)
    ours = staple(stack)
    stapler = sitk.STAPLEImageFilter()
    stapler.SetForegroundValue(1)
    theirs = sitk.GetArrayFromImage(stapler.Execute(_sitk_images(stack)))
    assert ours.probabilities.shape == stack.shape[1:]
    np.testing.assert_allclose(ours.probabilities, theirs, atol=1e-3)
    np.testing.assert_allclose(ours.sensitivity, stapler.GetSensitivity(), atol=1e-3)
    np.testing.assert_allclose(ours.specificity, stapler.GetSpecificity(), atol=1e-3)
    np.testing.assert_array_equal(ours.mask, theirs > 0.5)


@pytest.mark.parametrize("seed", range(3))
def test_majority_vote_3d_equals_simpleitk(seed):
    stack = _blob_volumes(seed)
    voter = sitk.LabelVotingImageFilter()
    voter.SetLabelForUndecidedPixels(1)
    theirs = sitk.GetArrayFromImage(voter.Execute(_sitk_images(stack))) == 1
    np.testing.assert_array_equal(majority_vote(stack), theirs)


# --------------------------------------------------------------------------- #
# empty="worst" and empty="nan"
# --------------------------------------------------------------------------- #
def test_empty_worst_gives_the_diagonal_and_no_warning():
    a = np.zeros((4, 6, 8), bool)
    b = a.copy()
    b[1:3, 2:4, 3:6] = True
    spacing = (2.0, 1.0, 0.5)
    diagonal = np.sqrt(8.0**2 + 6.0**2 + 4.0**2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in (hausdorff, hd95, assd):
            assert func(a, b, spacing=spacing, empty="worst") == pytest.approx(diagonal)
            assert func(a, b, spacing=spacing, empty="worst", normalize=True) == 1.0
        pairs = pairwise_agreement([a, b, b], ND_METRICS, spacing=spacing, empty="worst")
    assert pairs["dice"].tolist() == [0.0, 0.0, 1.0]
    assert pairs["hd95"].tolist() == pytest.approx([diagonal, diagonal, 0.0])
    assert pairs["hd95_normalized"].tolist() == [1.0, 1.0, 0.0]
    # Both masks empty: equal masks, distance 0 under either rule.
    assert hd95(a, a, empty="worst") == 0.0 and hd95(a, a) == 0.0


def test_empty_nan_warns_once_per_pair_and_names_it():
    a = np.zeros((3, 5, 5), bool)
    b = a.copy()
    b[1, 1:3, 1:3] = True
    with pytest.warns(EmptyMaskWarning, match="image v1, masks 0 and 1: one mask is empty"):
        pairs = pairwise_agreement([a, b], ["dice", "hd95"], image_id="v1")
    assert pairs["dice"].item() == 0.0 and np.isnan(pairs["hd95"].item())
    with pytest.raises(ValueError, match="empty must be 'nan' or 'worst'"):
        pairwise_agreement([a, b], empty="zero")
    with pytest.raises(
        ValueError, match="hd_percentile must be 'pooled', 'max' or 'area_weighted'"
    ):
        hd95(a, b, hd_percentile="mean")


# --------------------------------------------------------------------------- #
# The transformer on stacks of volumes
# --------------------------------------------------------------------------- #
def test_transformer_on_volumes_equals_pairwise_agreement_with_per_image_spacing():
    volumes = [_blob_volumes(s, k=3 + s % 2) for s in range(3)]
    spacing = np.array([[1.0, 1.0, 1.0], [2.5, 0.7, 0.7], [1.2, 1.2, 3.0]])
    t = AgreementTransformer(metrics=ND_METRICS, statistics=["mean", "std", "median"])
    out = t.set_params(spacing=spacing).fit_transform(volumes)
    for row, stack, sp in zip(out, volumes, spacing):
        summary = image_agreement(
            pairwise_agreement(stack, ND_METRICS, spacing=sp), statistics=["mean", "std", "median"]
        )
        np.testing.assert_allclose(row[:-1], summary.iloc[0, :-1].to_numpy(), rtol=1e-12)
        assert row[-1] == len(stack)
    # Physical spacing changes the distances (the test would pass vacuously otherwise).
    unit = t.set_params(spacing=None).fit_transform(volumes)
    assert not np.allclose(unit[1], out[1])
    with pytest.raises(ValueError, match="spacing has 3 rows, one per image, but X holds 2"):
        t.set_params(spacing=spacing).fit_transform(volumes[:2])
    with pytest.raises(ValueError, match=r"image 0: spacing must be .* \(12, 14, 16\)"):
        t.set_params(spacing=(1.0, 2.0)).fit_transform(volumes)


def test_transformer_accepts_a_5d_array_and_threads_give_the_same_numbers():
    volumes = np.stack([_blob_volumes(s, k=3) for s in range(5)])
    t = AgreementTransformer(metrics=ND_METRICS, statistics=["mean", "max"])
    serial = t.fit_transform(volumes)
    threaded = t.set_params(n_jobs=2).fit_transform(volumes)
    np.testing.assert_array_equal(serial, threaded)
    assert serial.shape == (5, len(ND_METRICS) * 2 + 1)


def test_threads_report_empty_pairs_in_image_order():
    good = _blob_volumes(0, k=2)
    bad = good.copy()
    bad[1] = False
    X = [good, bad, good, bad]
    t = AgreementTransformer(metrics=["dice", "hd95"], n_jobs=2)
    with pytest.warns(EmptyMaskWarning) as caught:
        out = t.fit_transform(X)
    messages = [str(w.message) for w in caught if w.category is EmptyMaskWarning]
    assert [m.split(",")[0] for m in messages] == ["image 1", "image 3"]
    assert np.isnan(out[[1, 3], 1]).all() and not np.isnan(out[[0, 2], 1]).any()
    worst = t.set_params(empty="worst").fit_transform(X)
    diagonal = np.sqrt(sum(s**2 for s in good.shape[1:]))
    # One pair per image: its mean HD95 is the pair's, the diagonal itself.
    assert worst[1, 1] == pytest.approx(diagonal) and worst[1, 0] == 0.0


# --------------------------------------------------------------------------- #
# Volume files: NIfTI (spacing from the header) and .npy
# --------------------------------------------------------------------------- #
def _save_nifti(path, mask, zooms):
    img = nibabel.Nifti1Image(mask.astype(np.uint8), affine=np.diag([*zooms, 1.0]))
    img.header.set_zooms(zooms)
    nibabel.save(img, path)
    return path


def test_nifti_spacing_comes_from_the_header(tmp_path):
    stack = _blob_volumes(1, k=3)
    zooms = (0.8, 0.8, 2.5)
    paths = [_save_nifti(tmp_path / f"r{j}.nii.gz", m, zooms) for j, m in enumerate(stack)]
    from_files = pairwise_agreement(paths, ND_METRICS)
    explicit = pairwise_agreement(stack, ND_METRICS, spacing=zooms)
    pd.testing.assert_frame_equal(from_files, explicit)
    # An explicit spacing wins over the header's.
    unit = pairwise_agreement(paths, ND_METRICS, spacing=1.0)
    pd.testing.assert_frame_equal(unit, pairwise_agreement(stack, ND_METRICS))
    # Masks of one case stored with different voxel sizes are refused, naming both files.
    _save_nifti(tmp_path / "odd.nii", stack[0], (0.8, 0.8, 3.0))
    with pytest.raises(
        ValueError, match=r"image c7: .*r0.nii.gz and .*odd.nii differ in voxel size"
    ):
        pairwise_agreement([paths[0], tmp_path / "odd.nii"], image_id="c7")


def test_npy_volumes_and_refusals(tmp_path):
    stack = _blob_volumes(2, k=2)
    paths = []
    for j, m in enumerate(stack):
        np.save(tmp_path / f"m{j}.npy", m.astype(np.uint8) * 255)
        paths.append(tmp_path / f"m{j}.npy")
    pd.testing.assert_frame_equal(
        pairwise_agreement(paths, ND_METRICS), pairwise_agreement(stack, ND_METRICS)
    )
    # A pickled object array must not be loaded (it could run code).
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot read mask file .*obj.npy"):
        pairwise_agreement([paths[0], tmp_path / "obj.npy"])
    np.save(tmp_path / "labels.npy", np.arange(stack[0].size).reshape(stack[0].shape))
    with pytest.raises(ValueError, match="labels.npy: mask values must be"):
        pairwise_agreement([paths[0], tmp_path / "labels.npy"])
    with pytest.raises(ValueError, match="all masks of an image must have the same shape"):
        pairwise_agreement([paths[0], np.zeros((3, 3), bool)])


def test_mask_folder_of_nifti_cases(tmp_path):
    root = tmp_path / "cases"
    zooms = {"case1": (1.0, 1.0, 3.0), "case2": (0.5, 0.5, 0.5)}
    stacks = {"case1": _blob_volumes(3, k=3), "case2": _blob_volumes(4, k=2)}
    for case, stack in stacks.items():
        (root / case).mkdir(parents=True)
        for j, m in enumerate(stack):
            _save_nifti(root / case / f"rater{j}.nii.gz", m, zooms[case])
    result = mask_folder_agreement(root, ["dice", "hd95"])
    assert result.layout == "folders"
    assert result.pairs["annotator1"].tolist() == ["rater0", "rater0", "rater1", "rater0"]
    for case, stack in stacks.items():
        ours = result.pairs[result.pairs["img_id"] == case]["hd95_score"].to_numpy()
        expected = pairwise_agreement(stack, ["hd95"], spacing=zooms[case])["hd95"].to_numpy()
        np.testing.assert_allclose(ours, expected, rtol=1e-12)
    threaded = mask_folder_agreement(root, ["dice", "hd95"], n_jobs=2)
    pd.testing.assert_frame_equal(threaded.pairs, result.pairs)
    pd.testing.assert_frame_equal(threaded.images, result.images)


def test_mask_folder_tolerance_metrics_use_pairwise_agreements_default_tolerance(tmp_path):
    # mask_folder_agreement has no tolerance option: surface Dice and boundary
    # F1 are measured at pairwise_agreement's default (2 pixels), which the
    # blobs' disagreement (boundaries up to several voxels apart) tells apart
    # from any other.
    stack = _blob_volumes(3, k=3)
    (tmp_path / "case1").mkdir()
    for j, m in enumerate(stack):
        _save_nifti(tmp_path / "case1" / f"rater{j}.nii.gz", m, (1.0, 1.0, 1.0))
    pairs = mask_folder_agreement(tmp_path, ["dice", "surface_dice"]).pairs
    ours = pairs["surface_dice_score"].to_numpy()
    for tolerance in (1.0, 2.0, 3.0):
        expected = pairwise_agreement(stack, ["surface_dice"], tolerance=tolerance)
        assert np.allclose(ours, expected["surface_dice"], rtol=1e-12) == (tolerance == 2.0)


# --------------------------------------------------------------------------- #
# One naming: every table skiaa writes is read by every reader
# --------------------------------------------------------------------------- #
def test_agreement_by_factor_reads_both_namings():
    stack = _blob_volumes(5, k=4)
    annotators = ["A1", "A1", "A2", "A3"]
    ours = pairwise_agreement(stack, ["dice", "hd95"], annotators=annotators)
    release = pairwise_agreement(stack, ["dice", "hd95"], annotators=annotators, naming="release")
    by_default = agreement_by_factor(ours, "annotator")
    pd.testing.assert_frame_equal(by_default, agreement_by_factor(release, "annotator"))
    pd.testing.assert_frame_equal(
        by_default, agreement_by_factor(ours, "annotator", value_column="dice_score")
    )
    assert by_default.loc["intra-annotator", "n"] == 1
    assert by_default.loc["intra-annotator", "mean"] == pytest.approx(ours["dice"].iloc[0])
    hd = agreement_by_factor(release, "annotator", value_column="hd95")
    assert hd.attrs["value_column"] == "hd95_score"
    with pytest.raises(ValueError, match="lacks the value column 'assd'.*dice, hd95"):
        agreement_by_factor(ours, "annotator", value_column="assd")


def test_image_agreement_and_transformer_accept_the_same_statistics():
    stacks = [_blob_volumes(s, k=4) for s in (6, 7)]
    stats = ["mean", "std", "min", "max", "median"]
    pairs = pd.concat(
        [pairwise_agreement(s, ND_METRICS, image_id=i) for i, s in enumerate(stacks)]
    )
    summary = image_agreement(pairs, statistics=stats, ddof=0)
    t = AgreementTransformer(metrics=ND_METRICS, statistics=stats, ddof=0)
    out = t.set_output(transform="pandas").fit_transform(stacks)
    np.testing.assert_allclose(out.to_numpy()[:, :-1], summary.to_numpy()[:, :-1], rtol=1e-12)
    assert list(out.columns[:-1]) == list(summary.columns[:-1])


def test_transformer_pickles_with_the_new_options():
    t = AgreementTransformer(hd_percentile="max", empty="worst", spacing=(1.0, 2.0, 3.0))
    clone = pickle.loads(pickle.dumps(t))
    assert clone.get_params() == t.get_params()


def test_surface_elements_of_one_pixel_sit_at_its_four_corners():
    # Vertex i lies between pixels i - 1 and i: a pixel at (2, 3) has corners
    # (2, 3), (2, 4), (3, 3) and (3, 4), each a quarter of a diagonal.
    mask = np.zeros((6, 7), bool)
    mask[2, 3] = True
    vertices, lengths = surface_elements(mask, spacing=(1.0, 2.0))
    np.testing.assert_array_equal(vertices, [[2, 3], [2, 4], [3, 3], [3, 4]])
    np.testing.assert_allclose(lengths, np.hypot(1.0, 2.0) / 2)
