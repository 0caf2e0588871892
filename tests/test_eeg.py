import mne
import numpy as np
import pytest
import scipy.signal

from nffit import NffitError
from nffit.cli import main
from nffit.eeg import load_spectrum, read_eeg_spectrum, sample_eeg_path, save_spectrum

EDF = sample_eeg_path()


@pytest.fixture(scope="module")
def raw():
    return mne.io.read_raw_edf(EDF, preload=True, verbose="error")


def test_shipped_recording_has_alpha_at_10_hz(raw):
    # independent: scipy on MNE's samples, 4 s Hann, 50 % overlap, no re-referencing
    for name in ("O1..", "O2..", "Oz.."):
        x = raw.get_data(picks=[name])[0]
        f, p = scipy.signal.welch(x, fs=160.0, nperseg=640)
        band = (f >= 1) & (f <= 45)
        assert 9.5 <= f[band][np.argmax(p[band])] <= 10.5, name
    spec = read_eeg_spectrum(EDF, picks=["O1", "O2", "Oz"])
    for row in spec.psd:
        assert 9.5 <= spec.freqs[np.argmax(row)] <= 10.5
    assert spec.channels == ("O1", "O2", "Oz") and spec.sfreq == 160.0


def test_equals_scipy_welch_on_the_same_samples(raw):
    spec = read_eeg_spectrum(EDF, picks="Fz,Cz,Pz", reference=None, fmin=0.5, fmax=40.0, segment_s=2.0, overlap=0.25)
    x = raw.get_data(picks=["Fz..", "Cz..", "Pz.."]) * 1e6
    f, p = scipy.signal.welch(x, fs=160.0, nperseg=320, noverlap=80)
    band = (f >= 0.5) & (f <= 40.0)
    np.testing.assert_allclose(spec.freqs, f[band])
    np.testing.assert_allclose(spec.psd, p[:, band], rtol=1e-4)
    k = (x.shape[1] - 80) // 240
    assert spec.n_segments == k and spec.nperseg == 320 and spec.noverlap == 80


def test_average_reference_subtracts_the_mean_of_good_channels(raw):
    spec = read_eeg_spectrum(EDF, picks="O1", reference="average", fmax=40.0)
    x = raw.get_data() * 1e6
    f, p = scipy.signal.welch(x[raw.ch_names.index("O1..")] - x.mean(axis=0), fs=160.0, nperseg=640)
    band = (f >= 1.0) & (f <= 40.0)
    np.testing.assert_allclose(spec.psd[0], p[band], rtol=1e-4)


def test_raw_spectrum_and_path_inputs_agree(raw):
    kwargs = dict(picks=["O1", "Cz"], reference=None, fmax=40.0)
    from_path = read_eeg_spectrum(EDF, **kwargs)
    from_raw = read_eeg_spectrum(raw, **kwargs)
    mne_spec = raw.compute_psd(method="welch", n_fft=640, n_per_seg=640, n_overlap=320, window="hann", verbose="error")
    from_spectrum = read_eeg_spectrum(mne_spec, n_segments=from_path.n_segments, **{k: v for k, v in kwargs.items() if k != "reference"})
    np.testing.assert_allclose(from_raw.psd, from_path.psd, rtol=1e-6)
    np.testing.assert_allclose(from_spectrum.psd, from_path.psd, rtol=1e-4)
    assert from_spectrum.dof == pytest.approx(from_path.dof)
    with pytest.raises(NffitError, match="n_segments"):
        read_eeg_spectrum(mne_spec, picks=["O1"])


def test_netcdf_round_trip(tmp_path):
    spec = read_eeg_spectrum(EDF, picks="O1,O2", fmax=30.0)
    save_spectrum(spec, tmp_path / "s.nc")
    back = load_spectrum(tmp_path / "s.nc")
    np.testing.assert_array_equal(back.psd, spec.psd)
    np.testing.assert_array_equal(back.freqs, spec.freqs)
    assert back.channels == spec.channels and back.n_segments == spec.n_segments and back.dof == spec.dof
    assert back.provenance["picks"] == ["O1", "O2"]


def _fif(path, data, names, types="eeg", sfreq=160.0):
    info = mne.create_info(names, sfreq, types)
    mne.io.RawArray(data, info, verbose="error").save(path, verbose="error", overwrite=True)
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    files = {}
    files["truncated"] = d / "truncated.edf"
    files["truncated"].write_bytes(EDF.read_bytes()[:50_000])
    files["corrupt"] = d / "corrupt.edf"
    files["corrupt"].write_bytes(b"0       " + bytes(rng.integers(0, 255, 4000, dtype=np.uint8)))
    files["unsupported"] = d / "recording.xyz"
    files["unsupported"].write_text("1 2 3")
    files["no_eeg"] = _fif(d / "misc_raw.fif", rng.standard_normal((2, 3200)) * 1e-5, ["a", "b"], "misc")
    nan = rng.standard_normal((3, 3200)) * 1e-5
    nan[1, 100] = np.nan
    files["nan"] = _fif(d / "nan_raw.fif", nan, ["Fz", "Cz", "Pz"])
    flat = rng.standard_normal((3, 3200)) * 1e-5
    flat[2] = 0.0
    files["flat"] = _fif(d / "flat_raw.fif", flat, ["Fz", "Cz", "Pz"])
    files["short"] = _fif(d / "short_raw.fif", rng.standard_normal((3, 320)) * 1e-5, ["Fz", "Cz", "Pz"])
    files["missing"] = d / "absent.edf"
    return files


CASES = [
    ("missing", {}, "no such file"),
    ("unsupported", {}, "unsupported file type .xyz"),
    ("corrupt", {}, "corrupt"),
    ("truncated", {}, "truncated: the header announces 61 s but the file holds"),
    ("no_eeg", {}, "no EEG channels"),
    ("nan", {}, "channel Cz contains NaN"),
    ("flat", {}, "channel Pz is flat"),
    ("short", {}, "shorter than one 4 s segment"),
    ("sample", {"picks": "O1,Oz2"}, "unknown channel 'Oz2'; did you mean"),
    ("sample", {"fmax": 90.0}, "above the Nyquist frequency 80 Hz"),
    ("sample", {"fmin": 30.0, "fmax": 20.0}, "need 0 <= fmin < fmax"),
]


@pytest.mark.parametrize("name, kwargs, message", CASES)
def test_bad_input_python(bad_files, name, kwargs, message):
    source = EDF if name == "sample" else bad_files[name]
    with pytest.raises(NffitError, match=message.replace("(", "\\(").replace(".", "\\.")):
        read_eeg_spectrum(source, **kwargs)


@pytest.mark.parametrize("name, kwargs, message", CASES + [("sample", {"output": "missing_dir/x.nc"}, "output directory does not exist")])
def test_bad_input_cli(bad_files, tmp_path, capsys, name, kwargs, message):
    source = EDF if name == "sample" else bad_files[name]
    output = tmp_path / kwargs.pop("output", "x.nc")
    argv = ["spectrum", str(source), "-o", str(output), "--plot", str(tmp_path / "x.png")]
    for key, value in kwargs.items():
        argv += [f"--{key}", str(value)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_cli_spectrum_writes_netcdf_and_plot(tmp_path, capsys):
    assert main(["spectrum", str(EDF), "--picks", "O1,O2,Oz", "-o", str(tmp_path / "s.nc"), "--plot", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "alpha peak     10.00 Hz" in out
    import xarray as xr

    with xr.open_dataset(tmp_path / "s.nc") as ds:
        assert ds["psd"].dims == ("channel", "freq") and list(ds["channel"].values) == ["O1", "O2", "Oz"]
        assert ds.attrs["sfreq"] == 160.0 and ds.attrs["n_segments"] == 29
    assert (tmp_path / "s.png").stat().st_size > 10_000
