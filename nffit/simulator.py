"""The batched, delayed, stochastic network simulator.

``make_simulator`` fixes everything static (connectome, step, durations, output rate,
scheme, ring-buffer length) and returns a :class:`Simulator` whose ``run`` maps a PRNG key
and a parameter pytree to decimated LFPs for a batch of ``B`` entries in one compiled call.

Layout: each state variable ``(N, B)``, ring buffer ``(L, N, B)``; the batch is the trailing,
stride-1 axis, so every delayed lookup reads ``B`` contiguous values (measured faster than
a leading axis or ``jax.vmap`` with delays: docs/benchmarks.md). Memory does not grow with
the simulated duration beyond the decimated output ``(B, T_out, N)``.

Time loop: one output sample = ``decimation`` integration steps whose LFP is averaged
(a boxcar anti-alias filter); samples are grouped in chunks under :func:`jax.checkpoint`,
so reverse-mode memory grows like ``sqrt(T)`` rather than ``T``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from nffit.connectome import Connectome
from nffit.delays import Delays, buffer_length, compute_delays, delayed_sum
from nffit.errors import NffitError
from nffit.integrators import default_dt, get_scheme
from nffit.models import JANSEN_RIT, Model
from nffit.noise import batch_size_of_keys, entry_keys, standard_normal_block

__all__ = ["NetworkState", "SimulationOutput", "Simulator", "make_simulator", "simulate", "as_params", "batch_size_of_params"]


class NetworkState(NamedTuple):
    """State of the network at step ``t``.

    Attributes
    ----------
    y : the model's state NamedTuple of (N, B) arrays
    history : Array, shape (L, N, B)
        Ring buffer of the coupling variable; step ``s`` in slot ``s % L``, filled up to
        step ``t - 1`` (``step`` writes step ``t`` first).
    coupling : Array, shape (N, B)
        Network input at step ``t``: ``G sum_j W_ij h_j(t - lag_ij)``.
    t : int32 Array, shape ()
    """

    y: Array
    history: Array
    coupling: Array
    t: Array


class SimulationOutput(NamedTuple):
    """Result of :meth:`Simulator.run`.

    Attributes
    ----------
    lfp : Array, shape (B, T_out, N)
        Region LFP in mV at ``fs`` Hz after the transient.
    finite : bool Array, shape (B,)
        False where the entry produced a non-finite value or needed a delay longer than the
        buffer (speed below ``min_speed``): reject such parameter sets.
    """

    lfp: Array
    finite: Array


class Simulator(NamedTuple):
    """A compiled-once simulator; build it with :func:`make_simulator`.

    Attributes
    ----------
    run : callable ``(rng_key, params, *, batch_size=None, initial_state=None, first_sample=0) -> SimulationOutput``
    init : callable ``(params, lags, y0) -> NetworkState`` with ``lags`` a :class:`~nffit.delays.Delays`
    step : callable ``(state, z, params, lags) -> NetworkState``, one integration step with
        standard normals ``z`` of shape (noise_dims, N, B).
    model, connectome, method, dt (ms), fs (Hz), decimation, n_samples, n_transient,
    buffer_length, interpolate_delays, dtype.
    """

    run: Callable[..., SimulationOutput]
    init: Callable[..., NetworkState]
    step: Callable[..., NetworkState]
    model: Model
    connectome: Connectome
    method: str
    dt: float
    fs: float
    decimation: int
    n_samples: int
    n_transient: int
    buffer_length: int
    interpolate_delays: bool
    dtype: Any


def as_params(params: Any, model: Model, dtype: Any = jnp.float32) -> Any:
    """Turn ``None``, a mapping or a model parameter tuple into the tuple with array fields.

    Unknown names raise :class:`NffitError` listing the valid ones.
    """
    cls = model.params_type
    if params is None:
        params = cls()
    elif isinstance(params, Mapping):
        unknown = sorted(set(params) - set(cls._fields))
        if unknown:
            raise NffitError(f"unknown parameter(s) {', '.join(unknown)} for {model.name}; valid: {', '.join(cls._fields)}")
        params = cls(**params)
    elif not isinstance(params, cls):
        raise NffitError(f"params must be a {cls.__name__}, a dict or None, got {type(params).__name__}")
    return cls(*(jnp.asarray(v, dtype) for v in params))


def batch_size_of_params(params: Any, n_regions: int) -> int | None:
    """The batch size implied by parameter shapes (scalar, (B,) or (N, B)), or None if all are scalars."""
    sizes = set()
    for name, value in zip(params._fields, params):
        shape = jnp.shape(value)
        if len(shape) > 2 or (len(shape) == 2 and shape[0] not in (1, n_regions)) or (name == "speed" and len(shape) > 1):
            allowed = "() or (B,)" if name == "speed" else f"(), (B,) or ({n_regions}, B)"
            raise NffitError(f"parameter {name} has shape {shape}; allowed shapes are {allowed}")
        if shape and shape[-1] != 1:
            sizes.add(shape[-1])
    if len(sizes) > 1:
        raise NffitError(f"parameters disagree on the batch size: {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value) and value > 0):
            raise NffitError(f"{name} must be a positive number, got {value!r}")


def make_simulator(
    connectome: Connectome,
    *,
    model: Model = JANSEN_RIT,
    dt: float | None = None,
    duration_ms: float = 10_000.0,
    transient_ms: float = 500.0,
    fs: float = 250.0,
    method: str = "heun",
    min_speed: float = 1.0,
    interpolate_delays: bool = False,
    delays: bool = True,
    coupling_layout: str = "auto",
    checkpoint_samples: int | None = None,
    dtype: Any = jnp.float32,
) -> Simulator:
    """Build a batched delayed simulator of ``model`` on ``connectome``.

    Parameters
    ----------
    connectome : Connectome
        Weights (N, N), ``W[i, j]`` from ``j`` to ``i``, and tract lengths in mm.
    model : Model
        Node model, default Jansen-Rit.
    dt : float, optional
        Integration step in ms. Default: :func:`~nffit.integrators.default_dt` ``(fs, method)``,
        the largest step within 0.02 decades of log-PSD error by the accuracy benchmark that
        divides the output period (1 ms for Heun at 250 Hz, 0.8 ms at 1250 Hz; 0.2 ms for Euler).
        The table was measured on Jansen-Rit; a model may cap it (``Model.max_dt_ms``:
        Montbrio-Pazo-Roxin 0.1 ms).
    duration_ms : float
        Length of the returned output in ms.
    transient_ms : float
        Simulated time discarded before the output, in ms.
    fs : float
        Output sampling rate in Hz; ``1000 / (fs * dt)`` must be an integer, the number of
        steps averaged into one output sample.
    method : {"heun", "euler", "rk4"}
        Stochastic Heun (default), Euler-Maruyama or Runge-Kutta 4 (:mod:`nffit.integrators`).
    min_speed : float
        Slowest conduction speed (mm/ms) the ring buffer must serve; it sets the buffer
        length ``L``. Entries with a slower ``speed`` are flagged not finite.
    interpolate_delays : bool
        Linear interpolation between neighbouring lags (differentiable in ``speed``).
    delays : bool
        False ignores tract lengths: every connection acts after one step (``speed`` is
        unused and the ring buffer has two slots).
    coupling_layout : {"auto", "gather", "dense"}
        Storage of the connections (:mod:`nffit.delays`): a gather list of the non-zero
        weights or every pair; "auto" picks by the weights' density (thresholds measured by
        ``benchmarks/sparse.py``).
    checkpoint_samples : int, optional
        Output samples per :func:`jax.checkpoint` chunk (default ``ceil(sqrt(T_total))``).
    dtype : float32 (default) or float64.

    Returns
    -------
    Simulator

    Examples
    --------
    >>> import jax
    >>> from nffit import load_connectome, make_simulator, JansenRitParams
    >>> sim = make_simulator(load_connectome("tvb76"), duration_ms=200.0, transient_ms=0.0)
    >>> out = sim.run(jax.random.key(0), JansenRitParams(), batch_size=2)
    >>> out.lfp.shape, out.finite.tolist()
    ((2, 50, 76), [True, True])
    """
    if not isinstance(model, Model):
        raise NffitError(f"model {model.name!r} is a spectrum without dynamics; it cannot be simulated (choose jansen_rit or mpr)")
    _check_positive(duration_ms=duration_ms, fs=fs, min_speed=min_speed)
    scheme = get_scheme(method)
    if coupling_layout not in ("auto", "gather", "dense"):
        raise NffitError(f"coupling_layout must be 'auto', 'gather' or 'dense', got {coupling_layout!r}")
    dt = default_dt(fs, method, model.max_dt_ms) if dt is None else dt
    _check_positive(dt=dt)
    if not (isinstance(transient_ms, (int, float)) and math.isfinite(transient_ms) and transient_ms >= 0):
        raise NffitError(f"transient_ms must be a number >= 0, got {transient_ms!r}")
    ratio = 1000.0 / (fs * dt)
    decimation = int(round(ratio))
    if decimation < 1 or abs(ratio - decimation) > 1e-6 * ratio:
        raise NffitError(f"fs = {fs} Hz and dt = {dt} ms give {ratio:.4g} steps per output sample; choose fs so that 1000 / (fs * dt) is a whole number")
    n_samples = int(round(duration_ms * fs / 1000.0))
    n_transient = int(round(transient_ms * fs / 1000.0))
    if n_samples < 1:
        raise NffitError(f"duration_ms = {duration_ms} is shorter than one output sample at fs = {fs} Hz")
    n_total = n_samples + n_transient
    chunk = checkpoint_samples or max(1, math.ceil(math.sqrt(n_total)))
    n_chunks = math.ceil(n_total / chunk)

    n_regions = connectome.n_regions
    n_slots = buffer_length(connectome.lengths, min_speed, dt) if delays else 2
    sqrt_dt = math.sqrt(dt)

    def init(params: Any, lags: Delays, y0: Any) -> NetworkState:
        h0 = model.coupling_variable(y0, params)
        history = jnp.broadcast_to(h0, (n_slots,) + h0.shape)
        t0 = jnp.zeros((), jnp.int32)
        return NetworkState(y0, history, params.G * delayed_sum(history, t0, lags), t0)

    def step(state: NetworkState, z: Array, params: Any, lags: Delays) -> NetworkState:
        # Write h(t) first, then read: a read after the write lets XLA update the buffer in
        # place (reading before writing made it copy the whole buffer every step).
        history = lax.dynamic_update_index_in_dim(state.history, model.coupling_variable(state.y, params),
                                                  state.t % n_slots, axis=0)
        t_next = state.t + 1
        c_next = params.G * delayed_sum(history, t_next, lags)
        drift = lambda y, c: model.dfun(y, c, params)  # noqa: E731
        dw = model.diffusion(z * sqrt_dt, params)
        y = scheme(drift, state.y, state.coupling, c_next, dw, dt)
        return NetworkState(y, history, c_next, t_next)

    def _run(keys: Array, params: Any, y0: Any, first_sample: Array) -> SimulationOutput:
        batch = y0[0].shape[-1]
        lags = compute_delays(connectome.weights, connectome.lengths, params.speed if delays else None, dt, n_slots - 1,
                              interpolate=interpolate_delays, layout=coupling_layout, dtype=dtype)
        state = init(params, lags, y0)

        def one_sample(carry, index):
            state, ok = carry
            z = standard_normal_block(keys, first_sample + index, (decimation, model.noise_dims, n_regions), dtype)

            def one_step(inner, z_t):
                st, acc = inner
                st = step(st, z_t, params, lags)
                return (st, acc + model.observe(st.y, params)), None

            (state, acc), _ = lax.scan(one_step, (state, jnp.zeros((n_regions, batch), dtype)), z)
            mean = acc / decimation
            return (state, ok & jnp.all(jnp.isfinite(mean), axis=0)), mean

        @jax.checkpoint
        def one_chunk(carry, indices):
            return lax.scan(one_sample, carry, indices)

        ok0 = jnp.broadcast_to(lags.valid, (batch,))
        indices = jnp.arange(n_chunks * chunk, dtype=jnp.int32).reshape(n_chunks, chunk)
        (_, ok), samples = lax.scan(one_chunk, (state, ok0), indices)
        lfp = samples.reshape(n_chunks * chunk, n_regions, batch)[n_transient:n_total]
        return SimulationOutput(jnp.transpose(lfp, (2, 0, 1)), ok)

    run_compiled = jax.jit(_run)

    def run(rng_key: Array, params: Any = None, *, batch_size: int | None = None, initial_state: Array | None = None,
            first_sample: Any = 0) -> SimulationOutput:
        """Simulate a batch.

        Parameters
        ----------
        rng_key : a single PRNG key (split into one per entry) or one key per entry.
        params : model parameter tuple or dict; each field (), (B,) or (N, B). None: defaults.
        batch_size : int, optional
            B when neither the keys nor the parameters imply it (default 1).
        initial_state : Array, shape (n_states, N) or (n_states, N, B), optional
            Default zeros; the history is filled with the initial state's coupling variable.
        first_sample : int or int Array (B,), default 0
            Where each entry starts in its key's noise stream, in output samples: sample
            ``s`` of the run (transient included) draws the noise of sample
            ``first_sample + s`` of a run started at 0. A run started at ``k`` from any
            state, once its transient has passed, follows the run started at 0 from sample
            ``k`` on wherever the dynamics contract (a stable fixed point driven by noise):
            windows that replay one long run (:func:`~nffit.simulated_spectrum.make_simulated_spectrum`).

        Returns
        -------
        SimulationOutput
        """
        params = as_params(params, model, dtype)
        implied = {b for b in (batch_size, batch_size_of_params(params, n_regions), batch_size_of_keys(rng_key)) if b is not None}
        if len(implied) > 1:
            raise NffitError(f"batch size is ambiguous: batch_size, parameters and keys imply {sorted(implied)}")
        batch = implied.pop() if implied else 1
        keys = entry_keys(rng_key, batch)
        shape = (model.n_states, n_regions, batch)
        y0 = jnp.zeros(shape, dtype) if initial_state is None else jnp.asarray(initial_state, dtype)
        if y0.ndim == 2:
            y0 = jnp.broadcast_to(y0[..., None], shape)
        if y0.shape != shape:
            raise NffitError(f"initial_state has shape {y0.shape}; expected {shape[:2]} or {shape}")
        starts = jnp.asarray(first_sample, jnp.int32)
        if starts.shape not in ((), (batch,)):
            raise NffitError(f"first_sample has shape {starts.shape}; give one start or one per batch entry ({batch})")
        starts = jnp.broadcast_to(starts, (batch,))
        return run_compiled(keys, params, model.state_type(*y0), starts)

    return Simulator(run, init, step, model, connectome, method, dt, fs, decimation, n_samples, n_transient,
                     n_slots, interpolate_delays, dtype)


def simulate(rng_key: Array, params: Any = None, *, connectome: Connectome | str = "tvb76", batch_size: int | None = None,
             initial_state: Array | None = None, **options: Any) -> SimulationOutput:
    """Build a simulator and run it once: ``make_simulator(connectome, **options).run(...)``.

    Every option of :func:`make_simulator` is keyword-only (``dt``, ``duration_ms``,
    ``transient_ms``, ``fs``, ``method``, ``min_speed``, ``interpolate_delays``, ``delays``,
    ``coupling_layout``, ``checkpoint_samples``, ``dtype``, ``model``). Each call compiles anew: for repeated runs
    build the simulator once and call its ``run``.

    Examples
    --------
    >>> import jax
    >>> out = simulate(jax.random.key(0), {"G": 2.0}, duration_ms=100.0, transient_ms=0.0, batch_size=2)
    >>> out.lfp.shape
    (2, 25, 76)
    """
    if isinstance(connectome, str):
        from nffit.connectome import load_connectome

        connectome = load_connectome(connectome)
    return make_simulator(connectome, **options).run(rng_key, params, batch_size=batch_size, initial_state=initial_state)
