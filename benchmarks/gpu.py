"""Simulator throughput on an accelerator (or the CPU): node-steps/s, delayed reads/s and the
fraction of memory bandwidth they use, for batches up to 4096 on the 76-region network.

    python benchmarks/gpu.py [--json benchmarks/results/gpu.json] [--max-batch 4096] [--quick]

T = 1024 steps of dt = 0.1 ms, longest delay 255 steps (as benchmarks/simulate.py). The
bandwidth bound is measured in the same run by a device copy (read + write of a large
array); "read bandwidth" counts 4 bytes per delayed read (float32), a lower bound on the
traffic of the gather. Then SMC particles/s on the simulated likelihood: one batched
log-likelihood of P particles (each P x windows simulations of the nonlinear network, Welch,
observation model, Whittle likelihood against the shipped EEG's O1/Oz/O2 spectrum), the call
every SMC move makes. Runs in under 5 minutes on one H100/H200.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from networks import DT, benchmark_network, occipital_spectrum  # noqa: E402
from timing import copy_bandwidth, machine, print_table, time_compiled, write_json  # noqa: E402

from nffit import Connectome, JansenRitParams, make_simulator  # noqa: E402
from nffit.delays import incoming  # noqa: E402

T = 1024


def smc_throughput(spectrum: str | None, connectome: str, particles: list[int], windows: int, window_s: float,
                   repeats: int) -> list[dict]:
    """Particle log-likelihoods per second on the simulated path (the cost of one SMC move)."""
    from nffit.inference import make_problem
    from nffit.log_density import make_log_density

    simulation = {"windows": windows, "window_s": window_s, "transient_s": 1.0}  # the configuration's default dt
    problem = make_problem(occipital_spectrum(spectrum), connectome=connectome, path="simulated", simulation=simulation)
    density = make_log_density(problem)
    loglik = jax.vmap(density.loglik)
    rows = []
    for p in particles:
        x = jax.vmap(density.sample_prior)(jax.random.split(jax.random.key(1), p))
        r = time_compiled(loglik, x, repeats=repeats)
        simulated_s = p * windows * (window_s + 1.0)
        rows.append({"particles": p, "windows": windows, "window_s": window_s, **r,
                     "particles_per_s": p / r["median_s"], "simulated_s_per_s": simulated_s / r["median_s"]})
        print(f"  SMC P={p:5d}: {r['median_s']:.3f} s per batched log-likelihood, {p / r['median_s']:.1f} particles/s",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", default="benchmarks/results/gpu.json")
    parser.add_argument("--max-batch", type=int, default=4096)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke test)")
    parser.add_argument("--connectome", default="tvb76", help="a copy of connectivity_76.zip where tvb-data is missing")
    parser.add_argument("--spectrum", help="spectrum .nc of O1/Oz/O2 (nffit spectrum ...) where MNE is missing")
    parser.add_argument("--particles", default="256,1024,4096", help="SMC particle counts ('' to skip)")
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}", flush=True)
    bound = copy_bandwidth(64 << 20 if args.quick else 2 << 30, 2 if args.quick else 10)
    print(f"copy bandwidth: {bound / 1e9:.1f} GB/s", flush=True)

    weights, lengths, speed = benchmark_network(76, args.connectome)
    k = int(incoming(weights)[0].shape[1])
    conn = Connectome(weights, lengths, tuple(map(str, range(76))), None)
    sim = make_simulator(conn, dt=DT, duration_ms=T * DT, transient_ms=0.0, fs=1000.0 / (8 * DT), min_speed=speed)
    params = JansenRitParams(speed=speed)
    batches = [b for b in (1, 32, 256, 1024, 4096, 16384, 65536) if b <= args.max_batch]
    if args.quick:
        batches = [1, 32]
    rows = []
    for b in batches:
        keys = jax.random.split(jax.random.key(0), b)
        modes = [("forward", lambda kk, p: sim.run(kk, p).lfp, (keys, params))]
        if b <= 1024:
            def loss(theta, kk):
                return jnp.sum(sim.run(kk, params._replace(G=theta[0], mu=theta[1])).lfp ** 2)
            modes.append(("gradient", jax.grad(loss), (jnp.array([1.0, 0.22]), keys)))
        for mode, fn, fn_args in modes:
            r = time_compiled(fn, *fn_args, repeats=2 if args.quick else 5)
            reads = 76 * k * b * T / r["median_s"]
            rows.append({"N": 76, "K": k, "B": b, "mode": mode, **r, "node_steps_per_s": 76 * b * T / r["median_s"],
                         "reads_per_s": reads, "read_GB_per_s": reads * 4 / 1e9, "fraction_of_copy_bw": reads * 4 / bound})
            print(f"  B={b:5d} {mode:8s} {r['median_s'] * 1e3:9.2f} ms  {reads:.3g} reads/s  "
                  f"{reads * 4 / bound:.1%} of copy bandwidth", flush=True)
    print_table(rows, ["N", "K", "B", "mode", "compile_s", "median_s", "node_steps_per_s", "reads_per_s", "read_GB_per_s",
                       "fraction_of_copy_bw", "memory_bytes"])
    particles = [int(p) for p in args.particles.split(",") if p]
    smc_rows = smc_throughput(args.spectrum, args.connectome, [min(p, 64) for p in particles] if args.quick else particles,
                              windows=2 if args.quick else 4, window_s=2.0 if args.quick else 4.0,
                              repeats=2 if args.quick else 3) if particles else []
    if smc_rows:
        print_table(smc_rows, ["particles", "windows", "window_s", "compile_s", "median_s", "particles_per_s",
                               "simulated_s_per_s"])
    write_json(args.json, {"machine": info, "T": T, "dt_ms": DT, "copy_bandwidth_bytes_per_s": bound, "rows": rows,
                           "smc_simulated_likelihood": smc_rows})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
