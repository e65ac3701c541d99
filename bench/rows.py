"""The rows bench/lib.sh's run_wrk writes (name, connections, requests/s,
p50 ms, p99 ms, server CPU us/request, tab-separated), read back and
summarized: shared by the bench scripts' summaries."""

import statistics


def load(path):
    """{run name: [(requests/s, p50, p99, cpu), ...]} in first-seen order."""
    runs = {}
    for line in open(path):
        if not line.strip():
            continue
        name, _conns, rps, p50, p99, cpu = line.rstrip("\n").split("\t")
        runs.setdefault(name, []).append((float(rps), float(p50), float(p99), float(cpu)))
    return runs


def med(runs, name, i=0):
    """The median of column `i` (0: requests/s, 1: p50, 2: p99, 3: CPU)."""
    return statistics.median(x[i] for x in runs[name])


def print_table(runs):
    print("\n| run | requests/s | p50 ms | p99 ms | server CPU µs/request | runs |\n|---|---|---|---|---|---|")
    for name, xs in runs.items():
        print(f"| {name} | {med(runs, name):.0f} | {med(runs, name, 1):.2f} | {med(runs, name, 2):.2f} "
              f"| {med(runs, name, 3):.1f} | {len(xs)} |")
