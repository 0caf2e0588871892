"""Neural-mass models as pure functions over state ``NamedTuple``s of (N, B) arrays.

A :class:`Model` bundles what the simulator needs from a node model; adding a model means
writing these functions and a parameter ``NamedTuple`` (with the network fields ``G``,
``speed`` and ``sigma``), never touching the integrator.
"""

from __future__ import annotations

from nffit.errors import NffitError
from nffit.models.base import Model
from nffit.models.jansen_rit import JANSEN_RIT, JansenRitParams, JansenRitState
from nffit.models.montbrio import MONTBRIO, MontbrioParams, MontbrioState

__all__ = ["Model", "JANSEN_RIT", "JansenRitParams", "JansenRitState", "MONTBRIO", "MontbrioParams", "MontbrioState",
           "get_model"]


def get_model(name: str) -> Model:
    """The model registered under ``name`` (``"jansen_rit"``/``"jr"``, ``"montbrio"``/``"mpr"``)."""
    models = {"jansen_rit": JANSEN_RIT, "jr": JANSEN_RIT, "montbrio": MONTBRIO, "mpr": MONTBRIO}
    if name not in models:
        raise NffitError(f"unknown model {name!r}; choose one of {', '.join(models)}")
    return models[name]
