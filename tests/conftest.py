"""Shared fixtures. x64 is switched on for the tests (never in the library), so float64
references can be compared at float64 precision; the simulator keeps float32 unless a test
asks for float64."""

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from nffit import Connectome, load_connectome  # noqa: E402


@pytest.fixture(scope="session")
def tvb76() -> Connectome:
    return load_connectome("tvb76")


@pytest.fixture(scope="session")
def three_nodes() -> Connectome:
    """A 3-region delayed network with asymmetric weights and distinct lags."""
    weights = np.array([[0.0, 1.0, 0.4], [0.7, 0.0, 0.0], [0.2, 0.9, 0.5]])
    lengths = np.array([[0.0, 12.3, 40.2], [12.3, 0.0, 22.1], [40.2, 22.1, 5.2]])
    return Connectome(weights, lengths, ("a", "b", "c"), None)
