"""The demo job on the bundled recording: its observed spectrum, the delayed network's
simulated spectrum, and the fit of ``nffit fit`` (multi-start MAP, then a short NUTS run of
4 chains) of the analytic 76-region spectrum to the occipital channels, with its report.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nffit.errors import NffitError

__all__ = ["run_demo"]

DEMO_PICKS = ("O1", "Oz", "O2", "Pz", "Cz", "Fz")


def run_demo(out_dir: Path, *, duration_s: float = 10.0, batch: int = 4, seed: int = 0) -> dict[str, Path]:
    """Observed spectrum of the shipped EEG, ``batch`` x ``duration_s`` s of the default
    network, and the fit with its report.

    Writes ``observed_spectrum.nc/.png``, ``simulation.nc``, ``simulated_spectrum.png``,
    ``run.nc`` (InferenceData) and ``report/`` to ``out_dir``; returns the paths by name.
    """
    import jax

    from nffit.connectome import load_connectome
    from nffit.eeg import ALPHA_BAND, read_eeg_spectrum, sample_eeg_path, save_spectrum
    from nffit.models import JansenRitParams
    from nffit.netcdf import simulation_dataset, write_netcdf
    from nffit.plots import plot_observed_spectrum, plot_simulated_spectrum
    from nffit.simulator import make_simulator
    from nffit.welch import peak_frequency, welch

    if out_dir.exists() and not out_dir.is_dir():
        raise NffitError(f"{out_dir}: exists and is not a directory; choose another -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    observed = read_eeg_spectrum(sample_eeg_path(), picks=list(DEMO_PICKS))
    written["observed_nc"] = save_spectrum(observed, out_dir / "observed_spectrum.nc")
    written["observed_png"] = plot_observed_spectrum(observed, out_dir / "observed_spectrum.png")
    print(f"EEG {sample_eeg_path().name}: {len(observed.channels)} channels, {observed.n_segments} Welch segments, "
          f"alpha peak {peak_frequency(observed.freqs, observed.psd.mean(axis=0), *ALPHA_BAND):.2f} Hz")

    conn = load_connectome("tvb76")
    sim = make_simulator(conn, duration_ms=1000.0 * duration_s, transient_ms=1000.0)
    start = time.perf_counter()
    result = sim.run(jax.random.key(seed), JansenRitParams(), batch_size=batch)
    lfp = np.asarray(result.lfp)
    wall = time.perf_counter() - start
    written["simulation_nc"] = write_netcdf(simulation_dataset(lfp, np.asarray(result.finite), sim.fs, conn.labels, seed=seed),
                                            out_dir / "simulation.nc")
    freqs, psd = welch(lfp, sim.fs, nperseg=int(4 * sim.fs), axis=1)  # (B, N, F)
    band = (freqs >= 1.0) & (freqs <= 45.0)
    psd = np.asarray(psd)[..., band]
    title = f"Jansen-Rit, TVB 76 regions, {batch} x {duration_s:g} s (Welch, 4 s Hann)"
    written["simulated_png"] = plot_simulated_spectrum(freqs[band], psd, title, out_dir / "simulated_spectrum.png")
    print(f"simulated {batch} x {duration_s:g} s of 76 regions in {wall:.1f} s (compile included); "
          f"peak {peak_frequency(freqs[band], psd.mean(axis=(0, 1)), 2.0):.2f} Hz")
    written.update(_fit(out_dir, seed))
    print(f"report: {out_dir}/ ({', '.join(str(p.relative_to(out_dir)) for p in written.values())})")
    return written


def _fit(out_dir: Path, seed: int, warmup: int = 100, draws: int = 100) -> dict[str, Path]:
    """The fit of ``nffit fit`` on the occipital channels (MAP, then a short NUTS), and its report."""
    from nffit.config import load_config
    from nffit.eeg import ALPHA_BAND, sample_eeg_path
    from nffit.fit import divergences, run_fit, summary_table
    from nffit.report import parameter_names, write_report
    from nffit.welch import peak_frequency

    config = load_config(None, {"data": {"path": str(sample_eeg_path())}, "likelihood": {"bin_stride": 4},
                                "method": {"name": "nuts", "warmup": warmup, "draws": draws, "seed": seed,
                                           "checkpoint_every": 50},
                                "output": {"path": str(out_dir / "run.nc")}})
    start = time.perf_counter()
    idata, run = run_fit(config, progress=False)
    wall = time.perf_counter() - start
    names = parameter_names(idata)
    print(f"MAP + NUTS (4 chains x {warmup} warmup + {draws} draws) in {wall:.0f} s, {divergences(idata)} divergences:")
    print(summary_table(idata, names).round(3).to_string())
    freqs = idata.observed_data["freq"].values
    data_peak = peak_frequency(freqs, idata.observed_data["psd"].values.mean(axis=0), *ALPHA_BAND, interpolate=True)
    model_peak = peak_frequency(freqs, idata.posterior_predictive["psd"].values.mean(axis=(0, 1, 2)), *ALPHA_BAND,
                                interpolate=True)
    print(f"alpha peak: posterior predictive {model_peak:.2f} Hz, EEG {data_peak:.2f} Hz")
    report = write_report(idata, out_dir / "report")
    return {"run_nc": run, **{f"report_{k}": v for k, v in report.items()}}
