"""The phenomenological baseline (aperiodic + Gaussian peaks in log power): its spectrum
against a NumPy transcription of specparam's "fixed" model, recovery of known peaks by MAP,
and the places where a model without dynamics must say so."""

import jax
import numpy as np
import pytest

from nffit import load_connectome
from nffit.config import load_config
from nffit.eeg import ObservedSpectrum
from nffit.errors import NffitError
from nffit.inference import fit_map, make_problem
from nffit.models import PEAKS, PeakParams, get_model
from nffit.priors import default_free
from nffit.simulator import make_simulator

FREQS = np.arange(2.0, 40.5, 0.5)
TRUTH = dict(offset=1.0, exponent=1.2, alpha_freq=10.3, alpha_power=1.1, alpha_width=1.2, beta_freq=21.0,
             beta_power=0.4, beta_width=3.5)
DOF = 60.0


def specparam_fixed(f, offset, exponent, alpha_freq, alpha_power, alpha_width, beta_freq, beta_power, beta_width):
    """specparam's fixed-mode model (offset - log10(f^chi) + Gaussians in log10 power), written out."""
    log_power = offset - np.log10(f**exponent)
    for centre, height, sd in ((alpha_freq, alpha_power, alpha_width), (beta_freq, beta_power, beta_width)):
        log_power = log_power + height * np.exp(-((f - centre) ** 2) / (2.0 * sd**2))
    return 10.0**log_power


def test_spectrum_is_specparams_fixed_model_for_a_batch():
    spectrum = PEAKS.make_spectrum(FREQS, 3)
    params = PeakParams(**{**TRUTH, "alpha_freq": np.array([9.0, 10.3]), "beta_power": np.array([0.0, 0.4])})
    out = spectrum(params)
    assert out.psd.shape == (2, 3, FREQS.size) and out.valid.tolist() == [True, True]
    for b in range(2):
        values = {k: np.ravel(v)[b] if np.ndim(v) else v for k, v in params._asdict().items()}
        expected = specparam_fixed(FREQS, **values)
        for c in range(3):
            np.testing.assert_allclose(np.asarray(out.psd[b, c]), expected, rtol=2e-5)
    assert get_model("baseline") is PEAKS and default_free(PEAKS) == PeakParams._fields


def test_map_recovers_known_peaks_from_a_noisy_spectrum():
    clean = specparam_fixed(FREQS, **TRUTH)
    noisy = np.stack([clean * np.asarray(jax.random.gamma(k, DOF / 2, clean.shape)) / (DOF / 2)
                      for k in jax.random.split(jax.random.key(0), 2)])
    observed = ObservedSpectrum(FREQS, noisy, ("O1", "O2"), 160.0, 30, DOF, 320, 160, "hann", {})
    problem = make_problem(observed, model="peaks", bin_stride=1)
    best = fit_map(problem, jax.random.key(1), starts=8, steps=400).best
    tolerance = dict(offset=0.1, exponent=0.08, alpha_freq=0.15, alpha_power=0.1, alpha_width=0.2, beta_freq=1.0,
                     beta_power=0.1, beta_width=1.2)
    for name, tol in tolerance.items():
        assert abs(best[name] - TRUTH[name]) < tol, (name, best[name], TRUTH[name])


def test_a_model_without_dynamics_says_so():
    observed = ObservedSpectrum(FREQS, np.ones((1, FREQS.size)), ("Oz",), 160.0, 30, DOF, 320, 160, "hann", {})
    with pytest.raises(NffitError, match="spectrum without dynamics; it cannot be simulated"):
        make_simulator(load_connectome("tvb76"), model=PEAKS)
    with pytest.raises(NffitError, match="fit it with path 'analytic'"):
        make_problem(observed, model="peaks", path="simulated")
    with pytest.raises(NffitError, match="unknown free parameter.*G of peaks"):
        make_problem(observed, model="peaks", free=["G", "offset"])


def test_peaks_config_parses_and_rejects_network_parameters(tmp_path):
    assert load_config(None, {"model": {"name": "peaks"}})["model"]["name"] == "peaks"
    path = tmp_path / "fit.toml"
    path.write_text("[model]\nname = 'peaks'\n[priors]\nalpha_freq = { dist = 'Uniform', low = 8.0, high = 12.0 }\n")
    assert float(load_config(path)["priors"]["alpha_freq"].high) == 12.0
    path.write_text("[model]\nname = 'peaks'\n[priors]\nG = 'default'\n")
    with pytest.raises(NffitError, match="unknown parameter 'G' in \\[priors\\] of peaks; valid: offset, exponent"):
        load_config(path)


def test_loo_of_a_laplace_fit_with_influential_ordinates_is_finite():
    """Few ordinates (every 8th bin) and a sharp alpha peak make a few observations dominate
    the importance weights; arviz's PSIS then needs the log-likelihood in float64 (NaN in
    float32)."""
    import arviz as az

    from nffit.eeg import read_eeg_spectrum, sample_eeg_path
    from nffit.inference_data import to_inference_data
    from nffit.posterior import from_map

    observed = read_eeg_spectrum(sample_eeg_path(), picks=["O1", "Oz", "O2"], fmin=2.0, fmax=40.0, segment_s=2.0)
    problem = make_problem(observed, model="peaks", bin_stride=8)
    idata = to_inference_data(from_map(fit_map(problem, jax.random.key(11), starts=4, steps=150)), problem,
                              jax.random.key(12), prior_draws=10)
    assert np.isfinite(az.loo(idata).elpd_loo)
