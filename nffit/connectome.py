"""Structural connectomes: loading, validation and weight normalisation.

A connectome holds the weights ``W[i, j]`` of the connection *from* region ``j`` *to*
region ``i`` (TVB's convention: row = target, column = source), the tract lengths in mm,
region labels and, when the source has them, region centres in mm.

The default connectome is TVB's 76-region ``connectivity_76.zip`` from the ``tvb-data``
package, read through :mod:`importlib.resources` (nothing is downloaded).
"""

from __future__ import annotations

import io
import zipfile
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from nffit.errors import NffitError

__all__ = ["Connectome", "load_connectome", "normalise_weights", "validate_connectome", "NORMALISATIONS"]

NORMALISATIONS = ("max", "row-sum", "none")
Normalisation = Literal["max", "row-sum", "none"]


class Connectome(NamedTuple):
    """A structural network.

    Attributes
    ----------
    weights : ndarray, shape (N, N)
        ``weights[i, j]`` is the strength of the connection from region ``j`` to region ``i``
        (dimensionless, non-negative).
    lengths : ndarray, shape (N, N)
        Tract lengths in mm (non-negative).
    labels : tuple of str, length N
        Region labels.
    centres : ndarray, shape (N, 3) or None
        Region centres in mm, when known.
    """

    weights: np.ndarray
    lengths: np.ndarray
    labels: tuple[str, ...]
    centres: np.ndarray | None = None

    @property
    def n_regions(self) -> int:
        return int(self.weights.shape[0])


def validate_connectome(weights: np.ndarray, lengths: np.ndarray, source: str = "connectome") -> None:
    """Raise :class:`NffitError` unless weights and lengths are square, equal-shaped, finite and >= 0."""
    for name, arr in (("weights", weights), ("lengths", lengths)):
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise NffitError(f"{source}: {name} must be a square N x N matrix, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise NffitError(f"{source}: {name} has a non-finite value at row {bad[0]}, column {bad[1]}; fix or remove it")
        if np.any(arr < 0):
            bad = np.argwhere(arr < 0)[0]
            raise NffitError(f"{source}: {name} has a negative value at row {bad[0]}, column {bad[1]}; {name} must be >= 0")
    if weights.shape != lengths.shape:
        raise NffitError(f"{source}: weights {weights.shape} and lengths {lengths.shape} must have the same shape")
    if weights.shape[0] == 0:
        raise NffitError(f"{source}: the connectome has no regions")


def normalise_weights(weights: np.ndarray, how: Normalisation = "max") -> np.ndarray:
    """Scale a weight matrix.

    Parameters
    ----------
    weights : ndarray, shape (N, N)
        Non-negative weights, ``weights[i, j]`` from ``j`` to ``i``.
    how : {"max", "row-sum", "none"}
        ``"max"`` divides by the largest weight (TVB's habit; the default), ``"row-sum"``
        makes every target's incoming weights sum to 1 (rows without input stay 0),
        ``"none"`` returns the weights unchanged.

    Returns
    -------
    ndarray, shape (N, N)

    Examples
    --------
    >>> normalise_weights(np.array([[0., 2.], [1., 0.]]), "max")
    array([[0. , 1. ],
           [0.5, 0. ]])
    """
    weights = np.asarray(weights, dtype=float)
    if how == "none":
        return weights.copy()
    if how == "max":
        top = weights.max()
        return weights / top if top > 0 else weights.copy()
    if how == "row-sum":
        rows = weights.sum(axis=1, keepdims=True)
        return np.divide(weights, rows, out=np.zeros_like(weights), where=rows > 0)
    raise NffitError(f"unknown weight normalisation {how!r}; choose one of {', '.join(NORMALISATIONS)}")


def _read_matrix(data: bytes | str | Path, what: str, source: str) -> np.ndarray:
    try:
        if isinstance(data, bytes):
            return np.loadtxt(io.BytesIO(data), ndmin=2)
        return np.loadtxt(data, ndmin=2, delimiter="," if str(data).endswith(".csv") else None)
    except (ValueError, OSError) as exc:
        raise NffitError(f"{source}: cannot read {what} as a numeric matrix ({exc})") from None


def _load_tvb_zip(path: Path | None, source: str) -> Connectome:
    try:
        if path is None:
            ref = resources.files("tvb_data.connectivity").joinpath("connectivity_76.zip")
            raw = ref.read_bytes()
        else:
            raw = path.read_bytes()
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise NffitError(f"{source}: not a valid zip archive; give a TVB connectivity zip, an .npz or a weights .csv") from None
    names = {Path(n).name: n for n in archive.namelist()}
    for required in ("weights.txt", "tract_lengths.txt"):
        if required not in names:
            raise NffitError(f"{source}: the archive has no {required}; a TVB connectivity zip holds weights.txt and tract_lengths.txt")
    weights = _read_matrix(archive.read(names["weights.txt"]), "weights.txt", source)
    lengths = _read_matrix(archive.read(names["tract_lengths.txt"]), "tract_lengths.txt", source)
    labels: tuple[str, ...] = tuple(f"r{i}" for i in range(weights.shape[0]))
    centres = None
    if "centres.txt" in names:
        rows = [line.split() for line in archive.read(names["centres.txt"]).decode().splitlines() if line.strip()]
        labels = tuple(r[0] for r in rows)
        centres = np.array([[float(v) for v in r[1:4]] for r in rows])
    validate_connectome(weights, lengths, source)
    if len(labels) != weights.shape[0]:
        raise NffitError(f"{source}: centres.txt has {len(labels)} regions but weights.txt has {weights.shape[0]}")
    return Connectome(weights, lengths, labels, centres)


def _load_npz(path: Path, source: str) -> Connectome:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise NffitError(f"{source}: cannot read as .npz ({exc})") from None
    missing = [k for k in ("weights", "lengths") if k not in data.files]
    if missing:
        raise NffitError(f"{source}: the .npz lacks array(s) {', '.join(missing)}; it needs 'weights' and 'lengths' (optional 'labels', 'centres')")
    weights, lengths = np.asarray(data["weights"], float), np.asarray(data["lengths"], float)
    validate_connectome(weights, lengths, source)
    n = weights.shape[0]
    labels = tuple(str(s) for s in data["labels"]) if "labels" in data.files else tuple(f"r{i}" for i in range(n))
    centres = np.asarray(data["centres"], float) if "centres" in data.files else None
    if len(labels) != n:
        raise NffitError(f"{source}: 'labels' has {len(labels)} entries for {n} regions")
    return Connectome(weights, lengths, labels, centres)


def _load_csv_pair(path: Path, source: str) -> Connectome:
    stem = path.name[: -len("weights.csv")]
    lengths_path = path.with_name(f"{stem}lengths.csv")
    if not lengths_path.exists():
        raise NffitError(f"{source}: expected the tract lengths beside it in {lengths_path.name}")
    weights = _read_matrix(path, "weights", source)
    lengths = _read_matrix(lengths_path, "lengths", str(lengths_path))
    validate_connectome(weights, lengths, source)
    return Connectome(weights, lengths, tuple(f"r{i}" for i in range(weights.shape[0])), None)


def load_connectome(source: str | Path = "tvb76", *, normalise: Normalisation = "max") -> Connectome:
    """Load and validate a connectome, then normalise its weights.

    Parameters
    ----------
    source : str or Path
        ``"tvb76"`` (default: tvb-data's ``connectivity_76.zip``), a TVB connectivity zip
        (``weights.txt``, ``tract_lengths.txt``, optional ``centres.txt``), an ``.npz`` with
        arrays ``weights``, ``lengths`` (optional ``labels``, ``centres``), or a
        ``*weights.csv`` file with its ``*lengths.csv`` twin beside it.
    normalise : {"max", "row-sum", "none"}
        Weight normalisation, see :func:`normalise_weights`. Default ``"max"``.

    Returns
    -------
    Connectome

    Raises
    ------
    NffitError
        Missing or malformed file, non-square, non-finite or negative matrices.

    Examples
    --------
    >>> conn = load_connectome("tvb76")
    >>> conn.weights.shape, conn.labels[:2], float(conn.weights.max())
    ((76, 76), ('rA1', 'rA2'), 1.0)
    """
    if normalise not in NORMALISATIONS:
        raise NffitError(f"unknown weight normalisation {normalise!r}; choose one of {', '.join(NORMALISATIONS)}")
    if str(source) == "tvb76":
        conn = _load_tvb_zip(None, "tvb76")
    else:
        path = Path(source)
        label = str(path)
        if not path.exists():
            raise NffitError(f"{label}: no such file; give 'tvb76', a TVB connectivity .zip, an .npz or a *weights.csv")
        if path.suffix == ".zip":
            conn = _load_tvb_zip(path, label)
        elif path.suffix == ".npz":
            conn = _load_npz(path, label)
        elif path.name.endswith("weights.csv"):
            conn = _load_csv_pair(path, label)
        else:
            raise NffitError(f"{label}: unsupported connectome format; give a TVB .zip, an .npz or a *weights.csv (+ *lengths.csv)")
    return conn._replace(weights=normalise_weights(conn.weights, normalise))
