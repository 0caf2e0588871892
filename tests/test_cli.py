import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import xarray as xr

from nffit.cli import main


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    args = ["simulate", "--duration", "6", "--batch", "3", "--seed", "1", "--transient", "1"]
    assert main(args + ["-o", str(d / "a.nc")]) == 0
    assert main(args + ["-o", str(d / "b.nc")]) == 0
    return d


def test_simulate_writes_netcdf_with_distinct_entries_and_alpha_peak(simulated, capsys):
    with xr.open_dataset(simulated / "a.nc") as ds:
        assert ds["lfp"].dims == ("batch", "time", "region")
        assert ds["lfp"].shape == (3, 1500, 76) and ds.attrs["fs"] == 250.0
        assert list(ds["region"].values[:2]) == ["rA1", "rA2"]
        lfp = ds["lfp"].values
    assert not np.allclose(lfp[0], lfp[1]) and not np.allclose(lfp[1], lfp[2])
    freqs, psd = scipy.signal.welch(lfp, fs=250.0, nperseg=500, axis=1)
    for b in range(3):
        spectrum = psd[b].mean(axis=1)  # (freq,) averaged over regions
        peak = freqs[freqs >= 2][np.argmax(spectrum[freqs >= 2])]
        assert 8.0 <= peak <= 12.0


def test_same_seed_gives_identical_output(simulated):
    with xr.open_dataset(simulated / "a.nc") as a, xr.open_dataset(simulated / "b.nc") as b:
        np.testing.assert_array_equal(a["lfp"].values, b["lfp"].values)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "GG=1"], "unknown parameter; valid names: A, B"),
        (["--set", "G"], "expected NAME=VALUE"),
        (["--set", "G=abc"], "must be a number"),
        (["--duration", "-1"], "must be a positive number"),
        (["--connectome", "missing.zip"], "no such file"),
    ],
)
def test_simulate_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, message):
    assert main(["simulate", "--duration", "0.1", "--transient", "0", *extra, "-o", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("nffit: error:")
    assert not list(tmp_path.iterdir())


def test_console_script_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nffit.cli", "simulate", "-o", str(tmp_path / "no" / "x.nc")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "output directory does not exist" in proc.stderr


@pytest.mark.parametrize(
    "chains, environ, cores, expected",
    [
        (4, {}, 2, 4),  # one device per chain
        (4, {}, 1, 4),
        (16, {}, 2, 8),  # at most 4 per core
        (1, {}, 16, None),  # nothing to split
        (4, {"JAX_NUM_CPU_DEVICES": "1"}, 16, None),  # the user's choice stands
        (4, {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}, 16, None),
    ],
)
def test_cpu_devices_for_chains_or_map_starts(chains, environ, cores, expected):
    from nffit.cli import cpu_devices_for_batch

    assert cpu_devices_for_batch(chains, environ, cores) == expected


def test_fit_splits_the_cpu_before_jax_starts():
    code = "import jax\nfrom nffit.cli import _split_cpu\n_split_cpu(4)\nprint(len(jax.devices('cpu')))"
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    proc = subprocess.run([sys.executable, "-c", code], env=env | {"JAX_PLATFORMS": "cpu"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) == 4  # one device per chain
