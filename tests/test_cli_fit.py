"""`nffit fit`, `nffit report` and `nffit compare` end to end on the shipped EEG (MAP, small
settings): the files a user gets, and the numbers in them."""

import arviz as az
import numpy as np
import pytest

from nffit.cli import main


@pytest.mark.slow
def test_fit_report_compare(tmp_path, capsys):
    config = tmp_path / "fit.toml"
    config.write_text('[data]\npicks = ["O1", "Oz", "O2"]\n[likelihood]\nbin_stride = 4\n'
                      '[method]\nname = "map"\nmap_starts = 2\nmap_steps = 300\n')
    runs = []
    for name, extra in (("free_speed", []), ("fixed_speed", ["--seed", "1"])):
        path = tmp_path / f"{name}.nc"
        if name == "fixed_speed":
            config.write_text(config.read_text() + '[model]\nfixed = { speed = 5.0 }\n[priors]\nG = "default"\n'
                              'mu = "default"\nlog10_scale = "default"\naperiodic_offset = "default"\n'
                              'aperiodic_exponent = "default"\n')
        assert main(["fit", "data/S001R02.edf", "--config", str(config), "-o", str(path), *extra]) == 0
        out = capsys.readouterr().out
        assert "mu" in out and "r_hat" in out and str(path) in out
        runs.append(path)
    idata = az.from_netcdf(runs[0])
    assert idata.attrs["method"] == "map" and idata.posterior["mu"].shape == (1, 1000)
    assert "speed" in idata.posterior and "speed" not in az.from_netcdf(runs[1]).posterior
    assert not (tmp_path / "free_speed.ckpt.npz").exists()

    report = tmp_path / "report"
    assert main(["report", str(runs[0]), "-o", str(report)]) == 0
    for name in ("spectra.png", "trace.png", "pair.png", "prior_posterior.png", "summary.csv", "summary.md"):
        assert (report / name).stat().st_size > 0, name
    assert "| mu |" in (report / "summary.md").read_text()

    assert main(["compare", *map(str, runs), "-o", str(tmp_path / "cmp")]) == 0
    table = capsys.readouterr().out
    assert "free_speed" in table and "fixed_speed" in table
    assert (tmp_path / "cmp" / "compare.png").exists()
    assert main(["report", str(tmp_path / "nope.nc"), "-o", str(report)]) == 2
    assert "not found" in capsys.readouterr().err
    np.testing.assert_allclose(float(idata.posterior["mu"].mean()), float(idata.attrs["map_mu"]), atol=0.05)
