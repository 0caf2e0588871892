import zipfile

import numpy as np
import pytest

from nffit import NffitError, load_connectome, normalise_weights


def test_tvb76_matches_the_archive_facts(tvb76):
    # Facts of tvb-data 3.0.0 connectivity_76.zip: 76 regions, raw weights 0..3,
    # tract lengths 0..153.49 mm, first labels rA1, rA2.
    assert tvb76.weights.shape == (76, 76) and tvb76.lengths.shape == (76, 76)
    assert tvb76.labels[:2] == ("rA1", "rA2") and len(tvb76.labels) == 76
    assert tvb76.weights.max() == 1.0  # "max" normalisation of integer weights 0..3
    np.testing.assert_allclose(tvb76.lengths.max(), 153.48574, rtol=1e-6)
    assert tvb76.centres.shape == (76, 3)
    raw = load_connectome("tvb76", normalise="none")
    assert raw.weights.max() == 3.0
    np.testing.assert_allclose(raw.weights / 3.0, tvb76.weights)


def test_normalisations():
    w = np.array([[0.0, 2.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalise_weights(w, "row-sum"), [[0, 0.5, 0.5], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(normalise_weights(w, "max"), w / 2)
    np.testing.assert_allclose(normalise_weights(w, "none"), w)
    with pytest.raises(NffitError, match="choose one of"):
        normalise_weights(w, "l2")


def test_npz_and_csv_pairs(tmp_path):
    w = np.array([[0.0, 1.0], [2.0, 0.0]])
    lengths = np.array([[0.0, 10.0], [10.0, 0.0]])
    np.savez(tmp_path / "c.npz", weights=w, lengths=lengths, labels=np.array(["L", "R"]))
    conn = load_connectome(tmp_path / "c.npz", normalise="none")
    assert conn.labels == ("L", "R")
    np.testing.assert_array_equal(conn.weights, w)
    np.savetxt(tmp_path / "sub_weights.csv", w, delimiter=",")
    np.savetxt(tmp_path / "sub_lengths.csv", lengths, delimiter=",")
    conn = load_connectome(tmp_path / "sub_weights.csv", normalise="row-sum")
    np.testing.assert_allclose(conn.weights, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(conn.lengths, lengths)


def _zip(path, weights: str, lengths: str | None):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights.txt", weights)
        if lengths is not None:
            z.writestr("tract_lengths.txt", lengths)


@pytest.mark.parametrize(
    "weights, lengths, message",
    [
        ("0 1\n1 0\n", None, "no tract_lengths.txt"),
        ("0 1 2\n1 0 2\n", "0 1 2\n1 0 2\n", "square"),
        ("0 nan\n1 0\n", "0 1\n1 0\n", "non-finite value at row 0, column 1"),
        ("0 1\n1 0\n", "0 -1\n1 0\n", "negative value"),
        ("0 1\n1 0\n", "0 1 3\n1 0 3\n3 3 0\n", "same shape"),
        ("0 x\n1 0\n", "0 1\n1 0\n", "numeric"),
    ],
)
def test_malformed_connectomes_raise_one_clear_error(tmp_path, weights, lengths, message):
    path = tmp_path / "bad.zip"
    _zip(path, weights, lengths)
    with pytest.raises(NffitError, match=message):
        load_connectome(path)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(NffitError, match="no such file"):
        load_connectome(tmp_path / "absent.zip")
    (tmp_path / "c.mat").write_bytes(b"x")
    with pytest.raises(NffitError, match="unsupported"):
        load_connectome(tmp_path / "c.mat")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(NffitError, match="not a valid zip"):
        load_connectome(tmp_path / "broken.zip")
    np.savez(tmp_path / "partial.npz", weights=np.eye(2))
    with pytest.raises(NffitError, match="lacks array"):
        load_connectome(tmp_path / "partial.npz")
