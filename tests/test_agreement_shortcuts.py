"""The fast paths of the boundary metrics against the plain definitions they replace.

Tolerance tests by nearby steps against brute-force distances, the surface elements of
every class from one pass against each class's mask alone, bounding boxes, and a metric
computed alone (tolerance test only) against the same metric computed beside distances.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from _helpers import examples
from skiaa.agreement import (
    EmptyMaskWarning,
    boundary_f1,
    pairwise_agreement,
    surface_dice,
)
from skiaa.agreement._metrics import (
    _MAX_BOX,
    _MAX_STEPS,
    LabelStats,
    _border_points,
    _border_points_2d,
    _lengths,
    _steps_within,
    _Surface,
    _Surfels,
    needs_borders,
    needs_surfels,
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


def _length(step, spacing):
    """One step's length as scipy's distance transform sums it: axis by axis, in order."""
    scale = (1.0,) * len(step) if spacing is None else spacing
    return math.sqrt(sum((float(s) * float(h)) ** 2 for s, h in zip(step, scale)))


@settings(max_examples=examples(60), deadline=None)
@given(
    steps=st.integers(2, 3).flatmap(
        lambda ndim: arrays(
            np.int64, st.tuples(st.integers(0, 6), st.just(ndim)), elements=st.integers(-40, 40)
        )
    ),
    spacing=st.lists(spacing_values, min_size=3, max_size=3),
    scaled=st.booleans(),
)
def test_step_lengths_are_summed_axis_by_axis_to_the_bit(steps, spacing, scaled):
    spacing = np.asarray(spacing[: steps.shape[1]]) if scaled else None
    want = [_length(step, spacing) for step in steps]
    np.testing.assert_array_equal(_lengths(steps, spacing), np.asarray(want, dtype=np.float64))


@settings(max_examples=examples(60), deadline=None)
@given(
    ndim=st.sampled_from([2, 3]),
    spacing=st.one_of(st.none(), st.lists(spacing_values, min_size=3, max_size=3)),
    tolerance=tolerances.filter(lambda t: t <= 4.0),
)
def test_steps_within_a_tolerance_are_every_step_that_short_nearest_first(
    ndim, spacing, tolerance
):
    spacing = None if spacing is None else np.asarray(spacing[:ndim])
    steps = _steps_within(tolerance, spacing, ndim)
    scale = np.ones(ndim) if spacing is None else spacing
    reach = [int(tolerance // h) + 2 for h in scale]  # a box larger than any step kept
    if np.prod([2 * r + 1 for r in reach]) > 4 * _MAX_BOX:
        return  # the box is listed only below _MAX_BOX steps: see the next test
    box = itertools.product(*(range(-r, r + 1) for r in reach))
    want = {step for step in box if _length(step, spacing) <= tolerance}
    if steps is None:
        assert np.prod([2 * (tolerance // h) + 3 for h in scale]) > _MAX_BOX
        return
    assert {tuple(int(v) for v in step) for step in steps} == want
    assert len(steps) == len(want)  # each once
    lengths = [_length(step, spacing) for step in steps]
    assert lengths == sorted(lengths)  # nearest first


def test_steps_within_are_listed_only_below_the_largest_box():
    # In 2-D without spacing, a tolerance t lists the (2 floor(t) + 3)**2 steps of
    # its box: 63**2 = 3969 steps at t = 30.5, 65**2 = 4225 > _MAX_BOX at t = 31.
    assert _MAX_BOX == 4096
    assert len(_steps_within(30.5, None, 2)) == sum(
        1 for step in itertools.product(range(-31, 32), repeat=2) if _length(step, None) <= 30.5
    )
    assert _steps_within(31.0, None, 2) is None
    # A spacing so fine along one axis that it alone overflows the box, and
    # tolerances whose box would overflow integers.
    assert _steps_within(2.0, np.array([1e-3, 1.0]), 2) is None
    assert _steps_within(1e300, np.array([1e-3, 1.0, 1.0]), 3) is None


@settings(max_examples=examples(40), deadline=None)
@given(
    data=st.sampled_from([2, 3]).flatmap(
        lambda ndim: st.tuples(
            arrays(
                np.uint8,
                st.tuples(*(st.integers(1, 7) for _ in range(ndim))),
                elements=st.integers(0, 4),
            ),
            st.one_of(st.none(), st.tuples(*(spacing_values for _ in range(ndim)))),
        )
    ),
    labels=st.sampled_from([[1, 2, 3], [4, 0], [2, 7], [3]]),
)
def test_label_stats_of_each_class_equal_that_class_alone(data, labels):
    # One pass over a label map gives each class the count, border and surface
    # elements its own binary mask would have.
    labelmap, spacing = data
    spacing = None if spacing is None else np.asarray(spacing)
    stats = LabelStats(labelmap, np.asarray(labels), spacing, need_surface=True, need_surfels=True)
    assert len(stats.classes) == len(labels)
    for value, cls in zip(labels, stats.classes):
        mask = labelmap == value
        assert cls.count == np.count_nonzero(mask)
        assert isinstance(cls.count, int)
        border = _border_points(mask)
        assert {tuple(p) for p in cls.surface.index} == {tuple(p) for p in border}
        assert len(cls.surface.index) == len(border)
        np.testing.assert_array_equal(cls.surface.spacing, spacing)
        vertices, areas = surface_elements(mask, spacing)
        np.testing.assert_array_equal(cls.surfels.index, vertices)
        np.testing.assert_array_equal(cls.surfels.areas, areas)
        assert cls.surface.index.dtype == np.intp and cls.surfels.index.dtype == np.intp
    bare = LabelStats(labelmap, np.asarray(labels), spacing)
    assert all(c.surface is None and c.surfels is None for c in bare.classes)
    assert [c.count for c in bare.classes] == [c.count for c in stats.classes]


def _brute_within(a_points, b_points, spacing, tolerance):
    """Whether some point of ``b_points`` lies within ``tolerance`` of each of ``a_points``."""
    steps = (b_points[None, :, :] - a_points[:, None, :]).reshape(-1, a_points.shape[1])
    lengths = np.array([_length(step, spacing) for step in steps]).reshape(
        len(a_points), len(b_points)
    )
    return (lengths <= tolerance).any(axis=1)


@settings(max_examples=examples(60), deadline=None)
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


@settings(max_examples=examples(40), deadline=None)
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


@settings(max_examples=examples(60), deadline=None)
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


def test_a_tolerance_too_large_to_list_its_steps_still_counts_a_point_at_exactly_it():
    # 40 px: the box of steps (81 x 81) exceeds _MAX_BOX, the k-d tree decides,
    # and a distance equal to the tolerance is within it, as on the grid path.
    a, b = np.array([[0, 0]]), np.array([[0, 40], [30, 40]])
    assert _steps_within(40.0, None, 2) is None
    np.testing.assert_array_equal(_Surface(a, None).within(_Surface(b, None), 40.0), [True])
    np.testing.assert_array_equal(_Surface(b, None).within(_Surface(a, None), 40.0), [True, False])


def test_distances_with_a_spacing_are_scipys_not_the_trees_scaled_coordinates():
    # The tree measures between coordinates scaled by the spacing (3 * 0.1 is
    # 0.30000000000000004), so its distances can differ from scipy's
    # sqrt(sum((step * spacing) ** 2)) in the last bit: enough to flip a
    # distance equal to a tolerance. distances_to returns scipy's.
    spacing = (0.1, 0.7)
    a = _Surface(np.array([[3, 7], [5, 1], [9, 9]]), spacing)
    b = _Surface(np.array([[2, 5], [8, 3]]), spacing)
    steps = np.array([[-1, -2], [3, 2], [-7, -4]])  # to each nearest point
    expected = _lengths(steps, spacing)
    np.testing.assert_array_equal(a.distances_to(b), expected)
    tree_distances, _ = b.tree.query(a.points, k=1)
    assert (tree_distances != expected).any()  # the case is one where the two differ


def test_an_empty_mask_has_an_empty_integer_border():
    for shape in ((3, 4), (2, 3, 4)):
        border = _border_points(np.zeros(shape, bool))
        assert (border.shape, border.dtype) == ((0, len(shape)), np.intp)
    # The row-packed 2-D path too (MaskStats takes it when borders are needed).
    border = _border_points_2d(np.packbits(np.zeros((3, 20), bool), axis=1))
    assert (border.shape, border.dtype) == ((0, 2), np.intp)


def test_a_label_map_without_the_classes_has_empty_integer_borders():
    stats = LabelStats(np.zeros((3, 4), np.uint8), np.array([2, 5]), None, need_surface=True)
    for cls in stats.classes:
        assert (cls.count, cls.surface.index.shape, cls.surface.index.dtype) == (
            0,
            (0, 2),
            np.intp,
        )


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
    # No surface: empty arrays of the types a surface has (integer vertex indices).
    vertices, areas = surface_elements(np.zeros((4, 4), bool))
    assert (vertices.shape, vertices.dtype, areas.shape) == ((0, 2), np.intp, (0,))
    for vertices, areas in class_surface_elements(np.full((3, 3, 2), 2, np.uint8), 2, None):
        assert (vertices.shape, vertices.dtype, areas.shape) == ((0, 3), np.intp, (0,))
    assert surface_elements(full)[0].dtype == np.intp


@settings(max_examples=examples(60), deadline=None)
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


# What each surface metric reads: border pixels (distances, or only whether each lies
# within the tolerance), or surface elements under the area-weighted options. Borders
# found for nothing cost a pass per mask; missing ones fail.
_READS = {
    # metric: (borders, surface elements) read under hd_percentile "pooled" or "max",
    # then under "area_weighted" (which only hd95 takes)
    "hausdorff": [(True, False), (True, False)],
    "assd": [(True, False), (True, False)],
    "hd95": [(True, False), (False, True)],
    "boundary_f1": [(True, False), (True, False)],
    "dice": [(False, False), (False, False)],
    "jaccard": [(False, False), (False, False)],
}


@pytest.mark.parametrize("hd_percentile", ["pooled", "max", "area_weighted"])
@pytest.mark.parametrize(
    "name", [*sorted(_READS), "hausdorff_normalized", "hd95_normalized", "assd_normalized"]
)
def test_each_metric_asks_for_the_surfaces_it_reads(name, hd_percentile):
    want = _READS[name.removesuffix("_normalized")][hd_percentile == "area_weighted"]
    assert (needs_borders([name], hd_percentile), needs_surfels([name], hd_percentile)) == want


@pytest.mark.parametrize(
    "surface, want", [("pixels", (True, False)), ("area_weighted", (False, True))]
)
def test_surface_dice_reads_borders_or_surface_elements_by_its_surface(surface, want):
    got = (
        needs_borders(["surface_dice"], "pooled", surface),
        needs_surfels(["surface_dice"], "pooled", surface),
    )
    assert got == want
    # Beside another metric each keeps what it reads.
    both = (
        needs_borders(["surface_dice", "hd95"], "area_weighted", surface),
        needs_surfels(["surface_dice", "hd95"], "area_weighted", surface),
    )
    assert both == (surface == "pixels", True)
