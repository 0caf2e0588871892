"""The ``nffit`` command line.

Errors in user input print one line (``nffit: error: ...``) and exit with status 2; no
traceback, no partial output files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

from nffit.errors import NffitError
from nffit.netcdf import check_output_path

__all__ = ["main"]


def _parse_sets(items: Sequence[str], valid: tuple[str, ...]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise NffitError(f"--set {item!r}: expected NAME=VALUE, e.g. --set G=2.5")
        if name not in valid:
            raise NffitError(f"--set {name}: unknown parameter; valid names: {', '.join(valid)}")
        try:
            values[name] = float(text)
        except ValueError:
            raise NffitError(f"--set {name}={text}: value must be a number") from None
    return values


def _peak_frequency(lfp, fs: float, fmin: float = 2.0) -> float:
    """Peak of the batch- and region-mean Welch spectrum (2 s segments) of ``lfp`` (B, T, N)."""
    from nffit.welch import peak_frequency, welch

    freqs, psd = welch(lfp, fs, nperseg=min(lfp.shape[1], int(round(2.0 * fs))), axis=1)
    return peak_frequency(freqs, psd.mean(axis=(0, 1)), fmin)


def cmd_simulate(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from nffit.connectome import load_connectome
    from nffit.models import get_model
    from nffit.netcdf import simulation_dataset, write_netcdf
    from nffit.simulator import make_simulator

    out = check_output_path(args.output)
    if not args.duration > 0:
        raise NffitError(f"--duration {args.duration}: must be a positive number of seconds")
    if args.batch < 1:
        raise NffitError(f"--batch {args.batch}: must be at least 1")
    model = get_model(args.model)
    params = model.params_type(**_parse_sets(args.set, model.params_type._fields))
    conn = load_connectome(args.connectome, normalise=args.normalise)
    sim = make_simulator(conn, model=model, dt=args.dt, duration_ms=1000.0 * args.duration,
                         transient_ms=1000.0 * args.transient, fs=args.fs, method=args.method)
    start = time.perf_counter()
    result = sim.run(jax.random.key(args.seed), params, batch_size=args.batch)
    lfp = np.asarray(result.lfp)
    wall = time.perf_counter() - start
    finite = np.asarray(result.finite)
    settings = dict(model=model.name, connectome=str(args.connectome), normalise=args.normalise, dt_ms=sim.dt,
                    method=args.method, seed=args.seed, transient_s=args.transient,
                    **{f"param_{k}": float(v) for k, v in zip(params._fields, params)})
    write_netcdf(simulation_dataset(lfp, finite, sim.fs, conn.labels, **settings), out)
    peak = _peak_frequency(lfp[finite], sim.fs) if finite.any() else float("nan")
    print(f"simulated {args.batch} x {args.duration:g} s of {conn.n_regions} regions ({model.name}, {args.method}, dt {sim.dt:g} ms)")
    print(f"wall time      {wall:.2f} s (compile included)")
    print(f"finite entries {int(finite.sum())}/{args.batch}")
    print(f"peak frequency {peak:.2f} Hz (mean spectrum, >= 2 Hz)")
    print(f"wrote          {out}  (lfp: batch x time x region at {sim.fs:g} Hz)")
    return 0


def cmd_spectrum(args: argparse.Namespace) -> int:
    from nffit.eeg import ALPHA_BAND, read_eeg_spectrum, save_spectrum
    from nffit.welch import peak_frequency

    out = check_output_path(args.output)
    plot = check_output_path(args.plot) if args.plot else None
    spec = read_eeg_spectrum(args.eegfile, picks=args.picks, fmin=args.fmin, fmax=args.fmax, segment_s=args.segment,
                             overlap=args.overlap, reference=None if args.reference == "none" else args.reference)
    save_spectrum(spec, out)
    peak = peak_frequency(spec.freqs, spec.psd.mean(axis=0), *ALPHA_BAND)
    print(f"{len(spec.channels)} channels, {spec.freqs[0]:g}-{spec.freqs[-1]:g} Hz in {spec.freqs[1] - spec.freqs[0]:g} Hz bins, "
          f"{spec.n_segments} segments (dof {spec.dof:.1f})")
    print(f"alpha peak     {peak:.2f} Hz (channel mean)")
    print(f"wrote          {out}")
    if plot:
        from nffit.plots import plot_observed_spectrum

        plot_observed_spectrum(spec, plot)
        print(f"plot           {plot}")
    return 0


def cpu_devices_for_batch(batch: int, environ: Mapping[str, str], cores: int) -> int | None:
    """How many JAX CPU devices ``nffit fit`` splits the machine into for a batch of ``batch``
    NUTS chains, MAP starts or SMC particles: one per entry, up to 4 per core. Each device runs
    its share on its own thread and the OS shares the cores, so no chain waits for another's
    trajectory as vmapped chains on one device do (on 2 cores, 4 chains: 252 s against 290-300
    s with one device per core and 627 s with one device; 8 chains: 146 s against 211 s with
    one device per core; docs/benchmarks.md), and a MAP's starts or SMC's particles keep every
    core busy (the shipped example's 16-start MAP: 51 s against 65 s on one device; SMC with 64
    particles: 46 s against 60 s). None (JAX's default, one device) for a batch of one, or
    where the user chose the devices (``JAX_NUM_CPU_DEVICES``, or an XLA device count in
    ``XLA_FLAGS``)."""
    if "JAX_NUM_CPU_DEVICES" in environ or "xla_force_host_platform_device_count" in environ.get("XLA_FLAGS", ""):
        return None
    devices = min(batch, 4 * cores)
    return devices if devices > 1 else None


def _split_cpu(batch: int) -> None:
    """Split the CPU for a batch of chains, MAP starts or particles (:func:`cpu_devices_for_batch`)
    when JAX has not started yet (``nffit.cli.main`` called from Python after a computation
    keeps one device)."""
    from nffit.sharding import available_cores, use_cpu_cores

    devices = cpu_devices_for_batch(batch, os.environ, available_cores())
    if devices:
        try:
            use_cpu_cores(devices)
        except NffitError:
            pass


def cmd_fit(args: argparse.Namespace) -> int:
    from nffit.config import load_config
    from nffit.fit import divergences, run_fit, summary_table
    from nffit.report import parameter_names

    overrides: dict = {"data": {}, "method": {}, "output": {}, "model": {}, "hierarchical": {}}
    if args.input:
        overrides["data"]["path"] = args.input[0] if len(args.input) == 1 else list(args.input)
    if args.hierarchical:
        overrides["hierarchical"]["enabled"] = True
    if args.model:
        overrides["model"]["name"] = args.model
    for name in ("method", "chains", "draws", "warmup", "seed", "particles"):
        value = getattr(args, name)
        if value is not None:
            overrides["method"]["name" if name == "method" else name] = value
    if args.output:
        overrides["output"]["path"] = args.output
    config = load_config(args.config, overrides)
    method = config["method"]
    _split_cpu({"nuts": method["chains"], "map": method["map_starts"], "smc": method["particles"]}[method["name"]])
    start = time.perf_counter()
    idata, out = run_fit(config, resume=args.resume)
    names = parameter_names(idata)
    import pandas as pd

    with pd.option_context("display.width", 120, "display.max_columns", 10):
        print(summary_table(idata, names).round(4).to_string())
    print(f"method {idata.attrs['method']}, {divergences(idata)} divergences, {time.perf_counter() - start:.0f} s")
    print(f"wrote          {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from nffit.report import load_run, write_report

    written = write_report(load_run(args.run), args.output)
    print(f"report of {args.run}: {args.output}/ ({', '.join(p.name for p in written.values())})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from nffit.report import load_run, write_comparison

    runs = {Path(p).stem: load_run(p) for p in args.runs}
    if len(runs) < len(args.runs):
        raise NffitError("two runs share a file name; rename one (names label the comparison)")
    table, written = write_comparison(runs, args.output)
    print(table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight"]].round(2).to_string())
    print(f"wrote          {', '.join(str(p) for p in written.values())}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from nffit.config import DEFAULTS
    from nffit.demo import run_demo

    _split_cpu(DEFAULTS["method"]["chains"])  # the demo's NUTS
    run_demo(Path(args.output))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nffit", description="Fit brain-network models to EEG power spectra.")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate the delayed Jansen-Rit network and write the LFP as netCDF")
    sim.add_argument("--connectome", default="tvb76", help="'tvb76' (default) or a TVB .zip / .npz / *weights.csv")
    sim.add_argument("--normalise", default="max", choices=("max", "row-sum", "none"), help="weight normalisation")
    sim.add_argument("--model", default="jansen_rit", help="node model: jansen_rit (default) or mpr (Montbrio-Pazo-Roxin)")
    sim.add_argument("--duration", type=float, default=10.0, help="seconds of output (default 10)")
    sim.add_argument("--transient", type=float, default=1.0, help="seconds discarded first (default 1)")
    sim.add_argument("--batch", type=int, default=1, help="number of independent batch entries")
    sim.add_argument("--seed", type=int, default=0, help="PRNG seed")
    sim.add_argument("--dt", type=float, default=None,
                     help="integration step in ms (default: the largest the accuracy table allows that divides 1000/fs; 1 ms for Heun at 250 Hz)")
    sim.add_argument("--fs", type=float, default=250.0, help="output sampling rate in Hz (default 250)")
    sim.add_argument("--method", default="heun", choices=("heun", "euler", "rk4"))
    sim.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a model parameter")
    sim.add_argument("-o", "--output", required=True, help="output .nc file")
    sim.set_defaults(func=cmd_simulate)

    spec = sub.add_parser("spectrum", help="Welch spectrum of an EEG recording, as netCDF (and a plot)")
    spec.add_argument("eegfile", help="EDF, BDF, FIF, BrainVision .vhdr, EEGLAB .set, GDF, ...")
    spec.add_argument("--picks", default=None, help="comma-separated channel names (default: all good EEG)")
    spec.add_argument("--fmin", type=float, default=1.0, help="Hz (default 1)")
    spec.add_argument("--fmax", type=float, default=45.0, help="Hz (default 45)")
    spec.add_argument("--segment", type=float, default=4.0, help="Welch segment in seconds (default 4)")
    spec.add_argument("--overlap", type=float, default=0.5, help="segment overlap fraction (default 0.5)")
    spec.add_argument("--reference", default="average", help="'average' (default) or 'none'")
    spec.add_argument("-o", "--output", required=True, help="output .nc file")
    spec.add_argument("--plot", default=None, help="also write a PNG of the spectrum")
    spec.set_defaults(func=cmd_spectrum)

    fit = sub.add_parser("fit", help="fit the network spectrum to an EEG recording or spectrum; write InferenceData")
    fit.add_argument("input", nargs="*", default=None,
                     help="EEG file or spectrum .nc (default: [data] path); several with --hierarchical")
    fit.add_argument("--config", default=None, help="TOML configuration (see data/fit_example.toml)")
    fit.add_argument("--method", default=None, choices=("nuts", "smc", "map"))
    fit.add_argument("--chains", type=int, default=None)
    fit.add_argument("--draws", type=int, default=None)
    fit.add_argument("--warmup", type=int, default=None)
    fit.add_argument("--particles", type=int, default=None, help="SMC particles")
    fit.add_argument("--model", default=None,
                     help="jansen_rit (default), mpr (Montbrio-Pazo-Roxin) or peaks (aperiodic + Gaussian peaks baseline)")
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--hierarchical", action="store_true",
                     help="fit several recordings jointly, parameters partially pooled ([hierarchical] in the config)")
    fit.add_argument("--resume", action="store_true", help="continue from RUN.ckpt.npz of an interrupted run")
    fit.add_argument("-o", "--output", default=None, help="output .nc (default: [output] path)")
    fit.set_defaults(func=cmd_fit)

    report = sub.add_parser("report", help="figures and summary tables of a run written by nffit fit")
    report.add_argument("run", help="RUN.nc")
    report.add_argument("-o", "--output", required=True, help="output directory")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="LOO comparison (az.compare) of runs fitted to the same data")
    compare.add_argument("runs", nargs="+", help="RUN1.nc RUN2.nc ...")
    compare.add_argument("-o", "--output", default="compare", help="output directory (default compare)")
    compare.set_defaults(func=cmd_compare)

    demo = sub.add_parser("demo", help="the main job on the bundled data, with a report")
    demo.add_argument("-o", "--output", default="demo-output", help="output directory (default demo-output)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NffitError as exc:
        print(f"nffit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nffit: interrupted; no partial output was written (fits continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
