"""The demo job: simulate the default 76-region network and plot its spectrum.

Later stages (EEG spectrum, fit, report) extend this into the full pipeline on the shipped
recording.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nffit.errors import NffitError

__all__ = ["run_demo"]


def run_demo(out_dir: Path, *, duration_s: float = 10.0, batch: int = 4, seed: int = 0) -> dict[str, Path]:
    """Simulate ``batch`` x ``duration_s`` seconds of the default network; write netCDF and a PNG.

    Returns the paths written, by name.
    """
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nffit.connectome import load_connectome
    from nffit.models import JansenRitParams
    from nffit.netcdf import simulation_dataset, write_netcdf
    from nffit.simulator import make_simulator
    from nffit.welch import peak_frequency, welch

    if out_dir.exists() and not out_dir.is_dir():
        raise NffitError(f"{out_dir}: exists and is not a directory; choose another -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = load_connectome("tvb76")
    sim = make_simulator(conn, duration_ms=1000.0 * duration_s, transient_ms=1000.0)
    params = JansenRitParams()
    start = time.perf_counter()
    result = sim.run(jax.random.key(seed), params, batch_size=batch)
    lfp = np.asarray(result.lfp)
    wall = time.perf_counter() - start
    nc = write_netcdf(simulation_dataset(lfp, np.asarray(result.finite), sim.fs, conn.labels, seed=seed), out_dir / "simulation.nc")

    freqs, psd = welch(lfp, sim.fs, nperseg=int(4 * sim.fs), axis=1)  # (B, N, F)
    psd = np.asarray(psd)
    band = (freqs >= 1.0) & (freqs <= 45.0)
    mean = psd.mean(axis=(0, 1))
    peak = peak_frequency(freqs, mean, 1.0, 45.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    for region in range(psd.shape[1]):
        ax.semilogy(freqs[band], psd[:, region, band].mean(axis=0), color="0.8", lw=0.6)
    ax.semilogy(freqs[band], mean[band], color="C0", lw=2, label="mean over regions and batch")
    ax.axvline(peak, color="C3", ls="--", label=f"peak {peak:.2f} Hz")
    ax.set(xlabel="frequency (Hz)", ylabel="LFP PSD (mV$^2$/Hz)",
           title=f"Jansen-Rit, TVB 76 regions, {batch} x {duration_s:g} s (Welch, 4 s Hann)")
    ax.legend()
    fig.tight_layout()
    png = out_dir / "simulated_spectrum.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f"simulated {batch} x {duration_s:g} s of 76 regions in {wall:.1f} s; peak {peak:.2f} Hz")
    print(f"report: {png}")
    print(f"data:   {nc}")
    return {"netcdf": nc, "spectrum_png": png}
