"""
Multi-rater agreement on 3-D volumes
====================================

Many multi-rater data sets are volumes: CT nodules outlined by four
radiologists, MRI lesions by several neurologists, with voxels longer along
one axis than the others. Everything in :mod:`skiaa.agreement` works on such
stacks, with ``spacing`` in physical units. This example builds synthetic
"lesions" (spheres) outlined by four annotators who each have their own habit
at the boundary, then measures their agreement beyond the mean pairwise Dice:

- Krippendorff's alpha (:func:`skiaa.agreement.krippendorff_alpha`),
  chance-corrected agreement of all annotators at once;
- the pixel-wise uncertainty map (:func:`skiaa.agreement.uncertainty_map`);
- each annotator against the consensus of the others
  (:func:`skiaa.agreement.annotator_vs_consensus`), to rank the annotators;
- the generalized energy distance (:func:`skiaa.agreement.generalized_energy_distance`)
  between a model's sampled masks and the annotators.
"""

# %%
# Spheres with annotator-specific boundary noise
# ----------------------------------------------
# Each annotator draws the lesion's surface at ``radius + bias + wobble``: a
# fixed bias (annotator ``A4`` draws generously), and a smooth random wobble
# over the sphere that differs at every case. Voxels are 2.5 mm thick and
# 1 mm in plane, so the volumes have fewer slices than rows.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skiaa.agreement import (
    annotator_vs_consensus,
    generalized_energy_distance,
    krippendorff_alpha,
    pairwise_agreement,
    staple,
    uncertainty_map,
)

SPACING = (2.5, 1.0, 1.0)  # mm per voxel along (slices, rows, columns)
SHAPE = (16, 48, 48)
ANNOTATORS = ["A1", "A2", "A3", "A4"]
BIAS_MM = {"A1": 0.0, "A2": -0.5, "A3": 0.5, "A4": 2.5}
rng = np.random.default_rng(0)

zz, yy, xx = (np.indices(SHAPE).astype(float).T * np.array(SPACING)).T
centre = np.array(SHAPE) * np.array(SPACING) / 2


def outline(radius, bias, rng):
    """A sphere whose radius varies smoothly with direction: one annotator's mask."""
    dz, dy, dx = zz - centre[0], yy - centre[1], xx - centre[2]
    r = np.sqrt(dz**2 + dy**2 + dx**2)
    theta = np.arccos(np.clip(dz / np.maximum(r, 1e-9), -1, 1))
    phi = np.arctan2(dy, dx)
    wobble = sum(
        rng.normal(0, 0.6) * np.cos(m * phi + rng.uniform(0, 2 * np.pi)) * np.sin(theta) ** m
        for m in range(2, 5)
    )
    return r <= radius + bias + wobble


cases = []
for _ in range(8):
    radius = rng.uniform(9, 14)  # mm
    cases.append(np.stack([outline(radius, BIAS_MM[a], rng) for a in ANNOTATORS]))
print("one case:", cases[0].shape, "voxels of", SPACING, "mm")

# %%
# Pairwise agreement, in millimetres
# ----------------------------------
# With ``spacing`` the boundary distances are physical: a 1-voxel step across
# slices is 2.5 mm, in plane 1 mm.
pairs = pd.concat(
    pairwise_agreement(
        stack,
        ["dice", "hd95", "assd"],
        annotators=ANNOTATORS,
        image_id=f"case{i}",
        spacing=SPACING,
    )
    for i, stack in enumerate(cases)
)
print(pairs.groupby(["annotator1", "annotator2"])[["dice", "hd95", "assd"]].mean().round(2))

# %%
# Krippendorff's alpha: all annotators at once
# --------------------------------------------
# Alpha compares the observed disagreement with the disagreement expected by
# chance, over every voxel; 1 is perfect agreement. One value per case, or
# one over all cases (``pooled=True``). Unlike the mean pairwise Dice it
# depends on the field of view: background that all annotators leave out is
# agreement too, so compare alphas between volumes framed alike.
alphas = [krippendorff_alpha(stack) for stack in cases]
print("alpha per case:", np.round(alphas, 3))
print("pooled alpha:", round(krippendorff_alpha(cases, pooled=True), 3))
print("without A4:", round(krippendorff_alpha([s[:3] for s in cases], pooled=True), 3))

# %%
# Where the annotators disagree: the uncertainty map
# --------------------------------------------------
# The mean of the masks is the fraction of annotators marking each voxel; its
# binary entropy (bits) is 0 where they all agree and 1 where they split
# half and half. It is a shell around the lesion, thicker where ``A4`` draws
# wide.
result = uncertainty_map(cases[0])
middle = SHAPE[0] // 2
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
consensus = staple(cases[0]).mask
axes[0].imshow(result.mean[middle], cmap="gray", vmin=0, vmax=1)
axes[0].contour(consensus[middle], levels=[0.5], colors="#D55E00", linewidths=1)
axes[0].set_title("mean mask (orange: STAPLE)")
im = axes[1].imshow(result.entropy[middle], cmap="magma", vmin=0, vmax=1)
axes[1].set_title("entropy (bits), middle slice")
fig.colorbar(im, ax=axes[1], shrink=0.8)
axes[2].imshow(
    result.entropy[:, SHAPE[1] // 2], cmap="magma", vmin=0, vmax=1, aspect=SPACING[0] / SPACING[2]
)
axes[2].set_title("entropy, across slices")
for ax in axes:
    ax.set_axis_off()
plt.show()

# %%
# Ranking the annotators against the consensus of the others
# ----------------------------------------------------------
# Leave-one-out: each annotator is compared with the STAPLE consensus of the
# *other three*, so no one agrees with a consensus they helped to make. The
# generous annotator ``A4`` comes last on Dice and on distance.
table = pd.concat(
    annotator_vs_consensus(
        stack, ANNOTATORS, metrics=["dice", "hd95"], image_id=f"case{i}", spacing=SPACING
    )
    for i, stack in enumerate(cases)
)
ranking = table.groupby("annotator")[["dice", "hd95"]].mean().sort_values("dice")
print(ranking.round(3))

# %%
# A probabilistic model against the annotators: the generalized energy distance
# -----------------------------------------------------------------------------
# ``D^2_GED = 2 E d(S, Y) - E d(S, S') - E d(Y, Y')`` with ``d = 1 - IoU``.
# A model that always outputs the same mask (here the consensus) has no
# diversity of its own and pays for it; one that samples masks as varied as
# the annotators' (here fresh draws of the same annotators' habits) gets a
# smaller distance, even though each of its samples is no closer to the
# consensus.
ged_fixed, ged_sampled = [], []
for stack in cases:
    radius = np.cbrt(stack[0].sum() * np.prod(SPACING) * 3 / (4 * np.pi))
    fixed = np.repeat(staple(stack).mask[None], 4, axis=0)
    sampled = np.stack([outline(radius, BIAS_MM[a], rng) for a in ANNOTATORS])
    ged_fixed.append(generalized_energy_distance(fixed, stack))
    ged_sampled.append(generalized_energy_distance(sampled, stack))
summary = pd.DataFrame(
    {
        "GED, one fixed mask": [g.ged for g in ged_fixed],
        "GED, sampled masks": [g.ged for g in ged_sampled],
        "annotator diversity": [g.annotator_diversity for g in ged_fixed],
    }
)
print(summary.mean().round(3))
