"""Figures people look at: observed and model spectra.

matplotlib is used with the Agg backend (no display needed) outside Jupyter; every function
writes a PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_figure", "plot_observed_spectrum", "plot_simulated_spectrum"]


def _pyplot():
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules:  # keep Jupyter's inline backend; no display needed elsewhere
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG atomically (temporary file in the same directory, then rename) and close it."""
    from nffit.netcdf import write_atomically

    try:
        return write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        _pyplot().close(fig)


def plot_observed_spectrum(spec, path: str | Path) -> Path:
    """Log-PSD of every channel of an :class:`~nffit.eeg.ObservedSpectrum`, alpha peak marked."""
    from nffit.eeg import ALPHA_BAND
    from nffit.welch import peak_frequency

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(spec.channels):
        ax.semilogy(spec.freqs, spec.psd[i], lw=1, label=name if len(spec.channels) <= 10 else None)
    mean = spec.psd.mean(axis=0)
    peak = peak_frequency(spec.freqs, mean, *ALPHA_BAND)
    ax.semilogy(spec.freqs, mean, color="k", lw=2, label="channel mean")
    ax.axvline(peak, color="C3", ls="--", label=f"alpha peak {peak:.2f} Hz")
    ax.set(xlabel="frequency (Hz)", ylabel="PSD ($\\mu$V$^2$/Hz)",
           title=f"{Path(str(spec.provenance.get('source', ''))).name}: Welch {spec.nperseg / spec.sfreq:g} s Hann, "
                 f"{spec.n_segments} segments")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_simulated_spectrum(freqs: np.ndarray, psd: np.ndarray, title: str, path: str | Path) -> Path:
    """Region spectra ``psd`` (B, N, F) of a simulation: each region's batch mean in grey, the mean in colour."""
    from nffit.welch import peak_frequency

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for region in range(psd.shape[1]):
        ax.semilogy(freqs, psd[:, region].mean(axis=0), color="0.8", lw=0.6)
    mean = psd.mean(axis=(0, 1))
    peak = peak_frequency(freqs, mean, 2.0)
    ax.semilogy(freqs, mean, color="C0", lw=2, label="mean over regions and batch")
    ax.axvline(peak, color="C3", ls="--", label=f"peak {peak:.2f} Hz")
    ax.set(xlabel="frequency (Hz)", ylabel="LFP PSD (mV$^2$/Hz)", title=title)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
