r"""Welch's power spectral density estimate in JAX, equal to :func:`scipy.signal.welch`.

The data and the model spectra are computed with this one estimator, so they are compared
like with like. Differentiable: the power is ``X.real**2 + X.imag**2`` (``abs(X)**2`` has
a NaN gradient where a bin is exactly 0, e.g. the DC bin after demeaning).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
import scipy.signal
from jax import Array

from nffit.errors import NffitError

__all__ = ["welch", "welch_segments", "welch_dof", "peak_frequency"]

Detrend = Literal["constant", "linear", False]


def welch_segments(n_samples: int, nperseg: int, noverlap: int) -> int:
    """Number of segments scipy's Welch uses for ``n_samples`` (trailing samples dropped)."""
    return (n_samples - noverlap) // (nperseg - noverlap)


def _check(n_samples: int, nperseg: int, noverlap: int | None) -> int:
    if nperseg < 1 or nperseg > n_samples:
        raise NffitError(f"nperseg = {nperseg} must be between 1 and the signal length {n_samples}; use a shorter segment or a longer recording")
    noverlap = nperseg // 2 if noverlap is None else noverlap
    if not 0 <= noverlap < nperseg:
        raise NffitError(f"noverlap = {noverlap} must satisfy 0 <= noverlap < nperseg = {nperseg}")
    return noverlap


def welch(
    x: Array,
    fs: float = 1.0,
    *,
    nperseg: int,
    noverlap: int | None = None,
    window: str | tuple = "hann",
    detrend: Detrend = "constant",
    scaling: Literal["density", "spectrum"] = "density",
    axis: int = -1,
) -> tuple[np.ndarray, Array]:
    """One-sided Welch PSD, segment means, as ``scipy.signal.welch`` with the same arguments.

    Parameters
    ----------
    x : Array, any shape; time along ``axis``
        Signal (e.g. mV or V).
    fs : float
        Sampling rate in Hz.
    nperseg : int
        Segment length in samples.
    noverlap : int, optional
        Overlap in samples (default ``nperseg // 2``).
    window : str or tuple
        Any window :func:`scipy.signal.get_window` knows (periodic, as scipy's Welch uses).
    detrend : {"constant", "linear", False}
        Per-segment detrending.
    scaling : {"density", "spectrum"}
        ``density``: units**2/Hz; ``spectrum``: units**2.
    axis : int
        Time axis of ``x``.

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,), Hz
    psd : Array, shape of ``x`` with ``axis`` replaced by the frequency axis (last)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(1024)
    >>> f, p = welch(x, fs=100.0, nperseg=256)
    >>> np.allclose(p, scipy.signal.welch(x, fs=100.0, nperseg=256)[1])
    True
    """
    x = jnp.moveaxis(jnp.asarray(x), axis, -1)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    n = x.shape[-1]
    noverlap = _check(n, nperseg, noverlap)
    step = nperseg - noverlap
    n_seg = welch_segments(n, nperseg, noverlap)
    win = np.asarray(scipy.signal.get_window(window, nperseg), dtype=float)
    frames = x[..., np.arange(n_seg)[:, None] * step + np.arange(nperseg)]  # (..., K, nperseg)
    if detrend == "constant":
        frames = frames - frames.mean(axis=-1, keepdims=True)
    elif detrend == "linear":
        t = np.arange(nperseg, dtype=float)
        basis, _ = np.linalg.qr(np.stack([np.ones(nperseg), t - t.mean()], axis=1))
        frames = frames - (frames @ basis.astype(x.dtype)) @ basis.T.astype(x.dtype)
    elif detrend is not False:
        raise NffitError(f"unknown detrend {detrend!r}; use 'constant', 'linear' or False")
    spec = jnp.fft.rfft(frames * win.astype(x.dtype), axis=-1)
    power = spec.real**2 + spec.imag**2
    if scaling == "density":
        scale = 1.0 / (fs * np.sum(win**2))
    elif scaling == "spectrum":
        scale = 1.0 / np.sum(win) ** 2
    else:
        raise NffitError(f"unknown scaling {scaling!r}; use 'density' or 'spectrum'")
    one_sided = np.full(nperseg // 2 + 1, 2.0 * scale)
    one_sided[0] = scale
    if nperseg % 2 == 0:
        one_sided[-1] = scale
    psd = power.mean(axis=-2) * one_sided.astype(x.dtype)
    return np.fft.rfftfreq(nperseg, 1.0 / fs), psd


def welch_dof(n_segments: int, nperseg: int, noverlap: int, window: str | tuple = "hann") -> float:
    r"""Equivalent degrees of freedom of a Welch estimate (Percival & Walden 1993, eq. 292b).

    .. math::
        \nu = \frac{2K}{1 + 2\sum_{m=1}^{K-1} (1 - m/K)\,\rho(m)^2},\qquad
        \rho(m) = \frac{\sum_t h_t h_{t+m s}}{\sum_t h_t^2}

    with ``K`` segments, hop ``s = nperseg - noverlap`` and window ``h``. Without overlap
    ``nu = 2K``; for Hann at 50 % overlap ``nu`` is close to ``36 K^2 / (19 K - 1)``.
    Valid for bins away from DC and Nyquist (which have half the degrees of freedom).

    Examples
    --------
    >>> welch_dof(10, 256, 0)
    20.0
    """
    win = np.asarray(scipy.signal.get_window(window, nperseg), dtype=float)
    hop = nperseg - noverlap
    energy = np.sum(win**2)
    total = 0.0
    for m in range(1, n_segments):
        shift = m * hop
        if shift >= nperseg:
            break
        rho = np.sum(win[: nperseg - shift] * win[shift:]) / energy
        total += (1.0 - m / n_segments) * rho**2
    return 2.0 * n_segments / (1.0 + 2.0 * total)


def peak_frequency(freqs: np.ndarray, psd: np.ndarray, fmin: float = 0.0, fmax: float = np.inf,
                   interpolate: bool = False) -> float:
    """Frequency (Hz) of the largest value of ``psd`` (F,) with ``fmin <= f <= fmax``; NaN if none.

    ``interpolate`` fits a parabola to log power at the largest bin and its two neighbours
    (uniform grid) and returns its vertex: sub-bin resolution for smooth peaks.

    Examples
    --------
    >>> peak_frequency(np.array([1.0, 2.0, 3.0]), np.array([5.0, 1.0, 2.0]), fmin=1.5)
    3.0
    >>> f = np.arange(5.0, 15.0)
    >>> round(peak_frequency(f, np.exp(-(f - 10.3) ** 2), interpolate=True), 6)
    10.3
    """
    freqs, psd = np.asarray(freqs, float), np.asarray(psd, float)
    inside = np.flatnonzero((freqs >= fmin) & (freqs <= fmax))
    if inside.size == 0:
        return float("nan")
    k = inside[np.argmax(psd[inside])]
    if not interpolate or k == 0 or k == freqs.size - 1:
        return float(freqs[k])
    left, centre, right = np.log(psd[k - 1:k + 2])
    curvature = left - 2 * centre + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float(freqs[k] + shift * (freqs[k + 1] - freqs[k]))
