"""How a study's fit slows down beside a busy process, by torch thread use.

One ``IAARegressor`` fit of the study's size (``test_resnet``, 48 px, the
``--quick`` scale) runs in a fresh process, alone and then beside ``--busy``
processes that keep cores busy (as other jobs on a shared machine do), with:

- 1 torch thread;
- torch's default threads with OpenMP's default wait policy, where idle threads
  spin (what the study used before: the suspect for the stalls under load);
- the same threads with ``OMP_WAIT_POLICY=PASSIVE`` (what ``skiaa`` now sets).

The slowdown beside busy processes should stay near the share of the cores a
fit loses to them (two one-core busy loops on two cores: about 2x for a
2-thread fit); spinning threads lose far more. Runs alternate between the
settings so that the machine's other load hits all of them alike; the load
average is printed with the numbers. A run over ``--timeout`` seconds is
reported as such.

    python benchmarks/bench_threads_under_load.py --repeats 2 --busy 1
    python benchmarks/bench_threads_under_load.py --study   # the whole quick study
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FIT = """
import time
import numpy as np
from skiaa import IAARegressor, make_lesions
data = make_lesions(96, image_size=48, random_state=0)
y = np.random.RandomState(0).rand(96)
reg = IAARegressor(model="test_resnet", image_size=48, max_epochs=3, batch_size=16,
                   torch_num_threads={threads}, random_state=0, validation_fraction=None)
start = time.perf_counter()
reg.fit(data.images, y)
print(time.perf_counter() - start)
"""

BUSY = "while True:\n    pass\n"
SETTINGS = {
    "1 thread": (1, None),
    "default threads, spinning": (None, "ACTIVE"),
    "default threads, passive": (None, "PASSIVE"),
}


def _env(policy):
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src, MPLBACKEND="Agg")
    env.pop("OMP_NUM_THREADS", None)  # torch's own default thread count
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    return env


def _run(threads, policy, timeout, study):
    if study:
        cmd = [
            sys.executable,
            "-m",
            "skiaa",
            "reproduce",
            "--quick",
            "--models",
            "test_resnet",
            "--external",
            "synthetic",
            "--out",
            "bench-threads-out",
            "--force",
            "-q",
        ]
        if threads:
            cmd += ["--torch-threads", str(threads)]
    else:
        code = FIT.format(threads=threads if threads else "None")
        cmd = [sys.executable, "-c", code]
    start = time.perf_counter()
    try:
        subprocess.run(cmd, env=_env(policy), check=True, timeout=timeout, capture_output=True)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the fit")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--study", action="store_true", help="time the whole quick study")
    args = parser.parse_args()
    times = {(name, busy): [] for name in SETTINGS for busy in (False, True)}
    loads = []
    for _ in range(args.repeats):
        for busy in (False, True):
            procs = [
                subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy * args.busy)
            ]
            try:
                for name, (threads, policy) in SETTINGS.items():
                    loads.append(os.getloadavg()[0])
                    times[name, busy].append(_run(threads, policy, args.timeout, args.study))
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
    what = "the quick study (test_resnet, --external synthetic)" if args.study else "one fit"
    print(
        f"{what}; {os.cpu_count()} cores; {args.busy} busy process(es) beside it; median of "
        f"{args.repeats}; load average during the runs {min(loads):.1f}-{max(loads):.1f}"
    )
    print()
    print("| torch threads | alone s | beside busy s | slowdown |")
    print("|---|---|---|---|")
    for name in SETTINGS:
        alone = statistics.median(times[name, False])
        loaded = statistics.median(times[name, True])
        if loaded == float("inf"):
            shown, ratio = f"over {args.timeout:.0f}", f"> {args.timeout / alone:.1f}x"
        else:
            shown, ratio = f"{loaded:.1f}", f"{loaded / alone:.1f}x"
        print(f"| {name} | {alone:.1f} | {shown} | {ratio} |")


if __name__ == "__main__":
    main()
