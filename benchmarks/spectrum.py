"""Analytic vs simulated spectrum: time of log-PSD plus its gradient, and the figure that
compares the two spectra on the 76-region network.

    python benchmarks/spectrum.py [--json benchmarks/results/spectrum.json] [--figure docs/figures/analytic_vs_simulated.png]

Both paths give 76 region spectra at 100 frequencies (0.5-50 Hz, 0.5 Hz apart). The
simulated path runs the delayed network at the default step (Heun, 1 ms), 1 s of transient plus 10 s
(Welch, 2 s Hann segments at 50 % overlap: 9 segments), the accuracy the analytic
spectrum has for free.
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

from nffit import JansenRitParams, load_connectome, make_simulator  # noqa: E402
from nffit.analytic_spectrum import make_analytic_spectrum  # noqa: E402
from nffit.welch import welch  # noqa: E402

FREQS = np.arange(1, 101) * 0.5
PARAMS = JansenRitParams(mu=0.65, G=1.0, sigma=0.01)


def timings(repeats: int) -> list[dict]:
    conn = load_connectome("tvb76")
    spectrum = make_analytic_spectrum(conn, FREQS)

    def analytic_loss(theta):
        psd = spectrum(PARAMS._replace(G=theta[0], mu=theta[1])).psd
        return jnp.sum(jnp.log(psd))

    sim = make_simulator(conn, duration_ms=10_000.0, transient_ms=1000.0, fs=250.0)
    key = jax.random.key(0)

    def simulated_loss(theta):
        lfp = sim.run(key, PARAMS._replace(G=theta[0], mu=theta[1])).lfp
        _, psd = welch(lfp, 250.0, nperseg=500, axis=1)  # 0.5 Hz bins
        return jnp.sum(jnp.log(psd[..., 1:101]))

    theta = jnp.array([1.0, 0.65])
    rows = []
    for name, loss in (("analytic", analytic_loss), ("simulated", simulated_loss)):
        for mode, fn in (("log-PSD", loss), ("log-PSD + gradient", jax.value_and_grad(loss))):
            r = time_compiled(fn, theta, repeats=repeats if name == "analytic" else max(1, repeats // 3))
            rows.append({"path": name, "mode": mode, **r})
            print(f"  {name:9s} {mode:20s} {r['median_s'] * 1e3:10.2f} ms", flush=True)
    by = {(r["path"], r["mode"]): r["median_s"] for r in rows}
    for mode in ("log-PSD", "log-PSD + gradient"):
        rows.append({"path": "speed-up", "mode": mode, "median_s": by[("simulated", mode)] / by[("analytic", mode)]})
    return rows


def figure(path: str, batch: int = 32) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    conn = load_connectome("tvb76")
    sim = make_simulator(conn, duration_ms=16_000.0, transient_ms=2000.0, fs=250.0)
    lfp = np.asarray(sim.run(jax.random.key(0), PARAMS, batch_size=batch).lfp)
    freqs, psd = scipy.signal.welch(lfp, fs=250.0, nperseg=1000, axis=1)
    simulated = psd.mean(axis=0).T
    band = (freqs >= 2) & (freqs <= 40)
    f = freqs[band]
    analytic = np.asarray(make_analytic_spectrum(conn, f)(PARAMS).psd[0])
    boxcar = (np.sin(np.pi * f * 40 * 1e-4) / (40 * np.sin(np.pi * f * 1e-4))) ** 2
    ratio = np.log10(simulated[:, band] / (analytic * boxcar))
    rms = float(np.sqrt(np.mean(ratio**2)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, color in zip((0, 20, 40, 60), ("C0", "C1", "C2", "C3")):
        axes[0].semilogy(f, simulated[i, band], color=color, alpha=0.6, lw=1)
        axes[0].semilogy(f, analytic[i] * boxcar, color=color, ls="--", lw=1.5, label=conn.labels[i])
    axes[0].set(xlabel="frequency (Hz)", ylabel="LFP PSD (mV$^2$/Hz)",
                title=f"76 regions: simulated (solid, {batch} x 16 s) vs analytic (dashed)")
    axes[0].legend(fontsize=8)
    axes[1].plot(f, ratio.T, color="0.6", lw=0.5)
    axes[1].axhline(0, color="k")
    axes[1].set(xlabel="frequency (Hz)", ylabel="log10(simulated / analytic)", title=f"all 76 regions: RMS {rms:.3f} decades")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return {"rms_log10_ratio": rms, "batch": batch, "params": {k: float(v) for k, v in zip(PARAMS._fields, PARAMS)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", default="benchmarks/results/spectrum.json")
    parser.add_argument("--figure", default="docs/figures/analytic_vs_simulated.png")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}")
    rows = timings(args.repeats)
    print_table(rows, ["path", "mode", "compile_s", "median_s", "memory_bytes"])
    fig = figure(args.figure)
    print(f"figure: {args.figure} (RMS log10 ratio {fig['rms_log10_ratio']:.3f})")
    write_json(args.json, {"machine": info, "timings": rows, "figure": fig})


if __name__ == "__main__":
    main()
