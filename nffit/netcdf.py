"""netCDF outputs (via xarray + h5netcdf), written atomically.

Every file is written to a temporary name in the target directory and renamed into place,
so an interrupted run never leaves a partial file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from nffit.errors import NffitError

__all__ = ["check_output_path", "write_atomically", "write_netcdf", "simulation_dataset"]


def check_output_path(path: str | Path) -> Path:
    """Fail early, with one line, if ``path`` cannot be written (missing directory, a directory)."""
    path = Path(path)
    if path.is_dir():
        raise NffitError(f"{path}: is a directory; give a file name such as {path / 'out.nc'}")
    if not path.parent.exists():
        raise NffitError(f"{path.parent}: output directory does not exist; create it first (mkdir -p {path.parent})")
    return path


def write_atomically(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The output directory is checked first; an interrupted or failed write leaves no file.
    """
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_netcdf(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` atomically (temporary file, then rename)."""
    return write_atomically(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))


def simulation_dataset(lfp: np.ndarray, finite: np.ndarray, fs: float, labels: tuple[str, ...], **attrs) -> xr.Dataset:
    """An ``xarray.Dataset`` with ``lfp`` (batch, time, region) in mV and ``finite`` (batch).

    ``attrs`` (numbers and strings) are stored as global attributes next to ``fs`` (Hz).
    """
    lfp = np.asarray(lfp)
    times = np.arange(lfp.shape[1]) / fs
    return xr.Dataset(
        {
            "lfp": (("batch", "time", "region"), lfp, {"units": "mV", "long_name": "region LFP (y1 - y2)"}),
            "finite": (("batch",), np.asarray(finite).astype(np.int8), {"long_name": "1 if the entry stayed finite"}),
        },
        coords={"batch": np.arange(lfp.shape[0]), "time": ("time", times, {"units": "s"}), "region": list(labels)},
        attrs={"fs": float(fs), **attrs},
    )
