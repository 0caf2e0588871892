"""arviz InferenceData from nffit fits. Every arviz call of nffit lives in this module, so
moving to arviz 1.x (DataTree) later is one file.

Groups: posterior (free parameters and the model spectrum ``model_psd``), prior (draws of the
free parameters), sample_stats (whatever the method records: diverging, energy, step size,
acceptance, tree depth, invalid), log_likelihood (pointwise, per channel and frequency),
posterior_predictive (Welch-like draws around the model spectrum) and observed_data.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nffit.inference import FitProblem
from nffit.log_density import batched_problem_psd, make_log_density, pointwise_loglik
from nffit.posterior import Posterior

__all__ = ["to_inference_data", "save_inference_data", "posterior_model_psd"]


def posterior_model_psd(problem: FitProblem, samples: dict[str, np.ndarray], chunk: int = 256) -> np.ndarray:
    """Model spectrum (chain, draw, C, F) at every draw of ``samples`` (name -> (chain, draw)
    array), evaluated in batches of ``chunk`` draws. For a
    :class:`~nffit.hierarchical.GroupProblem` (per-recording samples (chain, draw, R)) the
    recordings of a draw are one batch: (chain, draw, R, C, F)."""
    lead = np.shape(next(iter(samples.values())))[:2]
    flat = {n: np.asarray(v, np.float32).reshape((-1,) + np.shape(v)[2:]) for n, v in samples.items()}
    size = int(np.prod(lead))
    evaluate = batched_problem_psd(problem)
    parts = []
    for start in range(0, size, chunk):
        part = {n: v[start:start + chunk] for n, v in flat.items()}
        pad = chunk - next(iter(part.values())).shape[0]  # keep one compiled shape
        part = {n: jnp.asarray(np.concatenate([v, np.repeat(v[-1:], pad, axis=0)])) for n, v in part.items()}
        parts.append(np.asarray(evaluate(part))[:chunk - pad])
    psd = np.concatenate(parts)
    return psd.reshape(lead + psd.shape[1:])


def to_inference_data(posterior: Posterior, problem: FitProblem, rng_key, *, prior_draws: int = 500):
    """InferenceData of any nffit :class:`~nffit.posterior.Posterior` (NUTS, SMC, MAP).

    The posterior predictive draws each ordinate from the estimator's own distribution,
    Gamma(nu/2, nu/(2 S)) (or the log-normal of the fit), around the posterior model spectrum.
    Also accepts a numpyro ``MCMC`` object (converted with :func:`nffit.posterior.from_numpyro`).
    For a :class:`~nffit.hierarchical.GroupProblem` the spectra, likelihood and per-recording
    parameters carry a ``recording`` dimension.
    """
    import arviz as az

    if not isinstance(posterior, Posterior):
        from nffit.posterior import from_numpyro

        posterior = from_numpyro(posterior, problem)
    key_predictive, key_prior = jax.random.split(rng_key)
    site = "psd" if problem.likelihood == "whittle" else "log10_psd"
    psd = posterior_model_psd(problem, posterior.samples)  # (chain, draw, C, F)
    # float64: arviz's PSIS (its Pareto fit) returns NaN in float32 when a few ordinates dominate
    loglik = np.asarray(pointwise_loglik(problem, jnp.asarray(psd)), np.float64)
    if problem.likelihood == "whittle":
        half = 0.5 * problem.dof
        predictive = np.asarray(jax.random.gamma(key_predictive, half, psd.shape)) * psd / half
        observed = problem.observed
    else:
        predictive = np.log10(psd) + np.asarray(jax.random.normal(key_predictive, psd.shape)) * problem.lognormal_sd
        observed = np.log10(problem.observed)
    density = make_log_density(problem)
    prior = jax.vmap(density.constrain)(jax.vmap(density.sample_prior)(jax.random.split(key_prior, prior_draws)))
    coords = {"channel": list(problem.channels), "freq": problem.freqs}
    spectral = ["channel", "freq"]
    dims: dict[str, list[str]] = {}
    attrs = {"dof": float(problem.dof)} if np.ndim(problem.dof) == 0 else {}
    recordings = getattr(problem, "recordings", None)  # a GroupProblem
    if recordings is not None:
        coords["recording"] = list(recordings)
        spectral = ["recording"] + spectral
        dims = {n: ["recording"] for n, v in posterior.samples.items() if np.ndim(v) == 3}
        attrs = {"recordings": ",".join(recordings), "dof": ",".join(f"{d:g}" for d in np.ravel(problem.dof))}
    idata = az.from_dict(
        posterior={**posterior.samples, "model_psd": psd},
        sample_stats=posterior.sample_stats or None,
        log_likelihood={site: loglik},
        posterior_predictive={site: predictive},
        observed_data={site: observed},
        prior={n: np.asarray(v)[None] for n, v in prior.items()},
        coords=coords,
        dims={**dims, "model_psd": spectral, site: spectral},
        attrs={"method": posterior.method, "likelihood": problem.likelihood, "spectrum_path": problem.path,
               **attrs, **posterior.attrs, **_provenance()},
    )
    return idata


def _provenance() -> dict[str, str | int]:
    """What a run's numbers depend on besides its data, settings and seed: nffit's and JAX's
    versions, the devices (a CPU split into several rounds differently from one) and the float
    width (docs/inference.md, "Reproducibility")."""
    from nffit import __version__

    devices = jax.local_devices()
    return {"nffit_version": __version__, "jax_version": jax.__version__,
            "devices": f"{len(devices)} x {devices[0].device_kind}", "x64": int(jax.config.jax_enable_x64)}


def save_inference_data(idata, path: str | Path) -> Path:
    """Write ``idata`` as netCDF, atomically (temporary file, then rename)."""
    from nffit.netcdf import write_atomically

    return write_atomically(path, idata.to_netcdf)
