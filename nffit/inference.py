"""Fitting a delayed network to an observed EEG spectrum.

``make_problem`` fixes the data, the spectrum (analytic, at the observed frequencies, through
the gain rows of the observed channels), the priors and the likelihood. ``spectrum_model`` is
the numpyro model: a plain function users can read and edit. ``fit_map`` runs a batch of
optax optimisations from prior draws (one vmapped call) and a Laplace approximation at the
best optimum; ``run_nuts`` runs numpyro's NUTS with vectorised chains.

Parameter sets whose fixed point is unstable or not found have log-density -inf: samplers
reject them; the posterior never carries NaNs.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from jax import Array

from nffit.analytic_spectrum import make_analytic_spectrum
from nffit.connectome import Connectome, load_connectome
from nffit.eeg import ObservedSpectrum
from nffit.errors import NffitError
from nffit.gain import Gain, load_tvb_eeg_gain, select_channels
from nffit.likelihood import LIKELIHOODS
from nffit.log_density import make_log_density, model_psd
from nffit.models import JANSEN_RIT, Model, SpectrumModel, get_model
from nffit.priors import default_free, default_priors, parameter_names, reference_values, split_values
from nffit.sharding import split_over_devices

__all__ = ["FitProblem", "make_problem", "spectrum_model", "MapResult", "fit_map", "minimise", "run_nuts", "PATHS"]

PATHS = ("analytic", "simulated")


class FitProblem(NamedTuple):
    """Everything a fit needs besides the random key.

    Attributes
    ----------
    freqs : ndarray (F,), Hz; observed : ndarray (C, F), uV^2/Hz; dof : float
    channels : tuple of str
    spectrum : callable ``model parameters -> AnalyticSpectrum`` with psd (B, C, F)
    priors : dict name -> numpyro distribution (the free parameters)
    fixed : dict name -> value (every other parameter keeps its default unless named here)
    likelihood : "whittle" or "lognormal"; lognormal_sd : float, decades
    path : "analytic" (differentiable) or "simulated" (gradient-free samplers only)
    model : the node model (Jansen-Rit by default) or a SpectrumModel (the ``peaks`` baseline)
    """

    freqs: np.ndarray
    observed: np.ndarray
    dof: float
    channels: tuple[str, ...]
    spectrum: Callable[..., Any]
    priors: dict
    fixed: dict
    likelihood: str
    lognormal_sd: float
    path: str = "analytic"
    model: Model | SpectrumModel = JANSEN_RIT


def make_problem(
    observed: ObservedSpectrum,
    *,
    connectome: Connectome | str = "tvb76",
    model: Model | SpectrumModel | str = JANSEN_RIT,
    gain: Gain | None = None,
    free: Sequence[str] | None = None,
    priors: Mapping[str, Any] | None = None,
    fixed: Mapping[str, float] | None = None,
    likelihood: str = "whittle",
    lognormal_sd: float = 0.1,
    bin_stride: int = 2,
    average_reference: bool = True,
    path: str = "analytic",
    simulation: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> FitProblem:
    """Set up a fit of the network spectrum to ``observed``.

    Parameters
    ----------
    observed : ObservedSpectrum
    connectome : Connectome or "tvb76" (default)
    model : Model, SpectrumModel or a registered name ("jansen_rit" default, "mpr", "peaks": the
        aperiodic + Gaussian peaks baseline, which ignores the connectome and the gain)
    gain : Gain, optional
        Region-to-sensor gain with channel names; default TVB's EEG gain, rows picked by the
        observed channel names (case-insensitive).
    free : names of the fitted parameters (default :func:`nffit.priors.default_free`: Jansen-Rit's
        G, mu, speed, log10_scale, aperiodic_offset, aperiodic_exponent)
    priors : overrides of the default priors, name -> numpyro distribution
    fixed : values of parameters that are not fitted (others keep their defaults)
    likelihood : "whittle" (Gamma, default) or "lognormal"
    bin_stride : keep every ``bin_stride``-th frequency (adjacent Hann bins are correlated)
    average_reference : subtract the mean over all gain rows, as the data were
        average-referenced (default True)
    path : "analytic" (default; linearised at a stable fixed point, differentiable) or
        "simulated" (nonlinear network, any regime incl. limit cycles; SMC only)
    simulation : options of :func:`nffit.simulated_spectrum.make_simulated_spectrum`
        (windows, window_s, transient_s, dt, ...) for the simulated path
    seed : int, key of the simulated path's common random numbers
    """
    if likelihood not in LIKELIHOODS:
        raise NffitError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
    if path not in PATHS:
        raise NffitError(f"unknown spectrum path {path!r}; choose one of {', '.join(PATHS)}")
    model = get_model(model) if isinstance(model, str) else model
    free = default_free(model) if free is None else tuple(free)
    names = parameter_names(model)
    unknown = sorted(set(free) - set(names))
    if unknown:
        raise NffitError(f"unknown free parameter(s) {', '.join(unknown)} of {model.name}; valid: {', '.join(names)}")
    fixed = dict(fixed or {})
    split_values(fixed, model)  # validates names
    keep = slice(None, None, max(1, int(bin_stride)))
    freqs, psd = observed.freqs[keep], observed.psd[:, keep]
    if np.any(freqs <= 0):
        raise NffitError("the fitted band must exclude 0 Hz; raise fmin")
    if isinstance(model, SpectrumModel):  # no network, no gain
        if path != "analytic":
            raise NffitError(f"model {model.name!r} is a spectrum without dynamics; fit it with path 'analytic'")
        spectrum = model.make_spectrum(freqs, len(observed.channels))
    else:
        connectome = load_connectome(connectome) if isinstance(connectome, str) else connectome
        gain = gain or load_tvb_eeg_gain()
        matrix = gain.matrix - gain.matrix.mean(axis=0, keepdims=True) if average_reference else gain.matrix
        rows = select_channels(Gain(matrix, gain.channels), observed.channels).matrix
        if path == "analytic":
            spectrum = make_analytic_spectrum(connectome, freqs, gain=rows, model=model)
        else:
            from nffit.simulated_spectrum import make_simulated_spectrum

            options = {"segment_s": observed.nperseg / observed.sfreq, **(simulation or {})}
            options["dt"] = options.get("dt") or None  # 0 or missing: the model's default step
            spectrum = make_simulated_spectrum(connectome, freqs, jax.random.key(seed), gain=rows, model=model,
                                               **options)
    reference = split_values({**reference_values(model, path), **fixed}, model)[0]
    model_at_defaults = np.asarray(spectrum(reference).psd[0])
    all_priors = default_priors(psd, model_at_defaults, freqs, path=path, model=model)
    all_priors.update(priors or {})
    missing = [name for name in free if name not in all_priors]
    if missing:
        raise NffitError(f"no prior for {', '.join(missing)} of {model.name}; pass priors={{name: distribution}}")
    chosen = {name: all_priors[name] for name in free}
    return FitProblem(freqs, psd, float(observed.dof), tuple(observed.channels), spectrum, chosen,
                      {k: v for k, v in fixed.items() if k not in chosen}, likelihood, float(lognormal_sd), path, model)


def spectrum_model(problem: FitProblem) -> None:
    """numpyro model: priors -> network spectrum -> observation model -> likelihood.

    Sample sites: one per free parameter, and ``psd`` (Whittle/Gamma, shape (C, F)) or
    ``log10_psd`` (log-normal) observed. Invalid parameter sets add a -inf factor.
    """
    values = {name: numpyro.sample(name, prior) for name, prior in problem.priors.items()}
    psd, ok = model_psd(problem, values)
    numpyro.deterministic("model_psd", psd)
    numpyro.factor("valid", jnp.where(ok, 0.0, -jnp.inf))
    observed = jnp.asarray(problem.observed, psd.dtype)
    if problem.likelihood == "whittle":
        half = 0.5 * problem.dof
        numpyro.sample("psd", dist.Gamma(half, half / psd), obs=observed)
    else:
        numpyro.sample("log10_psd", dist.Normal(jnp.log10(psd), problem.lognormal_sd), obs=jnp.log10(observed))


def require_gradients(problem: FitProblem, method: str) -> None:
    """Gradient-based methods need the analytic path."""
    if problem.path != "analytic":
        raise NffitError(f"{method} needs gradients, which the simulated spectrum does not give; use method 'smc' "
                         "or path 'analytic'")


class MapResult(NamedTuple):
    """Multi-start MAP.

    Attributes
    ----------
    best : dict name -> value (constrained), the best optimum
    optima : dict name -> (K,) array, every start's optimum
    neg_log_density : (K,) array (inf where a start ended invalid)
    laplace : dict name -> (draws,) array from the Laplace approximation at the best optimum
        (in the unconstrained space, mapped back); empty if the Hessian is not finite
    mode : (D,) array, the best optimum in the unconstrained space (order of ``problem.priors``)
    covariance : (D, D) array, inverse Hessian there (None if not finite); NUTS starts its
        mass matrix from it
    hessian_clipped : int, eigenvalues of the Hessian that were not positive (the best start
        ended at a saddle or on a flat ridge: not converged; more steps or starts help) and
        were replaced by their absolute values, floored at 1e-6 of the largest, so that the
        Laplace draws exist; 0 for a proper mode
    """

    best: dict
    optima: dict
    neg_log_density: np.ndarray
    laplace: dict
    mode: np.ndarray | None = None
    covariance: np.ndarray | None = None
    hessian_clipped: int = 0


def minimise(potential: Callable[[Array], Array], x: Array, optimizer: optax.GradientTransformation,
             steps: int) -> tuple[Array, Array]:
    """``steps`` optimiser steps on ``potential`` from ``x`` (D,); non-finite gradient entries
    count as 0. Returns the end point and its potential. Pure; vmap it over starts."""
    def body(carry, _):
        x, state = carry
        grad = jax.grad(potential)(x)
        grad = jnp.where(jnp.isfinite(grad), grad, 0.0)
        updates, state = optimizer.update(grad, state, x)
        return (optax.apply_updates(x, updates), state), None

    (x, _), _ = jax.lax.scan(body, (x, optimizer.init(x)), None, length=steps)
    return x, potential(x)


def hessian(potential: Callable[[Array], Array], x: Array) -> Array:
    """Hessian (D, D) of the scalar ``potential`` at ``x`` (D,) by central differences of its
    gradient, symmetrised: 2D gradients in one batched call. Jittable and vmappable.

    The step along ``x_i`` is ``eps^(1/3) max(1, |x_i|)`` with ``eps`` of the potential's
    output dtype (5e-3 for a float32 spectrum, whatever the dtype of ``x``).

    Differences rather than ``jax.hessian``: forward mode over reverse mode through the
    analytic spectrum's hand-written derivative runs independent LU solves that jax 0.10's
    CPU runtime may run at once and deadlock on (``fit_map``'s Hessian did, in the real-EEG
    test and notebook 03); differences of gradients only run reverse mode.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> h = hessian(lambda x: x[0] ** 2 * x[1] + x[1] ** 3, jnp.array([1.0, 2.0]))  # [[4, 2], [2, 12]]
    >>> bool(jnp.allclose(h, jnp.array([[4.0, 2.0], [2.0, 12.0]]), rtol=1e-4))
    True
    """
    eps = jnp.finfo(jax.eval_shape(potential, x).dtype).eps
    steps = eps ** (1.0 / 3.0) * jnp.maximum(1.0, jnp.abs(x))
    shifts = jnp.diag(steps).astype(x.dtype)
    plus, minus = x + shifts, x - shifts
    grads = jax.vmap(jax.grad(potential))(jnp.concatenate([plus, minus]))
    rows = (grads[: x.size] - grads[x.size:]) / jnp.diag(plus - minus)[:, None]  # row i: d grad / d x_i (steps as rounded)
    return 0.5 * (rows + rows.T)


def fit_map(problem: FitProblem, rng_key: Array, *, starts: int = 16, steps: int = 500,
            optimizer: optax.GradientTransformation | None = None, laplace_draws: int = 1000) -> MapResult:
    """Multi-start MAP: ``starts`` prior draws optimised together (one vmapped call).

    Parameters
    ----------
    problem : FitProblem
    rng_key : PRNG key
    starts : int, number of starting points (drawn from the priors)
    steps : int, optimiser steps
    optimizer : any ``optax.GradientTransformation`` (default ``optax.adam(0.05)``)
    laplace_draws : int, draws of the Laplace approximation at the best optimum
    """
    require_gradients(problem, "MAP")
    optimizer = optimizer or optax.adam(0.05)
    key_starts, key_laplace = jax.random.split(rng_key)
    density = make_log_density(problem)
    potential = lambda x: -density.logdensity(x)  # noqa: E731
    x0 = jax.vmap(density.sample_prior)(jax.random.split(key_starts, starts))

    # the starts split over the local devices (on a CPU split into devices: every core at work)
    xs, losses = jax.jit(lambda x: split_over_devices(jax.vmap(lambda y: minimise(potential, y, optimizer, steps)), x))(x0)
    losses = np.where(np.isfinite(np.asarray(losses)), np.asarray(losses), np.inf)
    best = int(np.argmin(losses))
    if not np.isfinite(losses[best]):
        raise NffitError("every MAP start ended at an invalid (unstable) parameter set; check priors and fixed values")
    constrained = jax.vmap(density.constrain)(xs)
    optima = {n: np.asarray(constrained[n]) for n in density.names}

    precision = np.asarray(jax.jit(lambda x: hessian(potential, x))(xs[best]), float)  # of -log p, symmetric
    laplace: dict = {}
    mode, covariance, clipped = np.asarray(xs[best]), None, 0
    if np.all(np.isfinite(precision)):
        try:  # a proper mode
            covariance = np.linalg.inv(precision)
            chol = np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError:  # a saddle or a flat direction: not a converged mode
            curvature, axes = np.linalg.eigh(precision)
            floor = 1e-6 * max(float(np.max(np.abs(curvature))), 1e-12)
            clipped = int(np.sum(curvature < floor))
            covariance = (axes / np.maximum(np.abs(curvature), floor)) @ axes.T
            chol = np.linalg.cholesky(covariance)
        z = np.asarray(jax.random.normal(key_laplace, (laplace_draws, xs.shape[1])))
        draws = jnp.asarray(mode[None] + z @ chol.T, xs.dtype)
        laplace = {n: np.asarray(v) for n, v in jax.vmap(density.constrain)(draws).items()}
    best_values = {n: float(v[best]) if v.ndim == 1 else v[best] for n, v in optima.items()}  # (R,) sites of a group
    return MapResult(best_values, optima, losses, laplace, mode, covariance, clipped)


def run_nuts(problem: FitProblem, rng_key: Array, *, chains: int = 4, warmup: int = 500, draws: int = 500,
             init_values: Mapping[str, float] | None = None, progress_bar: bool = False):
    """numpyro NUTS with ``chains`` vectorised chains (all chains are one batched spectrum call).

    Returns the ``numpyro.infer.MCMC`` object (``.get_samples()``, ``.print_summary()``); turn
    it into arviz InferenceData with :func:`nffit.inference_data.to_inference_data`.
    """
    from numpyro.infer import MCMC, NUTS, init_to_value

    require_gradients(problem, "NUTS")
    kernel = NUTS(spectrum_model, init_strategy=init_to_value(values=dict(init_values)) if init_values else
                  numpyro.infer.init_to_median)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains, chain_method="vectorized",
                progress_bar=progress_bar)
    mcmc.run(rng_key, problem, extra_fields=("diverging", "energy", "num_steps", "accept_prob", "adapt_state.step_size"))
    return mcmc
