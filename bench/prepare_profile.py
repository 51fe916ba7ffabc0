"""Where the Python workers of a warm plain-text prepare run spend their time, function by function.

Not run by the tests. ``bench/prepare_cpu.py`` splits a run's CPU by
process; this splits the workers' share by function, from two py-spy
profiles (``pip install py-spy`` in any environment) of ``prepare_cpu.py``
with one run and with three: the difference, halved, is one warm run
without the JVM's and the workers' first-run costs.

    for r in 1 3; do flock /tmp/shardvec-bench.lock py-spy record --subprocesses --rate 50 --format raw \\
        -o /tmp/prep$r.raw -- .venv/bin/python bench/prepare_cpu.py --runs $r; done
    .venv/bin/python bench/prepare_profile.py /tmp/prep1.raw /tmp/prep3.raw

Prints seconds per warm run (samples / rate) of the workers and the driver,
then the workers' functions by inclusive and by own time. py-spy counts a
thread busy while it runs native code too, so the workers' total can exceed
their CPU seconds (``prepare_cpu.py``) by time spent writing to disk or waiting
in the daemon's loop.
"""

from __future__ import annotations

import argparse
from collections import Counter


def function(frame: str) -> str:
    """``name (file.py)`` of a raw frame ``name (path/file.py:line)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else frame


def load(path: str) -> tuple[Counter, Counter, Counter]:
    """Samples per process kind, and the workers' samples per function: inclusive, and own (leaf)."""
    kinds, inclusive, own = Counter(), Counter(), Counter()
    with open(path) as lines:
        for line in lines:
            stack, count = line.rstrip().rsplit(" ", 1)
            frames = stack.split(";")
            worker = any(f.startswith("process ") and "pyspark.daemon" in f for f in frames)
            code = [function(f) for f in frames if not f.startswith("process ")]
            kinds["workers" if worker else "driver"] += int(count)
            if worker and code:
                own[code[-1]] += int(count)
                inclusive.update({f: int(count) for f in set(code)})
    return kinds, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("one_run", help="raw profile of prepare_cpu.py --runs 1")
    parser.add_argument("three_runs", help="raw profile of prepare_cpu.py --runs 3")
    parser.add_argument("--rate", type=int, default=50, help="py-spy's samples per second (default 50)")
    parser.add_argument("--top", type=int, default=30, help="functions listed (default 30)")
    args = parser.parse_args()
    one, three = load(args.one_run), load(args.three_runs)

    def warm(i: int, key: str) -> float:
        return (three[i][key] - one[i][key]) / 2 / args.rate

    workers = warm(0, "workers")
    print(f"per warm run: workers {workers:.2f} s, driver {warm(0, 'driver'):.2f} s")
    for title, i in (("inclusive", 1), ("own", 2)):
        print(f"\n| function | {title} s | share of the workers |\n|---|---|---|")
        for name in sorted(three[i], key=lambda n: -warm(i, n))[:args.top]:
            print(f"| {name} | {warm(i, name):.2f} | {100 * warm(i, name) / workers:.1f} % |")


if __name__ == "__main__":
    main()
