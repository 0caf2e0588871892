"""Simulation-based calibration (Talts et al. 2018) of NUTS on the analytic spectrum.

    python benchmarks/sbc.py [--replicates 100] [--json benchmarks/results/sbc.json] [--figure docs/figures/sbc.png]

A 3-region delayed network seen by 2 sensors (2-40 Hz, 0.5 Hz bins), free G, mu and
log10_scale. Each replicate draws parameters from the prior (kept if the fixed point is
stable), a Welch-like spectrum with Gamma noise at 60 degrees of freedom, and runs 2 NUTS
chains (300 warmup, 300 draws); all replicates' chains are one batch
(:func:`nffit.nuts.run_nuts_replicates`). The rank of the truth among 99 thinned draws is
uniform on 0..99 if the posterior is calibrated; the script prints chi-square p-values of
the rank histograms (10 bins) and draws them with the 99 % band of a uniform histogram.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np
import numpyro.distributions as dist
import scipy.stats

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, print_table, write_json  # noqa: E402

from nffit import Connectome  # noqa: E402
from nffit.eeg import ObservedSpectrum  # noqa: E402
from nffit.gain import Gain  # noqa: E402
from nffit.inference import make_problem  # noqa: E402
from nffit.calibration import interval_coverage, prior_replicates, sbc_ranks  # noqa: E402
from nffit.nuts import run_nuts_replicates  # noqa: E402

NETWORK = Connectome(np.array([[0.0, 1.0, 0.5], [0.8, 0.0, 0.3], [0.4, 0.9, 0.0]]),
                     np.array([[0.0, 40.0, 60.0], [40.0, 0.0, 30.0], [60.0, 30.0, 0.0]]), ("a", "b", "c"), None)
GAIN = Gain(np.array([[1.0, 0.3, 0.1], [0.2, 1.0, 0.4]]), ("X1", "X2"))
FREQS = np.arange(2.0, 40.0, 0.5)
FREE = ("G", "mu", "log10_scale")
DOF = 60.0
BINS = 10
THIN = 99


def problem():
    placeholder = ObservedSpectrum(FREQS, np.ones((2, FREQS.size)), GAIN.channels, 250.0, 30, DOF, 500, 250, "hann", {})
    return make_problem(placeholder, connectome=NETWORK, gain=GAIN, free=FREE, bin_stride=1, average_reference=False,
                        priors={"log10_scale": dist.Normal(2.0, 1.0)}, fixed={"aperiodic_offset": 0.0,
                                                                             "aperiodic_exponent": 1.5})


def run(replicates: int, seed: int = 0) -> dict:
    fit = problem()
    key_data, key_nuts = jax.random.split(jax.random.key(seed))
    truths, observed = prior_replicates(fit, key_data, replicates, DOF)
    started = time.perf_counter()
    draws = run_nuts_replicates(fit, observed, key_nuts, chains=2, warmup=300, draws=300)
    wall = time.perf_counter() - started
    rows, ranks = [], {}
    for name in FREE:
        flat = draws[name].reshape(replicates, -1)
        ranks[name] = sbc_ranks(flat, truths[name], THIN)
        counts = np.histogram(ranks[name], bins=BINS, range=(0, THIN + 1))[0]
        rows.append({"parameter": name, "chi2_p": float(scipy.stats.chisquare(counts).pvalue),
                     "coverage_90": float(np.mean(interval_coverage(flat, truths[name]))), "counts": counts.tolist()})
    return {"replicates": replicates, "wall_s": wall, "divergent_fraction": float(draws["diverging"].mean()),
            "rows": rows, "ranks": {n: r.tolist() for n, r in ranks.items()}}


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nffit.plots import save_figure

    n = result["replicates"]
    band = scipy.stats.binom(n, 1 / BINS).ppf([0.005, 0.995])
    fig, axes = plt.subplots(1, len(FREE), figsize=(4 * len(FREE), 3), sharey=True)
    for ax, row in zip(axes, result["rows"]):
        ax.axhspan(*band, color="0.85", label="99 % band, uniform")
        ax.bar(np.arange(BINS) + 0.5, row["counts"], width=0.9, color="C0")
        ax.set_title(f"{row['parameter']}  (chi2 p = {row['chi2_p']:.2f})")
        ax.set_xlabel(f"rank of truth / {(THIN + 1) // BINS}")
    axes[0].set_ylabel("replicates")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"SBC of NUTS on the analytic spectrum, {n} replicates")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "sbc.json")
    parser.add_argument("--figure", type=Path, default=Path(__file__).parents[1] / "docs" / "figures" / "sbc.png")
    args = parser.parse_args()
    result = run(args.replicates)
    print_table(result["rows"], ["parameter", "chi2_p", "coverage_90"])
    print(f"{result['replicates']} replicates in {result['wall_s']:.0f} s, divergent fraction {result['divergent_fraction']:.4f}")
    write_json(args.json, {"machine": machine(), **result})
    figure(result, args.figure)


if __name__ == "__main__":
    main()
