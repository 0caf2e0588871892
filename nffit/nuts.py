"""blackjax NUTS with window adaptation; the chains are one vmapped (batched) log density, or
run one after another, or split over the local devices (:data:`CHAIN_METHODS`).

Warmup (Stan-style windows: step size and dense mass matrix) runs per chain; sampling runs
in blocks of ``checkpoint_every`` draws, one jitted ``lax.scan`` per block. Draw ``i`` of every
chain uses ``fold_in(key, i)``, so the draws do not depend on the block size, and a run
resumed from its checkpoint gives the same numbers as one that was never interrupted.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Mapping, Sequence

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.tree_util import Partial

from nffit.checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from nffit.errors import NffitError
from nffit.log_density import make_log_density
from nffit.posterior import Posterior
from nffit.sampling_coordinates import Coordinates, from_sampling, laplace_coordinates, sampling_covariance, to_sampling
from nffit.sharding import split_over_devices

__all__ = ["run_nuts_blackjax", "run_nuts_replicates", "nuts_warmup", "nuts_draws", "coordinates_from_map", "CHAIN_METHODS"]

STATS = ("diverging", "energy", "acceptance_rate", "n_steps", "tree_depth", "lp", "invalid")


def run_nuts_blackjax(problem, rng_key: Array, *, chains: int = 4, warmup: int = 1000, draws: int = 1000,
                      init_values: Mapping[str, float] | None = None, start=None, checkpoint: str | Path | None = None,
                      checkpoint_every: int = 100, resume: bool = False, progress: bool = False,
                      reflect: Sequence[str] = ("G",), chain_method: str = "vectorized",
                      target_acceptance: float = 0.8) -> Posterior:
    """NUTS on the analytic spectrum's posterior, ``chains`` chains (vectorised by default).

    Parameters
    ----------
    problem : FitProblem (analytic path)
    rng_key : PRNG key
    chains, warmup, draws : int
    init_values : dict name -> value, optional start of every chain; default prior draws (a
        chain that starts at an invalid point is redrawn, up to 100 times)
    start : MapResult, optional (recommended): chains start at draws of its Laplace
        approximation and warmup starts from its covariance as the inverse mass matrix, so
        that the first adaptation window does not grow 2^10-step trees on a badly scaled
        posterior
    checkpoint : path of a ``.npz`` file written after warmup and every ``checkpoint_every``
        draws; with ``resume`` an existing file of the same run is continued
    progress : print one line per block
    reflect : parameters sampled as their constrained value reflected at their lower bound,
        the others sheared along them by their Laplace slopes
        (:mod:`nffit.sampling_coordinates`); only with ``start``, and only those free with a
        finite lower bound. Default G: its posterior often reaches its bound 0, where the
        straight G-mu ridge of the constrained space is a banana in the unconstrained one (on
        the shipped EEG this gives 4-13x the effective sample size of G and mu per draw).
        ``()``: sample the unconstrained space itself.
    chain_method : "vectorized" (default: all chains in one batched call per leapfrog step;
        with several local devices, each device's share), "sequential" (one chain after
        another; faster on a CPU with few cores, where the vectorised chains wait for the
        longest trajectory) or "parallel" (the chains split over the local devices, each
        running its share one after another: on a CPU split with
        :func:`nffit.sharding.use_cpu_cores`, the fastest there); the same keys, so the same
        draws up to rounding (:data:`CHAIN_METHODS`)
    target_acceptance : float in (0, 1)
        Mean acceptance probability the warmup's step-size adaptation aims at (Stan's
        ``adapt_delta``; default 0.8): lower gives longer steps, fewer per draw and more
        divergences, higher the reverse.

    Returns
    -------
    Posterior with sample_stats diverging, energy, acceptance_rate, n_steps, tree_depth, lp,
    step_size and ``invalid`` (the trajectory stopped at an invalid, -inf, parameter set).
    """
    from nffit.inference import require_gradients

    require_gradients(problem, "NUTS")
    if chain_method not in CHAIN_METHODS:
        raise NffitError(f"chain_method must be one of {', '.join(CHAIN_METHODS)}, got {chain_method!r}")
    if not 0.0 < target_acceptance < 1.0:
        raise NffitError(f"target_acceptance must lie between 0 and 1, got {target_acceptance!r}")
    density = make_log_density(problem)
    key_init, key_warmup, key_draws = jax.random.split(rng_key, 3)
    laplace = start is not None and start.covariance is not None
    tag = run_fingerprint(problem, rng_key, {"method": "nuts", "chains": chains, "warmup": warmup,
                                             "init": dict(init_values or {}),
                                             "start": None if start is None else np.asarray(start.mode).tolist(),
                                             "reflect": list(reflect) if laplace else [], "chain_method": chain_method,
                                             "target_acceptance": float(target_acceptance)})
    saved = load_checkpoint(checkpoint, tag) if (checkpoint and resume) else None
    started = time.perf_counter()

    if saved is None:
        coords = coordinates_from_map(problem, start, reflect)
        if laplace:
            x0 = _laplace_positions(density, key_init, chains, start)
            mass = start.covariance if coords is None else sampling_covariance(density, coords, start.mode, start.covariance)
            mass = jnp.asarray(mass, x0.dtype)
        else:
            x0, mass = _initial_positions(density, key_init, chains, init_values), None
        p0 = x0 if coords is None else jax.vmap(lambda x: to_sampling(density, coords, x))(x0)
        state, step_size, inverse_mass = _warmup(_sampling_logdensity(density, coords), key_warmup, p0, steps=warmup,
                                                 inverse_mass=mass, chain_method=chain_method,
                                                 target_acceptance=target_acceptance)
        saved = {"position": state.position, "logdensity": state.logdensity, "grad": state.logdensity_grad,
                 "step_size": step_size, "inverse_mass_matrix": inverse_mass,
                 **({} if coords is None else {f"coords_{k}": v for k, v in coords._asdict().items()}),
                 "samples": np.zeros((chains, 0, x0.shape[1]), np.float32),
                 **{s: np.zeros((chains, 0)) for s in STATS}}
        if progress:
            jax.block_until_ready(state)
            print(f"warmup: {chains} chains x {warmup} steps in {time.perf_counter() - started:.1f} s", flush=True)
        if checkpoint:
            save_checkpoint(checkpoint, tag, saved)

    state = blackjax.mcmc.hmc.HMCState(jnp.asarray(saved["position"]), jnp.asarray(saved["logdensity"]),
                                       jnp.asarray(saved["grad"]))
    step_size, inverse_mass = jnp.asarray(saved["step_size"]), jnp.asarray(saved["inverse_mass_matrix"])
    coords = Coordinates(*(jnp.asarray(saved[f"coords_{k}"]) for k in Coordinates._fields)) if "coords_shear" in saved else None
    logdensity = _sampling_logdensity(density, coords)
    run_block = functools.partial(_draws, logdensity, key_draws, step_size=step_size, inverse_mass=inverse_mass,
                                  chain_method=chain_method)
    done, block_times = saved["samples"].shape[1], []
    while done < draws:
        length = min(checkpoint_every, draws - done)
        tick = time.perf_counter()
        state, (positions, stats) = jax.block_until_ready(run_block(state=state, start=done, length=length))
        block_times.append(time.perf_counter() - tick)
        saved["samples"] = np.concatenate([saved["samples"], np.swapaxes(np.asarray(positions), 0, 1)], axis=1)
        for name, value in zip(STATS, stats):
            saved[name] = np.concatenate([saved[name], np.swapaxes(np.asarray(value), 0, 1)], axis=1)
        saved.update(position=state.position, logdensity=state.logdensity, grad=state.logdensity_grad)
        done += length
        if checkpoint:
            save_checkpoint(checkpoint, tag, saved)
        if progress:
            print(f"draws {done}/{draws} ({time.perf_counter() - started:.1f} s, "
                  f"{int(saved['diverging'].sum())} divergent)", flush=True)

    samples = np.asarray(saved["samples"])[:, :draws]
    to_x = (lambda p: p) if coords is None else (lambda p: from_sampling(density, coords, p))
    constrained = jax.vmap(jax.vmap(lambda p: density.constrain(to_x(p))))(jnp.asarray(samples))
    stats = {s: np.asarray(saved[s])[:, :draws] for s in STATS}
    stats["diverging"] = stats["diverging"].astype(bool)
    stats["invalid"] = stats["invalid"].astype(bool)
    stats["step_size"] = np.broadcast_to(np.asarray(step_size)[:, None], samples.shape[:2]).copy()
    return Posterior("nuts", {n: np.asarray(v) for n, v in constrained.items()}, stats,
                     {"wall_time_s": time.perf_counter() - started, "block_times_s": block_times})


CHAIN_METHODS = ("vectorized", "sequential", "parallel")
"""How chains share the machine: ``vectorized``, every chain in one batched log-density call
per leapfrog step (the batch axis; in lockstep, so an iteration lasts as long as the longest
trajectory of any chain: the right choice on GPUs), with several local devices split over
them, each device running its share batched; ``sequential``, one chain after another on one
device (each iteration as long as its own trajectory; on a CPU with few cores a batch of
chains costs about as much as the chains one by one, so the lockstep's idle steps are pure
loss there); or ``parallel``, the chains split over the local devices, each device running its
share one after another. One chain's log density uses about one core: on a CPU split into
one device per chain (``nffit.sharding.use_cpu_cores(chains)``, as ``nffit fit`` does; more
devices than cores are fine) every chain runs on its own thread, and "vectorized" and
"parallel" give the same draws."""


def _over_chains(fn, args, chain_method: str):
    """``fn`` of one chain over the leading (chain) axis of ``args``: vmapped (``"vectorized"``)
    or one chain after another; except with ``"sequential"``, split over the local devices
    (:func:`nffit.sharding.split_over_devices`), each taking its share."""
    run = jax.vmap(fn) if chain_method == "vectorized" else (lambda a: jax.lax.map(fn, a))
    return run(args) if chain_method == "sequential" else split_over_devices(run, args)


def nuts_warmup(logdensity, rng_key: Array, x0: Array, steps: int, inverse_mass: Array | None = None,
                chain_method: str = "vectorized", target_acceptance: float = 0.8):
    """Window adaptation of every chain with a dense mass matrix: positions ``x0``
    (chains, D) -> (HMCState, step_size (chains,), inverse_mass_matrix (chains, D, D)),
    optionally starting from ``inverse_mass`` (D, D); chains as ``chain_method`` says
    (:data:`CHAIN_METHODS`), the step size adapted to a mean acceptance of
    ``target_acceptance``. Pure; jit it.

    Dense, because the posteriors have strong linear correlations (G with mu, the aperiodic
    offset with its exponent: -0.94 and 0.94 on the shipped EEG), which a diagonal metric
    pays for with 4-8x longer trajectories."""
    adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, is_mass_matrix_diagonal=False,
                                       initial_inverse_mass_matrix=inverse_mass,
                                       target_acceptance_rate=target_acceptance,
                                       adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn())
    keys = jax.random.split(rng_key, x0.shape[0])
    state, params = _over_chains(lambda kx: adapt.run(*kx, num_steps=steps)[0], (keys, x0), chain_method)
    return state, params["step_size"], params["inverse_mass_matrix"]


def nuts_draws(logdensity, rng_key: Array, state, step_size: Array, inverse_mass: Array, start, length: int,
               chain_method: str = "vectorized"):
    """Draws ``start .. start + length - 1`` of every chain; draw ``i`` of chain ``c`` uses key
    ``c`` of ``split(fold_in(rng_key, i), chains)`` whatever the ``chain_method``.

    Returns the last state and ``(positions (length, chains, D), stats)`` with stats in the
    order of ``STATS``, each (length, chains). Pure; jit it.
    """
    chains = step_size.shape[0]
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(rng_key, i), chains))(start + jnp.arange(length))

    def one_chain(key, state, step_size, inverse_mass):
        new, info = blackjax.nuts(logdensity, step_size, inverse_mass).step(key, state)
        invalid = info.is_divergent & ~(jnp.isfinite(info.trajectory_leftmost_state.logdensity)
                                        & jnp.isfinite(info.trajectory_rightmost_state.logdensity))
        stats = (info.is_divergent, info.energy, info.acceptance_rate, info.num_integration_steps,
                 info.num_trajectory_expansions, new.logdensity, invalid)
        return new, (new.position, stats)

    def chain(args):  # all draws of one chain: (length,) keys
        keys, state, step_size, inverse_mass = args
        return jax.lax.scan(lambda state, k: one_chain(k, state, step_size, inverse_mass), state, keys)

    last, out = _over_chains(chain, (jnp.swapaxes(keys, 0, 1), state, step_size, inverse_mass), chain_method)
    return last, jax.tree.map(lambda y: jnp.swapaxes(y, 0, 1), out)  # (length, chains, ...)


# the log density is a jax.tree_util.Partial: its function static (one compilation per
# problem), the coordinates' arrays traced
_warmup = jax.jit(nuts_warmup, static_argnames=("steps", "chain_method"))
_draws = jax.jit(nuts_draws, static_argnames=("length", "chain_method"))
_batched = jax.jit(lambda f, x: jax.vmap(f)(x), static_argnums=0)


def coordinates_from_map(problem, start, reflect: Sequence[str] = ("G",)) -> Coordinates | None:
    """NUTS's sampling coordinates (:mod:`nffit.sampling_coordinates`) for ``problem`` from a
    MapResult ``start``: ``reflect`` (those free, with a finite lower bound) reflected, the others sheared
    by their Laplace slopes. None (sample the unconstrained ``x`` itself) without a start or its
    covariance, with nothing to reflect, or for a density with vector sites (hierarchical)."""
    if start is None or start.covariance is None:
        return None
    density = make_log_density(problem)
    if len(density.names) != np.size(start.mode):
        return None
    bounds = {n: (float(getattr(problem.priors[n].support, "lower_bound", -np.inf)),
                  float(getattr(problem.priors[n].support, "upper_bound", np.inf))) for n in reflect if n in density.names}
    coords = laplace_coordinates(density, start.mode, start.covariance, reflect, bounds)
    return coords if bool(np.any(coords.source)) else None


def _sampling_logdensity(density, coords: Coordinates | None) -> Partial:
    """The log density the sampler sees, as a Partial (function static, coordinates traced)."""
    return Partial(density.logdensity) if coords is None else Partial(density.sampling_logdensity, coords)


def _laplace_positions(density, key: Array, chains: int, start) -> Array:
    """(chains, D) valid draws of the Laplace approximation of a MapResult (its mode if none is valid)."""
    mode = jnp.asarray(start.mode, jnp.result_type(float))
    chol = jnp.asarray(np.linalg.cholesky(start.covariance), mode.dtype)
    x = mode + jax.random.normal(key, (8 * chains, mode.size), mode.dtype) @ chol.T
    ok = np.isfinite(np.asarray(_batched(density.logdensity, x)))
    chosen = np.asarray(x)[ok][:chains]
    return jnp.asarray(np.concatenate([chosen, np.repeat(np.asarray(mode)[None], chains - len(chosen), axis=0)]))


def _initial_positions(density, key: Array, chains: int, init_values: Mapping[str, float] | None) -> Array:
    """(chains, D) valid starting points: ``init_values`` for every chain, or prior draws."""
    if init_values:
        missing = sorted(set(density.names) - set(init_values))
        if missing:
            raise NffitError(f"init_values lacks {', '.join(missing)}")
        x = jnp.broadcast_to(density.unconstrain(init_values), (chains, len(density.names)))
        if not np.all(np.isfinite(np.asarray(jax.vmap(density.logdensity)(x)))):
            raise NffitError("init_values is an invalid (unstable) parameter set")
        return x
    for attempt in range(100):
        x = jax.vmap(density.sample_prior)(jax.random.split(jax.random.fold_in(key, attempt), chains))
        lp = _batched(density.logdensity, x)
        if attempt == 0:
            positions, ok = np.array(x), np.isfinite(np.asarray(lp))
        else:
            fill = ~ok & np.isfinite(np.asarray(lp))
            positions[fill], ok = np.asarray(x)[fill], ok | fill
        if ok.all():
            return jnp.asarray(positions)
    raise NffitError("no valid starting point in 100 prior draws; narrow the priors or give init values")


def run_nuts_replicates(problem, observed: np.ndarray, rng_key: Array, *, chains: int = 2, warmup: int = 300,
                        draws: int = 300, map_steps: int = 300) -> dict[str, np.ndarray]:
    """NUTS on many data sets of one problem at once (calibration and recovery studies).

    ``observed`` (R, C, F) replaces the problem's data per replicate; the replicates run in
    one compiled loop, each with its chains as one batch. As in a single fit, each replicate first finds its MAP (adam from a prior
    draw), and its chains start at Laplace draws with the Laplace covariance as the initial
    inverse mass matrix.

    Returns
    -------
    dict name -> ndarray (R, chains, draws), constrained draws; plus ``"diverging"``.
    """
    import optax

    from nffit.inference import hessian, minimise, require_gradients

    require_gradients(problem, "NUTS")
    observed = jnp.asarray(observed)
    replicates = observed.shape[0]
    density = make_log_density(problem)
    key_init, key_run = jax.random.split(rng_key)
    x0 = _initial_positions(density, key_init, replicates, None)

    def one(data, key, x):
        logdensity = make_log_density(problem._replace(observed=data)).logdensity
        key_start, key_warmup, key_draws = jax.random.split(key, 3)
        mode, _ = minimise(lambda y: -logdensity(y), x, optax.adam(0.05), map_steps)
        covariance = jnp.linalg.inv(hessian(lambda y: -logdensity(y), mode))
        chol = jnp.linalg.cholesky(covariance)
        usable = jnp.all(jnp.isfinite(chol))
        covariance = jnp.where(usable, covariance, jnp.eye(x.size, dtype=x.dtype))
        starts = mode + jnp.where(usable, 1.0, 0.0) * jnp.nan_to_num(
            jax.random.normal(key_start, (chains, x.size), x.dtype) @ chol.T)
        state, step_size, inverse_mass = nuts_warmup(logdensity, key_warmup, starts, warmup, covariance)
        _, (positions, stats) = nuts_draws(logdensity, key_draws, state, step_size, inverse_mass, 0, draws)
        return jnp.swapaxes(positions, 0, 1), jnp.swapaxes(stats[0], 0, 1)

    # replicates in sequence (one compiled loop): a vmapped NUTS waits for the longest tree in
    # the whole batch at every step, and one hard replicate would set the pace for all
    positions, diverging = jax.jit(lambda *a: jax.lax.map(lambda b: one(*b), a))(
        observed, jax.random.split(key_run, replicates), x0)
    constrained = jax.vmap(jax.vmap(jax.vmap(density.constrain)))(positions)
    return {**{n: np.asarray(v) for n, v in constrained.items()}, "diverging": np.asarray(diverging)}
