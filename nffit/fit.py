"""One fit from a configuration: data -> problem -> method -> InferenceData -> netCDF.

``run_fit`` is what ``nffit fit`` runs; it takes the dictionary of
:func:`nffit.config.load_config`. With ``[hierarchical] enabled`` the ``[data] path`` list is
fitted jointly (:mod:`nffit.hierarchical`). NUTS starts from a short multi-start MAP (its Laplace
covariance seeds the mass matrix); NUTS and SMC checkpoint next to the output
(``RUN.nc`` -> ``RUN.ckpt.npz``) and continue from there with ``resume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from nffit.config import DEFAULTS
from nffit.errors import NffitError
from nffit.netcdf import check_output_path

__all__ = ["run_fit", "load_observed", "summary_table", "METHODS"]

METHODS = ("nuts", "smc", "map")


def load_observed(data: dict[str, Any]):
    """The observed spectrum named by a ``[data]`` section: a saved spectrum (.nc) or a recording."""
    from nffit.eeg import load_spectrum, read_eeg_spectrum

    if isinstance(data["path"], list):
        raise NffitError("several inputs: fit them jointly with --hierarchical ([hierarchical] enabled = true)")
    path = Path(data["path"])
    if not data["path"]:
        raise NffitError("no data: give an EEG file or a spectrum .nc (argument or [data] path)")
    if path.suffix == ".nc":
        return load_spectrum(path)
    return read_eeg_spectrum(path, picks=data["picks"], fmin=data["fmin"], fmax=data["fmax"],
                             segment_s=data["segment_s"], overlap=data["overlap"],
                             reference=None if data["reference"] == "none" else data["reference"])


def summary_table(idata, names: list[str]):
    """Mean, sd, 90 % interval, R-hat, bulk ESS per parameter (a pandas DataFrame)."""
    import arviz as az

    table = az.summary(idata, var_names=names, hdi_prob=0.9, kind="all")
    return table[["mean", "sd", "hdi_5%", "hdi_95%", "r_hat", "ess_bulk"]]


def run_fit(config: dict[str, dict[str, Any]], *, resume: bool = False, progress: bool = True):
    """Run the fit described by ``config``; write the InferenceData to ``[output] path``.

    Returns (idata, output path).
    """
    from nffit.inference import fit_map, make_problem
    from nffit.inference_data import save_inference_data, to_inference_data
    from nffit.models import get_model
    from nffit.nuts import CHAIN_METHODS
    from nffit.posterior import from_map

    method, model = config["method"], config["model"]
    if method["name"] not in METHODS:
        raise NffitError(f"unknown method {method['name']!r}; choose one of {', '.join(METHODS)}")
    if method["chain_method"] not in CHAIN_METHODS:
        raise NffitError(f"[method] chain_method: unknown {method['chain_method']!r}; choose one of {', '.join(CHAIN_METHODS)}")
    out = check_output_path(config["output"]["path"])
    checkpoint = out.with_suffix(".ckpt.npz")
    priors = config["priors"]
    options = dict(connectome=model["connectome"], model=get_model(model["name"]), free=list(priors) or None,
                   priors={k: v for k, v in priors.items() if v is not None}, fixed=model["fixed"],
                   likelihood=config["likelihood"]["name"], lognormal_sd=config["likelihood"]["lognormal_sd"],
                   bin_stride=config["likelihood"]["bin_stride"], path=model["path"],
                   simulation=config["simulation"] if model["path"] == "simulated" else None, seed=model["seed"])
    if config["hierarchical"]["enabled"]:
        problem = _group_problem(config, options)
    else:
        problem = make_problem(load_observed(config["data"]), **options)
    key = jax.random.key(method["seed"])
    key_map, key_run, key_idata = jax.random.split(key, 3)
    if method["name"] == "map":
        posterior = from_map(fit_map(problem, key_map, starts=method["map_starts"], steps=method["map_steps"]))
    elif method["name"] == "nuts":
        from nffit.nuts import run_nuts_blackjax

        reflect = method["reflect"]
        if reflect != DEFAULTS["method"]["reflect"]:  # the default names G wherever it is free
            unknown = [n for n in reflect if not isinstance(n, str) or n not in problem.priors]
            if unknown:
                raise NffitError(f"[method] reflect: {unknown[0]!r} is not a free parameter; free: {', '.join(problem.priors)}")
        start = fit_map(problem, key_map, starts=min(4, method["map_starts"]), steps=method["map_steps"])
        posterior = run_nuts_blackjax(problem, key_run, chains=method["chains"], warmup=method["warmup"],
                                      draws=method["draws"], start=start, checkpoint=checkpoint,
                                      checkpoint_every=method["checkpoint_every"], resume=resume, progress=progress,
                                      reflect=tuple(reflect), chain_method=method["chain_method"],
                                      target_acceptance=method["target_acceptance"])
    else:
        from nffit.smc import run_smc

        posterior = run_smc(problem, key_run, particles=method["particles"], checkpoint=checkpoint, resume=resume,
                            progress=progress)
    idata = to_inference_data(posterior, problem, key_idata)
    paths = config["data"]["path"]
    idata.attrs.update({"data": ",".join(map(str, paths)) if isinstance(paths, list) else str(paths),
                        "channels": ",".join(problem.channels)})
    save_inference_data(idata, out)
    if checkpoint.exists():
        checkpoint.unlink()  # the run is complete; its result is the netCDF
    return idata, out


def _group_problem(config: dict[str, dict[str, Any]], options: dict[str, Any]):
    """The GroupProblem of a hierarchical configuration: one spectrum per ``[data] path``."""
    from nffit.hierarchical import make_group_problem

    paths = config["data"]["path"]
    paths = paths if isinstance(paths, list) else [paths]
    if config["method"]["name"] == "map":
        raise NffitError("hierarchical fits run NUTS or SMC (the spread between recordings needs the posterior, "
                         "not a mode); use --method nuts")
    observed = [load_observed({**config["data"], "path": p}) for p in paths]
    hierarchical = config["hierarchical"]
    return make_group_problem(observed, recordings=[Path(p).stem for p in paths], pooled=hierarchical["pooled"] or None,
                              centred=hierarchical["centred"], spread_scale=hierarchical["spread_scale"], **options)


def divergences(idata) -> int:
    """Number of divergent NUTS transitions (0 for methods without them)."""
    stats = getattr(idata, "sample_stats", None)
    return int(np.sum(stats["diverging"].values)) if stats is not None and "diverging" in stats else 0
