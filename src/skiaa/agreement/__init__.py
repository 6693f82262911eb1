"""Agreement between two binary segmentation masks, and between all masks of an image.

Overlap metrics (:func:`dice`, :func:`jaccard`), boundary distances
(:func:`hausdorff`, :func:`hd95`, :func:`assd`) and boundary tolerance scores
(:func:`surface_dice`, :func:`boundary_f1`) on two masks;
:func:`pairwise_agreement` on every unordered pair of an image's masks and
:func:`image_agreement` to summarise pairs per image, the way the IMA++ release
does (Abhishek, Kawahara & Hamarneh, arXiv:2508.09381, section 2).

Definitions
-----------
The definitions are medpy's (``medpy.metric.binary`` 0.5: ``dc``, ``jc``,
``hd``, ``hd95``, ``assd``), which the IMA++ release used:

- the *border* of a mask is ``mask ^ binary_erosion(mask, cross)`` with the
  4-connected (face-connected in n-D) structuring element, pixels outside the
  image counting as background;
- the directed distances from mask A to mask B are the Euclidean distances
  from each border pixel of A to the nearest border pixel of B (in physical
  units when ``spacing`` is given);
- Hausdorff = the largest directed distance either way; HD95 = the 95th
  percentile (numpy's linear interpolation) of both directed sets
  concatenated (``hd_percentile="pooled"``, the default; ``"max"`` takes the
  larger of the two directed 95th percentiles, as MONAI does); ASSD = the
  mean of both directed sets concatenated (medpy >= 0.5; medpy < 0.5
  averaged the two directed means instead).

With ``labels=[...]`` (or ``"all"``) every metric takes *label maps*, one
integer class per pixel, and returns one value per class: the metric of the
binary masks ``map == class``, with the rules below for a class absent from one
or both maps; :func:`generalized_dice` pools the classes (Sudre et al. 2017).

Masks may have any number of dimensions (2-D images, 3-D volumes): a stack
of an image's masks is ``(k, H, W)`` or ``(k, D, H, W)``, and ``spacing``
gives one voxel size per axis, in the array's axis order.

Normalised distances (``*_normalized``) divide by the image diagonal
``sqrt(H**2 + W**2)`` as the release does; with ``spacing`` the diagonal is the
physical one, ``sqrt((H*sy)**2 + (W*sx)**2)`` (and alike in 3-D).

Empty masks (the convention, tested)
------------------------------------
- both masks empty: the masks are equal, so Dice = Jaccard = 1 (medpy's
  intent: its ``jc`` returns 1, its ``dc`` meant to but returns NaN under
  numpy >= 2, where ``np.int64 / 0.0`` no longer raises), every distance is 0
  and surface Dice = boundary F1 = 1. No warning: the values follow from
  ``a == b``;
- exactly one mask empty: Dice = Jaccard = 0 and surface Dice = boundary F1 = 0
  (what their formulas give); the distances are undefined and are returned as
  NaN with an :class:`EmptyMaskWarning` (medpy raises ``RuntimeError``; the
  release's table holds NaN in its raw distance columns and 1.0 in its
  normalised ones, for the empty STAPLE mask of ISIC_0013567). NaN then
  propagates: an image's mean over pairs is NaN when one of its pairs is,
  rather than a mean over the other pairs. ``empty="worst"`` gives the image
  diagonal instead (1.0 normalised), without a warning.

Speed
-----
Overlaps are counted on bit-packed masks with a population count
(``np.bitwise_count``, numpy >= 2; a lookup table on older numpy). Borders are
found by eroding the row-packed bits (byte shifts and ANDs on 1/8 of the
memory), cropped to the bytes that hold foreground, and the directed distances
come from a k-d tree over the border points: exact (the same numbers as medpy's
full-image distance transform), at a fraction of the cost; label maps find
every class's border in one pass. ``benchmarks/bench_agreement.py`` and
``benchmarks/bench_peers.py`` measure the ratios against numpy, medpy, MONAI
and DeepMind's surface-distance, side by side on equal values.
"""

# The package's layout (see docs/development.rst, "Adding an agreement metric"):
# _naming (metric names, release columns, consensus codes, statistics),
# _metrics (the pair metrics), _engine (validation, per-pair values and
# summaries shared by every builder of agreement tables), _pairwise (the
# public table builders), _consensus (majority vote, STAPLE, uncertainty map),
# _multirater (Krippendorff's alpha, GED, annotator vs consensus), _scoring (a
# model's masks against the annotators) and _transformer (the engine as a
# scikit-learn transformer).
from . import _multirater, _naming, _scoring
from ._consensus import (
    MultiLabelStapleResult,
    StapleResult,
    UncertaintyMap,
    majority_vote,
    staple,
    uncertainty_map,
)
from ._metrics import (
    EmptyMaskWarning,
    assd,
    boundary_f1,
    dice,
    generalized_dice,
    hausdorff,
    hd95,
    jaccard,
    surface_dice,
)
from ._multirater import (
    AlphaUndefinedWarning,
    EnergyDistance,
    annotator_vs_consensus,
    generalized_energy_distance,
    krippendorff_alpha,
)
from ._pairwise import image_agreement, pairwise_agreement
from ._scoring import (
    SegmentationScore,
    make_segmentation_scorer,
    score_segmentation,
    summarize_scores,
    threshold_jaccard,
)
from ._transformer import AgreementTransformer

# The naming constants live in _naming; they are bound here with their
# documentation so that the API reference (autodata) shows it.

#: Every metric :func:`pairwise_agreement` computes, by its skiaa name.
METRICS = _naming.METRICS

#: The metrics of the IMA++ release's pairwise table, the default everywhere.
DEFAULT_METRICS = _naming.DEFAULT_METRICS

#: skiaa column name -> IMA++ release column name. The one mapping between the
#: two namings; :func:`image_agreement` reads either, and
#: ``pairs.rename(columns=RELEASE_NAMES)`` writes the release's layout.
RELEASE_NAMES = _naming.RELEASE_NAMES

#: Annotator codes of consensus masks in IMA++: ``ST`` (STAPLE), ``MV`` (majority vote).
CONSENSUS_CODES = _naming.CONSENSUS_CODES

#: Statistics of a metric over an image's pairs, accepted by :func:`image_agreement`
#: and :class:`AgreementTransformer` alike.
STATISTICS = _naming.STATISTICS

#: Per-image multi-rater measures of :class:`skiaa.AgreementTransformer`
#: (``measures=``): ``krippendorff_alpha``, ``annotator_diversity`` (the
#: annotators' term of :func:`generalized_energy_distance`) and ``union_entropy``
#: (mean pixel entropy over the pixels some annotator marked).
IMAGE_MEASURES = _multirater.IMAGE_MEASURES

#: Default metrics of :func:`score_segmentation`.
SCORE_METRICS = _scoring.SCORE_METRICS

#: Former name of :data:`CONSENSUS_CODES`, kept for existing code.
CONSENSUS_ANNOTATORS = CONSENSUS_CODES

__all__ = [
    "METRICS",
    "DEFAULT_METRICS",
    "RELEASE_NAMES",
    "CONSENSUS_CODES",
    "STATISTICS",
    "EmptyMaskWarning",
    "dice",
    "jaccard",
    "hausdorff",
    "hd95",
    "assd",
    "surface_dice",
    "boundary_f1",
    "generalized_dice",
    "pairwise_agreement",
    "image_agreement",
    # Multi-rater measures (_multirater) and a model against its annotators (_scoring)
    "IMAGE_MEASURES",
    "AlphaUndefinedWarning",
    "EnergyDistance",
    "krippendorff_alpha",
    "generalized_energy_distance",
    "annotator_vs_consensus",
    "SCORE_METRICS",
    "SegmentationScore",
    "score_segmentation",
    "summarize_scores",
    "threshold_jaccard",
    "make_segmentation_scorer",
    # Consensus masks (_consensus) and the transformer (_transformer)
    "StapleResult",
    "MultiLabelStapleResult",
    "UncertaintyMap",
    "majority_vote",
    "staple",
    "uncertainty_map",
    "AgreementTransformer",
]
