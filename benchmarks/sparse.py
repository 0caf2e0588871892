"""Sparse vs dense delayed coupling: where does the gather list stop paying?

    python benchmarks/sparse.py [--batch 32] [--quick] [--json benchmarks/results/sparse.json]

For random networks of N = 1000 regions at densities 1-100 % (and tvb76), T steps of the
simulator's coupling kernel: write the newest slot of the (L, N, B) ring buffer, then compute
every region's delayed input ``sum_j W_ij h_j(t - lag_ij)`` with

* ``gather``: the per-target lists of non-zero weights (ELLPACK, K = largest in-degree), and
* ``dense``: every (i, j) pair (with delays: N x N delayed reads; without delays: the
  matrix product ``W h(t - 1)``),

both through :func:`nffit.delays.delayed_sum`, the code the simulator runs. Reported: us per
step (median of the repeats, compile apart), delayed reads per second of the non-zero
connections, and dense / gather time. The lowest density from which dense is faster at every
larger density is what ``nffit.delays.DENSE_ABOVE`` holds per backend (CPU and GPU runs in
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from networks import DT, MAX_LAG_STEPS, benchmark_network, coupling_kernel  # noqa: E402
from timing import machine, print_table, time_compiled, write_json  # noqa: E402

from nffit.delays import compute_delays  # noqa: E402

T = 256


def random_network(n: int, density: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Erdos-Renyi weights (n, n) with the given fraction of non-zeros, lengths 5-150 mm, speed in mm/ms."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < density)
    lengths = rng.uniform(5.0, 150.0, (n, n))
    return weights, lengths, float(lengths.max()) / (MAX_LAG_STEPS * DT)


def kernel_time(weights, lengths, speed, batch: int, layout: str, delayed: bool, repeats: int) -> dict:
    n_slots = MAX_LAG_STEPS + 2
    lags = compute_delays(weights, lengths, jnp.asarray(speed) if delayed else None, DT, n_slots - 1, layout=layout)
    hist = jax.random.uniform(jax.random.key(1), (n_slots, weights.shape[0], batch))
    return time_compiled(coupling_kernel(lags, n_slots, T), hist, repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="N = 200, three densities, one repeat (a smoke run)")
    parser.add_argument("--json", default="benchmarks/results/sparse.json")
    args = parser.parse_args()
    n, repeats = (200, 1) if args.quick else (args.n, args.repeats)
    densities = (0.05, 0.3, 1.0) if args.quick else (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    networks = [(f"random {n}", d, *random_network(n, d)) for d in densities]
    w76, l76, s76 = benchmark_network(76)
    networks.append(("tvb76", float(np.count_nonzero(w76)) / w76.size, w76, l76, s76))

    rows = []
    for name, density, weights, lengths, speed in networks:
        k = int(np.max(np.count_nonzero(weights, axis=1)))
        for delayed in (True, False):
            times = {layout: kernel_time(weights, lengths, speed, args.batch, layout, delayed, repeats)
                     for layout in ("gather", "dense")}
            nnz = np.count_nonzero(weights)
            rows.append({"network": name, "N": weights.shape[0], "density": density, "K": k, "B": args.batch,
                         "delays": delayed,
                         "gather_us": 1e6 * times["gather"]["median_s"] / T,
                         "dense_us": 1e6 * times["dense"]["median_s"] / T,
                         "dense_over_gather": times["dense"]["median_s"] / times["gather"]["median_s"],
                         "gather_reads_per_s": nnz * args.batch * T / times["gather"]["median_s"],
                         "compile_s": times["gather"]["compile_s"] + times["dense"]["compile_s"]})
            print(f"  {name} density {density:.3f} delays={delayed}: gather {rows[-1]['gather_us']:.0f} us, "
                  f"dense {rows[-1]['dense_us']:.0f} us per step", flush=True)
    print_table(rows, ["network", "density", "K", "B", "delays", "gather_us", "dense_us", "dense_over_gather",
                       "gather_reads_per_s", "compile_s"])
    thresholds = {}
    for delayed in (True, False):
        threshold = None  # the lowest density from which dense is faster at every larger density
        for r in sorted((r for r in rows if r["delays"] == delayed and r["network"] != "tvb76"),
                        key=lambda r: -r["density"]):
            if r["dense_over_gather"] >= 1.0:
                break
            threshold = r["density"]
        thresholds["delays" if delayed else "no_delays"] = threshold
    print(f"dense is faster from density: {thresholds} (None: never in this run)")
    write_json(args.json, {"machine": machine(), "steps": T, "batch": args.batch, "rows": rows,
                           "dense_faster_from_density": thresholds})


if __name__ == "__main__":
    main()
