"""The fast paths of the boundary metrics against the plain definitions they replace.

Tolerance tests by nearby steps against brute-force distances, the surface elements of
every class from one pass against each class's mask alone, bounding boxes, and a metric
computed alone (tolerance test only) against the same metric computed beside distances.
"""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skiaa.agreement import (
    EmptyMaskWarning,
    boundary_f1,
    pairwise_agreement,
    surface_dice,
)
from skiaa.agreement._metrics import (
    _MAX_STEPS,
    _border_points,
    _lengths,
    _Surface,
    _Surfels,
)
from skiaa.agreement._surfels import bounding_box, class_surface_elements, surface_elements

# Spacings of scanners (whose steps tie in length) and arbitrary ones.
spacing_values = st.one_of(st.sampled_from([0.3, 0.5, 0.8, 1.0, 2.5]), st.floats(0.25, 3.0))


@st.composite
def mask_pairs(draw, ndim=None, max_side=9):
    """Two masks of one shape: random pixels, often touching the image border."""
    ndim = draw(st.sampled_from([2, 3])) if ndim is None else ndim
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    a = draw(arrays(bool, shape))
    b = draw(arrays(bool, shape))
    spacing = draw(st.one_of(st.none(), st.tuples(*(spacing_values for _ in range(ndim)))))
    return a, b, None if spacing is None else np.asarray(spacing, dtype=np.float64)


# Tolerances on step lengths (ties), between them, 0, and beyond the steps tried one by one.
tolerances = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, float(np.sqrt(2.0)), 2.5, 7.0]),
    st.floats(0.0, 10.0, allow_nan=False),
)


def _brute_within(a_points, b_points, spacing, tolerance):
    """Whether some point of ``b_points`` lies within ``tolerance`` of each of ``a_points``."""
    steps = (b_points[None, :, :] - a_points[:, None, :]).reshape(-1, a_points.shape[1])
    lengths = _lengths(steps, spacing).reshape(len(a_points), len(b_points))
    return (lengths <= tolerance).any(axis=1)


@settings(max_examples=60, deadline=None)
@given(data=mask_pairs(), tolerance=tolerances)
def test_within_tolerance_equals_brute_force_distances(data, tolerance):
    a, b, spacing = data
    pa, pb = _border_points(a), _border_points(b)
    if not (len(pa) and len(pb)):
        return  # empty borders are decided before any distance (see the metrics' rules)
    sa, sb = _Surface(pa, spacing), _Surface(pb, spacing)
    want = _brute_within(pa, pb, spacing, tolerance)
    np.testing.assert_array_equal(sa.within(sb, tolerance), want)
    np.testing.assert_array_equal(sa.distances_to(sb) <= tolerance, want)


def test_within_tolerance_past_the_steps_tried_one_by_one_asks_the_tree():
    # Two far apart single pixels and a tolerance whose disc holds more than
    # _MAX_STEPS steps: the scan settles nothing and the k-d tree decides.
    a = np.zeros((40, 40), bool)
    b = np.zeros((40, 40), bool)
    a[0, 0] = b[6, 3] = b[39, 39] = True
    tolerance = 6.8  # sqrt(6**2 + 3**2) = 6.71 <= 6.8: 145 steps in the disc
    pa, pb = _border_points(a), _border_points(b)
    steps_in_disc = np.pi * tolerance**2
    assert steps_in_disc > _MAX_STEPS
    near = _Surface(pa, None).within(_Surface(pb, None), tolerance)
    np.testing.assert_array_equal(near, [True])
    far = _Surface(pb, None).within(_Surface(pa, None), tolerance)
    np.testing.assert_array_equal(far, [True, False])


@settings(max_examples=40, deadline=None)
@given(data=mask_pairs(), tolerance=tolerances)
def test_tolerance_metrics_alone_equal_them_beside_distances(data, tolerance):
    # Alone, surface Dice and boundary F1 use the tolerance test; beside the
    # Hausdorff distance they use the distances: the two must agree.
    a, b, spacing = data
    # A spacing of one value per axis, also 1.0s: the table then reads no channel axis.
    sp = (1.0,) * a.ndim if spacing is None else tuple(spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyMaskWarning)
        table = pairwise_agreement(
            [a, b],
            ["hausdorff", "surface_dice", "boundary_f1"],
            spacing=sp,
            tolerance=tolerance,
        )
    assert surface_dice(a, b, tolerance, spacing=sp) == table["surface_dice"].iloc[0]
    assert boundary_f1(a, b, tolerance, spacing=sp) == table["boundary_f1"].iloc[0]
    if a.any() and b.any():
        # Area-weighted: the tolerance test on surface elements against their distances.
        s1, s2 = (_Surfels(*surface_elements(m, spacing), spacing) for m in (a, b))
        hits = s1.areas[s1.distances_to(s2) <= tolerance].sum()
        hits += s2.areas[s2.distances_to(s1) <= tolerance].sum()
        want = float(hits / (s1.areas.sum() + s2.areas.sum()))
        assert surface_dice(a, b, tolerance, spacing=sp, surface="area_weighted") == want


@st.composite
def label_maps(draw):
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.integers(1, 8)) for _ in range(ndim))
    labelmap = draw(arrays(np.uint8, shape, elements=st.integers(0, 4)))
    spacing = draw(st.one_of(st.none(), st.tuples(*(spacing_values for _ in range(ndim)))))
    return labelmap, spacing


@settings(max_examples=60, deadline=None)
@given(data=label_maps(), labels=st.sampled_from([[1, 2, 3], [4, 0], [2, 7], [3]]))
def test_surfels_of_every_class_in_one_pass_equal_each_class_alone(data, labels):
    labelmap, spacing = data
    labels = np.asarray(labels)
    index = np.full(labelmap.shape, len(labels), dtype=np.uint8)
    for c, value in enumerate(labels):
        index[labelmap == value] = c
    together = class_surface_elements(index, len(labels), spacing)
    for c, value in enumerate(labels):
        vertices, areas = surface_elements(labelmap == value, spacing)
        np.testing.assert_array_equal(together[c][0], vertices)
        np.testing.assert_array_equal(together[c][1], areas)


def test_surfels_of_single_pixels_and_full_images():
    # A lone pixel: four corner surfels (eight in 3-D); a full image: its outline.
    for ndim, count in ((2, 4), (3, 8)):
        mask = np.zeros((3,) * ndim, bool)
        mask[(1,) * ndim] = True
        vertices, areas = surface_elements(mask)
        assert len(vertices) == count
        assert np.all(areas > 0)
    full = np.ones((2, 3), bool)
    vertices, _ = surface_elements(full)
    assert len(vertices) == 3 * 4 - 2  # the 3 x 4 vertices less the 2 inside the mask
    assert surface_elements(np.zeros((4, 4), bool))[0].shape == (0, 2)


@settings(max_examples=60, deadline=None)
@given(mask=arrays(bool, st.tuples(*(st.integers(1, 6) for _ in range(3)))))
def test_bounding_box_is_the_extent_of_the_true_pixels(mask):
    box = bounding_box(mask)
    if not mask.any():
        assert box is None
        return
    points = np.argwhere(mask)
    assert box == (list(points.min(axis=0)), list(points.max(axis=0) + 1))


def test_huge_tolerance_counts_every_point_without_listing_steps():
    a = np.zeros((5, 6), bool)
    b = np.zeros((5, 6), bool)
    a[0, 0] = b[4, 5] = True
    assert surface_dice(a, b, 1e300) == 1.0
    assert surface_dice(a, b, 1e300, spacing=(1e-3, 2.0), surface="area_weighted") == 1.0
    assert boundary_f1(a, b, 6.0) == 0.0  # sqrt(4**2 + 5**2) = 6.4
