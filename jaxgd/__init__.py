"""jaxgd: gradient descent in JAX, compiled once, every step visible.

Write a pure `loss(params, *data)`, call `jaxgd.fit`, get the trained params
and the whole history; `jaxgd.sweep` and `jaxgd.multistart` run many learning
rates or starting points in one compiled call.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import datasets as datasets
    from . import linear as linear
    from . import plot as plot
    from ._finder import LearningRateFinding as LearningRateFinding
    from ._finder import find_learning_rate as find_learning_rate
    from ._fit import fit as fit
    from ._linesearch import Backtracking as Backtracking
    from ._linesearch import BacktrackingState as BacktrackingState
    from ._linesearch import backtracking as backtracking
    from ._report import Evaluation as Evaluation
    from ._result import DivergenceError as DivergenceError
    from ._result import FitResult as FitResult
    from ._rules import GradientDescentState as GradientDescentState
    from ._search import CrossValidation as CrossValidation
    from ._search import Hyperband as Hyperband
    from ._search import Lineage as Lineage
    from ._search import PopulationBased as PopulationBased
    from ._search import SuccessiveHalving as SuccessiveHalving
    from ._search import cross_validate as cross_validate
    from ._search import hyperband as hyperband
    from ._search import population_based as population_based
    from ._search import successive_halving as successive_halving
    from ._sharding import shard_data as shard_data
    from ._sharding import shard_local_data as shard_local_data
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
    "CrossValidation",
    "DivergenceError",
    "Evaluation",
    "FitResult",
    "GradientDescentState",
    "Hyperband",
    "LearningRateFinding",
    "Lineage",
    "PopulationBased",
    "Step",
    "StepInfo",
    "StepState",
    "SuccessiveHalving",
    "backtracking",
    "best",
    "cross_validate",
    "datasets",
    "find_learning_rate",
    "fit",
    "hyperband",
    "linear",
    "make_step",
    "multistart",
    "population_based",
    "shard_data",
    "shard_local_data",
    "successive_halving",
    "sweep",
]

# Where each public name lives. `import jaxgd` loads no module of its own, and
# so not JAX, until a name is first used: the command line (`jaxgd.cli`)
# answers `--help` without waiting for JAX. The block above tells type
# checkers the same; a new public name goes in both.
_HOMES = {
    "Backtracking": "._linesearch",
    "BacktrackingState": "._linesearch",
    "CrossValidation": "._search",
    "DivergenceError": "._result",
    "Evaluation": "._report",
    "FitResult": "._result",
    "GradientDescentState": "._rules",
    "Hyperband": "._search",
    "LearningRateFinding": "._finder",
    "Lineage": "._search",
    "PopulationBased": "._search",
    "Step": "._step",
    "StepInfo": "._step",
    "StepState": "._step",
    "SuccessiveHalving": "._search",
    "backtracking": "._linesearch",
    "best": "._sweep",
    "cross_validate": "._search",
    "find_learning_rate": "._finder",
    "fit": "._fit",
    "hyperband": "._search",
    "make_step": "._step",
    "multistart": "._sweep",
    "population_based": "._search",
    "shard_data": "._sharding",
    "shard_local_data": "._sharding",
    "successive_halving": "._search",
    "sweep": "._sweep",
}
# Public submodules, also loaded on first use (`jaxgd.plot` needs matplotlib,
# an optional extra).
_SUBMODULES = ("datasets", "linear", "plot")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'jaxgd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
