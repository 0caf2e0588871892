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
    runs = [tmp_path / "jansen_rit.nc", tmp_path / "peaks.nc"]
    for path, extra in zip(runs, ([], ["--model", "peaks", "--seed", "1"])):
        assert main(["fit", "data/S001R02.edf", "--config", str(config), "-o", str(path), *extra]) == 0
        out = capsys.readouterr().out
        assert ("mu" in out if path == runs[0] else "alpha_freq" in out) and "r_hat" in out and str(path) in out
    idata = az.from_netcdf(runs[0])
    assert idata.attrs["method"] == "map" and idata.posterior["mu"].shape == (1, 1000)
    assert "speed" in idata.posterior and "speed" not in az.from_netcdf(runs[1]).posterior
    assert not (tmp_path / "jansen_rit.ckpt.npz").exists()
    peaks = az.from_netcdf(runs[1])
    assert 9.0 < float(peaks.posterior["alpha_freq"].mean()) < 11.0  # the data's alpha peak is at 10 Hz

    report = tmp_path / "report"
    assert main(["report", str(runs[0]), "-o", str(report)]) == 0
    for name in ("spectra.png", "trace.png", "pair.png", "prior_posterior.png", "summary.csv", "summary.md"):
        assert (report / name).stat().st_size > 0, name
    assert "| mu |" in (report / "summary.md").read_text()

    assert main(["compare", *map(str, runs), "-o", str(tmp_path / "cmp")]) == 0
    table = capsys.readouterr().out
    assert "jansen_rit" in table and "peaks" in table
    for name in ("compare.png", "spectra.png", "compare.csv", "compare.md"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0, name
    other = tmp_path / "other_data.nc"
    peaks.observed_data["psd"] *= 2.0
    peaks.to_netcdf(other)
    assert main(["compare", str(runs[0]), str(other), "-o", str(tmp_path / "cmp2")]) == 2
    assert "fitted to different data" in capsys.readouterr().err and not (tmp_path / "cmp2").exists()
    assert main(["report", str(tmp_path / "nope.nc"), "-o", str(report)]) == 2
    assert "not found" in capsys.readouterr().err
    np.testing.assert_allclose(float(idata.posterior["mu"].mean()), float(idata.attrs["map_mu"]), atol=0.05)
