"""Sensor spectra of the nonlinear delayed network, estimated by simulation.

The analytic spectrum holds at a stable fixed point; on a limit cycle (e.g. Jansen-Rit with
``mu`` of 0.12-0.32 /ms) only simulation gives the spectrum. Every parameter set is simulated
as ``windows`` windows, each with its own transient, as entries of one batch (parallel in
time), and their Welch estimates are combined (and divided by the response of the
simulator's block-average decimation, so that they estimate the spectrum the analytic path
computes).

The windows replay consecutive stretches of one long run's noise: window ``w`` starts from
rest ``transient_s`` before its stretch, driven by the noise the long run had there. Where
the dynamics contract (a stable fixed point driven by noise) the transient ends on the long
run's own trajectory (on tvb76 at its stable focus to 1e-4 of the signal's standard
deviation after 1 s), so the windows join into the long run: their Welch estimate then
includes the segments that straddle the joins and *is* the long run's (same expectation, same variance per simulated second) at the wall time of
one window. Each join is checked (the window's last transient sample against the previous
window's sample of the same time); where it has not converged (a limit cycle, whose phase
does not forget its start) the windows count as independent and their straddling segments
are left out (:func:`joined_welch`). Near a bifurcation the number of joins that hold can
change between neighbouring parameter sets: a step in the estimate of the size of its
sampling noise (docs/benchmarks.md, "Time windows").

The noise comes from one fixed key shared by every parameter set (common random numbers), so
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
from nffit.simulator import Simulator, as_params, batch_size_of_params, make_simulator
from nffit.welch import welch, welch_segments

__all__ = ["SimulatedSpectrum", "boxcar_response", "joined_welch", "make_window_simulator", "make_simulated_spectrum",
           "JOIN_TOLERANCE"]

JOIN_TOLERANCE = 1e-2
"""Largest gap at a join, as a fraction of the LFP's standard deviation, for two windows to
count as one run. A gap ``d`` adds about ``d**2`` of the signal's power to the segment across
the join (1e-4 at the tolerance); tvb76 at its stable focus reaches 1e-4 to 1e-5 after a 1 s transient,
a limit cycle stays at order 1."""


class SimulatedSpectrum(NamedTuple):
    """Result of the simulated spectrum.

    Attributes
    ----------
    psd : Array, shape (B, C, F), one-sided PSD (gain units times mV, squared, per Hz)
    valid : bool Array, shape (B,): every window stayed finite and the PSD is finite and > 0
    joins : int Array, shape (B,): joins (0 to ``windows - 1``) where a window ran into the
        previous one's trajectory, so that the segments across them count
    """

    psd: Array
    valid: Array
    joins: Array


def boxcar_response(freqs: np.ndarray, decimation: int, dt: float) -> np.ndarray:
    """Power response (F,) at ``freqs`` (Hz) of the simulator's output samples, each the mean
    of ``decimation`` steps of ``dt`` ms: divide a simulated PSD by it to undo that boxcar."""
    step_s = dt / 1000.0
    return (np.sinc(freqs * decimation * step_s) / np.sinc(freqs * step_s)) ** 2


def make_window_simulator(connectome: Connectome, window_s: float, transient_s: float, *, fs: float = 250.0,
                          **options: Any) -> Simulator:
    """The simulator of one window: ``transient_s`` from rest, then ``window_s`` of output, with
    the transient's last sample in front (sample 0, which checks the join in :func:`joined_welch`).

    Window ``w`` of a run replays that run's noise with ``first_sample = w * (n_samples - 1)``
    (``n_samples - 1`` is the window's length in output samples). ``options`` go to
    :func:`~nffit.simulator.make_simulator` (model, dt, method, min_speed, dtype, ...).

    Examples
    --------
    >>> from nffit import load_connectome
    >>> make_window_simulator(load_connectome("tvb76"), 4.0, 1.0).n_samples  # 4 s at 250 Hz, plus one
    1001
    """
    if not transient_s * fs >= 1:
        raise NffitError(f"transient_s = {transient_s:g} s is shorter than one output sample at {fs:g} Hz; "
                         "windows need a transient (about 1 s: they start from rest)")
    return make_simulator(connectome, fs=fs, duration_ms=1000.0 * window_s + 1000.0 / fs,
                          transient_ms=1000.0 * transient_s - 1000.0 / fs, **options)


def joined_welch(lfp: Array, readout: Array, fs: float, nperseg: int,
                 tolerance: float = JOIN_TOLERANCE) -> tuple[np.ndarray, Array, Array]:
    """Welch PSD of consecutive windows, with the segments across every join that holds.

    Parameters
    ----------
    lfp : Array, shape (B, W, 1 + T, N), mV
        Region LFP of W windows per entry. Sample 0 of window ``w`` is the last sample of its
        transient and covers the same time as the last sample of window ``w - 1``; samples
        ``1..T`` are the window's stretch of the run.
    readout : Array, shape (C, N); sensor signal = ``readout @ lfp``
    fs : float, Hz
    nperseg : int, samples per Hann segment (50 % overlap, as :func:`~nffit.welch.welch`)
    tolerance : float
        A join holds where every region's gap is at most ``tolerance`` times that region's
        LFP standard deviation (over the entry's windows).

    Returns
    -------
    freqs : ndarray (nperseg // 2 + 1,), Hz
    psd : Array, shape (B, C, F): mean periodogram over the windows' own segments and, for
        every join that holds, the segment centred on it (for ``T`` a multiple of the hop
        ``nperseg - nperseg // 2``: the segments of Welch's method on the concatenated run)
    joins : int Array, shape (B,)

    Examples
    --------
    >>> import numpy as np, scipy.signal
    >>> run = np.random.default_rng(0).standard_normal(1 + 3 * 100)  # one run, one region
    >>> lfp = np.stack([run[w * 100:w * 100 + 101] for w in range(3)])[None, :, :, None]
    >>> f, psd, joins = joined_welch(jnp.asarray(lfp), jnp.ones((1, 1)), 100.0, 50)
    >>> int(joins[0]), bool(np.allclose(psd[0, 0], scipy.signal.welch(run[1:], 100.0, nperseg=50)[1], rtol=1e-5))
    (2, True)
    """
    windows, length = lfp.shape[1:3]
    hop = nperseg - nperseg // 2
    sensors = jnp.einsum("bwtn,cn->bwct", lfp[:, :, 1:], readout)  # (B, W, C, T)
    freqs, inside = welch(sensors, fs, nperseg=nperseg, axis=-1)  # (B, W, C, F), mean of each window's segments
    per_window = welch_segments(length - 1, nperseg, nperseg // 2)
    total = per_window * inside.sum(axis=1)
    scale = jnp.std(lfp[:, :, 1:], axis=(1, 2))  # (B, N)
    gap = jnp.abs(lfp[:, 1:, 0] - lfp[:, :-1, -1])  # (B, W - 1, N)
    holds = jnp.all(gap <= tolerance * scale[:, None], axis=-1)
    across = jnp.concatenate([sensors[:, :-1, :, -hop:], sensors[:, 1:, :, :nperseg - hop]], axis=-1)  # (B, W-1, C, nperseg)
    _, straddle = welch(across, fs, nperseg=nperseg, axis=-1)
    total = total + jnp.where(holds[:, :, None, None], straddle, 0.0).sum(axis=1)
    joins = holds.sum(axis=1)
    return freqs, total / (windows * per_window + joins)[:, None, None].astype(total.dtype), joins


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
    rng_key : PRNG key of the noise (one run's, common to every parameter set)
    model : Model (Jansen-Rit by default)
    gain : ndarray (C, N), optional; None returns region spectra (C = N)
    windows : int, windows per parameter set, simulated in parallel
    window_s, segment_s, transient_s : float, s
        Length of each window (after its transient), of the Welch segments (Hann, 50 %
        overlap) and of the discarded transient. With ``window_s`` a multiple of half a
        segment, windows that join give exactly the segments of one run of
        ``windows * window_s``.
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
    >>> out.psd.shape, out.valid.tolist(), out.joins.tolist()  # a limit cycle does not join
    ((2, 76, 39), [True, True], [0, 0])
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
    sim = make_window_simulator(connectome, window_s, transient_s, fs=fs, model=model, dt=dt, method=method,
                                min_speed=min_speed, dtype=dtype)
    n_window = sim.n_samples - 1
    stream = jax.random.split(rng_key, 1)  # one key (leading axis 1), repeated for every window
    starts = np.arange(windows) * n_window  # window w replays the run's noise from sample w * n_window
    index = jnp.asarray(np.rint(bins).astype(int))
    boxcar = jnp.asarray(boxcar_response(freqs, sim.decimation, sim.dt), dtype)

    def batched(params: Any) -> SimulatedSpectrum:  # every field (B,)
        batch = params[0].shape[0]
        repeated = jax.tree.map(lambda x: jnp.repeat(x, windows), params)  # entry b * W + w
        out = sim.run(jnp.repeat(stream, batch * windows, axis=0), repeated, first_sample=np.tile(starts, batch))
        lfp = out.lfp.reshape(batch, windows, n_window + 1, n)
        _, psd, joins = joined_welch(lfp, readout, fs, nperseg)
        psd = psd[..., index] / boxcar
        finite = out.finite.reshape(batch, windows).all(axis=1)
        valid = finite & jnp.all(jnp.isfinite(psd) & (psd > 0), axis=(1, 2))
        return SimulatedSpectrum(jnp.where(valid[:, None, None], psd, 1.0), valid, joins)

    run_batched = jax.jit(native_batch(batched, axis=0))

    def spectrum(params: Any) -> SimulatedSpectrum:
        params = as_params(params, model, dtype)
        batch = batch_size_of_params(params, n) or 1
        if any(jnp.ndim(x) > 1 for x in params):
            raise NffitError("the simulated spectrum takes parameter fields of shape () or (B,)")
        return run_batched(jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,)), params))

    return spectrum
