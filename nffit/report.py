"""Reports of fits: the figures and tables a person wants to look at, from a saved run.

``write_report(idata, out_dir)`` writes ``spectra.png`` (observed vs posterior-predictive
spectra with a 90 % band, per channel and channel mean), ``trace.png``, ``pair.png``,
``prior_posterior.png``, ``summary.csv`` and ``summary.md``. ``write_comparison`` writes the
LOO comparison (``az.compare``) of several runs as CSV, Markdown, its plot and the runs'
posterior-predictive spectra side by side (best first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nffit.errors import NffitError
from nffit.netcdf import write_atomically
from nffit.plots import _pyplot, save_figure

__all__ = ["load_run", "parameter_names", "plot_posterior_predictive", "plot_predictive_comparison",
           "plot_prior_posterior", "write_report", "write_comparison"]


def load_run(path: str | Path):
    """InferenceData written by ``nffit fit`` (one-line error if it is not one)."""
    import arviz as az

    path = Path(path)
    if not path.is_file():
        raise NffitError(f"{path}: run file not found")
    try:
        idata = az.from_netcdf(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is the user's file
        raise NffitError(f"{path}: not an nffit run (netCDF InferenceData): {err}") from None
    if "posterior" not in idata.groups() or "model_psd" not in idata.posterior:
        raise NffitError(f"{path}: not an nffit run (no posterior model_psd); write one with nffit fit")
    return idata


def _markdown(table) -> str:
    """A pandas DataFrame as a Markdown table (no extra dependency)."""
    def cell(v):
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
    header = "| | " + " | ".join(map(str, table.columns)) + " |"
    rule = "|---" * (len(table.columns) + 1) + "|"
    rows = ["| " + str(i) + " | " + " | ".join(cell(v) for v in row) + " |" for i, row in zip(table.index, table.values)]
    return "\n".join([header, rule] + rows)


def parameter_names(idata, scalar: bool = False) -> list[str]:
    """The fitted parameters of a run: its posterior variables except ``model_psd`` and, in a
    hierarchical run, the deviations ``*_z`` (or centred ``*_u``) behind the per-recording values; ``scalar``: only those with one value
    per draw (a hierarchical run's group values, spreads and shared parameters)."""
    group = "recording" in idata.posterior.dims
    return [n for n in idata.posterior.data_vars if n != "model_psd" and not (group and n.endswith(("_z", "_u")))
            and not (scalar and idata.posterior[n].ndim > 2)]


def _spectra(idata) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """freqs (F,), channels, observed (C, F) and posterior-predictive draws (S, C, F) in power units."""
    site = "psd" if "psd" in idata.observed_data else "log10_psd"
    observed = idata.observed_data[site].values
    predictive = idata.posterior_predictive[site].values  # (chain, draw, C, F)
    if site == "log10_psd":
        observed, predictive = 10.0**observed, 10.0**predictive
    return (idata.observed_data["freq"].values, list(idata.observed_data["channel"].values), observed,
            predictive.reshape((-1,) + observed.shape))


def _band(ax, freqs: np.ndarray, observed: np.ndarray, predictive: np.ndarray, title: str) -> None:
    """Observed (F,) and the median and 90 % band of predictive draws (S, F) on log axes."""
    lo, mid, hi = np.quantile(predictive, [0.05, 0.5, 0.95], axis=0)
    ax.fill_between(freqs, lo, hi, color="C0", alpha=0.3, label="posterior predictive 90 %")
    ax.semilogy(freqs, mid, color="C0", lw=1.5)
    ax.semilogy(freqs, observed, color="k", lw=1, marker=".", ms=3, label="observed")
    ax.set(title=title, xlabel="frequency (Hz)")


def plot_posterior_predictive(idata):
    """Observed vs posterior-predictive spectra (median and 90 % band) per channel and their mean
    (per recording, channel mean, for a hierarchical run).

    ``idata``: InferenceData of a fit (``nffit fit``, :func:`nffit.inference_data.to_inference_data`).
    Returns the matplotlib figure.
    """
    freqs, channels, observed, predictive = _spectra(idata)
    plt = _pyplot()
    if observed.ndim == 3:  # a hierarchical run: the channel mean of each recording
        panels = [str(r) for r in idata.observed_data["recording"].values]
        pairs = [(observed[r].mean(axis=0), predictive[:, r].mean(axis=1)) for r in range(len(panels))]
    else:
        panels = channels + ["channel mean"]
        pairs = [(observed[i], predictive[:, i]) for i in range(len(channels))]
        pairs.append((observed.mean(axis=0), predictive.mean(axis=1)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), sharey=True)
    for ax, (obs, pred), name in zip(np.atleast_1d(axes), pairs, panels):
        _band(ax, freqs, obs, pred, name)
    np.atleast_1d(axes)[0].set_ylabel("PSD")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"{idata.attrs.get('method', '')} fit: observed vs posterior predictive")
    fig.tight_layout()
    return fig


def plot_predictive_comparison(runs: dict[str, object]):
    """The channel-mean observed spectrum and each run's posterior predictive (median, 90 %
    band), one panel per run (name -> InferenceData), side by side. Returns the figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.8 * len(runs), 3.4), sharey=True)
    for ax, (name, idata) in zip(np.atleast_1d(axes), runs.items()):
        freqs, _, observed, predictive = _spectra(idata)
        flat = predictive.reshape(predictive.shape[0], -1, freqs.size)  # a hierarchical run: recordings too
        _band(ax, freqs, observed.reshape(-1, freqs.size).mean(axis=0), flat.mean(axis=1), name)
    np.atleast_1d(axes)[0].set_ylabel("PSD (channel mean)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_prior_posterior(idata, names: list[str] | None = None):
    """Histograms of the prior (grey) and posterior (blue) of each parameter; returns the figure."""
    names = parameter_names(idata) if names is None else names
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8))
    for ax, name in zip(np.atleast_1d(axes), names):
        post = idata.posterior[name].values.ravel()
        bins = 40
        if "prior" in idata.groups() and name in idata.prior:
            prior = idata.prior[name].values.ravel()
            ax.hist(prior, bins=bins, density=True, color="0.75", label="prior")
        ax.hist(post, bins=bins, density=True, color="C0", alpha=0.8, label="posterior")
        ax.set(title=name)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_report(idata, out_dir: str | Path) -> dict[str, Path]:
    """Figures and summary tables of one run in ``out_dir`` (created); returns their paths."""
    import arviz as az

    from nffit.fit import summary_table

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NffitError(f"{out_dir}: exists and is not a directory; choose another -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    names, scalars = parameter_names(idata), parameter_names(idata, scalar=True)  # scalars: a group's level
    written = {"spectra": save_figure(plot_posterior_predictive(idata), out_dir / "spectra.png")}
    axes = az.plot_trace(idata, var_names=scalars, compact=False)
    written["trace"] = save_figure(axes.ravel()[0].figure, out_dir / "trace.png")
    if len(scalars) > 1:
        axes = az.plot_pair(idata, var_names=scalars, kind="kde" if idata.posterior.sizes["draw"] > 50 else "scatter",
                            marginals=True)
        written["pair"] = save_figure(np.ravel(axes)[0].figure, out_dir / "pair.png")
    written["prior_posterior"] = save_figure(plot_prior_posterior(idata, scalars), out_dir / "prior_posterior.png")
    table = summary_table(idata, names)
    written["summary_csv"] = write_atomically(out_dir / "summary.csv", lambda tmp: table.to_csv(tmp))
    lines = [f"# nffit run: {idata.attrs.get('method', '?')} on {idata.attrs.get('data', '?')}", "",
             f"channels {idata.attrs.get('channels', '')}; likelihood {idata.attrs.get('likelihood', '')}; "
             f"spectrum path {idata.attrs.get('spectrum_path', '')}", "", _markdown(table), ""]
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        lines.append(f"divergent transitions: {int(idata.sample_stats['diverging'].values.sum())}")
    lines += ["", "Figures: " + ", ".join(p.name for k, p in written.items() if p.suffix == ".png")]
    written["summary_md"] = write_atomically(out_dir / "summary.md", lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    return written


def write_comparison(runs: dict[str, object], out_dir: str | Path) -> tuple[object, dict[str, Path]]:
    """``az.compare`` (PSIS-LOO) of runs (name -> InferenceData) fitted to the same data: the table
    as CSV and Markdown, ``compare.png`` and ``spectra.png`` (:func:`plot_predictive_comparison`)."""
    import arviz as az

    if len(runs) < 2:
        raise NffitError("compare needs at least two runs")
    (first, (site, values)), *others = [(name, _observed(idata)) for name, idata in runs.items()]
    for name, (other_site, other) in others:
        if other_site != site or other.shape != values.shape or not np.allclose(other, values, rtol=1e-5):
            raise NffitError(f"runs {first} and {name} were fitted to different data (likelihood, channels, band or "
                             "spectrum differ); LOO compares fits of the same data only")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = az.compare(runs)
    written = {"csv": write_atomically(out_dir / "compare.csv", lambda tmp: table.to_csv(tmp)),
               "md": write_atomically(out_dir / "compare.md", lambda tmp: Path(tmp).write_text(_markdown(table) + "\n"))}
    ax = az.plot_compare(table)
    written["png"] = save_figure(ax.figure, out_dir / "compare.png")
    written["spectra"] = save_figure(plot_predictive_comparison({name: runs[name] for name in table.index}),
                                     out_dir / "spectra.png")
    return table, written


def _observed(idata) -> tuple[str, np.ndarray]:
    """The observed site's name and values of a run."""
    site = list(idata.observed_data.data_vars)[0]
    return site, idata.observed_data[site].values
