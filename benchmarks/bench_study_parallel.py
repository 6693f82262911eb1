"""``skiaa reproduce`` at ``--n-jobs 1`` against ``--n-jobs 2``: wall time and peak memory.

Each run is a fresh ``python -m skiaa reproduce --PRESET --torch-threads 1
--n-jobs N --force -q`` (one torch thread per fit: the numbers of both runs are
equal, which the script checks). The two settings alternate, so that the
machine's other load hits both alike; the load average is printed with the
numbers. Peak memory is sampled every second over the whole process tree (the
main process and its loky workers) as the sum of proportional set sizes
(PSS): pages the workers share, such as the memory-mapped image array, count
once, not once per process. Needs psutil.

    python benchmarks/bench_study_parallel.py --presets quick --repeats 2
    python benchmarks/bench_study_parallel.py --presets quick default
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def _tree_pss(proc):
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_full_info().pss
    return total


def _run(preset, n_jobs, out):
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src, MPLBACKEND="Agg")
    cmd = [
        sys.executable,
        "-m",
        "skiaa",
        "reproduce",
        f"--preset={preset}",
        "--torch-threads",
        "1",
        "--n-jobs",
        str(n_jobs),
        "--out",
        str(out),
        "--force",
        "-q",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, _tree_pss(watched))
        except psutil.NoSuchProcess:
            break
        time.sleep(1.0)  # reading every smaps file is not free
    if proc.wait():
        raise RuntimeError(f"{' '.join(cmd)} failed with status {proc.returncode}")
    seconds = time.perf_counter() - start
    results = json.loads((out / "results.json").read_text())
    return seconds, peak / 2**20, results


def _numbers(results):
    drop = ("seconds", "reused_steps", "parallel", "config")
    if isinstance(results, dict):
        return {k: _numbers(v) for k, v in results.items() if k not in drop}
    if isinstance(results, list):
        return [_numbers(v) for v in results]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["quick"], choices=["quick", "default"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            times, peaks, loads, numbers = {1: [], 2: []}, {1: [], 2: []}, [], {}
            for repeat in range(args.repeats):
                for n_jobs in (1, 2) if repeat % 2 == 0 else (2, 1):
                    loads.append(os.getloadavg()[0])
                    seconds, peak, results = _run(preset, n_jobs, Path(tmp) / f"{n_jobs}")
                    times[n_jobs].append(seconds)
                    peaks[n_jobs].append(peak)
                    numbers.setdefault(n_jobs, _numbers(results))
                    print(
                        f"{preset} --n-jobs {n_jobs}: {seconds:.0f} s, peak {peak:.0f} MiB, "
                        f"load {loads[-1]:.1f}",
                        flush=True,
                    )
            rows.append((preset, times, peaks, loads, numbers[1] == numbers[2]))
    print()
    print(f"{os.cpu_count()} cores, median of {args.repeats} alternating runs per setting")
    print()
    print(
        "| preset | n_jobs=1 s | n_jobs=2 s | ratio | peak MiB 1 | peak MiB 2 | numbers equal "
        "| load average |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for preset, times, peaks, loads, equal in rows:
        t1, t2 = statistics.median(times[1]), statistics.median(times[2])
        m1, m2 = statistics.median(peaks[1]), statistics.median(peaks[2])
        print(
            f"| {preset} | {t1:.0f} | {t2:.0f} | {t2 / t1:.2f}x | {m1:.0f} | {m2:.0f} | "
            f"{'yes' if equal else 'NO'} | {min(loads):.1f}-{max(loads):.1f} |"
        )


if __name__ == "__main__":
    main()
