"""The demo job on the bundled recording: its observed spectrum, the delayed network's
simulated spectrum, and a multi-start MAP fit of the analytic network spectrum to the EEG.

Later stages (NUTS, report) extend this into the full pipeline.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nffit.errors import NffitError

__all__ = ["run_demo"]

DEMO_PICKS = ("O1", "Oz", "O2", "Pz", "Cz", "Fz")


def run_demo(out_dir: Path, *, duration_s: float = 10.0, batch: int = 4, seed: int = 0) -> dict[str, Path]:
    """Observed spectrum of the shipped EEG, then ``batch`` x ``duration_s`` s of the default network.

    Writes ``observed_spectrum.nc/.png``, ``simulation.nc`` and ``simulated_spectrum.png`` to
    ``out_dir`` and returns their paths by name.
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
    written.update(_fit(observed, out_dir, seed))
    print(f"report: {out_dir}/ ({', '.join(p.name for p in written.values())})")
    return written


def _fit(observed, out_dir: Path, seed: int, starts: int = 4, steps: int = 200) -> dict[str, Path]:
    """Multi-start MAP of the analytic 76-region spectrum to the occipital channels; a plot and a JSON."""
    import json

    import jax

    from nffit.eeg import ALPHA_BAND, read_eeg_spectrum, sample_eeg_path
    from nffit.inference import fit_map, make_problem
    from nffit.observation import observe_spectrum
    from nffit.plots import plot_fit
    from nffit.priors import split_values
    from nffit.welch import peak_frequency

    data = read_eeg_spectrum(sample_eeg_path(), picks="O1,Oz,O2", fmin=2.0, fmax=40.0, segment_s=2.0)
    problem = make_problem(data)
    start = time.perf_counter()
    result = fit_map(problem, jax.random.key(seed), starts=starts, steps=steps)
    wall = time.perf_counter() - start
    model_params, obs_params = split_values({**problem.fixed, **result.best})
    fitted = np.asarray(observe_spectrum(problem.spectrum(model_params).psd, problem.freqs, obs_params)[0])
    peak_data = peak_frequency(problem.freqs, problem.observed.mean(axis=0), *ALPHA_BAND)
    peak_model = peak_frequency(problem.freqs, fitted.mean(axis=0), *ALPHA_BAND)
    title = f"MAP fit, 76-region delayed JR, {starts} starts x {steps} steps: alpha {peak_model:.1f} Hz (EEG {peak_data:.1f} Hz)"
    png = plot_fit(problem.freqs, problem.observed, fitted, problem.channels, title, out_dir / "map_fit.png")
    summary = {"best": result.best, "neg_log_density": result.neg_log_density.tolist(), "wall_s": wall,
               "laplace_sd": {k: float(np.std(v)) for k, v in result.laplace.items()},
               "alpha_peak_hz": {"eeg": peak_data, "model": peak_model}}
    path = out_dir / "map_fit.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"MAP fit in {wall:.0f} s: " + ", ".join(f"{k} {v:.3g}" for k, v in result.best.items()))
    print(f"alpha peak: model {peak_model:.2f} Hz, EEG {peak_data:.2f} Hz")
    return {"map_png": png, "map_json": path}
