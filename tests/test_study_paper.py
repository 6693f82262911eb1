"""The paper preset: the recipe, the dry run, the split protocol, external fine-tuning and
the paper's table, on tiny synthetic data."""

import json

import numpy as np
import pandas as pd
import pytest

from skiaa.cli import main
from skiaa.datasets import make_external_lesions, make_lesions
from skiaa.nets import PAPER_BACKBONES
from skiaa.study import PAPER_ALPHAS, StudyConfig, estimate_gpu_time, run_study

# The smallest paper-preset run that exercises every step and the external one.
TINY_PAPER = dict(
    models=("test_resnet",),
    image_size=32,
    n_samples=40,
    max_epochs=1,
    augment_passes=1,
    alphas=(0.5,),
    n_resamples=100,
    external=(("synthetic", None),),
    n_external=30,
    finetune_epochs=1,
)


def test_paper_preset_is_the_authors_recipe():
    config = StudyConfig.paper()
    assert config.models == ("tv_efficientnet_b1", "tv_mobilenet_v2", "tv_resnet18")
    assert config.alphas == PAPER_ALPHAS == (0.1, 0.2, 0.5, 0.8, 0.9)
    assert (config.image_size, config.max_epochs, config.batch_size) == (224, 50, 32)
    assert (config.optimizer, config.lr, config.lr_step_size) == ("sgd", 0.01, 10)
    assert (config.protocol, config.n_runs, config.split_seed) == ("split", 3, 8888)
    assert (config.focal, config.augment, config.head_init) == ("paper", "paper", "kaiming")
    assert (config.finetune_epochs, config.finetune_lr, config.finetune_step) == (15, 1e-3, 3)
    assert StudyConfig.paper(max_epochs=2).max_epochs == 2


@pytest.mark.parametrize(
    "external, match",
    [
        ((("isic2020", "/x"),), "unknown"),
        ((("synthetic", "/x"),), "takes no folder"),
        ((("ph2", None),), "needs its folder"),
        ((("synthetic", None), ("synthetic", None)), "once"),
    ],
)
def test_config_rejects_bad_external_datasets(external, match):
    with pytest.raises(ValueError, match=match):
        StudyConfig(external=external)


def test_dry_run_prints_the_recipe_and_an_estimate_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["reproduce", "--preset", "paper", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for expected in (
        "Recipe (preset paper)",
        "EfficientNet-B1, MobileNetV2, ResNet-18",
        "0.1, 0.2, 0.5, 0.8, 0.9 vs 1",
        "one fixed 70/10/20 partition per class (seed 8888)",
        "fp16 with loss scaling",
        "Estimated GPU time",
        "total:",
        "T multiply-adds/s",
    ):
        assert expected in text, expected
    assert not out.exists()


def test_dry_run_models_paper_lists_all_13_and_the_external_sets(tmp_path, capsys):
    argv = ["reproduce", "--preset", "paper", "--models", "paper", "--dry-run",
            "--external", "synthetic", "--external", f"ph2={tmp_path}"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    estimate = text.split("Estimated GPU time")[1]
    assert sum(f"  {name}:" in estimate for name in PAPER_BACKBONES) == 13
    assert "PH2 (25 passes)" in text and "synthetic (shifted) (3 passes)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--external", "isic2020=."], "unknown dataset"),
        (["--external", "isic2018=/no/such/folder"], "no folder"),
        (["--external", "isic2018"], "expects NAME=DIR"),
        (["--weights", "tv_resnet18=/no/such.pth"], "no file"),
        (["--quick", "--preset", "paper"], "contradict"),
    ],
)
def test_cli_paper_option_errors(argv, message, tmp_path, capsys):
    assert main(["reproduce", "--dry-run", "--out", str(tmp_path / "o"), *argv]) == 1
    assert message in capsys.readouterr().err


def test_gpu_estimate_counts_images_and_adds_fine_tuning():
    base = StudyConfig.paper(models=("tv_resnet18",), n_samples=100)
    one = estimate_gpu_time(base)
    two = estimate_gpu_time(StudyConfig.paper(models=("tv_resnet18",), n_samples=100,
                                              max_epochs=100))  # fmt: skip
    # Training images dominate: twice the epochs, about twice the images.
    assert two["images"]["tv_resnet18"] / one["images"]["tv_resnet18"] == pytest.approx(
        2, rel=0.05
    )
    tuned = estimate_gpu_time(StudyConfig.paper(models=("tv_resnet18",), n_samples=100,
                                                external=(("synthetic", None),)))  # fmt: skip
    assert tuned["seconds"] > one["seconds"]
    # A model outside the table: its multiply-adds are counted.
    other = estimate_gpu_time(StudyConfig.paper(models=("test_resnet",), image_size=32),
                              gpu_tflops=1e-6, images_per_second=1e12)  # fmt: skip
    assert other["seconds"] > 0


def test_external_synthetic_domain_is_shifted_and_has_no_masks():
    data = make_external_lesions(60, random_state=0)
    assert data.images.shape == (60, 72, 96, 3) and "masks" not in data
    again = make_external_lesions(60, random_state=0)
    assert np.array_equal(data.images, again.images)
    for value in (0, 1):
        split = data.split[data.label == value]
        n = len(split)
        assert (split == "train").sum() == round(0.7 * n)
        assert (split == "val").sum() == round(0.1 * n)
    # Another rendering: the blue channel is much brighter than make_lesions'.
    source = make_lesions(20, image_size=(72, 96), random_state=0).images
    assert data.images[..., 2].mean() > source[..., 2].mean() + 20
    assert set(data.diagnosis) == {"melanoma", "other"}
    with pytest.raises(ValueError, match="gamma"):
        make_external_lesions(4, gamma=0)


def _check_paper_run(out, results, n_runs):
    diag = results["diagnosis"]["test_resnet"]
    ext = results["external"]["results"]["test_resnet"]
    for alpha in ("1", "0.5"):
        # Same split, same seeds: the external step's IMA++ models are the diagnosis step's.
        assert ext[alpha]["balanced_accuracy"]["imaplusplus"] == pytest.approx(
            diag[alpha]["balanced_accuracy"]
        )
        assert len(ext[alpha]["balanced_accuracy"]["synthetic"]) == n_runs
    # The gain as the paper computes it: mean over (architecture, dataset) cells of the
    # difference of run means.
    cells = [
        np.mean(ext["0.5"]["balanced_accuracy"][ds]) - np.mean(ext["1"]["balanced_accuracy"][ds])
        for ds in ("imaplusplus", "synthetic")
    ]
    gain = results["external"]["table"]["gain"]["0.5"]
    assert gain["mean_pp"] == pytest.approx(100 * np.mean(cells))
    assert gain["n_cells"] == 2
    table = pd.read_csv(out / "paper_table.csv")
    assert list(table["dataset"]) == ["imaplusplus", "synthetic"]
    assert table["diagnosis_only_mean"].tolist() == pytest.approx(
        [np.mean(ext["1"]["balanced_accuracy"][d]) for d in ("imaplusplus", "synthetic")]
    )
    report = (out / "report.md").read_text()
    assert "## 4. The paper's table" in report
    assert "| synthetic (shifted) | test_resnet |" in report
    assert "started from random weights" in report
    _check_authors_quantities(out, results)
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["preset"] == "paper"


def test_authors_mae_spread_is_the_sample_std_of_signed_residuals():
    # Their compute_test_metrics.py: np.std(true - predicted, ddof=1) beside the MAE.
    from scipy.stats import mannwhitneyu

    from skiaa.study._steps import _authors_regression

    true, pred = np.array([0.5, 0.7, 0.9, 0.8]), np.array([0.6, 0.6, 0.6, 0.8])
    diagnosis = np.array(["benign", "malignant", "benign", "indeterminate"], dtype=object)
    out = _authors_regression(true, pred, diagnosis)
    assert out["mae"] == pytest.approx(0.125)
    # Signed residuals -0.1, 0.1, 0.3, 0: mean 0.075, sample std sqrt(0.0875 / 3).
    assert out["std_signed_residual"] == pytest.approx(np.sqrt(0.0875 / 3))
    assert out["n"] == 4
    # The indeterminate image is in neither group.
    counts = out["predicted_malignant_vs_benign"]
    assert (counts["n_malignant"], counts["n_benign"]) == (1, 2)
    assert counts["mannwhitneyu_pvalue"] == pytest.approx(
        mannwhitneyu(pred[1:2], pred[[0, 2]]).pvalue
    )
    # Edges: one image per group is a test; a group without images is none; one
    # residual has no sample spread, two have one.
    two = _authors_regression(true[:2], pred[:2], diagnosis[:2])
    assert two["predicted_malignant_vs_benign"]["mannwhitneyu_pvalue"] is not None
    assert two["std_signed_residual"] == pytest.approx(np.std([-0.1, 0.1], ddof=1))
    for groups in (["benign", "benign"], ["malignant", "malignant"]):
        one_sided = _authors_regression(true[:2], pred[:2], np.array(groups, dtype=object))
        assert one_sided["predicted_malignant_vs_benign"]["mannwhitneyu_pvalue"] is None
    assert _authors_regression(true[:1], pred[:1], diagnosis[:1])["std_signed_residual"] is None


def _check_authors_quantities(out, results):
    """Every figure of the authors' evaluation, recomputed from results.json alone."""
    from scipy.stats import ks_2samp, mannwhitneyu

    reg = results["iaa_regression"]["test_resnet"]
    runs = reg["test_predictions"]
    assert len(runs) == len(reg["folds"])
    true = np.concatenate([r["true"] for r in runs])
    pred = np.concatenate([r["predicted"] for r in runs])
    ids = np.concatenate([r["image_id"] for r in runs])
    # The test images are the partition's, in every run.
    for r in runs:
        assert sorted(r["image_id"]) == sorted(results["partition"]["test"])
    agreement = pd.read_csv(out / "agreement.csv").set_index("image_id")
    assert true == pytest.approx(agreement.loc[ids, "iaa"].to_numpy())
    authors = reg["authors"]
    assert authors["mae"] == pytest.approx(np.mean(np.abs(true - pred)))
    # The sample std of the signed residuals true - predicted, not of |residuals|.
    assert authors["std_signed_residual"] == pytest.approx(np.std(true - pred, ddof=1))
    vs = authors["predicted_vs_true"]
    assert vs["mannwhitneyu_pvalue"] == pytest.approx(mannwhitneyu(pred, true).pvalue)
    assert vs["ks_pvalue"] == pytest.approx(ks_2samp(pred, true).pvalue)
    diagnosis = agreement.loc[ids, "diagnosis"].to_numpy()
    mb = authors["predicted_malignant_vs_benign"]
    mal, ben = pred[diagnosis == "malignant"], pred[diagnosis == "benign"]
    assert (mb["n_malignant"], mb["n_benign"]) == (len(mal), len(ben))
    assert mb["mannwhitneyu_pvalue"] == pytest.approx(mannwhitneyu(mal, ben).pvalue)
    report = (out / "report.md").read_text()
    assert f"{authors['mae']:.3f} ± {authors['std_signed_residual']:.3f}" in report
    # Diagnosis: every run's test predictions give its balanced accuracy.
    from sklearn.metrics import balanced_accuracy_score

    for res in results["diagnosis"]["test_resnet"].values():
        for score, run in zip(res["balanced_accuracy"], res["test_predictions"]):
            assert score == pytest.approx(balanced_accuracy_score(run["true"], run["predicted"]))
            assert set(run["image_id"]) <= set(results["partition"]["test"])


def test_paper_preset_one_run_with_synthetic_external(tmp_path):
    results = run_study(tmp_path, StudyConfig.paper(n_runs=1, **TINY_PAPER), verbose=0)
    _check_paper_run(tmp_path, results, n_runs=1)


@pytest.mark.slow
def test_paper_preset_cli_runs_pooled_with_synthetic_external(tmp_path, capsys):
    argv = ["reproduce", "--preset", "paper", "--models", "test_resnet", "--image-size", "32",
            "--n-samples", "64", "--max-epochs", "1", "--runs", "2", "--alphas", "0.5",
            "--external", "synthetic", "--out", str(tmp_path), "-q"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    _check_paper_run(tmp_path, results, n_runs=2)
    folds = results["iaa_regression"]["test_resnet"]["folds"]
    assert len(folds) == 2 and folds[0]["n_test"] == folds[1]["n_test"]


def _fake_ph2(root, n_nevus=20, n_melanoma=10):
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["|| Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry ||"]
    for i in range(n_nevus + n_melanoma):
        case = f"IMD{i:03d}"
        code = 2 if i >= n_nevus else i % 2
        lines.append(f"|| {case} ||   ||   {code}   ||   0   ||")
        folder = root / "PH2 Dataset images" / case / f"{case}_Dermoscopic_Image"
        folder.mkdir(parents=True)
        pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{case}.bmp")
    (root / "PH2_dataset.txt").write_text("\n".join(lines) + "\n")
    return root


def test_external_reader_without_official_split_gets_the_authors_split(tmp_path):
    from skiaa.study._paper import _load_external

    root = _fake_ph2(tmp_path / "PH2Dataset")
    config = StudyConfig.paper(models=("test_resnet",), image_size=32,
                               external=(("ph2", str(root)),))  # fmt: skip
    ext = _load_external("ph2", str(root), config, tmp_path / "out", 0)
    assert ext.images.shape == (30, 32, 32, 3)
    # Melanoma -> IMA++'s "malignant", the nevi -> "benign": the IMA++ model's classes.
    assert (ext.y == "malignant").sum() == 10 and set(ext.y) == {"benign", "malignant"}
    for cls, n in (("benign", 20), ("malignant", 10)):
        split = ext.split[ext.y == cls]
        assert (split == "test").sum() == round(0.2 * n)
        assert (split == "val").sum() == round(0.1 * n)
    assert "no official test split" in ext.notes[0]
    again = _load_external("ph2", str(root), config, tmp_path / "out", 0)
    assert np.array_equal(again.split, ext.split)  # the fixed seed 8888


def test_split_protocol_one_partition_fixed_validation_runs_differ_by_seed(tmp_path):
    # 50 images: 70/10/20 gives 35/5/10 where a validation tenth of the 80 % would
    # give 36/4/10. The partition is one for every run and step; runs differ by seed.
    from skiaa.estimators import IAARegressor, MultiTaskDiagnosisClassifier
    from skiaa.study._steps import split_70_10_20

    fits = []

    def spy(cls):
        original = cls.fit

        def fit(self, X, y, **params):
            rows = [row_of[np.ascontiguousarray(img).tobytes()] for img in X]
            fits.append((cls.__name__, rows, params.get("validation"), self.random_state))
            return original(self, X, y, **params)

        return fit

    data = make_lesions(50, image_size=32, random_state=0)
    row_of = {np.ascontiguousarray(img).tobytes(): i for i, img in enumerate(data.images)}
    assert len(row_of) == 50
    config = StudyConfig.paper(
        models=("test_resnet",), image_size=32, n_samples=50, max_epochs=1, augment_passes=1,
        alphas=(0.5,), n_resamples=100, n_runs=2,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for cls in (IAARegressor, MultiTaskDiagnosisClassifier):
            mp.setattr(cls, "fit", spy(cls))
        results = run_study(tmp_path, config, verbose=0)
    part = results["partition"]
    sizes = {k: len(part[k]) for k in ("train", "val", "test")}
    assert sizes == {"train": 35, "val": 5, "test": 10}
    image_ids = pd.read_csv(tmp_path / "agreement.csv")["image_id"].astype(str).tolist()
    assert sorted(part["train"] + part["val"] + part["test"]) == sorted(image_ids)
    labels = split_70_10_20(data.diagnosis, 8888)
    for name in ("train", "val", "test"):
        assert part[name] == [image_ids[i] for i in np.flatnonzero(labels == name)]
    val_rows = set(np.flatnonzero(labels == "val"))
    test_rows = set(np.flatnonzero(labels == "test"))
    assert len(fits) == 2 + 2 * 2  # regression and two alphas, two runs each
    for name, rows, validation, _ in fits:
        assert not set(rows) & test_rows, name  # no fit sees a test image
        assert validation is not None and validation.sum() == 5
        assert {r for r, v in zip(rows, validation) if v} == val_rows  # the fixed validation
        assert len(rows) == 40
    # Runs: the same images, their own seeds, their own predictions.
    reg_seeds = [seed for name, _, _, seed in fits if name == "IAARegressor"]
    assert reg_seeds == [0, 1]
    runs = results["iaa_regression"]["test_resnet"]["test_predictions"]
    assert runs[0]["image_id"] == runs[1]["image_id"]
    assert runs[0]["predicted"] != pytest.approx(runs[1]["predicted"])


def _official_checkpoint(torch_home, name="tv_resnet18"):
    """A torchvision-format state dict under torchvision's own file name in the hub cache."""
    import torch
    import torchvision.models as tvm

    spec = PAPER_BACKBONES[name]
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / spec.weights.url.rsplit("/", 1)[1]
    torch.save(getattr(tvm, spec.torchvision)(weights=None).state_dict(), path)
    return path


def test_paper_preset_takes_torchvision_weights_from_the_cache_and_imaplusplus_statistics(
    tmp_path, monkeypatch, capsys
):
    from skiaa import nets
    from skiaa.estimators import IMA_MEAN, IMA_STD
    from skiaa.study._steps import _estimator_params

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(nets, "_hub_reachable", lambda *a, **k: False)  # offline
    official = _official_checkpoint(tmp_path)
    params = _estimator_params("tv_resnet18", StudyConfig.paper(), 0)
    assert (params["pretrained"], params["weights"]) == (True, str(official))
    assert (params["mean"], params["std"]) == (IMA_MEAN, IMA_STD)
    # Random initialisation only when asked for by name.
    asked = _estimator_params(
        "tv_resnet18", StudyConfig.paper(weights={"tv_resnet18": "random"}), 0
    )
    assert (asked["pretrained"], asked["weights"]) == (False, None)
    # Outside the paper preset the estimators choose the statistics.
    assert "mean" not in _estimator_params("tv_resnet18", StudyConfig(models=("tv_resnet18",)), 0)
    argv = ["reproduce", "--preset", "paper", "--models", "tv_resnet18,tv_mobilenet_v2",
            "--dry-run", "--external", "synthetic"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    weights = next(line for line in text.splitlines() if line.startswith("weights"))
    assert f"ResNet18_Weights.IMAGENET1K_V1 ({official}, in the cache)" in weights
    assert "MobileNet_V2_Weights.IMAGENET1K_V1" in weights
    assert "mobilenet_v2-b0353104.pth, downloaded at the first fit" in weights
    normalisation = next(line for line in text.splitlines() if line.startswith("normalisation"))
    assert "IMA++ mean (0.7079, 0.5688, 0.5130)" in normalisation.split("|")[0]
    assert "ImageNet's on the external sets" in normalisation.split("|")[0]


def test_paper_preset_offline_without_weights_stops_before_any_work(tmp_path, monkeypatch):
    from skiaa import nets

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(nets, "_hub_reachable", lambda *a, **k: False)
    out = tmp_path / "out"
    config = StudyConfig.paper(models=("tv_resnet18",), **{
        k: v for k, v in TINY_PAPER.items() if k != "models"})  # fmt: skip
    with pytest.raises(ValueError) as info:
        run_study(out, config, verbose=0)
    for part in ("resnet18-f37072fd.pth", str(tmp_path / "home" / "hub" / "checkpoints"),
                 "--weights tv_resnet18=PATH"):  # fmt: skip
        assert part in str(info.value), part
    assert not out.exists()


def test_dry_run_estimate_names_its_data_and_counts_the_release(tmp_path, capsys):
    from _study_release import write_study_release

    assert main(["reproduce", "--preset", "paper", "--dry-run", "--n-samples", "120"]) == 0
    assert "Estimated GPU time (a rough guide) for 120 synthetic images" in capsys.readouterr().out
    release = write_study_release(tmp_path / "release", n_images=12)
    meta = pd.read_csv(next(release["tables"].glob("*img_metadata.csv")))
    n = int(meta["benign_malignant"].isin(["benign", "malignant"]).sum())
    argv = ["reproduce", "--preset", "paper", "--dry-run", "--imaplusplus", str(release["tables"])]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"for {n} IMA++ images with a benign/malignant diagnosis" in text
    # The count drives the estimate: the release's images, not the published 2,385.
    config = StudyConfig.paper(data="imaplusplus", imaplusplus=str(release["tables"]))
    assert (
        estimate_gpu_time(config)["images"]
        == estimate_gpu_time(StudyConfig.paper(n_samples=n))["images"]
    )
