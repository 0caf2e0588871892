"""Accuracy per cost of the integration schemes: log-PSD error against a fine-dt reference.

    python benchmarks/accuracy.py [--quick] [--json benchmarks/results/accuracy.json]
                                  [--figure docs/figures/accuracy.png] [--replot]

The delayed 76-region tvb76 Jansen-Rit network (3 mm/ms) in two regimes: a noise-driven
stable focus (mu = 0.09 /ms, the regime of the analytic fits) and the alpha limit cycle
(mu = 0.22 /ms, the regime of the simulated likelihood). Every scheme and dt sees the same
Brownian path: the increments are drawn at the reference step (0.01 ms) and summed to each
coarser step, so the error is the scheme's, not sampling noise. The LFP is sampled at 500 Hz
(the state at the end of every 2 ms, for every dt); the PSD is Welch's (2 s Hann segments)
averaged over regions and batch entries; the error is the RMS of log10 PSD differences over
1-45 Hz, in decades. Cost is the wall time of ``Simulator.run`` per simulated second of the
whole batch (B entries x 76 regions), compile excluded, median of 3.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, print_table, time_compiled, write_json  # noqa: E402

from nffit import JansenRitParams, load_connectome, make_simulator  # noqa: E402
from nffit.delays import compute_delays  # noqa: E402
from nffit.simulator import as_params  # noqa: E402

FS, SAMPLE_MS, REFERENCE_DT = 500.0, 2.0, 0.01
SCHEMES = ("euler", "heun", "rk4")
DTS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
REGIMES = {"focus (mu 0.09)": 0.09, "limit cycle (mu 0.22)": 0.22}
BAND = (1.0, 45.0)
THRESHOLD = 0.02  # decades


def simulate_on_path(connectome, method: str, dt: float, mu: float, batch: int, n_samples: int, key) -> np.ndarray:
    """LFP (B, n_samples, N) at 500 Hz from the Brownian path of ``key`` drawn at REFERENCE_DT."""
    sim = make_simulator(connectome, dt=dt, method=method, duration_ms=SAMPLE_MS, fs=FS, transient_ms=0.0)
    params = as_params(JansenRitParams(mu=mu), sim.model)
    lags = compute_delays(connectome.weights, connectome.lengths, params.speed, dt, sim.buffer_length - 1)
    fine_per_sample = int(round(SAMPLE_MS / REFERENCE_DT))
    per_step = int(round(dt / REFERENCE_DT))
    shape = (sim.model.n_states, connectome.n_regions, batch)
    state = sim.init(params, lags, sim.model.state_type(*jnp.zeros(shape)))

    def one_sample(state, index):
        z = jax.random.normal(jax.random.fold_in(key, index), (fine_per_sample, sim.model.noise_dims) + shape[1:])
        z = z.reshape((fine_per_sample // per_step, per_step) + z.shape[1:]).sum(axis=1) / math.sqrt(per_step)
        state, _ = jax.lax.scan(lambda s, z_t: (sim.step(s, z_t, params, lags), None), state, z)
        return state, sim.model.observe(state.y, params)

    _, lfp = jax.jit(lambda s: jax.lax.scan(one_sample, s, jnp.arange(n_samples)))(state)
    return np.moveaxis(np.asarray(lfp), -1, 0)  # (B, T, N)


def log_psd(lfp: np.ndarray, n_transient: int) -> tuple[np.ndarray, np.ndarray]:
    freqs, psd = scipy.signal.welch(lfp[:, n_transient:], fs=FS, nperseg=int(2 * FS), axis=1)
    keep = (freqs >= BAND[0]) & (freqs <= BAND[1])
    return freqs[keep], np.log10(psd.mean(axis=(0, 2))[keep])


def cost_per_simulated_second(connectome, method: str, dt: float, batch: int, repeats: int) -> dict[str, float]:
    sim = make_simulator(connectome, dt=dt, method=method, duration_ms=500.0, fs=FS, transient_ms=0.0)
    keys = jax.random.split(jax.random.key(0), batch)
    timing = time_compiled(lambda k: sim.run(k, JansenRitParams(mu=0.09)).lfp, keys, repeats=repeats)
    return {"compile_s": timing["compile_s"], "s_per_simulated_s": timing["median_s"] / 0.5}


def plot(payload: dict, path: str) -> None:
    """Error vs dt and error vs cost, one panel pair per regime, the 0.02-decade threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = list(dict.fromkeys(r["regime"] for r in payload["rows"]))
    fig, axes = plt.subplots(2, len(regimes), figsize=(5 * len(regimes), 7), squeeze=False)
    for col, regime in enumerate(regimes):
        for method, marker in zip(SCHEMES, "osd"):
            rows = [r for r in payload["rows"] if r["regime"] == regime and r["scheme"] == method]
            error = [r["rms_error_decades"] for r in rows]
            axes[0, col].loglog([r["dt_ms"] for r in rows], error, marker + "-", label=method)
            axes[1, col].loglog([r["s_per_simulated_s"] for r in rows], error, marker + "-", label=method)
        for row, xlabel in enumerate(("dt (ms)", "wall s per simulated s")):
            ax = axes[row, col]
            ax.axhline(THRESHOLD, color="k", ls="--", lw=0.8)
            ax.set(xlabel=xlabel, ylabel="RMS log10 PSD error (decades)", title=regime if row == 0 else None)
            ax.legend(fontsize=8)
    fig.suptitle(f"{payload['batch']} x {payload['seconds']:g} s, reference dt {payload['reference_dt_ms']} ms, "
                 f"{payload['machine']['cores']} cores {payload['machine']['backend']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 s of data, B = 2 (a smoke run)")
    parser.add_argument("--seconds", type=float, default=16.0, help="simulated seconds after the transient")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", default="benchmarks/results/accuracy.json")
    parser.add_argument("--figure", default="docs/figures/accuracy.png")
    parser.add_argument("--replot", action="store_true", help="only redraw the figure from --json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(Path(args.json).read_text()), args.figure)
        return
    seconds, batch = (2.0, 2) if args.quick else (args.seconds, args.batch)
    connectome = load_connectome("tvb76")
    n_transient = int(FS * 1.0)
    n_samples = n_transient + int(FS * seconds)
    key = jax.random.key(0)

    rows = []
    costs = {(m, dt): cost_per_simulated_second(connectome, m, dt, batch, 3) for m in SCHEMES for dt in DTS}
    for regime, mu in REGIMES.items():
        _, reference = log_psd(simulate_on_path(connectome, "heun", REFERENCE_DT, mu, batch, n_samples, key), n_transient)
        for method in SCHEMES:
            for dt in DTS:
                lfp = simulate_on_path(connectome, method, dt, mu, batch, n_samples, key)
                finite = bool(np.all(np.isfinite(lfp)))
                error = float(np.sqrt(np.mean((log_psd(lfp, n_transient)[1] - reference) ** 2))) if finite else math.inf
                rows.append({"regime": regime, "scheme": method, "dt_ms": dt, "rms_error_decades": error,
                             **costs[(method, dt)]})
                print(f"{regime} {method} dt={dt}: {error:.4f} decades", flush=True)

    print_table(rows, ["regime", "scheme", "dt_ms", "rms_error_decades", "s_per_simulated_s", "compile_s"])
    choice = {}
    for regime in REGIMES:
        for method in SCHEMES:
            ok = [r["dt_ms"] for r in rows if r["regime"] == regime and r["scheme"] == method
                  and r["rms_error_decades"] <= THRESHOLD]
            choice[f"{regime} / {method}"] = max(ok) if ok else None
    print("largest dt with <= 0.02 decades RMS error:")
    for name, dt in choice.items():
        print(f"  {name}: {dt} ms")
    payload = {"machine": machine(), "batch": batch, "seconds": seconds, "reference_dt_ms": REFERENCE_DT,
               "rows": rows, "largest_dt_within_threshold": choice}
    write_json(args.json, payload)
    plot(payload, args.figure)


if __name__ == "__main__":
    main()
