"""The shipped eyes-closed EEG (slow): MAP, then NUTS with 4 chains on the 76-region analytic
spectrum. The posterior-predictive spectrum's alpha peak must sit within 0.5 Hz of the
data's, and every free parameter must have R-hat <= 1.01."""

import jax
import pytest

from nffit.eeg import ALPHA_BAND, read_eeg_spectrum, sample_eeg_path
from nffit.inference import fit_map, make_problem
from nffit.inference_data import to_inference_data
from nffit.nuts import run_nuts_blackjax
from nffit.welch import peak_frequency


@pytest.mark.slow
def test_posterior_predictive_alpha_and_rhat_on_the_shipped_eeg():
    import arviz as az

    observed = read_eeg_spectrum(sample_eeg_path(), picks=["O1", "Oz", "O2"], fmin=2.0, fmax=40.0, segment_s=2.0)
    # every 4th bin (2 Hz apart) and conduction speed fixed keep this CI test to a few minutes
    problem = make_problem(observed, bin_stride=4, free=("G", "mu", "log10_scale", "aperiodic_offset",
                                                          "aperiodic_exponent"))
    start = fit_map(problem, jax.random.key(0), starts=4, steps=200)
    posterior = run_nuts_blackjax(problem, jax.random.key(1), chains=4, warmup=WARMUP, draws=DRAWS, start=start)
    idata = to_inference_data(posterior, problem, jax.random.key(2), prior_draws=10)
    rhat = az.rhat(idata, var_names=list(problem.priors))
    assert max(float(rhat[n]) for n in problem.priors) <= 1.01, rhat
    assert posterior.sample_stats["diverging"].mean() < 0.01
    predictive = idata.posterior_predictive["psd"].values.mean(axis=(0, 1, 2))
    data_peak = peak_frequency(observed.freqs, observed.psd.mean(axis=0), *ALPHA_BAND, interpolate=True)
    model_peak = peak_frequency(problem.freqs, predictive, *ALPHA_BAND, interpolate=True)
    assert abs(model_peak - data_peak) <= 0.5, (model_peak, data_peak)


# Sampled in nffit.sampling_coordinates's coordinates (G reflected at 0, the rest sheared along it), 150 +
# 300 draws gave max R-hat 1.0037 (172 s) with these keys and 1.0083 with others (G and the
# aperiodic exponent); 350 draws for margin. In the unconstrained space 200 + 400 gave 1.0067,
# and 1.017 when the Laplace start came out of other (equivalent) rounding: G and mu on a banana.
WARMUP, DRAWS = 150, 350
