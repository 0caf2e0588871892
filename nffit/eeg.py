"""Real EEG in: recordings read with MNE, turned into observed spectra with nffit's Welch.

MNE does what it does well (readers for EDF, BDF, FIF, BrainVision, EEGLAB, GDF..., bad
channels, annotations, re-referencing); the estimate itself is :func:`nffit.welch.welch`, the
same estimator the model spectra use. Spectra are in uV^2/Hz.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from nffit.errors import NffitError

__all__ = ["ALPHA_BAND", "ObservedSpectrum", "read_eeg_spectrum", "save_spectrum", "load_spectrum", "sample_eeg_path"]

SAMPLE_EEG = "S001R02.edf"
ALPHA_BAND = (7.0, 14.0)
"""Hz: where the alpha peak is looked for."""


class ObservedSpectrum(NamedTuple):
    """A Welch spectrum of recorded EEG.

    Attributes
    ----------
    freqs : ndarray, shape (F,), Hz
    psd : ndarray, shape (C, F), uV^2/Hz
    channels : tuple of str, length C
    sfreq : float, Hz
    n_segments : int, Welch segments averaged
    dof : float, equivalent degrees of freedom per bin (see :func:`nffit.welch.welch_dof`)
    nperseg, noverlap : int, samples
    window : str
    provenance : dict, source and settings
    """

    freqs: np.ndarray
    psd: np.ndarray
    channels: tuple[str, ...]
    sfreq: float
    n_segments: int
    dof: float
    nperseg: int
    noverlap: int
    window: str
    provenance: dict


def sample_eeg_path() -> Path:
    """The bundled eyes-closed recording (PhysioNet EEG Motor Movement/Imagery, S001R02; see data/README.md)."""
    path = Path(__file__).resolve().parents[1] / "data" / SAMPLE_EEG
    if not path.exists():
        raise NffitError(f"the sample recording {SAMPLE_EEG} is not in {path.parent}; run from a checkout of nffit")
    return path


def _check_edf_length(path: Path) -> None:
    """Fail clearly if an EDF/BDF file is shorter than its header says (MNE reads it silently)."""
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise NffitError(f"{path}: not an EDF/BDF file (header shorter than 256 bytes)")
        try:
            header_bytes, n_records = int(head[184:192]), int(head[236:244])
            record_s, n_signals = float(head[244:252]), int(head[252:256])
        except ValueError:
            raise NffitError(f"{path}: corrupt EDF/BDF header; the file is damaged or not EDF/BDF") from None
        f.seek(256 + n_signals * 216)
        try:
            per_record = [int(f.read(8)) for _ in range(n_signals)]
        except ValueError:
            raise NffitError(f"{path}: corrupt EDF/BDF signal header") from None
    if n_records < 0:
        return
    width = 3 if head[:1] == b"\xff" else 2
    expected = header_bytes + n_records * sum(per_record) * width
    actual = path.stat().st_size
    if actual < expected:
        held = (actual - header_bytes) / max(1, sum(per_record) * width) * record_s
        raise NffitError(f"{path}: truncated: the header announces {n_records * record_s:g} s but the file holds "
                         f"{max(held, 0):.1f} s; re-export or re-download it")


def _standard_names(names: Sequence[str]) -> dict[str, str]:
    """Map raw channel names to standard_1005 spelling: trailing dots dropped, case fixed."""
    import mne

    montages = mne.channels.get_builtin_montages()
    name = "colin27_1005" if "colin27_1005" in montages else "standard_1005"  # renamed in MNE 1.13
    standard = {n.lower(): n for n in mne.channels.make_standard_montage(name).ch_names}
    mapping = {}
    for name in names:
        clean = name.strip().rstrip(".").strip()
        clean = standard.get(clean.lower(), clean)
        if clean != name:
            mapping[name] = clean
    return mapping


def _read_raw(source: Any):
    import mne

    if isinstance(source, mne.io.BaseRaw):
        return source.copy().load_data(), "mne.io.Raw"
    path = Path(source)
    if not path.exists():
        raise NffitError(f"{path}: no such file")
    if path.is_dir() and path.suffix != ".mff":
        raise NffitError(f"{path}: is a directory; give an EEG file")
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".fif.gz") else path.suffix.lower()
    try:  # MNE's private list of the suffixes mne.io.read_raw reads
        from mne.io._read_raw import _get_supported

        supported = _get_supported()
    except ImportError:  # moved in a later MNE: mne.io.read_raw judges alone
        supported = None
    if supported is not None and suffix not in supported:
        raise NffitError(f"{path}: unsupported file type {suffix or '(none)'}; use EDF, BDF, FIF, BrainVision (.vhdr), EEGLAB (.set), GDF or another format mne.io.read_raw reads")
    if suffix in (".edf", ".bdf"):
        _check_edf_length(path)
    try:
        raw = mne.io.read_raw(path, preload=True, verbose="error")
    except Exception as exc:  # noqa: BLE001 - readers raise many types; all mean a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NffitError(f"{path}: cannot read the recording ({first}); the file is corrupt or not {suffix[1:].upper()}") from None
    return raw, str(path)


def _resolve_picks(names: Sequence[str], picks: Sequence[str]) -> list[str]:
    index = {n.lower(): n for n in names}
    chosen = []
    for pick in picks:
        pick = pick.strip()
        if pick.lower() not in index:
            close = difflib.get_close_matches(pick, list(names), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; available: {', '.join(list(names)[:10])}..."
            raise NffitError(f"unknown channel {pick!r}{hint}")
        chosen.append(index[pick.lower()])
    return chosen


def read_eeg_spectrum(
    source: Any,
    *,
    picks: Sequence[str] | str | None = None,
    fmin: float = 1.0,
    fmax: float = 45.0,
    segment_s: float = 4.0,
    overlap: float = 0.5,
    reference: str | Sequence[str] | None = "average",
    crop: tuple[float, float | None] | None = None,
    reject_by_annotation: bool = True,
    n_segments: int | None = None,
) -> ObservedSpectrum:
    """Observed EEG spectrum from a file, an ``mne.io.Raw`` or an ``mne.time_frequency.Spectrum``.

    Parameters
    ----------
    source : path, Raw or Spectrum
        Anything ``mne.io.read_raw`` reads (EDF, BDF, FIF, BrainVision .vhdr, EEGLAB .set,
        GDF, ...). A Spectrum must come from Welch with a Hann window; pass ``n_segments``.
    picks : channel names (list or comma-separated), optional
        Case-insensitive; default all good EEG channels. Names like ``O1..`` (EEG Motor
        Movement/Imagery) are standardised to ``O1`` first.
    fmin, fmax : float, Hz
        Band kept (``0 <= fmin < fmax <= sfreq / 2``).
    segment_s : float
        Welch segment length in seconds (Hann window).
    overlap : float
        Fraction of a segment shared with the next one, in [0, 1).
    reference : "average" (default), None (as recorded) or a list of reference channels.
    crop : (tmin, tmax) in seconds, optional.
    reject_by_annotation : bool
        Omit spans annotated ``BAD_*``.
    n_segments : int, optional
        Only for a Spectrum source: the number of Welch segments it averaged.

    Returns
    -------
    ObservedSpectrum

    Examples
    --------
    >>> spec = read_eeg_spectrum(sample_eeg_path(), picks="O1,Oz,O2", fmax=30.0)
    >>> spec.channels, spec.n_segments, float(spec.freqs[np.argmax(spec.psd[0])])
    (('O1', 'Oz', 'O2'), 29, 10.0)
    """
    import mne

    from nffit.welch import welch, welch_dof

    if isinstance(picks, str):
        picks = [p for p in picks.split(",") if p.strip()]
    if not 0.0 <= overlap < 1.0:
        raise NffitError(f"overlap = {overlap}: must be in [0, 1)")
    if not segment_s > 0:
        raise NffitError(f"segment length {segment_s} s must be positive")
    if isinstance(source, mne.time_frequency.Spectrum):
        return _from_mne_spectrum(source, picks, fmin, fmax, n_segments)

    raw, label = _read_raw(source)
    sfreq = float(raw.info["sfreq"])
    _check_band(fmin, fmax, sfreq)
    raw.rename_channels(_standard_names(raw.ch_names))
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True, exclude=[])]
    if not eeg:
        raise NffitError(f"{label}: the recording has no EEG channels (types: {', '.join(sorted(set(raw.get_channel_types())))})")
    if crop is not None:
        tmin, tmax = crop
        if tmin < 0 or (tmax is not None and tmax <= tmin) or tmin >= raw.times[-1]:
            raise NffitError(f"crop {crop}: need 0 <= tmin < tmax <= {raw.times[-1]:.1f} s")
        raw.crop(tmin, min(tmax, raw.times[-1]) if tmax is not None else None)
    chosen = _resolve_picks(eeg, picks) if picks else [c for c in eeg if c not in raw.info["bads"]]
    data = raw.get_data(picks=eeg, reject_by_annotation="omit" if reject_by_annotation else None)
    _check_channels(data, eeg, [c for c in eeg if c in chosen or c not in raw.info["bads"]])
    if reference == "average":
        good = [i for i, c in enumerate(eeg) if c not in raw.info["bads"]]
        data = data - data[good].mean(axis=0, keepdims=True)
    elif reference not in (None, "none"):
        refs = _resolve_picks(eeg, [reference] if isinstance(reference, str) else list(reference))
        data = data - data[[eeg.index(r) for r in refs]].mean(axis=0, keepdims=True)
    data = data[[eeg.index(c) for c in chosen]] * 1e6  # V -> uV
    nperseg = int(round(segment_s * sfreq))
    noverlap = int(round(overlap * nperseg))
    if data.shape[1] < nperseg:
        raise NffitError(f"{label}: {data.shape[1] / sfreq:.1f} s of usable data is shorter than one {segment_s:g} s segment; "
                         "use a shorter --segment")
    freqs, psd = welch(data, sfreq, nperseg=nperseg, noverlap=noverlap, window="hann")
    band = (freqs >= fmin) & (freqs <= fmax)
    k = (data.shape[1] - noverlap) // (nperseg - noverlap)
    provenance = dict(source=label, picks=list(chosen), fmin=fmin, fmax=fmax, segment_s=segment_s, overlap=overlap,
                      reference=reference if isinstance(reference, (str, type(None))) else list(reference),
                      crop=list(crop) if crop else None, reject_by_annotation=reject_by_annotation)
    return ObservedSpectrum(freqs[band], np.asarray(psd, dtype=float)[:, band], tuple(chosen), sfreq, int(k),
                            float(welch_dof(k, nperseg, noverlap, "hann")), nperseg, noverlap, "hann", provenance)


def _check_band(fmin: float, fmax: float, sfreq: float) -> None:
    if fmax > sfreq / 2:
        raise NffitError(f"fmax = {fmax:g} Hz is above the Nyquist frequency {sfreq / 2:g} Hz of this recording; lower --fmax")
    if not 0 <= fmin < fmax:
        raise NffitError(f"fmin = {fmin:g} Hz and fmax = {fmax:g} Hz: need 0 <= fmin < fmax")


def _check_channels(data: np.ndarray, names: Sequence[str], used: Sequence[str]) -> None:
    for i, name in enumerate(names):
        if name not in used:
            continue
        if not np.all(np.isfinite(data[i])):
            raise NffitError(f"channel {name} contains NaN or infinite samples; mark it bad or drop it")
        if np.ptp(data[i]) == 0:
            raise NffitError(f"channel {name} is flat (constant); mark it bad or drop it")


def _from_mne_spectrum(spectrum, picks, fmin, fmax, n_segments) -> ObservedSpectrum:
    from nffit.welch import welch_dof

    if spectrum.method != "welch":
        raise NffitError(f"an mne Spectrum from method {spectrum.method!r}: nffit's likelihood needs a Welch estimate")
    if n_segments is None:
        raise NffitError("an mne Spectrum does not record its number of Welch segments; pass n_segments=")
    sfreq = float(spectrum.info["sfreq"])
    _check_band(fmin, fmax, sfreq)
    names = list(spectrum.ch_names)
    rename = _standard_names(names)
    names = [rename.get(n, n) for n in names]
    chosen = _resolve_picks(names, picks) if picks else names
    data = spectrum.get_data()[[names.index(c) for c in chosen]] * 1e12  # V^2/Hz -> uV^2/Hz
    freqs = spectrum.freqs
    nperseg = int(round(sfreq / (freqs[1] - freqs[0])))
    band = (freqs >= fmin) & (freqs <= fmax)
    noverlap = nperseg // 2
    return ObservedSpectrum(freqs[band], data[:, band], tuple(chosen), sfreq, int(n_segments),
                            float(welch_dof(n_segments, nperseg, noverlap, "hann")), nperseg, noverlap, "hann",
                            dict(source="mne.time_frequency.Spectrum", picks=list(chosen), fmin=fmin, fmax=fmax))


def to_dataset(spec: ObservedSpectrum):
    """The spectrum as an ``xarray.Dataset``: ``psd`` (channel, freq) with its metadata."""
    import xarray as xr

    return xr.Dataset(
        {"psd": (("channel", "freq"), spec.psd, {"units": "uV^2/Hz", "long_name": "Welch PSD"})},
        coords={"channel": list(spec.channels), "freq": ("freq", spec.freqs, {"units": "Hz"})},
        attrs=dict(sfreq=spec.sfreq, n_segments=spec.n_segments, dof=spec.dof, nperseg=spec.nperseg,
                   noverlap=spec.noverlap, window=spec.window, provenance=json.dumps(spec.provenance)),
    )


def save_spectrum(spec: ObservedSpectrum, path: str | Path) -> Path:
    """Write ``spec`` as netCDF (atomically)."""
    from nffit.netcdf import write_netcdf

    return write_netcdf(to_dataset(spec), path)


def load_spectrum(path: str | Path) -> ObservedSpectrum:
    """Read a spectrum written by :func:`save_spectrum` (or ``nffit spectrum``)."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise NffitError(f"{path}: no such file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as exc:  # noqa: BLE001
        raise NffitError(f"{path}: not a readable netCDF file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    missing = [k for k in ("sfreq", "n_segments", "dof", "nperseg", "noverlap", "window") if k not in ds.attrs]
    if "psd" not in ds or missing:
        raise NffitError(f"{path}: not an nffit spectrum (needs variable 'psd' and attributes sfreq, n_segments, dof, ...)")
    a = ds.attrs
    return ObservedSpectrum(ds["freq"].values.astype(float), ds["psd"].values.astype(float),
                            tuple(str(c) for c in ds["channel"].values), float(a["sfreq"]), int(a["n_segments"]),
                            float(a["dof"]), int(a["nperseg"]), int(a["noverlap"]), str(a["window"]),
                            json.loads(a.get("provenance", "{}")))


