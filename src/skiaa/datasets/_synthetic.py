"""Synthetic dermoscopy images with several annotators' masks per image.

The generator exists so that every part of skiaa (agreement, statistics, the IAA
regressor, the multi-task classifier, the command line) can be run and tested
without the IMA++ images, which cannot be redistributed. It mimics the facts of
the study (arXiv:2508.09381; "The paper" in docs/development.rst) that matter
downstream:

- 2 to 5 masks per image, skewed toward 2 as in IMA++ (2130/209/51/4 images);
- 15 annotators with a fixed tool and skill, some doing far more masks than others,
  sampled with replacement so that an image may carry two masks by one annotator;
- malignant lesions are more irregular, more variegated and fuzzier at the border,
  so their annotators agree less, and the cause is visible in the pixels;
- IMA++'s structure of agreement: two masks by one annotator agree far more than
  masks by two annotators, masks made with one tool more than with two tools, and
  a long tail of images with gross disagreement (a pale halo included or not, the
  dark body alone outlined) gives the per-image agreement IMA++'s spread.
"""

import numbers

import numpy as np
from scipy import ndimage
from sklearn.utils import Bunch

from .._docstring import RANDOM_STATE_DOC, Substitution
from ..utils import as_generator, check_image_size

# Number of IMA++ images carrying 2, 3, 4 and 5 masks (the release's tables); the
# distribution of the number of masks per image follows these counts.
_IMAPP_MASK_COUNTS = {2: 2130, 3: 209, 4: 51, 5: 4}

# The fixed synthetic annotator panel. Fixed (not drawn per call) so that an
# annotator's habits are the same in every generated set, as a real annotator's
# are, and a study of agreement by annotator/tool/skill finds stable effects.
# Columns: annotator, share of all masks, skill (S1 expert, S2 novice), tool
# (T1 manual polygon, T2 semi-automatic trace, T3 automatic threshold), and the
# annotator's habitual offset from the true border, in units of the border width
# (positive: traces outside the fuzzy rim, i.e. looser; negative: tighter).
_PANEL = (
    ("A01", 0.22, "S2", "T2", 0.6),
    ("A02", 0.10, "S1", "T1", 0.0),
    ("A03", 0.16, "S1", "T1", 0.3),
    ("A04", 0.10, "S2", "T3", -0.2),
    ("A05", 0.07, "S1", "T3", 0.1),
    ("A06", 0.11, "S1", "T1", -0.3),
    ("A07", 0.01, "S2", "T1", 0.8),
    ("A08", 0.04, "S1", "T3", -0.4),
    ("A09", 0.03, "S1", "T1", 0.5),
    ("A10", 0.03, "S2", "T3", 0.3),
    ("A11", 0.04, "S1", "T2", -0.5),
    ("A12", 0.03, "S2", "T1", -0.6),
    ("A13", 0.02, "S1", "T2", 0.2),
    ("A14", 0.02, "S2", "T2", -0.1),
    ("A15", 0.02, "S1", "T3", 0.4),
)
_ANNOTATORS = np.array([row[0] for row in _PANEL])
_WEIGHTS = np.array([row[1] for row in _PANEL]) / sum(row[1] for row in _PANEL)
_SKILLS = {row[0]: row[2] for row in _PANEL}
_TOOLS = {row[0]: row[3] for row in _PANEL}
_BIASES = {row[0]: row[4] for row in _PANEL}

_FEATURE_NAMES = ["radius", "irregularity", "border_width", "variegation"]

# Outlines are radial functions r(theta) sampled on this many angles; pixels read
# them by linear interpolation, which is far cheaper than evaluating harmonics per
# pixel and exact enough (a step of < 0.5 px at the radii used).
_N_ANGLES = 720
_THETA = np.linspace(0.0, 2.0 * np.pi, _N_ANGLES, endpoint=False)
_MAX_HARMONIC = 16
_HARMONICS = np.arange(1, _MAX_HARMONIC + 1)
_COS = np.cos(np.outer(_HARMONICS, _THETA))  # (K, n_angles)
_SIN = np.sin(np.outer(_HARMONICS, _THETA))
_N_OUTLINE_POINTS = 360
# Where an annotator puts the border, in units of the local border width: a
# habitual bias (the panel's, times _BIAS_SCALE) plus a per-mask shift (_GLOBAL_SD)
# plus a shift varying along the border (_LOCAL_SD, a smooth field of
# _LOCAL_HARMONICS harmonics). Most of the spread is local: averaged along the
# border, it makes an image's agreement depend on what the image shows (border
# width, size, shape) more than on luck, so that agreement can be learned from
# pixels. _CONST_SD (fraction of the image side) is the hand's own unsteadiness.
_BIAS_SCALE = 0.4
_GLOBAL_SD = 0.3
_LOCAL_SD = 0.75
_LOCAL_HARMONICS = 4
_CONST_SD = 0.012
# An annotator's reading of an image (where the border is, whether a pale halo
# belongs to the lesion, an automatic tool's settings) is drawn once per image and
# annotator and shared by all that annotator's masks of the image; a second mask
# only redraws the hand's work (clicks, unsteadiness) plus _REPEAT_SD times the
# reading's spread. Two masks by one annotator therefore agree far more than
# masks by two annotators, as in IMA++ (mean pair Dice 0.900 vs 0.772).
_REPEAT_SD = 0.6
# Systematic offset of each tool, in border widths plus a fraction of the radius
# (kept small: an offset in border widths shows in the image, one in radii does not):
# the semi-automatic trace (T2) runs outside the pigment's rim, so masks made
# with one tool agree more than masks made with different tools (IMA++: 0.862 vs
# 0.747, the T1-T2 pairs lowest).
_TOOL_OFFSET = {"T1": (0.0, 0.0), "T2": (1.0, 0.02), "T3": (0.0, 0.0)}
# Some lesions have a pale halo of light pigmentation around the dark body;
# annotators read the border somewhere between the body and the halo's edge
# (_halo_reading: a habit, a per-image shift and a shift varying along the border),
# which gives IMA++'s long tail of images on which annotators disagree grossly (IAA
# below 0.5 for about 10 % of the images, IAA std about 0.2). The disagreement grows
# with the halo's visible width rather than with a coin flip per annotator, so low
# agreement stays predictable from the pixels.
# Border width (10-90 % of the pigment's fade, fraction of the image side) is
# _WIDTH[0] + _WIDTH[1] * fuzziness.
_WIDTH = (0.004, 0.09)
_HALO_P = {False: 0.2, True: 0.3}
_HALO_HABIT = 2.0
_HALO_GLOBAL_SD = 0.7
_HALO_LOCAL_SD = 2.0
# Rarely, an annotator outlines only the dark body of a variegated lesion (a
# fraction _CORE_SCALE of its radius): IMA++ has such near-misses too (2.4 % of
# its mask pairs have Dice below 0.1, 5.8 % below 0.3). The chance grows with
# variegation, which the image shows.
_CORE_P = 0.2
_CORE_SCALE = (0.3, 0.6)

# Colours (RGB, 0-255) of the skin and of pigment structures.
_SKIN_LIGHT = np.array([238.0, 204.0, 188.0])
_SKIN_TAN = np.array([206.0, 152.0, 122.0])
_PIGMENT_LIGHT = np.array([158.0, 104.0, 78.0])
_PIGMENT_DARK = np.array([86.0, 50.0, 38.0])
# Blotch palettes: benign nevi vary between browns; malignant lesions add
# blue-grey veils, near-black clods and whitish regression areas (the latter two
# defeat an intensity threshold, as they do for real automatic tools).
_BENIGN_PALETTE = np.array([[110.0, 66.0, 48.0], [168.0, 116.0, 88.0]])
_MALIGNANT_PALETTE = np.array(
    [
        [52.0, 34.0, 30.0],  # near-black
        [176.0, 124.0, 92.0],  # light brown
        [112.0, 118.0, 140.0],  # blue-grey veil
        [212.0, 170.0, 166.0],  # whitish-pink regression
    ]
)

DESCR = """\
Synthetic dermoscopy lesions with several annotators' masks (skiaa.datasets.make_lesions)
------------------------------------------------------------------------------------------

Each image shows a pigmented lesion on skin-toned background (low-frequency
illumination changes, vignetting, sensor noise). The lesion's hidden true outline is
a star-shaped radial function r(theta) = R * (1 + sum_k a_k cos(k theta + phi_k)).
Three latent parameters in [0, 1], drawn from Beta distributions that overlap between
the diagnoses, control how hard the lesion is to delineate:

- irregularity: energy of the harmonics k = 4..16 of the outline;
- border fuzziness: width of the pigment's fade-out across the border (10-90 %),
  itself varying along the border;
- variegation: number and strength of colour blotches (malignant palette: near-black,
  light brown, blue-grey veil, whitish regression areas; benign: browns only).

Malignant lesions draw all three from higher distributions, so their annotators agree
less, and every cause of disagreement is visible in the image.

Masks come from a fixed panel of 15 annotators (A01..A15), each with one skill level
(S1 expert, S2 novice), one tool and a habitual offset (looser or tighter):

- T1 manual polygon: 6-20 clicked vertices (fewer for novices) on the perceived
  border, joined by straight edges, so wiggles between vertices are cut off;
- T2 semi-automatic trace: the outline smoothed to its first 5 (novice) or 10
  (expert) harmonics, offset inside or outside the fuzzy rim;
- T3 automatic threshold: Gaussian-smoothed intensity thresholded between the skin
  and the darkest pigment level, largest component, holes filled; it misses pale
  regression areas and follows colour changes.

Offsets of T1/T2 scale with the local border width, so fuzzy borders cause
disagreement. They vary smoothly along the border (an annotator is loose in one
place, tight in another) around the annotator's habitual bias; averaged along the
border this makes an image's agreement depend mostly on what the image shows, so that
it can be predicted from the pixels.

An annotator reads an image once: where the border lies, how much of a pale halo
around the lesion belongs to it (some lesions have one; annotators read the border
somewhere between the dark body and the halo's edge, varying along it, loose
annotators further out), whether to outline only the dark body of a variegated
lesion (rare), and an automatic tool's settings. All their masks of that image share
the reading; a second mask redraws only the clicks and a smaller part of the
offsets. The semi-automatic trace (T2) runs systematically outside the rim.

Annotators are sampled with replacement in proportion to their share of the work, so
some images carry two masks by one annotator (as 218 IMA++ images do).

Measured on 800 images (64 px, seed 7) against the real IMA++ tables: mean pair Dice
0.904 for two masks by one annotator vs 0.745 by two (IMA++ 0.900 vs 0.772); 0.825 for
one tool vs 0.734 for two (IMA++ 0.862 vs 0.747); per-image IAA mean 0.771, std 0.156,
median 0.807, 10 % quantile 0.539 (IMA++ 0.792, 0.203, 0.860, 0.505); benign 0.805,
malignant 0.651 (IMA++ 0.802, 0.756).
The number of masks per image follows the IMA++ counts 2130/209/51/4 for 2/3/4/5 masks
restricted to the requested range.
"""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_n_masks(n_masks):
    if _is_int(n_masks):
        low = high = int(n_masks)
    elif (
        isinstance(n_masks, (tuple, list))
        and len(n_masks) == 2
        and _is_int(n_masks[0])
        and _is_int(n_masks[1])
    ):
        low, high = int(n_masks[0]), int(n_masks[1])
    else:
        raise ValueError(f"n_masks must be an int or a (low, high) pair of ints, got {n_masks!r}")
    if low < 2 or high < low:
        raise ValueError(
            f"n_masks must satisfy 2 <= low <= high (agreement needs two masks), got {n_masks!r}"
        )
    return low, high


def _mask_count_probabilities(low, high):
    """P(k masks) for k in [low, high]: the IMA++ counts, decaying tenfold per mask past 5."""
    ks = np.arange(low, high + 1)
    weights = np.array(
        [_IMAPP_MASK_COUNTS.get(k, _IMAPP_MASK_COUNTS[5] * 0.1 ** (k - 5)) for k in ks]
    )
    return ks, weights / weights.sum()


def _harmonic_curve(coef_cos, coef_sin, n_harmonics=_MAX_HARMONIC):
    """Evaluate sum_k (c_k cos k theta + s_k sin k theta), k = 1..n, on the angle grid."""
    n = n_harmonics
    return coef_cos[:n] @ _COS[:n] + coef_sin[:n] @ _SIN[:n]


def _unit_field(rng, n_harmonics):
    """A random smooth function of the angle with unit standard deviation."""
    scale = 1.0 / np.sqrt(n_harmonics)
    return _harmonic_curve(
        rng.normal(0.0, scale, n_harmonics), rng.normal(0.0, scale, n_harmonics), n_harmonics
    )


def _halo_reading(rng, has_halo, noise_scale, bias):
    """Where an annotator reads the border of a lesion with a pale halo, per angle.

    0 is the dark body's edge, 1 the halo's outer edge. The reading varies along
    the border around the annotator's habit (loose annotators, ``bias > 0``, lean
    outwards), so that the disagreement it causes grows with the halo's visible
    width rather than with a coin flip. 0 without a halo; without random error
    (``noise_scale == 0``) the habit alone: all of the halo or none of it.
    """
    if not has_halo:
        return 0.0
    if noise_scale == 0:
        return np.full(_N_ANGLES, float(bias > 0))
    z = (
        _HALO_HABIT * bias
        + _HALO_GLOBAL_SD * rng.normal()
        + _HALO_LOCAL_SD * _unit_field(rng, _LOCAL_HARMONICS)
    )
    return 1.0 / (1.0 + np.exp(-z))


def _polygon_radius(vertex_theta, vertex_r):
    """Radius on the angle grid of a polygon star-shaped about the origin.

    Vertices are sorted by angle with gaps below pi; the edge between vertices
    (t1, r1) and (t2, r2) is the straight line r(t) = r1 r2 sin(t2 - t1) /
    (r1 sin(t - t1) + r2 sin(t2 - t)).
    """
    t = np.concatenate([vertex_theta - 2 * np.pi, vertex_theta, vertex_theta + 2 * np.pi])
    r = np.tile(vertex_r, 3)
    i = np.searchsorted(t, _THETA, side="right") - 1
    t1, t2, r1, r2 = t[i], t[i + 1], r[i], r[i + 1]
    return r1 * r2 * np.sin(t2 - t1) / (r1 * np.sin(_THETA - t1) + r2 * np.sin(t2 - _THETA))


def _gaussian_blobs(yy, xx, centers, sigmas):
    """Gaussian bumps (n_blobs, H, W) with peak 1."""
    d2 = (yy[None] - centers[:, 0, None, None]) ** 2 + (xx[None] - centers[:, 1, None, None]) ** 2
    return np.exp(-0.5 * d2 / (sigmas[:, None, None] ** 2))


def _threshold_mask(lum, level):
    """Largest connected component of ``lum < level`` with its holes filled."""
    below = lum < level
    labels, n = ndimage.label(below)
    if n == 0:
        # An automatic tool always returns something: keep the darkest pixel.
        mask = np.zeros(lum.shape, dtype=bool)
        mask[np.unravel_index(np.argmin(lum), lum.shape)] = True
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    mask = labels == (np.argmax(sizes) + 1)
    return ndimage.binary_fill_holes(mask)


def _one_lesion(rng, shape, malignant, annotators, noise_scale):
    """Generate one image, its true mask and outline, and its annotators' masks."""
    height, width = shape
    s = float(min(shape))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)

    # Latent difficulty: Beta draws that overlap between the two diagnoses, so
    # that the diagnosis predicts agreement only on average.
    a, b = (3.5, 2.5) if malignant else (1.5, 5.0)
    irregularity, fuzziness, variegation = rng.beta(a, b, size=3)
    radius = s * rng.uniform(0.12, 0.3)
    center = np.array([height, width]) / 2.0 + rng.normal(0.0, 0.04 * s, size=2)

    # True outline: ellipticity and lobes (k = 2, 3) for every lesion; the
    # high-frequency harmonics that make a border irregular scale with irregularity.
    sd = np.zeros(_MAX_HARMONIC)
    sd[1:3] = 0.05 + 0.05 * irregularity
    sd[3:] = irregularity * 0.4 / _HARMONICS[3:] ** 1.2
    coef_c, coef_s = rng.normal(0.0, sd), rng.normal(0.0, sd)
    r_true = radius * np.clip(1.0 + _harmonic_curve(coef_c, coef_s), 0.35, None)

    # Border width (10-90 % of the pigment fade, pixels), patchy along the border.
    mean_width = s * (_WIDTH[0] + _WIDTH[1] * fuzziness)
    patch = _harmonic_curve(rng.normal(0.0, 0.35, 4), rng.normal(0.0, 0.35, 4), 4)
    width_theta = mean_width * np.clip(1.0 + fuzziness * patch, 0.3, None)

    dy, dx = yy - center[0], xx - center[1]
    rho = np.hypot(dy, dx)
    pos = (np.arctan2(dy, dx) % (2 * np.pi)) * (_N_ANGLES / (2 * np.pi))
    i0 = pos.astype(np.intp) % _N_ANGLES
    i1 = (i0 + 1) % _N_ANGLES
    frac = pos - np.floor(pos)

    def at_pixels(curve):  # radial function on the angle grid -> per-pixel value
        return curve[..., i0] * (1.0 - frac) + curve[..., i1] * frac

    r_pix = at_pixels(r_true)
    true_mask = rho <= r_pix
    # Logistic fade with a 10-90 % width of width_theta: tau = width / (2 ln 9).
    tau = at_pixels(width_theta) / (2.0 * np.log(9.0))
    alpha = 0.5 * (1.0 - np.tanh((rho - r_pix) / (2.0 * tau)))

    # Skin: a tone between light and tan, slow illumination changes, vignetting.
    skin = _SKIN_LIGHT + rng.uniform(0, 1) * (_SKIN_TAN - _SKIN_LIGHT)
    # Slow illumination changes: a few plane waves with periods of about the image size.
    freq = rng.normal(0.0, 1.5 * np.pi / s, (3, 2))
    phase = rng.uniform(0, 2 * np.pi, (3, 1, 1))
    illum = 0.025 * np.cos(freq[:, :1, None] * yy + freq[:, 1:, None] * xx + phase).sum(axis=0)
    corner = np.hypot((yy - height / 2) / (height / 2), (xx - width / 2) / (width / 2))
    vignette = 1.0 - rng.uniform(0.0, 0.18) * (corner / np.sqrt(2)) ** 3
    skin_img = skin[None, None, :] * ((1.0 + illum) * vignette)[..., None]

    # Pigment: a base brown with colour blotches whose number and strength grow
    # with variegation; fine texture stands in for the pigment network.
    pigment = np.broadcast_to(
        _PIGMENT_LIGHT + rng.uniform(0.3, 1.0) * (_PIGMENT_DARK - _PIGMENT_LIGHT), shape + (3,)
    ).copy()
    palette = _MALIGNANT_PALETTE if malignant else _BENIGN_PALETTE
    n_blobs = 1 + int(round(variegation * 6))
    blob_theta = rng.uniform(0, 2 * np.pi, n_blobs)
    blob_r = np.sqrt(rng.uniform(0.0, 0.85, n_blobs)) * np.interp(
        blob_theta, _THETA, r_true, period=2 * np.pi
    )
    centers = center + np.c_[blob_r * np.sin(blob_theta), blob_r * np.cos(blob_theta)]
    blobs = _gaussian_blobs(yy, xx, centers, radius * rng.uniform(0.15, 0.4, n_blobs))
    strengths = (0.25 + 0.75 * variegation) * rng.uniform(0.5, 1.0, n_blobs)
    colours = palette[rng.integers(0, len(palette), n_blobs)]
    for blob, strength, colour in zip(blobs, strengths, colours):
        g = (strength * blob)[..., None]
        pigment = pigment * (1.0 - g) + colour * g
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 0.6 * s / 128.0)
    pigment = pigment * (1.0 + 0.12 * texture / (texture.std() + 1e-12))[..., None]

    # Optional pale halo: light pigment fading out well beyond the dark body.
    has_halo = rng.uniform() < _HALO_P[bool(malignant)]
    halo_scale = 1.0 + rng.uniform(0.4, 1.0) if has_halo else 1.0
    r_halo = r_true * halo_scale
    if has_halo:
        halo_tau = tau * 1.5
        halo_alpha = (
            rng.uniform(0.35, 0.5)
            * 0.5
            * (1.0 - np.tanh((rho - at_pixels(r_halo)) / (2.0 * halo_tau)))
        )
        halo_colour = _PIGMENT_LIGHT + 0.35 * (skin - _PIGMENT_LIGHT)
        skin_img = skin_img * (1.0 - halo_alpha[..., None]) + halo_colour * halo_alpha[..., None]

    image = skin_img * (1.0 - alpha[..., None]) + pigment * alpha[..., None]
    image += rng.normal(0.0, 2.5, image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    # What an automatic tool sees: smoothed luminance, skin level from the image
    # frame, pigment level from the darkest pixels.
    gray = image.astype(np.float64).mean(axis=2)
    frame = np.concatenate(
        [gray[:3].ravel(), gray[-3:].ravel(), gray[:, :3].ravel(), gray[:, -3:].ravel()]
    )
    skin_level = np.median(frame)

    # One reading of the image per annotator, shared by all their masks of it.
    readings = {}
    for annotator in annotators:
        if annotator not in readings:
            readings[annotator] = dict(
                shift=rng.normal(),
                local=_unit_field(rng, _LOCAL_HARMONICS),
                hand=(rng.normal(), _unit_field(rng, _LOCAL_HARMONICS)),
                wobble=(rng.normal(0.0, 1.0, 3), rng.normal(0.0, 1.0, 3)),
                smooth=rng.uniform(),
                cut=rng.normal(),
                # Without random error (annotator_noise=0) the judgements follow
                # the annotator's habit: loose annotators include the halo.
                halo=_halo_reading(rng, has_halo, noise_scale, _BIASES[annotator]),
                core=(
                    rng.uniform(*_CORE_SCALE)
                    if rng.uniform() < _CORE_P * variegation**2 * min(noise_scale, 1.0)
                    else 1.0
                ),
            )
    rep = _REPEAT_SD

    masks = np.empty((len(annotators),) + shape, dtype=bool)
    for j, annotator in enumerate(annotators):
        novice = _SKILLS[annotator] == "S2"
        tool = _TOOLS[annotator]
        bias = _BIASES[annotator]
        reading = readings[annotator]
        if tool == "T3":
            # Automatic tools differ in how much they smooth and where they cut
            # between the skin and the darkest pigment; an annotator reuses the
            # settings, give or take a touch, and a halo is either cut in or out.
            smooth = np.clip(reading["smooth"] + rep * 0.3 * rng.normal(), 0.0, 1.0)
            sigma = s / 128.0 * (1.0 + 2.5 * smooth * min(noise_scale, 1.0))
            lum = ndimage.gaussian_filter(gray, sigma)
            dark_level = np.percentile(lum, 2)
            cut = reading["cut"] + rep * rng.normal()
            t = np.clip(0.5 - 0.2 * bias + 0.18 * noise_scale * cut, 0.1, 0.9)
            if reading["core"] < 1.0:
                # the dark body only
                t = 0.9
            elif has_halo:
                # cut between the body (0.5) and the halo's edge (0.12) where the
                # annotator reads the border on average
                t = max(t, 0.5) + (0.12 - max(t, 0.5)) * float(np.mean(reading["halo"]))
            masks[j] = _threshold_mask(lum, skin_level - t * (skin_level - dark_level))
            continue
        # Where the annotator puts the border within the fuzzy rim: a habitual
        # offset plus the reading of this image (shared by the annotator's masks)
        # plus a smaller per-mask part, larger for novices, scaled by the local width.
        spread = (1.5 if novice else 1.0) * noise_scale
        local = reading["local"] + rep * _unit_field(rng, _LOCAL_HARMONICS)
        shift = reading["shift"] + rep * rng.normal()
        tool_width, tool_radius = _TOOL_OFFSET[tool]
        eps = _BIAS_SCALE * bias + tool_width + spread * (_GLOBAL_SD * shift + _LOCAL_SD * local)
        pos = reading["halo"]
        base = (r_true + (r_halo - r_true) * pos) * reading["core"]
        width = width_theta * (1.0 + (1.5 * halo_scale - 1.0) * pos)
        offset = width * np.clip(eps, -2.0, 3.0) + tool_radius * radius
        hand0, hand1 = reading["hand"]
        offset += (
            _CONST_SD
            * s
            * noise_scale
            * (
                0.5 * (hand0 + rep * rng.normal())
                + hand1
                + rep * _unit_field(rng, _LOCAL_HARMONICS)
            )
        )
        if tool == "T2":
            keep = 5 if novice else 10
            scale = base / r_true  # the trace of the halo or of the dark body only
            wobble = _harmonic_curve(
                0.006 * s * noise_scale * (reading["wobble"][0] + rep * rng.normal(0.0, 1.0, 3)),
                0.006 * s * noise_scale * (reading["wobble"][1] + rep * rng.normal(0.0, 1.0, 3)),
                3,
            )
            smooth_outline = radius * (1.0 + _harmonic_curve(coef_c, coef_s, keep))
            outline = smooth_outline * scale + offset + wobble
        else:  # T1: clicked vertices on the perceived border joined by straight edges
            n_vertices = rng.integers(6, 13) if novice else rng.integers(10, 21)
            step = 2 * np.pi / n_vertices
            vt = rng.uniform(0, step) + step * np.arange(n_vertices)
            vt = vt + rng.uniform(-0.3, 0.3, n_vertices) * step
            idx = np.rint(vt % (2 * np.pi) * (_N_ANGLES / (2 * np.pi))).astype(int) % _N_ANGLES
            vr = base[idx] + offset[idx] + rng.normal(0.0, 0.003 * s * noise_scale, n_vertices)
            order = np.argsort(vt % (2 * np.pi))
            outline = _polygon_radius((vt % (2 * np.pi))[order], np.maximum(vr[order], 1.0))
        masks[j] = rho <= at_pixels(np.maximum(outline, 0.5))

    keep = np.linspace(0, _N_ANGLES, _N_OUTLINE_POINTS, endpoint=False).astype(int)
    outline_pts = np.c_[
        center[0] + r_true[keep] * np.sin(_THETA[keep]),
        center[1] + r_true[keep] * np.cos(_THETA[keep]),
    ]
    params = (radius / s, irregularity, mean_width / s, variegation)
    return image, true_mask, outline_pts, masks, params


@Substitution(random_state=RANDOM_STATE_DOC)
def make_lesions(
    n_samples=100,
    *,
    image_size=128,
    n_masks=(2, 5),
    malignant_fraction=0.21,
    annotator_noise=1.0,
    random_state=None,
):
    """Generate dermoscopy-like images with several annotators' masks per image.

    Each image shows a pigmented lesion on skin with a hidden true outline, and 2 or
    more masks drawn by a fixed panel of synthetic annotators the way real annotators
    differ (manual polygon, looser or tighter trace, automatic threshold). Malignant
    lesions are more irregular, more variegated and fuzzier at the border, so their
    annotators agree less, and the cue is visible in the pixels (so agreement can be
    learned from the image). Read more in the Notes and in ``DESCR``.

    Parameters
    ----------
    n_samples : int, default=100
        Number of images.
    image_size : int or tuple of (int, int), default=128
        Image height and width in pixels (an int gives a square image), at least 16.
        Lengths scale with the image, so agreement does not depend on the size.
    n_masks : int or tuple of (int, int), default=(2, 5)
        Number of masks per image: a fixed number, or a ``(low, high)`` inclusive
        range with ``2 <= low <= high``. In a range, counts follow IMA++'s skew
        toward two masks (see Notes).
    malignant_fraction : float, default=0.21
        Probability that an image is malignant (505/2385 in IMA++). Each image's
        diagnosis is drawn independently, so the realised fraction varies.
    annotator_noise : float, default=1.0
        Scale of the annotators' random errors (offsets, wobble, threshold
        choice, outlining the dark body alone); 0 leaves only the systematic
        differences between tools, annotators and lesions (a pale halo is then
        included by the annotators whose habit is to trace loosely).
    random_state : int, RandomState instance or None, default=None
        Seed of everything drawn: lesions, annotators and their masks.
        {random_state}

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        images : ndarray of shape (n_samples, H, W, 3), dtype uint8
            RGB images.
        masks : list of ndarray of shape (k_i, H, W), dtype bool
            The annotators' masks of each image, ``k_i`` masks for image ``i``.
        annotators, tools, skills : list of ndarray of shape (k_i,), dtype str
            Per mask: annotator id (``"A01"``..``"A15"``), tool (``"T1"`` manual
            polygon, ``"T2"`` semi-automatic trace, ``"T3"`` automatic
            threshold) and skill (``"S1"`` expert, ``"S2"`` novice), in the
            codes of the IMA++ release. An annotator always has the same tool
            and skill.
        diagnosis : ndarray of shape (n_samples,), dtype str
            ``"benign"`` or ``"malignant"`` (IMA++'s ``benign_malignant``).
        label : ndarray of shape (n_samples,), dtype int
            1 for malignant, 0 for benign.
        label_names : list of str
            ``["benign", "malignant"]``: ``label_names[label]`` is ``diagnosis``.
        true_masks : ndarray of shape (n_samples, H, W), dtype bool
            The hidden true lesion, inside the true outline.
        outlines : ndarray of shape (n_samples, 360, 2), dtype float
            The true outline as (row, column) points in pixel coordinates.
        lesion_params : ndarray of shape (n_samples, 4), dtype float
            Per-image generative parameters, columns named by ``feature_names``.
        feature_names : list of str
            ``["radius", "irregularity", "border_width", "variegation"]``:
            radius and mean border width (10-90 % of the pigment fade) as
            fractions of the shorter image side; irregularity and variegation
            in [0, 1].
        image_ids : ndarray of shape (n_samples,), dtype str
            ``"SYN_000000"``, ``"SYN_000001"``, ...
        DESCR : str
            Description of the generative model.

    Raises
    ------
    ValueError
        If ``n_samples`` is not a positive int, ``image_size`` or ``n_masks`` is
        malformed, or ``malignant_fraction`` is outside [0, 1] or
        ``annotator_noise`` is negative.

    See Also
    --------
    skiaa.datasets.find_mask_sets : Group the mask files of a folder by image.

    Notes
    -----
    With ``n_masks=(low, high)`` the number of masks of an image is drawn with
    probabilities proportional to the number of IMA++ images with 2, 3, 4 and 5
    masks (2130, 209, 51, 4 in the release) restricted to ``[low, high]``;
    past 5 each extra mask is ten times rarer. The default therefore gives two
    masks to about 89 % of images, as in IMA++.

    At the defaults the mean pairwise Dice of an image (its IAA) averages about
    0.80 for benign and 0.69 for malignant lesions, with overlapping
    distributions (IMA++: 0.80 and 0.76) and IMA++'s spread (std about 0.16
    against 0.20). Two masks by one annotator agree far more than masks by two
    annotators (mean pair Dice about 0.92 vs 0.76; IMA++ 0.900 vs 0.772), and
    masks made with one tool more than with two (0.83 vs 0.75; IMA++ 0.862 vs
    0.747): an annotator reads an image once and all their masks of it share
    the reading (see ``DESCR``).

    Examples
    --------
    >>> from skiaa.datasets import make_lesions
    >>> data = make_lesions(4, image_size=64, n_masks=3, random_state=0)
    >>> data.images.shape, data.images.dtype
    ((4, 64, 64, 3), dtype('uint8'))
    >>> [m.shape for m in data.masks]
    [(3, 64, 64), (3, 64, 64), (3, 64, 64), (3, 64, 64)]
    >>> data.diagnosis.tolist()
    ['benign', 'benign', 'malignant', 'malignant']
    >>> data.annotators[0].tolist(), data.tools[0].tolist(), data.skills[0].tolist()
    (['A04', 'A12', 'A09'], ['T3', 'T1', 'T1'], ['S2', 'S2', 'S1'])
    """
    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    shape = check_image_size(image_size, minimum=16)
    low, high = _check_n_masks(n_masks)
    if not isinstance(malignant_fraction, numbers.Real) or not 0 <= malignant_fraction <= 1:
        raise ValueError(f"malignant_fraction must be in [0, 1], got {malignant_fraction!r}")
    if not isinstance(annotator_noise, numbers.Real) or not annotator_noise >= 0:
        raise ValueError(f"annotator_noise must be >= 0, got {annotator_noise!r}")
    rng = as_generator(random_state)

    n_samples = int(n_samples)
    malignant = rng.uniform(size=n_samples) < malignant_fraction
    ks, probs = _mask_count_probabilities(low, high)
    counts = rng.choice(ks, size=n_samples, p=probs)

    images = np.empty((n_samples,) + shape + (3,), dtype=np.uint8)
    true_masks = np.empty((n_samples,) + shape, dtype=bool)
    outlines = np.empty((n_samples, _N_OUTLINE_POINTS, 2))
    params = np.empty((n_samples, len(_FEATURE_NAMES)))
    masks, annotators, tools, skills = [], [], [], []
    for i in range(n_samples):
        who = _ANNOTATORS[rng.choice(len(_ANNOTATORS), size=counts[i], p=_WEIGHTS)]
        image, true_mask, outline, stack, p = _one_lesion(
            rng, shape, bool(malignant[i]), who, float(annotator_noise)
        )
        images[i], true_masks[i], outlines[i], params[i] = image, true_mask, outline, p
        masks.append(stack)
        annotators.append(who)
        tools.append(np.array([_TOOLS[a] for a in who]))
        skills.append(np.array([_SKILLS[a] for a in who]))

    label_names = ["benign", "malignant"]
    return Bunch(
        images=images,
        masks=masks,
        annotators=annotators,
        tools=tools,
        skills=skills,
        diagnosis=np.array(label_names)[malignant.astype(int)],
        label=malignant.astype(int),
        label_names=label_names,
        true_masks=true_masks,
        outlines=outlines,
        lesion_params=params,
        feature_names=list(_FEATURE_NAMES),
        image_ids=np.array([f"SYN_{i:06d}" for i in range(n_samples)]),
        DESCR=DESCR,
    )
