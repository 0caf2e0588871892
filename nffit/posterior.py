"""Draws from any of nffit's methods in one shape: ``(chain, draw)`` per parameter.

NUTS gives chains; SMC gives one "chain" of particles; MAP gives one chain of Laplace draws
around the best optimum. :func:`nffit.inference_data.to_inference_data` turns any of them
into arviz InferenceData.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Posterior", "from_numpyro", "from_map"]


class Posterior(NamedTuple):
    """Posterior draws of a fit.

    Attributes
    ----------
    method : str, "nuts", "numpyro-nuts", "smc" or "map"
    samples : dict name -> ndarray (chain, draw), constrained values of the free parameters
    sample_stats : dict name -> ndarray (chain, draw), e.g. diverging, energy, step_size,
        acceptance_rate, tree_depth, n_steps, lp, invalid (trajectories or particles that met
        an invalid parameter set)
    attrs : dict of scalars kept with the run (wall time, log evidence, settings)
    """

    method: str
    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    attrs: dict[str, Any]


def from_numpyro(mcmc, problem) -> Posterior:
    """A :class:`Posterior` of a numpyro ``MCMC`` run of :func:`nffit.inference.spectrum_model`
    (extra fields: diverging, energy, num_steps, accept_prob, adapt_state.step_size)."""
    samples = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    rename = {"diverging": "diverging", "energy": "energy", "num_steps": "n_steps", "accept_prob": "acceptance_rate",
              "adapt_state.step_size": "step_size"}
    stats = {new: np.asarray(extra[old]) for old, new in rename.items() if old in extra}
    if "n_steps" in stats:
        stats["tree_depth"] = np.floor(np.log2(np.maximum(stats["n_steps"], 1))).astype(int) + 1
    return Posterior("numpyro-nuts", {n: np.asarray(samples[n]) for n in problem.priors}, stats, {})


def from_map(result) -> Posterior:
    """The Laplace draws of a :class:`~nffit.inference.MapResult` as one chain; the optimum
    and the starts' results go to ``attrs``."""
    if not result.laplace:
        draws = {n: np.asarray([[v]]) for n, v in result.best.items()}  # Hessian not finite
    else:
        draws = {n: np.asarray(v)[None] for n, v in result.laplace.items()}
    attrs = {f"map_{n}": float(v) for n, v in result.best.items()}
    attrs["map_starts"] = int(result.neg_log_density.size)
    attrs["map_invalid_starts"] = int(np.sum(~np.isfinite(result.neg_log_density)))
    attrs["map_hessian_clipped"] = int(result.hessian_clipped)
    return Posterior("map", draws, {}, attrs)
