"""Figures people look at: observed and model spectra.

matplotlib is used with the Agg backend (no display needed); every function writes a PNG
and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_observed_spectrum"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
