"""The TOML configuration: the shipped example is complete and valid, and every kind of
mistake gives one line naming the key (and the valid ones), also from the CLI."""

from pathlib import Path

import numpyro.distributions as dist
import pytest

from nffit.cli import main
from nffit.config import DEFAULTS, load_config
from nffit.errors import NffitError

EXAMPLE = Path(__file__).parents[1] / "data" / "fit_example.toml"


def test_example_config_is_complete_and_parses():
    config = load_config(EXAMPLE)
    import tomllib

    raw = tomllib.loads(EXAMPLE.read_text())
    for section, keys in DEFAULTS.items():
        if section != "priors":
            assert set(raw[section]) == set(keys), section  # the example shows every key
    assert isinstance(config["priors"]["G"], dist.Uniform) and float(config["priors"]["G"].high) == 4.0
    assert config["priors"]["speed"] is None  # "default"
    assert config["model"]["fixed"] == {"sigma": 0.05}


def test_mpr_config_parses_with_its_own_parameters():
    config = load_config(EXAMPLE.with_name("fit_mpr.toml"))
    assert config["model"]["name"] == "mpr"
    assert float(config["priors"]["tau"].low) == 20.0 and config["priors"]["eta"] is None
    assert set(config["priors"]) == {"G", "tau", "eta", "speed", "log10_scale", "aperiodic_offset", "aperiodic_exponent"}


@pytest.mark.parametrize("text, message", [
    ("[model]\nname = 'mpr'\n[priors]\nmu = 'default'\n",
     "unknown parameter 'mu' in \\[priors\\] of montbrio; valid: tau, Delta, eta, J, I, G"),
    ("[model]\nname = 'mrp'\n", "unknown model 'mrp'; choose one of jansen_rit, jr, montbrio, mpr"),
    ("[method]\nchians = 4\n", "unknown key 'chians' in \\[method\\]; valid: name, chains"),
    ("[methd]\nname = 'nuts'\n", "unknown config section \\[methd\\]"),
    ("[method]\nchains = 'four'\n", "\\[method\\] chains must be a int"),
    ("[method]\nchains = 2.5\n", "chains must be a whole number"),
    ("[method]\ntarget_acceptance = 80\n", "target_acceptance must lie between 0 and 1"),  # a percentage
    ("[priors]\nGG = 'default'\n", "unknown parameter 'GG' in \\[priors\\]"),
    ("[priors]\nG = { dist = 'Unifrm', low = 0, high = 1 }\n", "unknown dist 'Unifrm'"),
    ("[priors]\nG = { dist = 'Uniform', low = 'a', high = 1 }\n", "low must be a number"),
    ("[priors]\nG = { dist = 'Uniform', low = 2, high = 1 }\n", "low < high"),
    ("[priors]\nG = { dist = 'Normal', loc = 0, scale = -1 }\n", "is not valid"),
    ("[model]\nfixed = { sigmaa = 1.0 }\n", "unknown parameter 'sigmaa' in \\[model\\] fixed"),
    ("[method\n", "not valid TOML"),
    ("[hierarchical]\npooled = ['GG']\n", "unknown parameter 'GG' in \\[hierarchical\\] pooled"),
    ("[data]\npath = [1, 2]\n", "path must be a file name or a list of file names"),
])
def test_config_mistakes_are_named(tmp_path, text, message):
    path = tmp_path / "fit.toml"
    path.write_text(text)
    with pytest.raises(NffitError, match=message):
        load_config(path)


def test_cli_fit_reports_config_errors_in_one_line(tmp_path, capsys):
    path = tmp_path / "fit.toml"
    path.write_text("[method]\nchians = 4\n")
    assert main(["fit", "data/S001R02.edf", "--config", str(path), "-o", str(tmp_path / "run.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chians" in err[0]
    path.write_text("[method]\nreflect = ['g']\n")  # a typo in a parameter name: before any work
    assert main(["fit", "data/S001R02.edf", "--config", str(path), "-o", str(tmp_path / "run.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reflect: 'g' is not a free parameter" in err[0]
    path.write_text("[method]\nchain_method = 'vectorised'\n")  # British spelling: one line, choices named
    assert main(["fit", "data/S001R02.edf", "--config", str(path), "-o", str(tmp_path / "run.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'vectorised'" in err[0] and "sequential" in err[0]
    assert main(["fit", str(tmp_path / "missing.edf"), "-o", str(tmp_path / "run.nc")]) == 2
    assert "missing.edf" in capsys.readouterr().err
    assert not (tmp_path / "run.nc").exists()
