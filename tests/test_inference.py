"""Likelihoods against scipy, the numpyro model's handling of invalid parameters, and
parameter recovery on synthetic spectra of a small delayed network."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.stats
from numpyro.infer.util import log_density

from nffit import Connectome
from nffit.eeg import ObservedSpectrum
from nffit.gain import Gain
from nffit.inference import fit_map, make_problem, run_nuts, spectrum_model
from nffit.likelihood import log_normal_loglik, whittle_gamma_loglik
from nffit.models import JANSEN_RIT, MONTBRIO
from nffit.observation import observe_spectrum


def test_whittle_is_the_gamma_density_of_a_scaled_chi_square():
    rng = np.random.default_rng(0)
    model = rng.uniform(0.5, 3.0, 50)
    observed = rng.uniform(0.1, 6.0, 50)
    for nu in (2.0, 7.3, 58.0):
        expected = scipy.stats.gamma(a=nu / 2, scale=2 * model / nu).logpdf(observed)
        np.testing.assert_allclose(np.asarray(whittle_gamma_loglik(jnp.asarray(observed), jnp.asarray(model), nu)), expected, rtol=1e-10)
    expected = scipy.stats.norm(np.log10(model), 0.2).logpdf(np.log10(observed))
    np.testing.assert_allclose(np.asarray(log_normal_loglik(jnp.asarray(observed), jnp.asarray(model), 0.2)), expected, rtol=1e-10)


NETWORK = Connectome(np.array([[0.0, 1.0, 0.5], [0.8, 0.0, 0.3], [0.4, 0.9, 0.0]]),
                     np.array([[0.0, 40.0, 60.0], [40.0, 0.0, 30.0], [60.0, 30.0, 0.0]]), ("a", "b", "c"), None)
GAIN = Gain(np.array([[1.0, 0.3, 0.1], [0.2, 1.0, 0.4]]), ("X1", "X2"))
FREQS = np.arange(2.0, 40.0, 0.5)
TRUTH = dict(G=1.5, mu=0.7, log10_scale=2.0, aperiodic_offset=0.0, aperiodic_exponent=1.5)
DOF = 60.0


def _synthetic(key, truth=TRUTH, model=JANSEN_RIT):
    from nffit.analytic_spectrum import make_analytic_spectrum
    from nffit.priors import split_values

    model_params, obs_params = split_values(truth, model)
    spectrum = make_analytic_spectrum(NETWORK, FREQS, gain=GAIN.matrix, model=model)
    psd = np.asarray(observe_spectrum(spectrum(model_params).psd, FREQS, obs_params)[0])
    noisy = psd * np.asarray(jax.random.gamma(key, DOF / 2, psd.shape)) / (DOF / 2)
    return ObservedSpectrum(FREQS, noisy, GAIN.channels, 250.0, 30, DOF, 500, 250, "hann", {})


def _problem(observed, free=("G", "mu", "log10_scale", "aperiodic_offset", "aperiodic_exponent"), priors=None, **kwargs):
    priors = {"log10_scale": dist.Normal(2.0, 2.0), "aperiodic_offset": dist.Normal(0.0, 2.0), **(priors or {})}
    return make_problem(observed, connectome=NETWORK, gain=GAIN, free=free, priors=priors, bin_stride=1,
                        average_reference=False, **kwargs)


def test_invalid_parameters_have_log_density_minus_infinity():
    problem = _problem(_synthetic(jax.random.key(0)), priors={"mu": dist.Uniform(0.1, 1.0)})
    good, _ = log_density(spectrum_model, (problem,), {}, dict(TRUTH))
    unstable, trace = log_density(spectrum_model, (problem,), {}, {**TRUTH, "mu": 0.3})  # inside the prior, upper branch unstable
    assert np.isfinite(float(good)) and float(unstable) == -np.inf
    assert np.isfinite(float(trace["mu"]["fn"].log_prob(0.3)))  # the -inf comes from the validity factor
    assert np.all(np.isfinite(np.asarray(trace["model_psd"]["value"])))  # no NaN reaches the likelihood


def test_map_recovers_known_parameters():
    problem = _problem(_synthetic(jax.random.key(1)))
    result = fit_map(problem, jax.random.key(2), starts=8, steps=400)
    assert np.isfinite(result.neg_log_density).sum() >= 4
    for name in ("mu", "log10_scale", "aperiodic_exponent"):
        draws = result.laplace[name]
        lo, hi = np.quantile(draws, [0.001, 0.999])
        assert lo <= TRUTH[name] <= hi, (name, result.best[name], lo, hi)
    assert abs(result.best["mu"] - TRUTH["mu"]) < 0.05


def test_map_recovers_a_montbrio_pazo_roxin_spectrum():
    # the second model through the same problem, priors and optimiser: tau sets the resonance
    # (about 530 / tau Hz: 13 Hz here), eta the operating point
    truth = dict(tau=40.0, eta=-5.0, G=0.5, log10_scale=2.0, aperiodic_offset=0.0, aperiodic_exponent=1.5)
    problem = _problem(_synthetic(jax.random.key(5), truth, MONTBRIO), free=("tau", "eta", "log10_scale"),
                       fixed={"G": 0.5, "aperiodic_offset": 0.0, "aperiodic_exponent": 1.5}, model="mpr")
    assert problem.model is MONTBRIO and set(problem.priors) == {"tau", "eta", "log10_scale"}
    result = fit_map(problem, jax.random.key(6), starts=4, steps=300)
    assert abs(result.best["tau"] - 40.0) < 2.0, result.best
    assert abs(result.best["eta"] + 5.0) < 0.5, result.best


@pytest.fixture(scope="module")
def nuts_run():
    problem = _problem(_synthetic(jax.random.key(3)), free=("G", "mu", "log10_scale"),
                       fixed={"aperiodic_offset": 0.0, "aperiodic_exponent": 1.5})
    mcmc = run_nuts(problem, jax.random.key(4), chains=2, warmup=300, draws=300,
                    init_values={"G": 1.0, "mu": 0.75, "log10_scale": 2.0})
    return problem, mcmc


@pytest.mark.slow
def test_nuts_posterior_covers_the_truth_with_good_rhat(nuts_run):
    from numpyro.diagnostics import summary

    _, mcmc = nuts_run
    stats = summary(mcmc.get_samples(group_by_chain=True))
    for name in ("G", "mu", "log10_scale"):
        assert stats[name]["r_hat"] < 1.05, name
        samples = np.asarray(mcmc.get_samples()[name])
        lo, hi = np.quantile(samples, [0.005, 0.995])
        assert lo <= TRUTH[name] <= hi, (name, lo, hi)


@pytest.mark.slow
def test_inference_data_supports_summary_loo_and_netcdf(nuts_run, tmp_path):
    import arviz as az

    from nffit.inference_data import save_inference_data, to_inference_data

    problem, mcmc = nuts_run
    idata = to_inference_data(mcmc, problem, jax.random.key(5))
    n_channels, n_freqs = problem.observed.shape
    assert idata.log_likelihood["psd"].shape == (2, 300, n_channels, n_freqs)
    assert list(idata.observed_data["psd"].coords["channel"].values) == list(problem.channels)
    # pointwise log-likelihood equals the Gamma density of the observed ordinates at the posterior spectrum
    model_psd = idata.posterior["model_psd"].values[0, 0]
    expected = scipy.stats.gamma(a=DOF / 2, scale=2 * model_psd / DOF).logpdf(problem.observed)
    np.testing.assert_allclose(idata.log_likelihood["psd"].values[0, 0], expected, rtol=1e-4, atol=1e-4)
    # the predictive draws scatter around the model spectrum with the estimator's spread (2/nu)
    ratio = idata.posterior_predictive["psd"].values / idata.posterior["model_psd"].values
    np.testing.assert_allclose(ratio.mean(), 1.0, atol=0.01)
    np.testing.assert_allclose(ratio.var(), 2.0 / DOF, rtol=0.1)
    summary = az.summary(idata, var_names=["G", "mu", "log10_scale"])
    assert (summary["r_hat"] < 1.05).all()
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    path = save_inference_data(idata, tmp_path / "run.nc")
    back = az.from_netcdf(path)
    np.testing.assert_array_equal(back.posterior["mu"].values, idata.posterior["mu"].values)
