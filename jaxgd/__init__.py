"""jaxgd: gradient descent in JAX, compiled once, every step visible.

Write a pure `loss(params, *data)`, call `jaxgd.fit`, get the trained params
and the whole history; `jaxgd.sweep` and `jaxgd.multistart` run many learning
rates or starting points in one compiled call.
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets as datasets
from . import linear as linear
from ._finder import LearningRateFinding as LearningRateFinding
from ._finder import find_learning_rate as find_learning_rate
from ._fit import fit as fit
from ._linesearch import Backtracking as Backtracking
from ._linesearch import BacktrackingState as BacktrackingState
from ._linesearch import backtracking as backtracking
from ._report import Evaluation as Evaluation
from ._result import DivergenceError as DivergenceError
from ._result import FitResult as FitResult
from ._sharding import shard_data as shard_data
from ._sharding import shard_local_data as shard_local_data
from ._step import GradientDescentState as GradientDescentState
from ._step import Step as Step
from ._step import StepInfo as StepInfo
from ._step import StepState as StepState
from ._step import make_step as make_step
from ._sweep import best as best
from ._sweep import multistart as multistart
from ._sweep import sweep as sweep

try:
    __version__ = version("jaxgd")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "Backtracking",
    "BacktrackingState",
    "DivergenceError",
    "Evaluation",
    "FitResult",
    "GradientDescentState",
    "LearningRateFinding",
    "Step",
    "StepInfo",
    "StepState",
    "backtracking",
    "best",
    "datasets",
    "find_learning_rate",
    "fit",
    "linear",
    "make_step",
    "multistart",
    "shard_data",
    "shard_local_data",
    "sweep",
]


def __getattr__(name: str):
    # `jaxgd.plot` needs matplotlib, an optional extra: import it on first use
    # so that `import jaxgd` never loads matplotlib.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'jaxgd' has no attribute {name!r}")
