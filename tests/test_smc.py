"""nffit's adaptive tempered SMC on a conjugate Gaussian model, where the posterior and the
log evidence are known in closed form, and its tempering rule against a direct ESS."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nffit.errors import NffitError
from nffit.log_density import LogDensity
from nffit.smc import next_beta, run_smc

Y, NOISE_SD = np.array([1.0, -0.5]), 0.5  # two observations of x ~ N(0, I) with N(0, 0.5^2) noise


def _gaussian_density() -> LogDensity:
    def logprior(x):
        return jnp.sum(jax.scipy.stats.norm.logpdf(x))

    def loglik(x):
        return jnp.sum(jax.scipy.stats.norm.logpdf(jnp.asarray(Y, x.dtype), x, NOISE_SD))

    return LogDensity(("a", "b"), logprior, loglik, lambda x: {"a": x[0], "b": x[1]},
                      lambda v: jnp.stack([v["a"], v["b"]]), lambda key: jax.random.normal(key, (2,)))


def test_next_beta_keeps_the_target_ess():
    loglik = np.random.default_rng(0).normal(-50.0, 20.0, 500)
    beta = next_beta(loglik, 0.1, 0.5)
    w = np.exp((beta - 0.1) * (loglik - loglik.max()))
    assert 0.1 < beta < 1.0
    np.testing.assert_allclose(w.sum() ** 2 / (w**2).sum(), 250.0, rtol=1e-6)
    assert next_beta(np.full(10, -3.0), 0.4, 0.5) == 1.0  # a flat likelihood: straight to the posterior


def test_conjugate_gaussian_posterior_and_evidence():
    posterior = run_smc(_gaussian_density(), jax.random.key(0), particles=2000, mcmc_steps=5)
    # x | y ~ N(y / (1 + s^2), s^2 / (1 + s^2)); y ~ N(0, 1 + s^2)
    mean, var = Y / (1 + NOISE_SD**2), NOISE_SD**2 / (1 + NOISE_SD**2)
    evidence = scipy.stats.norm.logpdf(Y, 0.0, np.sqrt(1 + NOISE_SD**2)).sum()
    for i, name in enumerate("ab"):
        draws = posterior.samples[name].ravel()
        assert abs(draws.mean() - mean[i]) < 0.05, (name, draws.mean(), mean[i])
        assert abs(draws.var() / var - 1.0) < 0.15, (name, draws.var(), var)
    assert abs(posterior.attrs["log_evidence"] - evidence) < 0.1, (posterior.attrs["log_evidence"], evidence)
    assert posterior.attrs["tempering"][-1] == 1.0 and np.all(np.diff(posterior.attrs["tempering"]) > 0)
    assert np.all(posterior.attrs["ess_per_step"] >= 0.5 * 2000 - 1)


def test_smc_refuses_a_density_with_a_checkpoint(tmp_path):
    with pytest.raises(NffitError, match="need a FitProblem"):
        run_smc(_gaussian_density(), jax.random.key(0), particles=8, checkpoint=tmp_path / "x.npz")
