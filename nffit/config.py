"""Fit configuration from TOML: data, model, priors, likelihood, method, output, hierarchical.

Every section and key is checked: an unknown one is named together with the valid ones, a
value of the wrong type says what was expected. The complete example is
``data/fit_example.toml``; docs/configuration.md documents every key.

Priors are written as tables naming a numpyro distribution and its arguments::

    [priors]
    G = { dist = "Uniform", low = 0.0, high = 2.0 }
    mu = "default"            # free, with the default prior
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpyro.distributions as dist

from nffit.errors import NffitError
from nffit.models import get_model
from nffit.priors import parameter_names

__all__ = ["load_config", "DEFAULTS", "parse_prior"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"path": "", "picks": ["O1", "Oz", "O2"], "fmin": 2.0, "fmax": 40.0, "segment_s": 2.0, "overlap": 0.5,
             "reference": "average"},
    "model": {"name": "jansen_rit", "connectome": "tvb76", "path": "analytic", "fixed": {}, "seed": 0},
    "simulation": {"windows": 8, "window_s": 4.0, "transient_s": 1.0, "dt": 0.0},  # dt 0: the model's default
    "priors": {},
    "likelihood": {"name": "whittle", "bin_stride": 2, "lognormal_sd": 0.1},
    "method": {"name": "nuts", "chains": 4, "warmup": 1000, "draws": 1000, "seed": 0, "particles": 1024,
               "map_starts": 16, "map_steps": 300, "checkpoint_every": 100, "reflect": ["G"],
               "chain_method": "vectorized", "target_acceptance": 0.8},
    "output": {"path": "run.nc"},
    "hierarchical": {"enabled": False, "pooled": [], "centred": [], "spread_scale": 0.5},
}
"""Every section and key with its default; ``priors`` maps parameter names to prior tables."""

DISTRIBUTIONS = ("Uniform", "Normal", "LogNormal", "HalfNormal", "TruncatedNormal", "Gamma", "Beta", "Exponential")


def parse_prior(name: str, spec: Any):
    """A numpyro distribution from ``{dist = "...", **arguments}``; None for ``"default"``."""
    if spec == "default":
        return None
    if not isinstance(spec, dict) or "dist" not in spec:
        raise NffitError(f"prior of {name}: write \"default\" or a table like {{ dist = \"Uniform\", low = 0, high = 1 }}")
    kind = spec["dist"]
    if kind not in DISTRIBUTIONS:
        raise NffitError(f"prior of {name}: unknown dist {kind!r}; valid: {', '.join(DISTRIBUTIONS)}")
    arguments = {k: v for k, v in spec.items() if k != "dist"}
    for key, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NffitError(f"prior of {name}: {key} must be a number, got {value!r}")
    if kind == "Uniform" and not float(arguments.get("low", 0.0)) < float(arguments.get("high", 1.0)):
        raise NffitError(f"prior of {name}: Uniform needs low < high, got {arguments}")
    try:
        return getattr(dist, kind)(**{k: float(v) for k, v in arguments.items()}, validate_args=True)
    except (TypeError, ValueError) as err:
        raise NffitError(f"prior of {name}: {kind}({', '.join(arguments)}) is not valid: {err}") from None


def _check_types(section: str, values: dict, defaults: dict) -> None:
    for key, value in values.items():
        expected = defaults[key]
        if (section, key) == ("data", "path") and isinstance(value, list):  # several recordings (hierarchical)
            if not value or not all(isinstance(v, str) for v in value):
                raise NffitError(f"[data] path must be a file name or a list of file names, got {value!r}")
            continue
        if isinstance(expected, bool):
            ok = isinstance(value, bool)
        elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and isinstance(expected, int) and not isinstance(value, int):
                raise NffitError(f"[{section}] {key} must be a whole number, got {value!r}")
        else:
            ok = isinstance(value, type(expected))
        if not ok:
            raise NffitError(f"[{section}] {key} must be a {type(expected).__name__}, got {value!r}")


def load_config(path: str | Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Read a fit configuration (or only the defaults when ``path`` is None), apply
    ``overrides`` (section -> key -> value, e.g. from the command line), and validate.

    Returns the merged configuration; ``config["priors"]`` holds numpyro distributions (None
    for "default") keyed by the free parameters' names.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NffitError(f"{path}: config file not found")
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise NffitError(f"{path}: not valid TOML ({err})") from None
    config = {section: dict(values) for section, values in DEFAULTS.items()}
    for section, values in list(raw.items()) + list((overrides or {}).items()):
        if section not in DEFAULTS:
            raise NffitError(f"unknown config section [{section}]; valid: {', '.join(DEFAULTS)}")
        if not isinstance(values, dict):
            raise NffitError(f"[{section}] must be a table")
        if section != "priors":
            unknown = sorted(set(values) - set(DEFAULTS[section]))
            if unknown:
                raise NffitError(f"unknown key {unknown[0]!r} in [{section}]; valid: {', '.join(DEFAULTS[section])}")
            _check_types(section, values, DEFAULTS[section])
        config[section].update(values)
    if not 0.0 < config["method"]["target_acceptance"] < 1.0:
        raise NffitError(f"[method] target_acceptance must lie between 0 and 1, got {config['method']['target_acceptance']!r}")
    model = get_model(config["model"]["name"])
    names = parameter_names(model)
    for where, given in (("[priors]", config["priors"]), ("[model] fixed", config["model"]["fixed"])):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise NffitError(f"unknown parameter {unknown[0]!r} in {where} of {model.name}; valid: {', '.join(names)}")
    for key in ("pooled", "centred"):
        unknown = sorted(set(config["hierarchical"][key]) - set(names))
        if unknown:
            raise NffitError(f"unknown parameter {unknown[0]!r} in [hierarchical] {key} of {model.name}; "
                             f"valid: {', '.join(names)}")
    config["priors"] = {name: parse_prior(name, spec) for name, spec in config["priors"].items()}
    return config
