"""nffit: fit delayed, stochastic brain-network models to EEG power spectra.

The package follows the data flow: connectome -> model -> delays and integration ->
observation -> spectrum -> likelihood -> inference. Importing it has no side effects (no
printing, no ``XLA_FLAGS``, no global JAX configuration).
"""

from nffit.connectome import Connectome, load_connectome, normalise_weights
from nffit.delays import Delays, compute_delays
from nffit.errors import NffitError
from nffit.models import JANSEN_RIT, JansenRitParams, Model, get_model
from nffit.simulator import SimulationOutput, Simulator, make_simulator

__all__ = [
    "Connectome", "load_connectome", "normalise_weights",
    "Delays", "compute_delays",
    "NffitError",
    "JANSEN_RIT", "JansenRitParams", "Model", "get_model",
    "SimulationOutput", "Simulator", "make_simulator",
]
__version__ = "0.1.0"
