"""agreement_by_factor and the plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiaa.stats import (
    agreement_by_factor,
    compare_groups,
    plot_agreement_by_factor,
    plot_ecdf,
)

_levels = st.sampled_from(["S1", "S2", "ST"])


@st.composite
def _pairs(draw):
    n = draw(st.integers(3, 30))
    rows = []
    for _ in range(n):
        a1, a2 = (
            draw(st.sampled_from(["A1", "A2", "A3", "MV"])),
            draw(st.sampled_from(["A1", "A2"])),
        )
        rows.append(
            {
                "annotator1": a1,
                "annotator2": a2,
                "skill_level1": "MV" if a1 == "MV" else draw(_levels),
                "skill_level2": draw(_levels),
                "dice_score": draw(st.floats(0, 1)),
            }
        )
    return pd.DataFrame(rows)


@given(_pairs())
def test_matches_brute_force(pairs):
    kept = [
        r
        for r in pairs.itertuples()
        if not {r.annotator1, r.annotator2, r.skill_level1, r.skill_level2} & {"ST", "MV"}
    ]
    if not kept:
        return
    table = agreement_by_factor(pairs, "skill")
    expected = {}
    for r in kept:
        key = "-".join(sorted([r.skill_level1, r.skill_level2]))
        expected.setdefault(key, []).append(r.dice_score)
    assert sorted(table.index) == sorted(expected)
    for key, vals in expected.items():
        assert table.loc[key, "n"] == len(vals)
        assert table.loc[key, "mean"] == pytest.approx(np.mean(vals))
        assert table.loc[key, "median"] == pytest.approx(np.median(vals))
        if len(vals) > 1:
            std = np.std(vals, ddof=1)
            assert table.loc[key, "std"] == pytest.approx(std, abs=1e-12)
            assert table.loc[key, "sem"] == pytest.approx(std / np.sqrt(len(vals)), abs=1e-12)
        else:  # one pair has no spread
            assert np.isnan(table.loc[key, "std"]) and np.isnan(table.loc[key, "sem"])
        assert table.loc[key, "same"] == (key.split("-")[0] == key.split("-")[1])
    assert table["n"].sum() + table.attrs["n_consensus_pairs_excluded"] == len(pairs)
    assert (table.attrs["factor"], table.attrs["value_column"]) == ("skill", "dice_score")
    # Rows are matched by position, whatever the table's index (a filtered table's).
    relabelled = pairs.set_axis(np.arange(len(pairs))[::-1] * 3 + 5)
    pd.testing.assert_frame_equal(agreement_by_factor(relabelled, "skill"), table)

    intra = [r.dice_score for r in kept if r.annotator1 == r.annotator2]
    by_annot = agreement_by_factor(pairs, "annotator")
    if intra:
        assert by_annot.loc["intra-annotator", "mean"] == pytest.approx(np.mean(intra))
    assert by_annot["n"].sum() == len(kept)
    # Intra- against inter-annotator: the groups say it, no "same" column.
    assert "same" not in by_annot.columns and by_annot.attrs["factor"] == "annotator"


def test_include_consensus_and_errors():
    pairs = pd.DataFrame(
        {
            "annotator1": ["A1", "A1"],
            "annotator2": ["A2", "ST"],
            "tool1": ["T1", "T1"],
            "tool2": ["T3", "ST"],
            "dice_score": [0.7, np.nan],
        }
    )
    assert agreement_by_factor(pairs, "tool")["n"].to_dict() == {"T1-T3": 1}
    with pytest.raises(ValueError, match="1 pair.*'dice_score'"):
        agreement_by_factor(pairs, "tool", include_consensus=True)
    with pytest.raises(ValueError) as exc:
        agreement_by_factor(pairs, "skill")
    assert str(exc.value) == (
        "pairs table lacks the columns 'skill1'/'skill2' or 'skill_level1'/'skill_level2' "
        "for factor 'skill'"
    )
    # Both columns of a factor are needed: one of the two is not enough.
    with pytest.raises(ValueError, match="lacks the columns 'tool1'/'tool2' for factor 'tool'"):
        agreement_by_factor(pairs.drop(columns="tool2"), "tool")
    with pytest.raises(ValueError, match="'jaccard'"):
        agreement_by_factor(pairs, "tool", value_column="jaccard")
    with pytest.raises(ValueError, match="DataFrame"):
        agreement_by_factor(pairs.to_dict(), "tool")


def test_release_pairs_table_as_is(imaplusplus_dir):
    pairs = pd.read_csv(imaplusplus_dir / "IMAplusplus_multiannotator_subset_IAA_metrics.csv")
    table = agreement_by_factor(pairs, "annotator")
    # The release's tables: over all (non-consensus) pairs Dice averages 0.781.
    overall = (table["n"] * table["mean"]).sum() / table["n"].sum()
    assert round(overall, 3) == 0.781
    assert table.loc["intra-annotator", "mean"] > table.loc["inter-annotator", "mean"]
    assert set(agreement_by_factor(pairs, "skill").index) == {"S1-S1", "S1-S2", "S2-S2"}


def test_plot_ecdf_marks_the_gap_and_takes_ax():
    rng = np.random.default_rng(0)
    values = np.r_[rng.beta(8, 2, 200), rng.beta(5, 2, 80)]
    groups = ["benign"] * 200 + ["malignant"] * 80
    fig, ax = plt.subplots()
    res = compare_groups(values, groups, n_resamples=99, random_state=0)
    out = plot_ecdf(values, groups, ax=ax, comparison=res)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["benign (n = 200)", "malignant (n = 80)"]
    # The gap segment sits at the KS location and spans the gap.
    segs = ax.collections[0].get_segments()[0]
    assert segs[0][0] == pytest.approx(res.ecdf_gap["location"])
    assert abs(segs[1][1] - segs[0][1]) == pytest.approx(res.ecdf_gap["statistic"])
    assert any("Mann-Whitney" in t.get_text() for t in ax.texts)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    plt.close(fig)


def test_plot_agreement_by_factor():
    pairs = pd.DataFrame(
        {
            "annotator1": ["A1", "A1", "A2", "A2"],
            "annotator2": ["A1", "A2", "A3", "A3"],
            "tool1": ["T1", "T3", "T1", "T1"],
            "tool2": ["T1", "T1", "T2", "T1"],
            "dice_score": [0.9, 0.7, 0.8, 0.6],
        }
    )
    ax = plot_agreement_by_factor(pairs, "tool")
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["T1-T1\nn=2", "T1-T2\nn=1", "T1-T3\nn=1"]
    means = ax.lines[-1].get_ydata()
    np.testing.assert_allclose(means, [0.75, 0.8, 0.7])
    # No legend over the boxes: the key is the x label, below the tick labels.
    assert ax.get_legend() is None
    assert "mean" in ax.get_xlabel()
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    key = ax.xaxis.label.get_window_extent(renderer)
    assert key.y1 <= ax.get_window_extent(renderer).y0
    plt.close(ax.figure)


def test_pair_groups_labels_values_and_consensus_exclusion():
    from skiaa.stats._factors import pair_groups

    pairs = pd.DataFrame(
        {
            "annotator1": ["A01", "A01", "A02", "A01", "ST"],
            "annotator2": ["A01", "A02", "A01", "MV", "A02"],
            "tool1": ["T1", "T1", "T2", "T1", "ST"],
            "tool2": ["T2", "T1", "T1", "MV", "T1"],
            "skill1": ["S1", "S2", "S1", "S1", "ST"],
            "skill2": ["S1", "S1", "S2", "MV", "S1"],
            "dice": [0.9, "0.8", 0.7, 0.6, 0.5],
        }
    )
    # A pair with a consensus mask on either side is left out, and counted.
    group, values, same, excluded = pair_groups(pairs, "annotator")
    assert group.tolist() == ["intra-annotator", "inter-annotator", "inter-annotator"]
    assert values.dtype == np.float64 and values.tolist() == [0.9, 0.8, 0.7]
    assert same.tolist() == [True, False, False] and excluded == 2
    # Other factors: unordered combinations. A consensus code in any factor
    # column (the factor's own, annotator, tool, skill) leaves the pair out.
    pairs = pd.DataFrame(
        {
            "annotator1": ["A01", "A01", "A01", "ST", "A01"],
            "annotator2": ["A02", "A02", "A02", "A02", "A02"],
            "tool1": ["T2", "ST", "T1", "T1", "T1"],
            "tool2": ["T1", "T1", "T1", "T1", "T1"],
            "skill1": ["S1", "S1", "MV", "S1", "S2"],
            "skill2": ["S1", "S2", "S1", "S1", "S1"],
            "device1": ["D2", "D1", "D2", "D1", "ST"],
            "device2": ["D1", "D1", "D1", "D1", "D1"],
            "dice": [0.9, 0.8, 0.7, 0.6, 0.5],
        }
    )
    for factor, labels, excluded_want in (
        ("tool", ["T1-T2", "T1-T1"], 3),
        ("skill", ["S1-S1", "S1-S2"], 3),
        ("device", ["D1-D2"], 4),
    ):
        group, _, same, excluded = pair_groups(pairs, factor)
        assert (group.tolist(), excluded) == (labels, excluded_want), factor
        assert same.tolist() == [a == b for a, b in (g.split("-") for g in labels)]
    group, values, _, excluded = pair_groups(pairs, "tool", include_consensus=True)
    assert len(group) == 5 and excluded == 0
    pairs["dice"] = ["n/a", 0.8, 0.7, 0.6, 0.5]
    with pytest.raises(ValueError, match=r"^1 pair\(s\) have no 'dice' value; drop or fill"):
        pair_groups(pairs, "tool")
