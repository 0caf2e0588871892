"""Parallel in time: W short windows as batch entries instead of one long run.

    python benchmarks/windows.py [--quick] [--json benchmarks/results/windows.json]

The delayed 76-region tvb76 Jansen-Rit network at a stable fixed point (mu = 0.09 /ms, the
lower branch; Heun at the simulator's default step unless ``--dt``), where the analytic
spectrum is the expectation of the simulated one (0.008 decades apart). For the same
simulated seconds (``total_s`` after the transients) and the same Welch resolution (2 s
Hann segments), R replicates (keys) are simulated

* as one long run per replicate (batch R, ``total_s`` each),
* as W **joined** windows per replicate (batch R x W, ``total_s / W`` each, the library's
  design): window w replays the replicate's noise from ``w total_s / W`` on, after its own
  1 s transient from rest, and the Welch estimate takes the segments across every join that
  holds (:func:`nffit.simulated_spectrum.joined_welch`), and
* as W **independent** windows (a key of their own each), whose joins never hold.

Reported per design: the joins that held (mean over replicates), the Welch segments per
replicate, the mean log10 PSD's bias against the analytic spectrum (decades, RMS over
2-40 Hz), the variance of log10 PSD across replicates (mean over frequencies) and
variance x segments (constant when each segment is an independent look), the largest
difference from the long run's log10 PSD of the same replicate, the wall time (median of 3,
compile apart) and the speed-up. Then the gradient of the alpha-band log power with respect
to G, across replicates, for joined windows of 2 to 16 s that cover the same 16 simulated
seconds: its spread against the analytic spectrum's gradient.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, print_table, time_compiled, write_json  # noqa: E402

from nffit import JansenRitParams, load_connectome, make_analytic_spectrum  # noqa: E402
from nffit.integrators import default_dt  # noqa: E402
from nffit.simulated_spectrum import boxcar_response, joined_welch, make_window_simulator  # noqa: E402

FS, SEGMENT_S, TRANSIENT_S = 250.0, 2.0, 1.0
BAND, ALPHA = (2.0, 40.0), (8.0, 12.0)
MU, G, SIGMA = 0.09, 1.0, 0.05
BRANCH = "lower"  # the fixed point the simulation settles on at mu = 0.09 (the upper one is unstable here)


def window_inputs(replicate_keys: jax.Array, windows: int, n_window: int, joined: bool) -> tuple[jax.Array, jax.Array]:
    """Keys and noise starts (R W,): joined windows replay their replicate's run, independent ones have keys of their own."""
    if joined:
        return jnp.repeat(replicate_keys, windows, axis=0), jnp.tile(jnp.arange(windows) * n_window, replicate_keys.shape[0])
    return jax.random.split(replicate_keys[0], replicate_keys.shape[0] * windows), jnp.zeros(replicate_keys.shape[0] * windows, int)


def windowed_log_psd(sim, keys: jax.Array, starts: jax.Array, params, windows: int) -> tuple[np.ndarray, jax.Array, jax.Array]:
    """log10 of the region-mean Welch PSD and the joins per replicate: keys (R * W,) -> (R, F), (R,)."""
    lfp = sim.run(keys, params, first_sample=starts).lfp  # (R * W, 1 + T, N)
    lfp = lfp.reshape((-1, windows) + lfp.shape[1:])
    n = lfp.shape[-1]
    freqs, psd, joins = joined_welch(lfp, jnp.eye(n, dtype=lfp.dtype), FS, int(SEGMENT_S * FS))  # (R, N, F)
    psd = psd.mean(axis=1) / boxcar_response(freqs, sim.decimation, sim.dt)
    return freqs, jnp.log10(psd), joins


def design(connectome, total_s: float, windows: int, joined: bool, replicates: int, repeats: int, dt: float | None) -> dict:
    sim = make_window_simulator(connectome, total_s / windows, TRANSIENT_S, fs=FS, dt=dt)
    keys, starts = window_inputs(jax.random.split(jax.random.key(7), replicates), windows, sim.n_samples - 1, joined)
    params = JansenRitParams(mu=MU, G=G, sigma=SIGMA)
    timing = time_compiled(lambda k, s: windowed_log_psd(sim, k, s, params, windows)[1], keys, starts, repeats=repeats)
    freqs, log_psd, joins = windowed_log_psd(sim, keys, starts, params, windows)
    return {"freqs": freqs, "log_psd": np.asarray(log_psd), "joins": np.asarray(joins), **timing}


def gradient_spread(connectome, window_s: float, total_s: float, replicates: int, dt: float | None) -> np.ndarray:
    """d/dG of the alpha-band log10 power, one value per replicate (joined windows covering total_s)."""
    windows = max(1, int(round(total_s / window_s)))
    sim = make_window_simulator(connectome, window_s, TRANSIENT_S, fs=FS, dt=dt)

    def band_power(g, keys, starts):
        freqs, log_psd, _ = windowed_log_psd(sim, keys, starts, JansenRitParams(mu=MU, G=g, sigma=SIGMA), windows)
        keep = (freqs >= ALPHA[0]) & (freqs <= ALPHA[1])
        return jnp.log10(jnp.mean(10.0 ** log_psd[0, keep]))

    grad = jax.jit(jax.grad(band_power))
    grads = []
    for r in range(replicates):
        keys, starts = window_inputs(jax.random.split(jax.random.key(100 + r), 1), windows, sim.n_samples - 1, True)
        grads.append(float(grad(jnp.asarray(G), keys, starts)))
    return np.array(grads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings (a smoke run)")
    parser.add_argument("--total", type=float, default=32.0, help="simulated seconds per replicate")
    parser.add_argument("--replicates", type=int, default=8)
    parser.add_argument("--dt", type=float, help="integration step in ms (default: the simulator's, 1 ms)")
    parser.add_argument("--json", default="benchmarks/results/windows.json")
    args = parser.parse_args()
    total, replicates, window_counts = (8.0, 2, (1, 4)) if args.quick else (args.total, args.replicates, (1, 4, 8, 16))
    connectome = load_connectome("tvb76")

    analytic = None
    rows = []
    for windows in window_counts:
        for joined in ((True,) if windows == 1 else (True, False)):
            out = design(connectome, total, windows, joined, replicates, repeats=1 if args.quick else 3, dt=args.dt)
            keep = (out["freqs"] >= BAND[0]) & (out["freqs"] <= BAND[1])
            if analytic is None:
                spectrum = make_analytic_spectrum(connectome, out["freqs"][keep], branch=BRANCH)
                analytic = np.log10(np.asarray(spectrum(JansenRitParams(mu=MU, G=G, sigma=SIGMA)).psd[0]).mean(axis=0))
                long_run = out["log_psd"][:, keep]
            log_psd = out["log_psd"][:, keep]
            own = int((total / windows - SEGMENT_S) // (SEGMENT_S / 2) + 1)  # 50 % overlap, per window
            segments = windows * own + float(out["joins"].mean())  # per replicate
            variance = float(np.mean(log_psd.var(axis=0, ddof=1)))
            rows.append({"design": "one run" if windows == 1 else ("joined" if joined else "independent"),
                         "windows": windows, "window_s": total / windows, "simulated_s": total,
                         "joins": float(out["joins"].mean()), "segments": segments,
                         "bias_decades": float(np.sqrt(np.mean((log_psd.mean(axis=0) - analytic) ** 2))),
                         "variance_log10": variance, "variance_x_segments": variance * segments,
                         "max_diff_from_run": float(np.max(np.abs(log_psd - long_run))),
                         "wall_s": out["median_s"], "compile_s": out["compile_s"]})
    for row in rows:
        row["speedup"] = rows[0]["wall_s"] / row["wall_s"]
    print_table(rows, ["design", "windows", "window_s", "simulated_s", "joins", "segments", "bias_decades",
                       "variance_log10", "variance_x_segments", "max_diff_from_run", "wall_s", "speedup", "compile_s"])

    grad_rows = []
    lengths = (2.0, 8.0) if args.quick else (2.0, 4.0, 8.0, 16.0)  # >= one 2 s Welch segment
    grad_total = 8.0 if args.quick else 16.0
    spectrum = make_analytic_spectrum(connectome, np.arange(ALPHA[0], ALPHA[1] + 0.5, 0.5), branch=BRANCH)
    exact = float(jax.grad(lambda g: jnp.log10(jnp.mean(spectrum(JansenRitParams(mu=MU, G=g, sigma=SIGMA)).psd[0])))(
        jnp.asarray(G)))
    for length in lengths:
        grads = gradient_spread(connectome, length, grad_total, replicates, args.dt)
        grad_rows.append({"window_s": length, "windows": int(round(grad_total / length)), "grad_mean": float(grads.mean()),
                          "grad_sd": float(grads.std(ddof=1)), "grad_analytic": exact,
                          "max_abs_grad": float(np.max(np.abs(grads)))})
    print_table(grad_rows, ["window_s", "windows", "grad_mean", "grad_sd", "max_abs_grad", "grad_analytic"])
    write_json(args.json, {"machine": machine(), "replicates": replicates, "dt_ms": args.dt or default_dt(FS), "fs": FS, "mu": MU, "G": G,
                           "designs": rows, "gradients": grad_rows})


if __name__ == "__main__":
    main()
