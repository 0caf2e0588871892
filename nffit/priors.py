"""Default priors of the spectrum fits, and how a flat set of named values maps to the
model's and the observation's parameter tuples.

Defaults (documented in docs/inference.md) keep the analytic spectrum in its valid regime:
the upper fixed-point branch of Jansen-Rit is stable with a damped alpha resonance for
inputs of about 0.55-1.0 /ms (docs/spectra.md). ``sigma`` is fixed by default: the
linearised PSD is proportional to ``sigma^2``, which the gain scale already absorbs.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import numpyro.distributions as dist

from nffit.errors import NffitError
from nffit.models import JansenRitParams
from nffit.observation import ObservationParams

__all__ = ["default_priors", "split_values", "PARAMETER_NAMES", "DEFAULT_FREE"]

PARAMETER_NAMES = tuple(JansenRitParams._fields) + tuple(ObservationParams._fields)
DEFAULT_FREE = ("G", "mu", "speed", "log10_scale", "aperiodic_offset", "aperiodic_exponent")


def default_priors(observed_psd: np.ndarray, model_psd_at_defaults: np.ndarray, freqs: np.ndarray,
                   path: str = "analytic") -> dict[str, Any]:
    """Priors for every parameter nffit knows how to fit.

    The gain scale and the aperiodic offset depend on the data's units, so their priors are
    centred on the data: ``log10_scale`` on the ratio of the median observed power to the
    median model power at the default parameters, ``aperiodic_offset`` on the log10 of the
    observed power at the top of the band times ``f``; both with sd 2 decades. ``mu`` keeps to
    the stable upper branch on the analytic path (0.5-1.0 /ms) and spans the limit-cycle
    range on the simulated path (0.1-0.35 /ms).

    Parameters
    ----------
    observed_psd : (C, F), model_psd_at_defaults : (C, F), freqs : (F,) Hz
    """
    scale_centre = float(np.log10(np.median(observed_psd)) - np.log10(np.median(model_psd_at_defaults)))
    offset_centre = float(np.log10(np.median(observed_psd[:, -1]) * freqs[-1]))
    return {
        "G": dist.Uniform(0.0, 4.0),
        "speed": dist.Uniform(1.0, 20.0),  # mm/ms = m/s
        "mu": dist.Uniform(0.5, 1.0) if path == "analytic" else dist.Uniform(0.1, 0.35),  # 1/ms
        "sigma": dist.LogNormal(np.log(0.01), 1.0),
        "A": dist.Uniform(2.5, 4.5),  # mV
        "B": dist.Uniform(15.0, 30.0),  # mV
        "a": dist.Uniform(0.07, 0.13),  # 1/ms
        "b": dist.Uniform(0.035, 0.065),  # 1/ms
        "log10_scale": dist.Normal(scale_centre, 2.0),
        "aperiodic_offset": dist.Normal(offset_centre, 2.0),
        "aperiodic_exponent": dist.Uniform(0.0, 4.0),
        "knee": dist.Uniform(0.0, 100.0),
        "log10_floor": dist.Normal(offset_centre - 3.0, 2.0),
    }


def split_values(values: Mapping[str, Any]) -> tuple[JansenRitParams, ObservationParams]:
    """Named values (free and fixed) -> (JansenRitParams, ObservationParams); defaults fill the rest."""
    unknown = sorted(set(values) - set(PARAMETER_NAMES))
    if unknown:
        raise NffitError(f"unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(PARAMETER_NAMES)}")
    model = JansenRitParams(**{k: v for k, v in values.items() if k in JansenRitParams._fields})
    obs = ObservationParams(**{k: v for k, v in values.items() if k in ObservationParams._fields})
    return model, obs
