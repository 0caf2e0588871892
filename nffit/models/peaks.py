r"""A phenomenological baseline: an aperiodic power law plus Gaussian peaks in log power.

specparam's (FOOOF's) "fixed" model of a spectrum, for the same channels, frequencies and
likelihood as the network models, so that their LOO numbers compare (``nffit compare``):

.. math::
    \log_{10} P(f) = o - \chi \log_{10} f
        + \sum_{k \in \{\alpha, \beta\}} h_k \exp\!\left(-\frac{(f - c_k)^2}{2 w_k^2}\right)

with ``o = offset`` (log10 power at 1 Hz, in the data's units), ``chi = exponent``, and per
peak its centre ``c`` (Hz), height ``h`` (decades above the aperiodic line; specparam's
"PW") and width ``w`` (Gaussian sd in Hz; specparam's bandwidth is ``2 w``). Every channel
gets the same spectrum: the network models may differ between channels only through the
fixed gain matrix, so the baseline is given no per-channel freedom either.

It has no dynamics: it cannot be simulated, and fits use it on the analytic path only. The
observation model still applies on top (its defaults leave the spectrum unchanged: scale 1,
no second aperiodic term, no floor).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["PeakParams", "PeakSpectrum", "SpectrumModel", "PEAKS", "make_peak_spectrum"]


class PeakParams(NamedTuple):
    """Parameters of the baseline (see the module docstring); defaults: a typical resting
    occipital spectrum in units of 1 at 1 Hz."""

    offset: float | Array = 0.0  # log10 power at 1 Hz
    exponent: float | Array = 1.0
    alpha_freq: float | Array = 10.0  # Hz
    alpha_power: float | Array = 1.0  # decades
    alpha_width: float | Array = 1.5  # Hz (sd)
    beta_freq: float | Array = 20.0  # Hz
    beta_power: float | Array = 0.3  # decades
    beta_width: float | Array = 3.0  # Hz (sd)


class PeakSpectrum(NamedTuple):
    """psd : Array (B, C, F); valid : bool Array (B,), every ordinate finite and > 0."""

    psd: Array
    valid: Array


class SpectrumModel(NamedTuple):
    """A model that is a spectrum and nothing else (no states, no simulator).

    Attributes
    ----------
    name : str
    params_type : type, the parameter ``NamedTuple`` (its defaults are typical values)
    make_spectrum : callable ``(freqs (F,) Hz, n_channels) -> spectrum``, where
        ``spectrum(params) -> PeakSpectrum`` with psd (B, C, F) for parameters that are
        scalars or (B,) arrays
    """

    name: str
    params_type: type
    make_spectrum: Callable[[np.ndarray, int], Callable[[Any], PeakSpectrum]]


def make_peak_spectrum(freqs: np.ndarray, n_channels: int) -> Callable[[PeakParams], PeakSpectrum]:
    """Build ``spectrum(PeakParams) -> PeakSpectrum`` at ``freqs`` (F,) Hz (> 0) for ``n_channels``.

    Examples
    --------
    >>> spectrum = make_peak_spectrum(np.array([1.0, 10.0, 30.0]), 2)
    >>> out = spectrum(PeakParams(offset=2.0, exponent=1.0, alpha_power=0.0, beta_power=0.0))
    >>> out.psd.shape, np.round(np.asarray(out.psd[0, 0], float), 3).tolist()
    ((1, 2, 3), [100.0, 10.0, 3.333])
    """
    log_f = jnp.asarray(np.log10(freqs), jnp.float32)
    f = jnp.asarray(freqs, jnp.float32)

    def spectrum(params: PeakParams) -> PeakSpectrum:
        p = PeakParams(*jnp.broadcast_arrays(*(jnp.atleast_1d(jnp.asarray(v, jnp.float32)) for v in params)))
        col = [x[:, None] for x in p]  # (B, 1)
        offset, exponent, af, ah, aw, bf, bh, bw = col
        log_psd = (offset - exponent * log_f + ah * jnp.exp(-0.5 * ((f - af) / aw) ** 2)
                   + bh * jnp.exp(-0.5 * ((f - bf) / bw) ** 2))  # (B, F)
        psd = jnp.broadcast_to((10.0**log_psd)[:, None, :], (log_psd.shape[0], n_channels, f.size))
        return PeakSpectrum(psd, jnp.all(jnp.isfinite(psd) & (psd > 0), axis=(1, 2)))

    return jax.jit(spectrum)


PEAKS = SpectrumModel("peaks", PeakParams, make_peak_spectrum)
"""The baseline; ``get_model("peaks")`` (or ``"baseline"``)."""
