"""Sensor spectra of the nonlinear delayed network, estimated by simulation.

The analytic spectrum holds at a stable fixed point; on a limit cycle (e.g. Jansen-Rit with
``mu`` of 0.12-0.32 /ms) only simulation gives the spectrum. Every parameter set is simulated
in ``windows`` independent windows, each with its own transient, as entries of one batch
(parallel in time), and the Welch estimates of the windows are averaged (and divided by the
response of the simulator's block-average decimation, so that they estimate the spectrum the
analytic path computes). The windows' noise
comes from ``windows`` fixed keys shared by every parameter set (common random numbers), so
the estimate is a deterministic function of the parameters: samplers see a fixed, not a
noisy, likelihood surface.

Under ``jax.vmap`` (SMC particles, chains) the mapped axis joins the simulator's own batch:
one simulation of ``particles x windows`` entries per call (:mod:`nffit.batching`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from nffit.batching import native_batch
from nffit.connectome import Connectome
from nffit.errors import NffitError
from nffit.models import JANSEN_RIT, Model
from nffit.simulator import as_params, batch_size_of_params, make_simulator
from nffit.welch import welch

__all__ = ["SimulatedSpectrum", "boxcar_response", "make_simulated_spectrum"]


class SimulatedSpectrum(NamedTuple):
    """Result of the simulated spectrum.

    Attributes
    ----------
    psd : Array, shape (B, C, F), one-sided PSD (gain units times mV, squared, per Hz)
    valid : bool Array, shape (B,): every window stayed finite and the PSD is finite and > 0
    """

    psd: Array
    valid: Array


def boxcar_response(freqs: np.ndarray, decimation: int, dt: float) -> np.ndarray:
    """Power response (F,) at ``freqs`` (Hz) of the simulator's output samples, each the mean
    of ``decimation`` steps of ``dt`` ms: divide a simulated PSD by it to undo that boxcar."""
    step_s = dt / 1000.0
    return (np.sinc(freqs * decimation * step_s) / np.sinc(freqs * step_s)) ** 2


def make_simulated_spectrum(
    connectome: Connectome,
    freqs: np.ndarray,
    rng_key: Array,
    *,
    model: Model = JANSEN_RIT,
    gain: np.ndarray | None = None,
    windows: int = 8,
    window_s: float = 4.0,
    segment_s: float = 2.0,
    transient_s: float = 1.0,
    fs: float = 250.0,
    dt: float | None = None,
    method: str = "heun",
    min_speed: float = 1.0,
    dtype: Any = jnp.float32,
) -> Callable[..., SimulatedSpectrum]:
    """Build ``spectrum(params) -> SimulatedSpectrum`` for a batch of parameter sets.

    Parameters
    ----------
    connectome : Connectome
    freqs : ndarray (F,), Hz; each must be a Welch bin ``k / segment_s``
    rng_key : PRNG key of the ``windows`` noise realisations (common to every parameter set)
    model : Model (Jansen-Rit by default)
    gain : ndarray (C, N), optional; None returns region spectra (C = N)
    windows : int, independent windows per parameter set
    window_s, segment_s, transient_s : float, s
        Length of each window (after its transient), of the Welch segments (Hann, 50 %
        overlap) and of the discarded transient.
    fs : float, Hz, output rate; method : "heun", "euler" or "rk4"
    dt : float, ms, optional; default :func:`~nffit.integrators.default_dt` ``(fs, method)``
    min_speed : float, mm/ms, slowest conduction speed served (sets the ring buffer)

    Returns
    -------
    callable ``spectrum(params) -> SimulatedSpectrum``, jitted; parameter fields () or (B,).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from nffit import load_connectome, JansenRitParams
    >>> spectrum = make_simulated_spectrum(load_connectome("tvb76"), np.arange(2.0, 41.0), jax.random.key(0),
    ...                                    windows=2, window_s=2.0, transient_s=0.5)
    >>> out = spectrum(JansenRitParams(mu=jnp.array([0.22, 0.3])))  # limit-cycle regime
    >>> out.psd.shape, out.valid.tolist()
    ((2, 76, 39), [True, True])
    """
    freqs = np.asarray(freqs, dtype=float)
    nperseg = int(round(segment_s * fs))
    bins = freqs * segment_s
    if freqs.ndim != 1 or freqs.size == 0 or np.any(np.abs(bins - np.rint(bins)) > 1e-6) or np.any(freqs >= fs / 2):
        raise NffitError(f"freqs must lie on the Welch grid of {segment_s:g} s segments (multiples of "
                         f"{1 / segment_s:g} Hz) below the Nyquist frequency {fs / 2:g} Hz")
    if windows < 1 or window_s < segment_s:
        raise NffitError(f"need windows >= 1 and window_s >= segment_s ({segment_s:g} s), got {windows} and {window_s:g}")
    n = connectome.n_regions
    readout = jnp.asarray(np.eye(n) if gain is None else np.asarray(gain, float), dtype)  # (C, N)
    if readout.shape[1] != n:
        raise NffitError(f"gain must be a (channels, {n}) matrix, got shape {readout.shape}")
    sim = make_simulator(connectome, model=model, dt=dt, duration_ms=1000.0 * window_s,
                         transient_ms=1000.0 * transient_s, fs=fs, method=method, min_speed=min_speed, dtype=dtype)
    window_keys = jax.random.split(rng_key, windows)
    index = jnp.asarray(np.rint(bins).astype(int))
    boxcar = jnp.asarray(boxcar_response(freqs, sim.decimation, sim.dt), dtype)

    def batched(params: Any) -> SimulatedSpectrum:  # every field (B,)
        batch = params[0].shape[0]
        repeated = jax.tree.map(lambda x: jnp.repeat(x, windows), params)  # entry b * W + w
        out = sim.run(jnp.tile(window_keys, batch), repeated)
        sensors = jnp.einsum("btn,cn->bct", out.lfp, readout)
        _, psd = welch(sensors, fs, nperseg=nperseg, axis=-1)  # (B W, C, F_all)
        psd = psd[..., index].reshape((batch, windows) + psd.shape[1:-1] + (index.size,)).mean(axis=1) / boxcar
        finite = out.finite.reshape(batch, windows).all(axis=1)
        valid = finite & jnp.all(jnp.isfinite(psd) & (psd > 0), axis=(1, 2))
        return SimulatedSpectrum(jnp.where(valid[:, None, None], psd, 1.0), valid)

    run_batched = jax.jit(native_batch(batched, axis=0))

    def spectrum(params: Any) -> SimulatedSpectrum:
        params = as_params(params, model, dtype)
        batch = batch_size_of_params(params, n) or 1
        if any(jnp.ndim(x) > 1 for x in params):
            raise NffitError("the simulated spectrum takes parameter fields of shape () or (B,)")
        return run_batched(jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,)), params))

    return spectrum
