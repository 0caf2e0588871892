"""NUTS's sampling coordinates on the shipped EEG: unconstrained space vs G reflected at 0 with
the others sheared along it (nffit.sampling_coordinates). Same problem, seed, start and settings; prints
leapfrog steps per draw, effective sample sizes and R-hat, and draws the log density of the
(G, mu) plane in both coordinates.

    python benchmarks/coordinates.py [--warmup 150 --draws 200 --free G,mu,log10_scale,aperiodic_offset,aperiodic_exponent]
                                     [--json benchmarks/results/coordinates.json --figure docs/figures/coordinates.png]

The problem is the CI test's (tests/test_real_eeg_fit.py) at the benchmark's resolution: O1,
Oz and O2 of data/S001R02.edf, 2-40 Hz, 2 s segments, every other bin, conduction speed fixed
at 3 m/s; NUTS (blackjax, 4 vmapped chains, dense metric) from a 4-start MAP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from networks import occipital_spectrum  # noqa: E402
from timing import machine, print_table, write_json  # noqa: E402

from nffit.inference import fit_map, make_problem  # noqa: E402
from nffit.log_density import make_log_density  # noqa: E402
from nffit.nuts import coordinates_from_map, run_nuts_blackjax  # noqa: E402
from nffit.sampling_coordinates import to_sampling  # noqa: E402


def plane(density, coords, mode, name_x: str, name_y: str, grid_x, grid_y, sampling: bool) -> np.ndarray:
    """Log density on a grid of two coordinates (unconstrained x, or sampling p), the others at the mode."""
    i, j = density.names.index(name_x), density.names.index(name_y)
    centre = np.asarray(to_sampling(density, coords, jnp.asarray(mode)) if sampling else mode)
    gx, gy = np.meshgrid(grid_x, grid_y, indexing="ij")
    points = np.repeat(centre[None], gx.size, axis=0)
    points[:, i], points[:, j] = gx.ravel(), gy.ravel()
    fn = (lambda p: density.sampling_logdensity(coords, p)) if sampling else density.logdensity
    f = jax.jit(jax.vmap(fn))
    values = np.concatenate([np.asarray(f(jnp.asarray(points[k:k + 400], jnp.float32))) for k in range(0, len(points), 400)])
    return values.reshape(gx.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--free", default="G,mu,log10_scale,aperiodic_offset,aperiodic_exponent")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "coordinates.json")
    parser.add_argument("--figure", type=Path, default=Path(__file__).parents[1] / "docs" / "figures" / "coordinates.png")
    args = parser.parse_args()
    import arviz as az

    problem = make_problem(occipital_spectrum(), free=tuple(args.free.split(",")))
    density = make_log_density(problem)
    start = fit_map(problem, jax.random.key(1), starts=4, steps=200)
    rows = []
    for reflect in ((), ("G",)):
        started = time.perf_counter()
        post = run_nuts_blackjax(problem, jax.random.key(2), chains=4, warmup=args.warmup, draws=args.draws, start=start,
                                 checkpoint_every=args.draws, reflect=reflect)
        wall = time.perf_counter() - started
        steps = post.sample_stats["n_steps"]
        draws = {n: np.asarray(v) for n, v in post.samples.items()}
        rows.append({"coordinates": "G reflected, sheared" if reflect else "unconstrained", "wall_s": wall,
                     "mean_steps": float(steps.mean()), "mean_max_steps": float(steps.max(axis=0).mean()),
                     "step_size": float(np.median(post.sample_stats["step_size"][:, 0])),
                     "divergent": int(post.sample_stats["diverging"].sum()),
                     **{f"ess_{n}": float(az.ess(v)) for n, v in draws.items()},
                     **{f"rhat_{n}": float(az.rhat(v)) for n, v in draws.items()}})
        print(rows[-1], flush=True)
    names = list(problem.priors)
    print_table(rows, ["coordinates", "wall_s", "mean_steps", "mean_max_steps", "step_size", "divergent"]
                + [f"ess_{n}" for n in names] + [f"rhat_{n}" for n in names])
    write_json(args.json, {"machine": machine(), "warmup": args.warmup, "draws": args.draws, "chains": 4,
                           "free": names, "rows": rows})

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coords = coordinates_from_map(problem, start, ("G",))
    mode = np.asarray(start.mode, np.float32)
    centre = np.asarray(to_sampling(density, coords, jnp.asarray(mode)))
    panels = (((np.linspace(-8, 0, 81), np.linspace(-2.2, 0.2, 81)), False, "unconstrained (what NUTS saw)",
               "logit(G / 4)", "logit((mu - 0.5) / 0.5)"),
              ((np.linspace(-1.6, 1.6, 81), centre[1] + np.linspace(-1.2, 1.2, 81)), True,
               "sampling coordinates (G reflected at 0, mu sheared)", "p_G (G ~ |p_G|)", "p_mu"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, ((xs, ys), sampling, title, xlabel, ylabel) in zip(axes, panels):
        values = plane(density, coords, mode, "G", "mu", xs, ys, sampling)
        shown = np.clip(values - values[np.isfinite(values)].max(), -20, 0)
        mesh = ax.contourf(xs, ys, shown.T, levels=20)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.colorbar(mesh, ax=axes, label="log density - max (other parameters at the MAP)")
    fig.suptitle("shipped EEG, Jansen-Rit, 76 regions: the (G, mu) plane", fontsize=11)
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
