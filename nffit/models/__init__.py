"""Neural-mass models as pure functions over state ``NamedTuple``s of (N, B) arrays.

A :class:`Model` bundles what the simulator needs from a node model; adding a model means
writing these functions and a parameter ``NamedTuple`` (with the network fields ``G``,
``speed`` and ``sigma``), never touching the integrator. A :class:`SpectrumModel` (the
``peaks`` baseline) is a spectrum without dynamics, for model comparison.
"""

from __future__ import annotations

from nffit.errors import NffitError
from nffit.models.base import Model
from nffit.models.jansen_rit import JANSEN_RIT, JansenRitParams, JansenRitState
from nffit.models.montbrio import MONTBRIO, MontbrioParams, MontbrioState
from nffit.models.peaks import PEAKS, PeakParams, SpectrumModel

__all__ = ["Model", "JANSEN_RIT", "JansenRitParams", "JansenRitState", "MONTBRIO", "MontbrioParams", "MontbrioState",
           "PEAKS", "PeakParams", "SpectrumModel", "get_model"]


def get_model(name: str) -> Model | SpectrumModel:
    """The model registered under ``name``: ``"jansen_rit"``/``"jr"``, ``"montbrio"``/``"mpr"``, or
    the spectrum-only baseline ``"peaks"``/``"baseline"`` (aperiodic + Gaussian peaks; no dynamics)."""
    models = {"jansen_rit": JANSEN_RIT, "jr": JANSEN_RIT, "montbrio": MONTBRIO, "mpr": MONTBRIO, "peaks": PEAKS,
              "baseline": PEAKS}
    if name not in models:
        raise NffitError(f"unknown model {name!r}; choose one of {', '.join(models)}")
    return models[name]
