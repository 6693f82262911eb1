"""The quick preset's documented results, written by the command that produces them.

Runs ``skiaa reproduce --quick --seed S --torch-threads T`` once per seed, each
in a fresh process, reads its ``results.json`` and writes

* a JSON record (``--json``): the command, the commit, torch's thread count,
  the machine and every seed's row, so that a row can be rerun at the
  settings it was measured with;
* the user guide's table (``--rst``), with a line saying how it was made.

``--check RECORD`` reruns the rows of a record (or the seeds given) at the
record's settings and exits with status 1, naming each number that moved, when
a number differs by more than the tolerance below. The slow test
``tests/test_docs_numbers.py`` runs it for seed 0: a change that moves the
quick preset's results then fails until this script is rerun.

Run from the repository root (about two minutes a seed on 2 CPU cores)::

    python benchmarks/quick_preset_table.py --seeds 0 1 2 --torch-threads 1 \\
        --json docs/user_guide/quick_preset.json --rst docs/user_guide/quick_preset.inc
    python benchmarks/quick_preset_table.py --check docs/user_guide/quick_preset.json --seeds 0
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# One torch thread makes a run's numbers a function of the seed and of the
# machine's floating point alone. Across machines (another CPU's vector unit
# rounds convolutions differently) a prediction near the threshold may flip: one
# flipped test image moves a fold's balanced accuracy by about 0.01-0.04 and the
# 3-fold mean by a third of that. Same machine, same threads: equal to the digit.
TOLERANCE = {
    "iaa_mae": 0.005,
    "baseline_mae": 1e-9,  # the median baseline involves no network
    "pearson_r": 0.05,
    "diagnosis_1": 0.03,
    "diagnosis_0.5": 0.03,
    "pixels": 1e-9,  # PCA and a linear model, deterministic
    "probe": 0.02,
}

COLUMNS = [
    ("seed", "seed"),
    ("IAA: network MAE", "iaa_mae"),
    ("median baseline", "baseline_mae"),
    ("Pearson r", "pearson_r"),
    ("diagnosis, alpha=1", "diagnosis_1"),
    ("diagnosis, alpha=0.5", "diagnosis_0.5"),
    ("pixels", "pixels"),
    ("linear probe", "probe"),
    ("seconds", "seconds"),
]


def _command(seed, threads, out):
    return [
        sys.executable,
        "-m",
        "skiaa",
        "reproduce",
        "--quick",
        "--seed",
        str(seed),
        "--torch-threads",
        str(threads),
        "--out",
        str(out),
        "-q",
    ]


def _commit():
    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "src")
    return commit + ("+uncommitted changes in src" if dirty else "")


def _machine():
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return [float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0]


def row_from_results(results):
    """One table row from a quick run's ``results.json`` (means and sds over folds)."""
    (model,) = results["iaa_regression"]
    folds = results["iaa_regression"][model]["folds"]
    diagnosis = results["diagnosis"][model]
    baselines = results["baselines"]["diagnosis"]
    row = {
        "seed": results["config"]["random_state"],
        "model": model,
        "iaa_mae": _mean_sd([f["mae"] for f in folds]),
        "baseline_mae": _mean_sd([f["baseline_mae"] for f in folds]),
        "pearson_r": float(np.mean([f["pearson_r"] for f in folds])),
        "pixels": float(np.mean(baselines["pixels"]["balanced_accuracy"])),
        "probe": float(np.mean(baselines[f"linear probe ({model})"]["balanced_accuracy"])),
        "gain_per_fold": results["paired_differences"][model]["0.5"]["per_fold"],
    }
    for alpha in ("1", "0.5"):
        row[f"diagnosis_{alpha}"] = _mean_sd(diagnosis[alpha]["balanced_accuracy"])
        row[f"diagnosis_{alpha}_folds"] = diagnosis[alpha]["balanced_accuracy"]
    return row


def run_seed(seed, threads):
    """Run the quick preset for one seed in a fresh process; return its row."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quick"
        start = time.perf_counter()
        subprocess.run(_command(seed, threads, out), env=env, check=True)
        seconds = time.perf_counter() - start
        results = json.loads((out / "results.json").read_text())
    row = row_from_results(results)
    # The wall time depends on what else runs on the machine; the numbers do not.
    row["seconds"] = round(seconds)
    row["load_average"] = round(load, 1)
    return row


def _cell(value):
    if isinstance(value, list):
        return f"{value[0]:.3f} ± {value[1]:.3f}"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def rst_table(record):
    """The user guide's include: how the table was made, the table, the gains."""
    cells = [[title for title, _ in COLUMNS]]
    cells += [[_cell(row[key]) for _, key in COLUMNS] for row in record["rows"]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells[1:]]
    lines.append(rule)
    machine = record["machine"]
    gains = ", ".join(
        f"{np.mean(row['gain_per_fold']):+.3f} (seed {row['seed']})" for row in record["rows"]
    )
    lowest = min(
        (min(row[f"diagnosis_{a}_folds"]), row["seed"], a)
        for row in record["rows"]
        for a in ("1", "0.5")
    )
    header = (
        f"Written by ``{record['script']}`` at commit {record['commit']} on "
        f"{record['date']}: ``{record['command']}`` per seed, one process each, on "
        f"{machine['cores']} cores ({machine['cpu']}), torch {machine['torch']} with "
        f"{record['torch_threads']} thread(s); mean ± sd over the 3 folds; seconds of "
        "wall time per run, with the machine's load average when each run started: "
        + ", ".join(f"{row['load_average']} (seed {row['seed']})" for row in record["rows"])
        + "."
    )
    footer = (
        "The multi-task gain (alpha=0.5 minus alpha=1 balanced accuracy, paired per "
        f"fold, mean over the folds) is {gains}. The lowest single fold is "
        f"{lowest[0]:.3f} (seed {lowest[1]}, alpha={lowest[2]})."
    )
    return "\n".join([header, "", *lines, "", footer, ""])


def compare(recorded, rerun):
    """The numbers of ``rerun`` that moved from ``recorded`` beyond the tolerance."""
    moved = []
    for k, tol in TOLERANCE.items():
        a, b = np.ravel(recorded[k])[0], np.ravel(rerun[k])[0]
        if not abs(a - b) <= tol:
            moved.append(f"seed {recorded['seed']} {k}: documented {a:.4f}, now {b:.4f}")
    return moved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("--rst", type=Path, help="write the user guide's table here")
    parser.add_argument("--check", type=Path, help="rerun this record's rows and compare")
    args = parser.parse_args(argv)

    if args.check:
        record = json.loads(args.check.read_text())
        rows = [r for r in record["rows"] if args.seeds is None or r["seed"] in args.seeds]
        if not rows:
            parser.error(f"no row for seeds {args.seeds} in {args.check}")
        moved = []
        for row in rows:
            rerun = run_seed(row["seed"], record["torch_threads"])
            shown = {k: rerun[k] for k in TOLERANCE}
            print(f"seed {row['seed']}: {json.dumps(shown)}")
            moved += compare(row, rerun)
        if moved:
            print(
                f"{args.check} is stale (recorded at commit {record['commit']}); rerun "
                f"{record['script']} to rewrite it:\n  " + "\n  ".join(moved),
                file=sys.stderr,
            )
            return 1
        print(f"{len(rows)} row(s) of {args.check} reproduced within the tolerance")
        return 0

    if not args.seeds:
        parser.error("--seeds is required unless --check is given")
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(seed, args.torch_threads))
        print(f"seed {seed}: {rows[-1]['seconds']} s", flush=True)
    record = {
        "script": "python benchmarks/quick_preset_table.py "
        + " ".join(["--seeds", *map(str, args.seeds), "--torch-threads", str(args.torch_threads)]),
        "command": " ".join(_command("S", args.torch_threads, "OUT")[1:]).replace(
            "-m skiaa", "skiaa"
        ),
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d"),
        "torch_threads": args.torch_threads,
        "machine": _machine(),
        "rows": rows,
    }
    text = json.dumps(record, indent=1) + "\n"
    if args.json:
        args.json.write_text(text)
    if args.rst:
        args.rst.write_text(rst_table(record))
    if not (args.json or args.rst):
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
