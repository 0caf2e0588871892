"""Default priors of the spectrum fits, and how a flat set of named values maps to the
model's and the observation's parameter tuples.

Defaults (documented in docs/inference.md) keep the analytic spectrum in its valid regime:
the upper fixed-point branch of Jansen-Rit is stable with a damped alpha resonance for
inputs of about 0.55-1.0 /ms (docs/spectra.md). Montbrio-Pazo-Roxin has its own node priors. ``sigma`` is fixed by default: the
linearised PSD is proportional to ``sigma^2``, which the gain scale already absorbs.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import numpyro.distributions as dist

from nffit.errors import NffitError
from nffit.models import JANSEN_RIT, PeakParams, Model, SpectrumModel
from nffit.observation import ObservationParams

__all__ = ["default_priors", "split_values", "parameter_names", "default_free", "reference_values", "PARAMETER_NAMES",
           "DEFAULT_FREE"]

OBSERVATION_FREE = ("log10_scale", "aperiodic_offset", "aperiodic_exponent")
_DEFAULT_FREE = {"jansen_rit": ("G", "mu", "speed") + OBSERVATION_FREE,
                 "montbrio": ("G", "tau", "eta", "speed") + OBSERVATION_FREE,
                 "peaks": PeakParams._fields}  # the baseline's own aperiodic term replaces the observation's


def parameter_names(model: Model | SpectrumModel = JANSEN_RIT) -> tuple[str, ...]:
    """Every parameter a fit of ``model`` knows: the model's, then the observation's."""
    return tuple(model.params_type._fields) + tuple(ObservationParams._fields)


def default_free(model: Model | SpectrumModel = JANSEN_RIT) -> tuple[str, ...]:
    """The parameters fitted when none are named (``G``, the model's drive, speed, observation)."""
    if model.name not in _DEFAULT_FREE:
        raise NffitError(f"model {model.name!r} has no default free parameters; name them (free=...) and their priors")
    return _DEFAULT_FREE[model.name]


PARAMETER_NAMES = parameter_names(JANSEN_RIT)
"""Jansen-Rit's; :func:`parameter_names` gives any model's."""
DEFAULT_FREE = default_free(JANSEN_RIT)
"""Jansen-Rit's; :func:`default_free` gives any model's."""


def reference_values(model: Model | SpectrumModel = JANSEN_RIT, path: str = "analytic") -> dict[str, float]:
    """Parameter values at which the spectrum sets the data-centred priors (a valid, typical spectrum).

    Jansen-Rit: ``mu = 0.65`` on the analytic path (the stable upper branch), TVB's 0.22 on the
    simulated one (the limit cycle). Other network models: uncoupled nodes (``G = 0``). A
    spectrum model: its defaults.
    """
    if model.name == "jansen_rit":
        return {"mu": 0.65 if path == "analytic" else 0.22}
    return {"G": 0.0} if "G" in model.params_type._fields else {}


def default_priors(observed_psd: np.ndarray, model_psd_at_defaults: np.ndarray, freqs: np.ndarray,
                   path: str = "analytic", model: Model | SpectrumModel = JANSEN_RIT) -> dict[str, Any]:
    """Priors for every parameter nffit knows how to fit.

    The gain scale and the aperiodic offset depend on the data's units, so their priors are
    centred on the data: ``log10_scale`` on the ratio of the median observed power to the
    median model power at :func:`reference_values`, ``aperiodic_offset`` on the log10 of the
    observed power at the top of the band times ``f``; both with sd 2 decades. Jansen-Rit's
    ``mu`` keeps to the stable upper branch on the analytic path (0.5-1.0 /ms) and spans the
    limit-cycle range on the simulated path (0.1-0.35 /ms). Montbrio-Pazo-Roxin's ``tau``
    spans 5-60 ms (its focus resonates near 530 / tau Hz: gamma at the paper's 10 ms, alpha
    near 50 ms), ``eta`` -10-0, ``J`` 5-25, ``Delta`` 0.3-3 (around the paper's -5, 15, 1).
    The ``peaks`` baseline: ``offset`` centred like ``aperiodic_offset``, ``exponent`` 0-4, an
    alpha peak at 7-14 Hz and a beta peak at 14-30 Hz, each 0-3 (alpha) / 0-2 (beta) decades
    high and 0.5-4 / 1-8 Hz wide (sd).

    Parameters
    ----------
    observed_psd : (C, F), model_psd_at_defaults : (C, F), freqs : (F,) Hz
    path : "analytic" or "simulated"; model : Model
    """
    scale_centre = float(np.log10(np.median(observed_psd)) - np.log10(np.median(model_psd_at_defaults)))
    offset_centre = float(np.log10(np.median(observed_psd[:, -1]) * freqs[-1]))
    network = {
        "G": dist.Uniform(0.0, 4.0),
        "speed": dist.Uniform(1.0, 20.0),  # mm/ms = m/s
        "sigma": dist.LogNormal(np.log(0.01), 1.0),
    }
    nodes = {
        "jansen_rit": {
            "mu": dist.Uniform(0.5, 1.0) if path == "analytic" else dist.Uniform(0.1, 0.35),  # 1/ms
            "A": dist.Uniform(2.5, 4.5),  # mV
            "B": dist.Uniform(15.0, 30.0),  # mV
            "a": dist.Uniform(0.07, 0.13),  # 1/ms
            "b": dist.Uniform(0.035, 0.065),  # 1/ms
        },
        "montbrio": {
            "tau": dist.Uniform(5.0, 60.0),  # ms
            "eta": dist.Uniform(-10.0, 0.0),
            "J": dist.Uniform(5.0, 25.0),
            "Delta": dist.Uniform(0.3, 3.0),
        },
        "peaks": {
            "offset": dist.Normal(offset_centre, 2.0),  # log10 power at 1 Hz
            "exponent": dist.Uniform(0.0, 4.0),
            "alpha_freq": dist.Uniform(7.0, 14.0),  # Hz
            "alpha_power": dist.Uniform(0.0, 3.0),  # decades
            "alpha_width": dist.Uniform(0.5, 4.0),  # Hz
            "beta_freq": dist.Uniform(14.0, 30.0),
            "beta_power": dist.Uniform(0.0, 2.0),
            "beta_width": dist.Uniform(1.0, 8.0),
        },
    }.get(model.name, {})  # another model: its priors are given by the caller
    observation = {
        "log10_scale": dist.Normal(scale_centre, 2.0),
        "aperiodic_offset": dist.Normal(offset_centre, 2.0),
        "aperiodic_exponent": dist.Uniform(0.0, 4.0),
        "knee": dist.Uniform(0.0, 100.0),
        "log10_floor": dist.Normal(offset_centre - 3.0, 2.0),
    }
    return {**network, **nodes, **observation}


def split_values(values: Mapping[str, Any], model: Model | SpectrumModel = JANSEN_RIT) -> tuple[Any, ObservationParams]:
    """Named values (free and fixed) -> (the model's parameters, ObservationParams); defaults fill the rest."""
    names = parameter_names(model)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise NffitError(f"unknown parameter(s) {', '.join(unknown)} of {model.name}; valid: {', '.join(names)}")
    fields = model.params_type._fields
    params = model.params_type(**{k: v for k, v in values.items() if k in fields})
    obs = ObservationParams(**{k: v for k, v in values.items() if k in ObservationParams._fields})
    return params, obs
