"""Tests of the synthetic lesion generator ``skiaa.datasets.make_lesions``."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import examples
from skiaa.datasets import make_lesions


def _dice(a, b):
    # Brute-force reference, independent of skiaa.agreement.
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _iaa(masks):
    return np.array(
        [
            np.mean([_dice(m[i], m[j]) for i, j in itertools.combinations(range(len(m)), 2)])
            for m in masks
        ]
    )


@pytest.fixture(scope="module")
def data():
    return make_lesions(40, image_size=(48, 64), random_state=3)


def test_shapes_and_dtypes(data):
    n, (h, w) = 40, (48, 64)
    assert data.images.shape == (n, h, w, 3) and data.images.dtype == np.uint8
    assert data.true_masks.shape == (n, h, w) and data.true_masks.dtype == bool
    assert data.outlines.shape == (n, 360, 2)
    assert data.lesion_params.shape == (n, len(data.feature_names))
    assert data.feature_names == ["radius", "irregularity", "border_width", "variegation"]
    assert len(data.masks) == len(data.annotators) == len(data.tools) == len(data.skills) == n
    for stack, ann, tool, skill in zip(data.masks, data.annotators, data.tools, data.skills):
        assert stack.dtype == bool and stack.ndim == 3 and stack.shape[1:] == (h, w)
        assert 2 <= stack.shape[0] <= 5
        assert len(ann) == len(tool) == len(skill) == stack.shape[0]
        # Every mask marks something, and not the whole image.
        assert np.all(stack.sum(axis=(1, 2)) > 0)
        assert np.all(stack.sum(axis=(1, 2)) < h * w)
    assert len(set(data.image_ids)) == n
    assert isinstance(data.DESCR, str) and "annotator" in data.DESCR


def test_value_sets(data):
    assert set(data.diagnosis) <= {"benign", "malignant"}
    assert data.label_names == ["benign", "malignant"]
    np.testing.assert_array_equal(data.label, (data.diagnosis == "malignant").astype(int))
    ann = np.concatenate(data.annotators)
    assert set(ann) <= {f"A{i:02d}" for i in range(1, 16)}
    assert set(np.concatenate(data.tools)) <= {"T1", "T2", "T3"}
    assert set(np.concatenate(data.skills)) <= {"S1", "S2"}
    # An annotator's tool and skill never change.
    tools, skills = np.concatenate(data.tools), np.concatenate(data.skills)
    for a in set(ann):
        assert len(set(tools[ann == a])) == 1 and len(set(skills[ann == a])) == 1
    p = data.lesion_params
    assert np.all((p >= 0) & (p <= 1))


def test_true_outline_matches_true_mask(data):
    # The outline points lie on the border of the true mask: the pixel nearest
    # each point has a neighbour on the other side within about one pixel.
    h, w = data.true_masks.shape[1:]
    for outline, mask in zip(data.outlines[:5], data.true_masks[:5]):
        inside = outline[(outline[:, 0] > 1) & (outline[:, 0] < h - 2)]
        inside = inside[(inside[:, 1] > 1) & (inside[:, 1] < w - 2)]
        r, c = np.rint(inside).astype(int).T
        window = np.stack([mask[r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        assert np.mean(window.any(axis=0) & ~window.all(axis=0)) > 0.95


def test_masks_resemble_the_truth(data):
    dices = [_dice(m, t) for stack, t in zip(data.masks, data.true_masks) for m in stack]
    assert np.median(dices) > 0.8


def test_lesion_is_darker_than_skin(data):
    lum = data.images.mean(axis=3)
    inside = np.array([lum[i][data.true_masks[i]].mean() for i in range(len(lum))])
    outside = np.array([lum[i][~data.true_masks[i]].mean() for i in range(len(lum))])
    assert np.all(inside < outside - 20)


def test_deterministic_per_seed():
    a = make_lesions(5, image_size=32, random_state=7)
    b = make_lesions(5, image_size=32, random_state=7)
    np.testing.assert_array_equal(a.images, b.images)
    for ma, mb in zip(a.masks, b.masks):
        np.testing.assert_array_equal(ma, mb)
    for key in ("annotators", "tools", "skills"):
        for xa, xb in zip(a[key], b[key]):
            np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(a.diagnosis, b.diagnosis)


def test_different_seeds_differ():
    a = make_lesions(5, image_size=32, random_state=1)
    b = make_lesions(5, image_size=32, random_state=2)
    assert not np.array_equal(a.images, b.images)


def test_n_masks_fixed_and_range():
    fixed = make_lesions(6, image_size=32, n_masks=4, random_state=0)
    assert [len(m) for m in fixed.masks] == [4] * 6
    ranged = make_lesions(30, image_size=24, n_masks=(3, 4), random_state=0)
    assert {len(m) for m in ranged.masks} <= {3, 4}


def test_mask_counts_skew_toward_two():
    # IMA++: 2130 of 2394 images have two masks; expected share 0.89 here.
    data = make_lesions(300, image_size=16, random_state=0)
    counts = np.array([len(m) for m in data.masks])
    assert 0.83 < np.mean(counts == 2) < 0.95
    assert counts.max() <= 5


def test_malignant_fraction_extremes():
    assert set(make_lesions(8, image_size=24, malignant_fraction=0, random_state=0).diagnosis) == {
        "benign"
    }
    assert set(make_lesions(8, image_size=24, malignant_fraction=1, random_state=0).diagnosis) == {
        "malignant"
    }


def test_no_annotator_noise_still_has_tool_differences():
    # Without random error an annotator's repeat masks nearly coincide, but
    # masks made with different tools still disagree, and more than masks of
    # two annotators using one tool.
    quiet = make_lesions(150, image_size=40, annotator_noise=0.0, random_state=0)
    same_annotator, same_tool, dice = _pair_table(quiet)
    other = ~same_annotator
    assert dice[same_annotator].mean() > 0.97
    assert dice[other & ~same_tool].mean() < 0.85
    assert dice[other & same_tool].mean() > dice[other & ~same_tool].mean() + 0.05
    noisy = make_lesions(150, image_size=40, random_state=0)
    assert _iaa(quiet.masks).mean() > _iaa(noisy.masks).mean() + 0.03


def test_image_size_does_not_change_agreement_much():
    # Lengths scale with the image: the IAA is a property of the lesion, not the pixels.
    # The random streams part after the first image (noise fields have one draw
    # per pixel), so these are two samples: 150 images keep the sampling error
    # of the difference near 0.02 at IMA++'s IAA spread.
    small = _iaa(make_lesions(150, image_size=40, random_state=5).masks)
    large = _iaa(make_lesions(150, image_size=96, random_state=5).masks)
    assert abs(small.mean() - large.mean()) < 0.05


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"image_size": 8}, "image_size"),
        ({"image_size": (32, 32, 3)}, "image_size"),
        ({"image_size": "big"}, "image_size"),
        ({"n_masks": 1}, "n_masks"),
        ({"n_masks": (4, 3)}, "n_masks"),
        ({"n_masks": (2, 3, 4)}, "n_masks"),
        ({"malignant_fraction": 1.5}, "malignant_fraction"),
        ({"malignant_fraction": -0.1}, "malignant_fraction"),
        ({"annotator_noise": -1}, "annotator_noise"),
        ({"random_state": "seed"}, "seed"),
        ({"random_state": -1}, "random_state"),
    ],
)
def test_invalid_parameters(kwargs, match):
    params = {"n_samples": 2, "image_size": 32, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_lesions(params.pop("n_samples"), **params)


@settings(max_examples=examples(8))
@given(seed=st.integers(0, 2**31 - 1), size=st.sampled_from([40, 56, 72]))
def test_malignant_agree_less(seed, size):
    # The study's finding (lower IAA on malignant lesions) holds on generated data.
    data = make_lesions(80, image_size=size, malignant_fraction=0.5, random_state=seed)
    iaa = _iaa(data.masks)
    malignant = data.label == 1
    assert iaa[malignant].mean() < iaa[~malignant].mean()


def test_agreement_is_visible_in_the_image():
    # IAA must be learnable from pixels (a CNN regressor learns it later): a
    # linear model on crude image features, which never see the masks or the
    # generator's parameters, already beats predicting the median and correlates
    # with the IAA. The bar is lower than a CNN's: the halo and dark-body events
    # are visible, but whether a given annotator includes them is a coin flip,
    # as on IMA++ (whose CNN reaches 0.82 times the median baseline's MAE).
    from scipy import ndimage
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_predict

    data = make_lesions(400, image_size=64, random_state=11)
    iaa = _iaa(data.masks)
    features = []
    for image in data.images.astype(float):
        lum = image.mean(axis=2)
        sharpness = np.percentile(ndimage.gaussian_gradient_magnitude(lum, 1.0), 99)
        skin = np.median(lum[:3])
        contrast = skin - lum.min()
        dark = lum < skin - contrast / 2
        pale = (lum < skin - 0.12 * contrast) & ~dark
        features.append(
            [
                sharpness,
                sharpness / contrast,
                dark.mean(),
                image[dark].std(axis=0).mean(),
                pale.mean(),
            ]
        )
    X = np.array(features)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    pred = cross_val_predict(RidgeCV(), X, iaa, cv=5)
    mae = np.abs(pred - iaa).mean()
    baseline = np.abs(iaa - np.median(iaa)).mean()
    assert mae < 0.93 * baseline
    assert np.corrcoef(pred, iaa)[0, 1] > 0.35


def _pair_table(data):
    rows = []
    for masks, who, tools in zip(data.masks, data.annotators, data.tools):
        for i, j in itertools.combinations(range(len(masks)), 2):
            rows.append((who[i] == who[j], tools[i] == tools[j], _dice(masks[i], masks[j])))
    same_annotator, same_tool, dice = (np.array(c) for c in zip(*rows))
    return same_annotator, same_tool, dice


@pytest.fixture(scope="module")
def imapp_like():
    return make_lesions(300, image_size=64, random_state=21)


def test_same_annotator_pairs_agree_far_more(imapp_like):
    # IMA++: mean pair Dice 0.900 for two masks by one annotator, 0.772 otherwise.
    same, _, dice = _pair_table(imapp_like)
    assert same.sum() >= 20  # annotators are drawn with replacement, as in IMA++
    assert dice[same].mean() > 0.88
    assert dice[same].mean() - dice[~same].mean() > 0.1


def test_same_tool_pairs_agree_more(imapp_like):
    # IMA++: 0.862 for masks made with one tool, 0.747 with different tools; it
    # holds for pairs of different annotators too (0.848 vs 0.746).
    same_annotator, same_tool, dice = _pair_table(imapp_like)
    assert dice[same_tool].mean() - dice[~same_tool].mean() > 0.06
    other = ~same_annotator
    assert dice[other & same_tool].mean() > dice[other & ~same_tool].mean() + 0.03


def test_iaa_spread_and_tail_like_imaplusplus(imapp_like):
    # IMA++: per-image IAA mean 0.79, std 0.20, median 0.86, 10 % of images below 0.51.
    iaa = _iaa(imapp_like.masks)
    assert 0.14 < iaa.std() < 0.26
    assert 0.72 < iaa.mean() < 0.85
    assert np.median(iaa) > iaa.mean()  # skewed: a long tail of gross disagreement
    assert 0.03 < np.mean(iaa < 0.5) < 0.2


def test_repeat_masks_share_the_annotators_reading():
    # With no random error at all, two masks by one annotator differ only by the
    # polygon's clicks (T1); T2 and T3 repeat masks are identical.
    data = make_lesions(60, image_size=48, annotator_noise=0.0, random_state=2)
    checked = 0
    for masks, who, tools in zip(data.masks, data.annotators, data.tools):
        for i, j in itertools.combinations(range(len(masks)), 2):
            if who[i] == who[j] and tools[i] != "T1":
                np.testing.assert_array_equal(masks[i], masks[j])
                checked += 1
    assert checked >= 2
