"""``skiaa compare`` on fake tables and (when present) the real IMA++ tables."""

import json

import numpy as np
import pandas as pd
import pytest

from skiaa.cli import main


@pytest.fixture
def fake_tables(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"ISIC_{i:07d}" for i in range(60)]
    labels = ["benign"] * 35 + ["malignant"] * 20 + ["indeterminate/benign"] * 5
    iaa = np.r_[rng.beta(8, 2, 35), rng.beta(4, 2, 20), rng.beta(8, 2, 5)]
    iaa_path = tmp_path / "iaa.csv"
    pd.DataFrame({"img_id": [f"{i}.JPG" for i in ids], "dice_score_mean": iaa}).to_csv(
        iaa_path, index=False
    )
    meta_path = tmp_path / "meta.csv"
    pd.DataFrame({"isic_id": ids[::-1], "benign_malignant": labels[::-1]}).to_csv(
        meta_path, index=False
    )
    return iaa_path, meta_path, iaa[:35], iaa[35:55]


def _args(iaa, meta, out):
    return ["compare", "--iaa", str(iaa), "--metadata", str(meta), "--out", str(out)]


def test_writes_json_and_png_and_prints(fake_tables, tmp_path, capsys):
    iaa, meta, benign, malignant = fake_tables
    out = tmp_path / "out"
    assert main([*_args(iaa, meta, out), "--n-resamples", "199"]) == 0
    printed = capsys.readouterr().out
    assert "Mann-Whitney U" in printed and "5 indeterminate image(s) left out" in printed
    data = json.loads((out / "comparison.json").read_text())
    assert data["groups"]["benign"]["n"] == 35 and data["groups"]["malignant"]["n"] == 20
    assert data["groups"]["benign"]["mean"] == pytest.approx(benign.mean())
    assert data["n_indeterminate_excluded"] == 5
    from scipy import stats

    expected = stats.mannwhitneyu(malignant, benign, method="asymptotic").pvalue
    assert data["tests"]["mannwhitneyu"]["two-sided"]["pvalue"] == pytest.approx(expected)
    assert {"cohens_d", "cliffs_delta"} <= set(data["effect_sizes"])
    assert "conclusion" in data["dominance"]
    png = (out / "ecdf.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_never_overwrites_without_force(fake_tables, tmp_path, capsys):
    iaa, meta, *_ = fake_tables
    out = tmp_path / "out"
    assert main([*_args(iaa, meta, out), "--n-resamples", "50"]) == 0
    before = (out / "comparison.json").read_text()
    assert main([*_args(iaa, meta, out), "--n-resamples", "60"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "comparison.json").read_text() == before
    assert main([*_args(iaa, meta, out), "--n-resamples", "60", "--force"]) == 0
    record = json.loads((out / "comparison.json").read_text())
    assert record["confidence_intervals"]["n_resamples"] == 60


def test_user_errors(fake_tables, tmp_path, capsys):
    iaa, meta, *_ = fake_tables
    out = tmp_path / "o"
    assert main(["compare", "--iaa", str(iaa), "--out", str(out)]) == 1
    assert "--metadata" in capsys.readouterr().err
    assert main([*_args(iaa, meta, out), "--value-column", "nope"]) == 1
    assert "'nope'" in capsys.readouterr().err
    assert main([*_args(tmp_path / "missing.csv", meta, out)]) == 1
    assert "missing.csv" in capsys.readouterr().err
    short = tmp_path / "short.csv"
    pd.read_csv(meta).iloc[1:].to_csv(short, index=False)
    assert main([*_args(iaa, short, out)]) == 1
    assert "lack an ISIC metadata row" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one source is required
        main(["compare", "--out", str(out)])


def test_real_tables_acceptance(imaplusplus_dir, tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["compare", "--imaplusplus", str(imaplusplus_dir), "--out", str(out)]) == 0
    data = json.loads((out / "comparison.json").read_text())
    assert data["groups"]["benign"]["n"] == 1880 and data["groups"]["malignant"]["n"] == 505
    assert round(data["groups"]["benign"]["mean"], 3) == 0.802
    assert round(data["groups"]["malignant"]["mean"], 3) == 0.756
    assert f"{data['tests']['mannwhitneyu']['two-sided']['pvalue']:.1e}" == "1.7e-07"
    assert f"{data['tests']['ks']['two-sided']['pvalue']:.1e}" == "6.3e-09"
    # The --iaa/--metadata route over the same release tables gives the same numbers.
    out2 = tmp_path / "real2"
    iaa = imaplusplus_dir / "IMAplusplus_multiannotator_subset_image_level_metrics.csv"
    meta = imaplusplus_dir / "IMAplusplus_img_metadata.csv"
    assert main([*_args(iaa, meta, out2)]) == 0
    data2 = json.loads((out2 / "comparison.json").read_text())
    assert data2["tests"] == data["tests"] and data2["groups"] == data["groups"]


def test_seed_flag_sets_the_bootstrap(fake_tables, tmp_path, capsys):
    iaa, meta, *_ = fake_tables

    def intervals(seed, name):
        out = tmp_path / name
        argv = [*_args(iaa, meta, out), "--n-resamples", "80", "--seed", str(seed)]
        assert main(argv) == 0
        record = json.loads((out / "comparison.json").read_text())
        assert record["random_state"] == seed
        return record["confidence_intervals"]

    assert intervals(3, "a") == intervals(3, "b")
    assert intervals(3, "a2") != intervals(4, "c")


def test_iaa_table_in_skiaa_naming(fake_tables, tmp_path, capsys):
    # image_agreement on a skiaa-named pairs table writes image_id/dice_mean: the same
    # comparison must come out as from the release-named table.
    iaa, meta, _, _ = fake_tables
    release = pd.read_csv(iaa)
    ours = release.rename(columns={"img_id": "image_id", "dice_score_mean": "dice_mean"})
    ours["image_id"] = ours["image_id"].str.removesuffix(".JPG")  # skiaa ids carry no suffix
    ours_path = tmp_path / "ours.csv"
    ours.to_csv(ours_path, index=False)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*_args(iaa, meta, a), "--n-resamples", "99"]) == 0
    assert main([*_args(ours_path, meta, b), "--n-resamples", "99"]) == 0
    capsys.readouterr()
    first = json.loads((a / "comparison.json").read_text())
    second = json.loads((b / "comparison.json").read_text())
    assert first["groups"] == second["groups"] and first["tests"] == second["tests"]
