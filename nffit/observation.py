r"""The EEG observation model: network spectrum -> sensor spectrum.

For sensor ``c`` at frequency ``f`` (Hz), in the units of the data (e.g. V^2/Hz):

.. math::
    P_c(f) = 10^{g}\, P^{net}_c(f) \;+\; \frac{10^{o}}{k + f^{\chi}} \;+\; 10^{w}

- ``P^net`` is the sensor spectrum of the network: ``Gamma P_LFP Gamma^T`` from the analytic
  path or ``Welch(Gamma @ LFP)`` from simulations (mV^2/Hz times the gain's units squared);
- ``g = log10_scale`` absorbs the unknown units and amplitude of the gain;
- the aperiodic term has ``o = aperiodic_offset``, exponent ``chi = aperiodic_exponent`` and
  knee ``k`` (specparam/FOOOF's "knee" mode; ``k = 0`` gives a pure power law);
- ``w = log10_floor`` is a white (sensor-noise) floor.

Every parameter is a scalar, ``(B,)`` (one per batch entry) or ``(C, B)`` (per channel and
entry). Large negative ``aperiodic_offset`` / ``log10_floor`` switch those terms off.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from nffit.errors import NffitError
from nffit.welch import welch

__all__ = ["ObservationParams", "observe_spectrum", "simulated_sensor_spectrum"]


class ObservationParams(NamedTuple):
    """Parameters of the observation model (see the module docstring)."""

    log10_scale: float | Array = 0.0
    aperiodic_offset: float | Array = -30.0
    aperiodic_exponent: float | Array = 1.0
    knee: float | Array = 0.0
    log10_floor: float | Array = -30.0


def _bcf(value: Any, batch: int) -> Array:
    """A scalar, (B,) or (C, B) parameter as an array broadcastable to (B, C, F)."""
    value = jnp.asarray(value)
    if value.ndim == 0:
        return value
    if value.ndim == 1:
        return value[:, None, None]
    if value.ndim == 2:
        return value.T[:, :, None]
    raise NffitError(f"observation parameters must be scalars, (B,) or (C, B); got shape {value.shape}")


def observe_spectrum(network_psd: Array, freqs: np.ndarray, obs: ObservationParams) -> Array:
    """Sensor spectrum from the network's sensor spectrum.

    Parameters
    ----------
    network_psd : Array, shape (B, C, F)
    freqs : ndarray, shape (F,), Hz (> 0 where an aperiodic term with exponent is used)
    obs : ObservationParams

    Returns
    -------
    Array, shape (B, C, F)

    Examples
    --------
    >>> psd = observe_spectrum(jnp.ones((1, 2, 3)), np.array([1.0, 2.0, 4.0]),
    ...                        ObservationParams(aperiodic_offset=0.0, aperiodic_exponent=1.0))
    >>> np.round(np.asarray(psd[0, 0]), 3).tolist()
    [2.0, 1.5, 1.25]
    """
    batch = network_psd.shape[0]
    f = jnp.asarray(freqs, network_psd.dtype)
    p = [_bcf(v, batch) for v in obs]
    scale, offset, exponent, knee, floor = p
    aperiodic = 10.0**offset / (knee + f**exponent)
    return 10.0**scale * network_psd + aperiodic + 10.0**floor


def simulated_sensor_spectrum(lfp: Array, fs: float, gain: np.ndarray | None = None, *, nperseg: int,
                              noverlap: int | None = None, window: str = "hann") -> tuple[np.ndarray, Array]:
    """Welch spectrum of ``gain @ LFP``: the simulated counterpart of the analytic sensor PSD.

    Parameters
    ----------
    lfp : Array, shape (B, T, N), mV
    fs : float, Hz
    gain : ndarray, shape (C, N), optional (None: the regions themselves)
    nperseg, noverlap, window : as :func:`nffit.welch.welch`

    Returns
    -------
    freqs : ndarray (F,), psd : Array (B, C, F)
    """
    signal = lfp if gain is None else jnp.einsum("btn,cn->btc", lfp, jnp.asarray(gain, lfp.dtype))
    return welch(signal, fs, nperseg=nperseg, noverlap=noverlap, window=window, axis=1)
