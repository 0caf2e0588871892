"""arviz InferenceData from nffit fits. Every arviz call of nffit lives in this module, so
moving to arviz 1.x (DataTree) later is one file.

Groups: posterior (free parameters and the model spectrum), sample_stats (diverging, energy,
step size, acceptance, tree depth), log_likelihood (pointwise, per channel and frequency),
posterior_predictive (Welch-like draws around the model spectrum) and observed_data.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from nffit.inference import FitProblem

__all__ = ["to_inference_data", "save_inference_data"]


def to_inference_data(mcmc, problem: FitProblem, rng_key) -> "arviz.InferenceData":  # noqa: F821
    """InferenceData of a numpyro NUTS run of :func:`nffit.inference.spectrum_model`.

    The posterior predictive draws each ordinate from the estimator's own distribution,
    Gamma(nu/2, nu/(2 S)) (or the log-normal of the fit), around the posterior model spectrum.
    """
    import arviz as az

    observed_site = "psd" if problem.likelihood == "whittle" else "log10_psd"
    model_psd = np.asarray(mcmc.get_samples(group_by_chain=True)["model_psd"])  # (chain, draw, C, F)
    if problem.likelihood == "whittle":
        half = 0.5 * problem.dof
        predictive = np.asarray(jax.random.gamma(rng_key, half, model_psd.shape)) * model_psd / half
    else:
        noise = np.asarray(jax.random.normal(rng_key, model_psd.shape)) * problem.lognormal_sd
        predictive = np.log10(model_psd) + noise
    coords = {"channel": list(problem.channels), "freq": problem.freqs}
    dims = {observed_site: ["channel", "freq"], "model_psd": ["channel", "freq"]}
    idata = az.from_numpyro(mcmc, posterior_predictive={observed_site: predictive}, coords=coords, dims=dims,
                            log_likelihood=True)
    # the validity factor is 0 at every accepted draw; only the data's pointwise terms belong here
    idata.log_likelihood = idata.log_likelihood[[observed_site]]
    return idata


def save_inference_data(idata, path: str | Path) -> Path:
    """Write ``idata`` as netCDF, atomically (temporary file, then rename)."""
    from nffit.netcdf import write_atomically

    return write_atomically(path, idata.to_netcdf)
