"""Inference on the shipped EEG: wall time, ESS/s and R-hat of NUTS, SMC and MAP.

    python benchmarks/inference.py [--chains 4 --warmup 1000 --draws 1000 --particles 1024 --starts 64]
                                   [--methods map,nuts,smc --chain-method vectorized|sequential|parallel]
                                   [--split-cpu] [--cpu-devices N] [--target-acceptance 0.8]
                                   [--json benchmarks/results/inference.json]

The problem is the demo's: O1, Oz and O2 of data/S001R02.edf (2-40 Hz, 2 s Hann segments,
every other bin), the analytic 76-region spectrum, free G, mu, speed, log10_scale and the
aperiodic offset and exponent. NUTS (blackjax, dense mass) starts from a 4-start MAP's
Laplace approximation; its time is reported without that MAP. Compile time is measured
apart where a method runs in repeated jitted blocks (NUTS draws, SMC steps): the first
block's time minus the median of the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from networks import occipital_spectrum  # noqa: E402
from timing import machine, print_table, write_json  # noqa: E402

from nffit.eeg import ALPHA_BAND  # noqa: E402
from nffit.inference import fit_map, make_problem  # noqa: E402
from nffit.inference_data import to_inference_data  # noqa: E402
from nffit.posterior import from_map  # noqa: E402
from nffit.sharding import use_cpu_cores  # noqa: E402
from nffit.welch import peak_frequency  # noqa: E402


def summarise(key: str, method: str, settings: str, posterior, problem, wall: float, compile_s: float | None) -> dict:
    import arviz as az

    idata = to_inference_data(posterior, problem, jax.random.key(9), prior_draws=10)
    names = list(problem.priors)
    ess = float(az.ess(idata, var_names=names).to_array().min())
    rhat = float(az.rhat(idata, var_names=names).to_array().max()) if idata.posterior.sizes["chain"] > 1 else float("nan")
    predictive = idata.posterior_predictive["psd"].values.mean(axis=(0, 1, 2))
    info = machine()
    device = info["devices"][0] if info["backend"] != "cpu" else f"{info['cpu']}, {info['cores']} cores"
    return {"key": key, "machine": device, "method": method, "settings": settings, "wall_s": wall, "compile_s": compile_s, "ess_min": ess,
            "ess_per_s": ess / wall, "rhat_max": rhat,
            "alpha_model_hz": peak_frequency(problem.freqs, predictive, *ALPHA_BAND, interpolate=True)}


def compile_estimate(times: list[float]) -> float | None:
    return float(times[0] - np.median(times[1:])) if len(times) > 2 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--particles", type=int, default=1024)
    parser.add_argument("--starts", type=int, default=64)
    parser.add_argument("--smc-steps", type=int, default=10, help="random-walk moves per SMC step")
    parser.add_argument("--methods", default="map,nuts,smc")
    parser.add_argument("--chain-method", default="vectorized",
                        help="NUTS chains batched (row 'nuts'), one after another (row 'nuts-sequential') or split "
                        "over one JAX device per core (row 'nuts-parallel')")
    parser.add_argument("--split-cpu", action="store_true",
                        help="one JAX device per CPU core (nffit.sharding.use_cpu_cores), the NUTS chains split over "
                        "them (row 'nuts-split' for vectorized chains); implied by --chain-method parallel")
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="split the CPU into this many devices instead of one per core (implies --split-cpu; "
                        "row 'nuts-splitN'; one per chain is what nffit fit does)")
    parser.add_argument("--target-acceptance", type=float, default=0.8, help="NUTS warmup's target acceptance")
    parser.add_argument("--spectrum", type=Path, help="the same spectrum written by `nffit spectrum data/S001R02.edf "
                        "--picks O1,Oz,O2 --fmin 2 --fmax 40 --segment 2` (where MNE is not installed)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "inference.json")
    args = parser.parse_args()
    split = args.split_cpu or args.cpu_devices is not None or args.chain_method == "parallel"
    if split:
        use_cpu_cores(args.cpu_devices)  # one JAX device per core (default); before blackjax, whose import starts JAX
    from nffit.nuts import CHAIN_METHODS, run_nuts_blackjax
    from nffit.smc import run_smc

    if args.chain_method not in CHAIN_METHODS:
        parser.error(f"--chain-method: choose one of {', '.join(CHAIN_METHODS)}")

    methods = args.methods.split(",")
    nuts_key = "nuts" if args.chain_method == "vectorized" else f"nuts-{args.chain_method}"
    if split and args.chain_method == "vectorized":
        nuts_key += "-split" if args.cpu_devices is None else f"-split{args.cpu_devices}"
    if args.target_acceptance != parser.get_default("target_acceptance"):
        nuts_key += f"-accept{args.target_acceptance:g}"
    ran = [nuts_key if m == "nuts" else m for m in methods]
    # Rows of methods not run this time are kept from the previous file, so that methods can be
    # measured in separate runs (each row carries its own machine).
    kept = []
    if args.json.exists():
        kept = [row for row in json.loads(args.json.read_text()).get("rows", []) if row.get("key") not in ran]

    problem = make_problem(occipital_spectrum(args.spectrum))
    data_alpha = peak_frequency(problem.freqs, problem.observed.mean(axis=0), *ALPHA_BAND, interpolate=True)
    rows = []
    if "map" in methods:
        started = time.perf_counter()
        result = fit_map(problem, jax.random.key(0), starts=args.starts, steps=300)
        wall = time.perf_counter() - started
        rows.append(summarise("map", "MAP + Laplace", f"{args.starts} starts x 300 adam steps", from_map(result), problem,
                              wall, None))
        print(rows[-1], flush=True)
    if "nuts" in methods:
        start = fit_map(problem, jax.random.key(1), starts=4, steps=200)
        started = time.perf_counter()
        posterior = run_nuts_blackjax(problem, jax.random.key(2), chains=args.chains, warmup=args.warmup,
                                      draws=args.draws, start=start, checkpoint_every=100, progress=True,
                                      chain_method=args.chain_method, target_acceptance=args.target_acceptance)
        wall = time.perf_counter() - started
        layout = f"{args.chain_method} chains" + (f", split over {jax.local_device_count()} CPU devices" if split else "")
        row = summarise(nuts_key, f"NUTS (blackjax, {layout})",
                        f"{args.chains} chains x ({args.warmup} warmup + {args.draws}), target acceptance "
                        f"{args.target_acceptance:g}", posterior,
                        problem, wall, compile_estimate(posterior.attrs["block_times_s"]))
        row["divergent"] = int(posterior.sample_stats["diverging"].sum())
        row["mean_leapfrog"] = float(posterior.sample_stats["n_steps"].mean())
        # the vmapped chains step together: an iteration lasts as long as its slowest chain's trajectory
        row["slowest_chain_leapfrog"] = float(posterior.sample_stats["n_steps"].max(axis=0).mean())
        row["warmup_s"] = wall - float(np.sum(posterior.attrs["block_times_s"]))
        row["step_size"] = float(np.mean(posterior.sample_stats["step_size"]))
        rows.append(row)
        print(rows[-1], flush=True)
        write_json(args.json, {"machine": machine(), "data_alpha_hz": data_alpha, "rows": kept + rows, "partial": True})
    if "smc" in methods:
        started = time.perf_counter()
        posterior = run_smc(problem, jax.random.key(3), particles=args.particles, mcmc_steps=args.smc_steps,
                            progress=True)
        wall = time.perf_counter() - started
        row = summarise("smc", "SMC (nffit tempered)", f"{args.particles} particles, {args.smc_steps} RW steps", posterior, problem, wall,
                        compile_estimate(posterior.attrs["step_times_s"].tolist()))
        row["steps"] = posterior.attrs["n_steps"]
        # the resampled particles repeat one another, in blocks: az.ess of them understates or
        # (shuffled) overstates; the number of distinct particles is a conservative sample size
        row["distinct_particles"] = int(len(np.unique(np.stack([posterior.samples[n].ravel() for n in problem.priors], 1),
                                                      axis=0)))
        row["final_acceptance"] = float(posterior.attrs["acceptance_per_step"][-1])
        # one batched likelihood at the start, then one per random-walk move (nffit.smc)
        row["particles_per_s"] = args.particles * (1 + args.smc_steps * posterior.attrs["n_steps"]) / wall
        rows.append(row)
        print(rows[-1], flush=True)
        write_json(args.json, {"machine": machine(), "data_alpha_hz": data_alpha, "rows": kept + rows, "partial": True})
    print(f"data alpha peak {data_alpha:.2f} Hz")
    print_table(rows, ["method", "settings", "wall_s", "compile_s", "ess_min", "ess_per_s", "rhat_max", "alpha_model_hz"])
    write_json(args.json, {"machine": machine(), "data_alpha_hz": data_alpha, "rows": kept + rows})


if __name__ == "__main__":
    main()
