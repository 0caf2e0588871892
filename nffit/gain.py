"""Region-to-sensor gain matrices for EEG.

The default is TVB's 65-channel EEG projection (``tvb-data``): a lead field from 16384
cortical vertices to 65 Brainstorm EEG sensors, summed over the vertices of each of the 76
regions of ``connectivity_76`` (``regionMapping_16k_76.txt``). Rows IO1 and IO2 are all NaN
in the package and are dropped, leaving 63 channels. Sensor names are mapped to MNE's
``standard_1020`` names (``T8/T4`` -> ``T8``) and matched case-insensitively. The
62-channel projection in the same package looks left/right flipped against its labels and
is not used.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from nffit.errors import NffitError

__all__ = ["Gain", "load_tvb_eeg_gain", "load_gain", "select_channels"]


class Gain(NamedTuple):
    """A gain matrix with its channel names.

    Attributes
    ----------
    matrix : ndarray, shape (C, N)
        Sensor signal per unit region LFP (arbitrary units; a gain scale is fitted).
    channels : tuple of str, length C
    """

    matrix: np.ndarray
    channels: tuple[str, ...]


def _tvb_file(package: str, name: str):
    return resources.files(package).joinpath(name)


def load_tvb_eeg_gain() -> Gain:
    """The 63-channel x 76-region EEG gain of tvb-data (see the module docstring).

    Examples
    --------
    >>> g = load_tvb_eeg_gain()
    >>> g.matrix.shape, g.channels[:3]
    ((63, 76), ('Fp1', 'Fp2', 'F4'))
    """
    with _tvb_file("tvb_data.projectionMatrix", "projection_eeg_65_surface_16k.npy").open("rb") as f:
        vertex_gain = np.load(f)
    mapping = np.loadtxt(str(_tvb_file("tvb_data.regionMapping", "regionMapping_16k_76.txt")), dtype=int)
    labels = [line.split()[0].split("/")[0] for line in
              _tvb_file("tvb_data.sensors", "eeg_brainstorm_65.txt").read_text().splitlines() if line.strip()]
    n_regions = int(mapping.max()) + 1
    region_gain = np.zeros((vertex_gain.shape[0], n_regions))
    np.add.at(region_gain.T, mapping, vertex_gain.T)
    keep = np.all(np.isfinite(vertex_gain), axis=1)
    return Gain(region_gain[keep], tuple(str(name) for name, ok in zip(labels, keep) if ok))


def load_gain(path: str | Path, channels: Sequence[str], n_regions: int) -> Gain:
    """A user gain matrix from ``.npy`` or ``.csv``, shape (C, N), with its channel names.

    Raises :class:`NffitError` on a missing file, a wrong shape or non-finite entries.
    """
    path = Path(path)
    if not path.exists():
        raise NffitError(f"{path}: no such gain file")
    try:
        matrix = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
    except (ValueError, OSError) as exc:
        raise NffitError(f"{path}: cannot read the gain matrix ({exc})") from None
    return validate_gain(np.asarray(matrix, float), tuple(channels), n_regions, str(path))


def validate_gain(matrix: np.ndarray, channels: tuple[str, ...], n_regions: int, source: str = "gain") -> Gain:
    """Check shape (C, N) against the channel names and the region count, and finiteness."""
    if matrix.ndim != 2 or matrix.shape != (len(channels), n_regions):
        raise NffitError(f"{source}: gain has shape {matrix.shape}; expected ({len(channels)} channels, {n_regions} regions)")
    bad = np.flatnonzero(~np.all(np.isfinite(matrix), axis=1))
    if bad.size:
        raise NffitError(f"{source}: gain rows of channel(s) {', '.join(channels[i] for i in bad)} are not finite; drop them")
    return Gain(matrix, channels)


def select_channels(gain: Gain, names: Sequence[str]) -> Gain:
    """Rows of ``gain`` for ``names`` (case-insensitive), in that order.

    Raises :class:`NffitError` for a name the gain lacks, with the closest matches.
    """
    index = {c.lower(): i for i, c in enumerate(gain.channels)}
    rows = []
    for name in names:
        if name.lower() not in index:
            close = difflib.get_close_matches(name, gain.channels, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NffitError(f"channel {name!r} is not in the gain matrix{hint}")
        rows.append(index[name.lower()])
    return Gain(gain.matrix[rows], tuple(gain.channels[i] for i in rows))
