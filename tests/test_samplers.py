"""blackjax NUTS and tempered SMC on a small synthetic problem: resumed runs equal
uninterrupted ones, both samplers agree with each other and cover the truth, and every
method's output becomes arviz InferenceData."""

import copy

import jax
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.stats

from nffit.checkpoint import run_fingerprint
from nffit.errors import NffitError
from nffit.inference import fit_map
from nffit.inference_data import save_inference_data, to_inference_data
from nffit.nuts import run_nuts_blackjax
from nffit.posterior import from_map
from nffit.smc import run_smc
from test_inference import DOF, TRUTH, _problem, _synthetic

FREE = ("G", "mu", "log10_scale")


@pytest.fixture(scope="module")
def problem():
    return _problem(_synthetic(jax.random.key(3)), free=FREE, fixed={"aperiodic_offset": 0.0, "aperiodic_exponent": 1.5})


@pytest.fixture(scope="module")
def map_fit(problem):
    return fit_map(problem, jax.random.key(6), starts=4, steps=200, laplace_draws=200)


def test_nuts_resumed_from_checkpoint_equals_uninterrupted(problem, map_fit, tmp_path):
    """From a MAP, as the CLI runs it: in the sampling coordinates of nffit.sampling_coordinates
    (G reflected), which the checkpoint must carry."""
    options = dict(chains=2, warmup=30, checkpoint_every=5, start=map_fit)
    whole = run_nuts_blackjax(problem, jax.random.key(0), draws=10, **options)
    path = tmp_path / "nuts.npz"
    run_nuts_blackjax(problem, jax.random.key(0), draws=5, checkpoint=path, **options)  # "interrupted" after 5
    resumed = run_nuts_blackjax(problem, jax.random.key(0), draws=10, checkpoint=path, resume=True, **options)
    for name in FREE:
        np.testing.assert_array_equal(resumed.samples[name], whole.samples[name])
    assert resumed.samples["mu"].shape == (2, 10)
    with pytest.raises(NffitError, match="different run"):
        run_nuts_blackjax(problem, jax.random.key(1), draws=10, checkpoint=path, resume=True, **options)


def test_sequential_chains_give_the_vectorized_draws():
    """The chain methods map the same per-chain keys: warmup and draws of a correlated Gaussian
    agree to rounding (float64), and the draws have its covariance."""
    import jax.numpy as jnp

    from nffit.nuts import _draws, _warmup  # the jitted forms run_nuts_blackjax uses

    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
    precision = jnp.asarray(np.linalg.inv(cov))
    logdensity = jax.tree_util.Partial(lambda x: -0.5 * x @ precision @ x)
    x0 = jax.random.normal(jax.random.key(1), (3, 3))
    runs = {}
    for method in ("vectorized", "sequential"):
        state, step, mass = _warmup(logdensity, jax.random.key(2), x0, steps=100, chain_method=method)
        last, (positions, stats) = _draws(logdensity, jax.random.key(3), state, step, mass, 0, length=400,
                                          chain_method=method)
        runs[method] = (np.asarray(step), np.asarray(positions), np.asarray(stats[3]), np.asarray(last.position))
    for a, b in zip(runs["vectorized"], runs["sequential"]):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)  # summation order differs: rounding
    positions = runs["sequential"][1]
    assert positions.shape == (400, 3, 3)
    np.testing.assert_allclose(np.cov(positions.reshape(-1, 3).T), cov, atol=0.15)


def test_checkpoint_fingerprint_is_the_same_in_a_new_process(problem):
    """A resumed CLI run rebuilds its priors (new objects, as in a new process): same
    fingerprint; different prior arguments: a different one."""
    key = jax.random.key(0)
    rebuilt = problem._replace(priors=copy.deepcopy(problem.priors))
    assert all(rebuilt.priors[n] is not problem.priors[n] for n in FREE)
    assert run_fingerprint(rebuilt, key, {}) == run_fingerprint(problem, key, {})
    other = problem._replace(priors={**problem.priors, "G": dist.Uniform(0.0, 3.0)})
    assert run_fingerprint(other, key, {}) != run_fingerprint(problem, key, {})


def test_smc_resumed_from_checkpoint_equals_uninterrupted(problem, tmp_path):
    options = dict(particles=64, mcmc_steps=2)
    whole = run_smc(problem, jax.random.key(0), **options)
    path = tmp_path / "smc.npz"
    with pytest.raises(NffitError, match="did not reach"):
        run_smc(problem, jax.random.key(0), max_steps=3, checkpoint=path, **options)  # stops after 3 steps
    resumed = run_smc(problem, jax.random.key(0), checkpoint=path, resume=True, **options)
    assert whole.attrs["n_steps"] > 3
    for name in FREE:
        np.testing.assert_array_equal(resumed.samples[name], whole.samples[name])
    np.testing.assert_allclose(resumed.attrs["log_evidence"], whole.attrs["log_evidence"], rtol=1e-6)


@pytest.fixture(scope="module")
def nuts_and_smc(problem, map_fit):
    # from the MAP: NUTS samples in nffit.sampling_coordinates's coordinates (G reflected at 0, the rest
    # sheared along it), SMC in the unconstrained space: their agreement checks the former
    nuts = run_nuts_blackjax(problem, jax.random.key(4), chains=2, warmup=150, draws=250, start=map_fit)
    smc = run_smc(problem, jax.random.key(5), particles=512)
    return nuts, smc


@pytest.mark.slow
def test_nuts_and_smc_agree_and_cover_the_truth(nuts_and_smc):
    nuts, smc = nuts_and_smc
    assert not nuts.sample_stats["diverging"].any()
    for name in ("mu", "log10_scale"):  # G is weakly identified on this network
        a, b = nuts.samples[name].ravel(), smc.samples[name].ravel()
        sd = np.sqrt(0.5 * (a.var() + b.var()))
        assert abs(a.mean() - b.mean()) < 0.5 * sd, name
        assert abs(a.std() / b.std() - 1.0) < 0.3, name
        for draws in (a, b):
            lo, hi = np.quantile(draws, [0.005, 0.995])
            assert lo <= TRUTH[name] <= hi, (name, lo, hi)


@pytest.mark.slow
def test_every_method_gives_inference_data(problem, nuts_and_smc, map_fit, tmp_path):
    import arviz as az

    nuts, smc = nuts_and_smc
    fit = map_fit
    channels, freqs = problem.observed.shape
    for posterior, shape in ((nuts, (2, 250)), (smc, (1, 512)), (from_map(fit), (1, 200))):
        idata = to_inference_data(posterior, problem, jax.random.key(7), prior_draws=100)
        assert idata.posterior["mu"].shape == shape
        assert idata.log_likelihood["psd"].shape == shape + (channels, freqs)
        assert idata.prior["mu"].shape == (1, 100)
        model = idata.posterior["model_psd"].values[0, 0]
        expected = scipy.stats.gamma(a=DOF / 2, scale=2 * model / DOF).logpdf(problem.observed)
        np.testing.assert_allclose(idata.log_likelihood["psd"].values[0, 0], expected, rtol=1e-4, atol=1e-4)
        assert np.isfinite(az.loo(idata).elpd_loo)
        assert set(az.summary(idata, var_names=list(FREE)).index) == set(FREE)
    idata = to_inference_data(nuts, problem, jax.random.key(7), prior_draws=100)
    smc_idata = to_inference_data(smc, problem, jax.random.key(8), prior_draws=100)
    table = az.compare({"nuts": idata, "smc": smc_idata})
    assert abs(table.loc["nuts", "elpd_loo"] - table.loc["smc", "elpd_loo"]) < 2.0  # one posterior, two samplers
    for stat in ("diverging", "energy", "step_size", "acceptance_rate", "tree_depth", "invalid"):
        assert idata.sample_stats[stat].shape == (2, 250), stat
    back = az.from_netcdf(save_inference_data(idata, tmp_path / "run.nc"))
    np.testing.assert_array_equal(back.posterior["G"].values, idata.posterior["G"].values)
    assert back.attrs["method"] == "nuts"
    # provenance: what the numbers depend on besides data, settings and seed
    devices = jax.local_devices()
    assert back.attrs["jax_version"] == jax.__version__ and back.attrs["x64"] == int(jax.config.jax_enable_x64)
    assert back.attrs["devices"] == f"{len(devices)} x {devices[0].device_kind}"


@pytest.mark.slow
def test_smc_on_the_simulated_path_finds_a_limit_cycle_input(three_nodes):
    """mu = 0.22 /ms drives Jansen-Rit onto its alpha limit cycle, where the analytic spectrum
    does not exist: SMC on the simulated spectrum (CRN windows) recovers it."""
    from nffit.eeg import ObservedSpectrum
    from nffit.gain import Gain
    from nffit.inference import make_problem
    from nffit.simulated_spectrum import make_simulated_spectrum

    import numpyro.distributions as dist

    gain = Gain(np.array([[1.0, 0.3, 0.1], [0.2, 1.0, 0.4]]), ("X1", "X2"))
    freqs = np.arange(2.0, 41.0)
    options = dict(windows=4, window_s=2.0, segment_s=1.0, transient_s=0.5, fs=200.0, dt=0.2)
    truth = {"mu": 0.22, "G": 0.5}
    reference = make_simulated_spectrum(three_nodes, freqs, jax.random.key(99), gain=gain.matrix,
                                        **{**options, "windows": 16})
    psd = np.asarray(reference(truth).psd[0]) * 10.0**2.0
    observed = ObservedSpectrum(freqs, psd, gain.channels, 200.0, 48, 90.0, 200, 100, "hann", {})
    problem = make_problem(observed, connectome=three_nodes, gain=gain, free=("mu", "log10_scale"),
                           priors={"log10_scale": dist.Normal(2.0, 1.0)}, fixed={"G": 0.5}, bin_stride=1,
                           average_reference=False, path="simulated",
                           simulation={k: v for k, v in options.items() if k != "segment_s"})
    posterior = run_smc(problem, jax.random.key(0), particles=128, mcmc_steps=3)
    mu = posterior.samples["mu"].ravel()
    assert abs(np.median(mu) - truth["mu"]) < 0.03, np.quantile(mu, [0.05, 0.5, 0.95])
    assert posterior.attrs["tempering"][-1] == 1.0
