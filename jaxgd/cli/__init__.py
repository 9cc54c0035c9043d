"""The `jaxgd` command line: `jaxgd demo`, `jaxgd fit` and `jaxgd sweep`.

`fit` and `sweep` train the linear model of `jaxgd.linear` on a CSV table, or
on a shipped data set when no file is given, and report the learned weights by
feature name. Bad input is one line on stderr starting with `jaxgd: error:`
and exit status 2; a run that diverged exits with status 1 and says which
learning rate to try instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import datasets, linear
from .._fit import fit
from .._result import FitResult
from .._sweep import best, sweep
from ._demo import accuracy, closed_form_mse, float64_loss, run_demo
from ._table import Table, TableError, read_table, select

_LOSSES = {"mse": linear.mse, "bce": linear.bce}
_DATASETS = {"mse": "auto_mpg", "bce": "breast_cancer"}
_MEANING = {
    "mse": "2/λ_max of the loss Hessian: any larger constant rate diverges",
    "bce": "a bound from the sigmoid's curvature ≤ 1/4: any rate below it converges",
}
# `--auto-lr` takes this fraction of `linear.max_learning_rate`; mini-batch
# gradients are noisier than the full-batch ones the bound is computed for.
_AUTO_FRACTION = 0.9
_AUTO_FRACTION_BATCHED = 0.5
# From this many steps on, a run shows a progress bar when stderr is a terminal.
_PROGRESS_STEPS = 100_000


class CliError(Exception):
    """Bad command-line input; `main` prints it as one line and exits with 2."""


class Problem(NamedTuple):
    """The data of a `fit` or `sweep`, read, checked and ready to train on.

    Attributes:
        X: (N, n) float64 features, standardized when asked.
        y: (N, 1) float64 target.
        feature_names: the n names of the columns of `X`.
        target: the name of the target column.
        source: the CSV path, or the name of the shipped data set.
        loss: `"mse"` or `"bce"`.
        standardized: whether the features were standardized.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str
    source: str
    loss: str
    standardized: bool


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `jaxgd` command line.

    Args:
        argv: the arguments after the program name; `sys.argv[1:]` when None.

    Returns:
        The exit status: 0 on success, 1 when a run diverged, 2 for bad input.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported
        return int(stop.code or 0)
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except (TableError, CliError) as error:
        print(f"jaxgd: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (`jaxgd demo | head`): stop quietly, and point stdout
        # at nothing so that the flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# --- arguments ---------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one `jaxgd: error:` line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"jaxgd: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a positive finite number; got {text!r}"
        )
    return value


def _column_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected column names separated by commas, e.g. a,b,c; got {text!r}"
        )
    return names


def _learning_rates(text: str) -> np.ndarray:
    """Parses `START:STOP:COUNT` into COUNT log-spaced rates from START to STOP."""
    parts = text.split(":")
    try:
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        valid = len(parts) == 3 and count >= 1
        valid = valid and all(math.isfinite(x) and x > 0 for x in (start, stop))
    except (ValueError, IndexError):
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(
            "expected START:STOP:COUNT, two positive numbers and a whole number "
            f">= 1 (e.g. 1e-3:1:10 for 10 log-spaced rates); got {text!r}"
        )
    return np.logspace(math.log10(start), math.log10(stop), count)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxgd",
        description="Gradient descent in JAX, from the command line.",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="run the gradient-descent chapter end to end and draw its figures",
        description="Runs the chapter's story on the shipped data and writes "
        "one PNG figure per part.",
        allow_abbrev=False,
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("figures"),
        help="folder for the figures (default: ./figures)",
    )
    demo.add_argument(
        "--steps",
        metavar="N",
        type=_positive_int,
        default=1000,
        help="gradient-descent steps of each model run (default: 1000)",
    )
    demo.set_defaults(run=_run_demo)

    training = _Parser(add_help=False, allow_abbrev=False)
    training.add_argument(
        "csv",
        metavar="CSV",
        nargs="?",
        help="a CSV table with a header row; without it the shipped auto_mpg "
        "(for mse) or breast_cancer (for bce) data set is used",
    )
    training.add_argument(
        "--target",
        metavar="COL",
        help="the column to predict (required with a CSV)",
    )
    training.add_argument(
        "--features",
        metavar="A,B,...",
        type=_column_names,
        help="the input columns (default: every column but the target)",
    )
    training.add_argument(
        "--loss",
        choices=sorted(_LOSSES),
        default="mse",
        help="mse: linear regression; bce: logistic regression on 0/1 labels "
        "(default: mse)",
    )
    training.add_argument(
        "--steps",
        metavar="N",
        type=_positive_int,
        default=1000,
        help="number of updates (default: 1000)",
    )
    training.add_argument(
        "--batch-size",
        metavar="B",
        type=_positive_int,
        help="mini-batch SGD with batches of B rows (default: full batch)",
    )
    training.add_argument(
        "--seed",
        metavar="S",
        type=_seed,
        default=0,
        help="seeds the initial weights (linear.init) and the mini-batch order "
        "(default: 0)",
    )
    training.add_argument(
        "--standardize",
        action="store_true",
        help="rescale every feature to mean 0 and standard deviation 1",
    )
    training.add_argument("--plot", metavar="FILE", help="draw a figure into FILE")
    training.add_argument(
        "--json", action="store_true", help="print one JSON object and nothing else"
    )

    fit_parser = commands.add_parser(
        "fit",
        parents=[training],
        help="fit the linear model to a table by gradient descent",
        description="Fits f(x) = x·W + b by gradient descent and compares it "
        "with the closed form (mse) or reports the accuracy (bce). --plot draws "
        "the loss curve.",
        allow_abbrev=False,
    )
    rate = fit_parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--learning-rate", metavar="LR", type=_positive_float, help="the step size"
    )
    rate.add_argument(
        "--auto-lr",
        action="store_true",
        help=f"use {_AUTO_FRACTION} × linear.max_learning_rate "
        f"({_AUTO_FRACTION_BATCHED} × with --batch-size); the default",
    )
    rate.add_argument(
        "--line-search",
        action="store_true",
        help="let an Armijo backtracking line search choose every step "
        '(jaxgd.fit(..., learning_rate="auto")); pays off on unstandardized columns',
    )
    fit_parser.set_defaults(run=_run_fit)

    sweep_parser = commands.add_parser(
        "sweep",
        parents=[training],
        help="fit once per learning rate, all in one compiled call",
        description="Runs one fit per learning rate in one compiled, vmapped "
        "call and picks the best. --plot draws final loss against learning "
        "rate with max_learning_rate marked.",
        allow_abbrev=False,
    )
    sweep_parser.add_argument(
        "--learning-rates",
        metavar="START:STOP:COUNT",
        type=_learning_rates,
        required=True,
        help="COUNT log-spaced rates from START to STOP, e.g. 1e-3:1:10",
    )
    sweep_parser.set_defaults(run=_run_sweep)
    return parser


# --- data --------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Problem:
    """Reads and checks the data that `fit` and `sweep` train on."""
    if args.csv is None:
        data = datasets.load(_DATASETS[args.loss])
        table = Table(
            (*data.feature_names, data.target_name), np.hstack([data.X, data.y])
        )
        source, target = data.name, args.target or data.target_name
    else:
        if args.target is None:
            raise CliError(f"--target is required with a CSV file ({args.csv})")
        table, source, target = read_table(args.csv), args.csv, args.target
    X, y, names = select(table, target, args.features)
    if args.loss == "bce":
        _check_labels(y, target)
    if args.standardize:
        X = _standardize(X, names)
    if args.batch_size is not None and args.batch_size > X.shape[0]:
        raise CliError(
            f"--batch-size {args.batch_size} is larger than the data: {source} "
            f"has {X.shape[0]} rows"
        )
    return Problem(X, y, names, target, source, args.loss, args.standardize)


def _check_labels(y: np.ndarray, target: str) -> None:
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        rest = bad.size - 1
        more = f" (and {rest} more row{'s' if rest > 1 else ''})" if rest else ""
        raise CliError(
            f"--loss bce needs labels 0 or 1 in the target column {target!r}; "
            f"data row {bad[0] + 1} holds {y[bad[0], 0]:g}{more}"
        )


def _standardize(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    std = X.std(axis=0)
    constant = [name for name, s in zip(names, std, strict=True) if s == 0]
    if constant:
        listed = ", ".join(repr(name) for name in constant)
        raise CliError(
            f"--standardize cannot rescale a constant column: {listed} has the "
            "same value in every row; leave it out with --features"
        )
    return (X - X.mean(axis=0)) / std


# --- training ----------------------------------------------------------------


def _setup(problem: Problem, args: argparse.Namespace) -> tuple[Any, tuple, dict]:
    """The initial params, the float32 data and the options of every run."""
    init_key, batch_key = jax.random.split(jax.random.key(args.seed))
    params = linear.init(init_key, problem.X.shape[1], 1)
    data = (jnp.asarray(problem.X, jnp.float32), jnp.asarray(problem.y, jnp.float32))
    options: dict[str, Any] = {
        "num_steps": args.steps,
        "progress": args.steps >= _PROGRESS_STEPS and sys.stderr.isatty(),
    }
    if args.batch_size is not None:
        options.update(batch_size=args.batch_size, key=batch_key)
    return params, data, options


def _train(problem: Problem, args: argparse.Namespace, rate: float | str) -> FitResult:
    """Fits the linear model by gradient descent: the one place `fit` trains."""
    params, data, options = _setup(problem, args)
    loss, data = _loss_and_data(problem, args, data)
    return fit(loss, params, *data, learning_rate=rate, **options)


def _loss_and_data(
    problem: Problem, args: argparse.Namespace, data: tuple
) -> tuple[Callable, tuple]:
    """Full-batch mse runs on sufficient statistics: O(n²) a step, whatever N."""
    if problem.loss == "mse" and args.batch_size is None:
        return linear.mse_stats, (linear.stats(*data),)
    return _LOSSES[problem.loss], data


# --- commands ----------------------------------------------------------------


def _run_fit(args: argparse.Namespace) -> int:
    plot = _plot_module("--plot") if args.plot else None
    problem = _load(args)
    max_rate = linear.max_learning_rate(problem.X, problem.loss)
    if args.learning_rate is not None:
        rate, why = args.learning_rate, "--learning-rate"
    elif args.line_search:
        rate, why = "auto", "--line-search: an Armijo backtracking line search"
    else:
        fraction = _AUTO_FRACTION if args.batch_size is None else _AUTO_FRACTION_BATCHED
        rate = fraction * max_rate
        why = f"--auto-lr: {fraction} × max_learning_rate"
    result = _train(problem, args, rate)
    report: dict[str, Any] = {
        **_about(problem),
        **_learned(problem, result.params),
        "final_loss": float64_loss(
            _LOSSES[problem.loss], result.params, problem.X, problem.y
        ),
    }
    if problem.loss == "mse":
        report["closed_form_loss"] = closed_form_mse(problem.X, problem.y)
        report["gap"] = report["final_loss"] - report["closed_form_loss"]
    else:
        report["accuracy"] = accuracy(result.params, problem.X, problem.y)
    report.update(
        learning_rate=rate,
        max_learning_rate=max_rate,
        steps_taken=int(result.steps_taken),
        diverged=bool(result.diverged),
    )
    if rate == "auto":
        steps = np.asarray(result.step_sizes, np.float64)
        taken = steps[np.isfinite(steps)]
        report["step_sizes"] = {
            "min": float(taken.min()) if taken.size else math.nan,
            "max": float(taken.max()) if taken.size else math.nan,
        }
        report["loss_evals"] = int(result.loss_evals)
    if args.json:
        print(_json(report))
    else:
        _print_fit(report, why, problem.X.shape[0])
    if args.plot:
        _save(plot.loss_curve(result), args.plot)
    if report["diverged"]:
        if rate == "auto":
            print(
                f"jaxgd: the fit diverged at step {report['steps_taken']}: the loss "
                "or its gradient is not finite there; check the data",
                file=sys.stderr,
            )
        else:
            print(_divergence(rate, max_rate, report["steps_taken"]), file=sys.stderr)
        return 1
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    plot = _plot_module("--plot") if args.plot else None
    problem = _load(args)
    max_rate = linear.max_learning_rate(problem.X, problem.loss)
    rates = args.learning_rates
    params, data, options = _setup(problem, args)
    loss, data = _loss_and_data(problem, args, data)
    result = sweep(loss, params, *data, learning_rates=rates, **options)
    runs = [
        {
            "learning_rate": float(rate),
            "final_loss": float(loss),
            "steps_taken": int(steps),
            "diverged": bool(diverged),
        }
        for rate, loss, steps, diverged in zip(
            rates,
            np.asarray(result.final_loss),
            np.asarray(result.steps_taken),
            np.asarray(result.diverged),
            strict=True,
        )
    ]
    try:
        index, lane = best(result)
    except ValueError:  # every lane diverged
        top = None
    else:
        top = {"index": index, **runs[index], **_learned(problem, lane.params)}
    report = {
        **_about(problem),
        "max_learning_rate": max_rate,
        "runs": runs,
        "best": top,
    }
    if args.json:
        print(_json(report))
    else:
        _print_sweep(report, problem.X.shape[0], args.steps)
    if args.plot:
        _save(plot.lr_sweep(rates, result, max_learning_rate=max_rate), args.plot)
    if top is None:
        print(
            f"jaxgd: every learning rate diverged; try rates below "
            f"max_learning_rate = {max_rate:.6g}",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    _plot_module("jaxgd demo")
    try:
        rows = run_demo(args.out, num_steps=args.steps)
    except OSError as error:  # a folder that cannot be made or written to
        raise CliError(
            f"cannot write the figures into {args.out}: {error.strerror or error}"
        ) from None
    print(
        f"jaxgd demo: gradient descent, the chapter end to end "
        f"({args.steps} steps per model run, features standardized)\n"
    )
    table = [(f"{i}.", row.story, row.result) for i, row in enumerate(rows, 1)]
    print(_columns(table, "rll"))
    print(f"\nfigures written to {args.out}:")
    for row in rows:
        print(f"  {row.figure}")
    return 0


# --- output ------------------------------------------------------------------


def _about(problem: Problem) -> dict[str, Any]:
    return {
        "loss": problem.loss,
        "data": problem.source,
        "target": problem.target,
        "standardized": problem.standardized,
    }


def _learned(problem: Problem, params: Any) -> dict[str, Any]:
    """The weights by feature name and the bias."""
    weights = np.asarray(params["W"], np.float64)[:, 0].tolist()
    return {
        "weights": dict(zip(problem.feature_names, weights, strict=True)),
        "bias": float(params["b"][0]),
    }


def _print_fit(report: dict[str, Any], why: str, rows: int) -> None:
    scaled = ", standardized" if report["standardized"] else ""
    print(
        f"{report['loss']} fit of {report['target']!r} on {report['data']} "
        f"({rows} rows, {len(report['weights'])} features{scaled})"
    )
    if report["learning_rate"] == "auto":
        steps = report["step_sizes"]
        per_step = report["loss_evals"] / max(1, report["steps_taken"])
        print(
            f"learning rate      auto ({why}; steps {steps['min']:.3g} to "
            f"{steps['max']:.3g}, {per_step:.2f} loss evaluations per step)"
        )
    else:
        print(f"learning rate      {report['learning_rate']:.6g} ({why})")
    print(
        f"max_learning_rate  {report['max_learning_rate']:.6g} "
        f"({_MEANING[report['loss']]})"
    )
    diverged = " (diverged)" if report["diverged"] else ""
    print(f"steps taken        {report['steps_taken']}{diverged}\n")
    lines = [("feature", "weight")]
    lines += [(name, f"{w:.6g}") for name, w in report["weights"].items()]
    lines.append(("bias", f"{report['bias']:.6g}"))
    print(_columns(lines, "lr"))
    print(f"\nfinal loss         {report['final_loss']:.6g}")
    if report["loss"] == "mse":
        print(f"closed-form loss   {report['closed_form_loss']:.6g} (linear.solve)")
        print(f"gap                {report['gap']:.3g}")
        if not report["diverged"] and report["gap"] > 1e-3 * report["closed_form_loss"]:
            scale = "" if report["standardized"] else ", or --standardize the features"
            print(f"\nnot at the closed form yet: try more --steps{scale}")
    else:
        correct = round(report["accuracy"] * rows)
        print(f"accuracy           {report['accuracy']:.4f} ({correct} of {rows})")


def _print_sweep(report: dict[str, Any], rows: int, steps: int) -> None:
    scaled = ", standardized" if report["standardized"] else ""
    print(
        f"{report['loss']} sweep of {report['target']!r} on {report['data']} "
        f"({rows} rows{scaled}), {steps} steps per learning rate"
    )
    print(
        f"max_learning_rate = {report['max_learning_rate']:.6g} "
        f"({_MEANING[report['loss']]})\n"
    )
    lines = [("learning rate", "final loss", "steps taken", "diverged")]
    for run in report["runs"]:
        lines.append(
            (
                f"{run['learning_rate']:.6g}",
                f"{run['final_loss']:.6g}",
                str(run["steps_taken"]),
                "yes" if run["diverged"] else "no",
            )
        )
    print(_columns(lines, "rrrr"))
    top = report["best"]
    if top is not None:
        print(
            f"\nbest: learning rate {top['learning_rate']:.6g} "
            f"(run {top['index'] + 1}), final loss {top['final_loss']:.6g}"
        )


def _columns(lines: Sequence[Sequence[str]], align: str) -> str:
    """Aligns rows of cells in columns, each to the left ("l") or right ("r")."""
    widths = [max(len(line[j]) for line in lines) for j in range(len(align))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(line, widths, align, strict=True)
        ).rstrip()
        for line in lines
    )


def _json(report: dict[str, Any]) -> str:
    """One JSON object; NaN and infinities (of a diverged run) become null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return json.dumps(clean(report), allow_nan=False)


def _divergence(rate: float, max_rate: float, step: int) -> str:
    # The chapter's advice is to cut a diverging rate to 10%; when even that is
    # above the bound, the bound's safe fraction is the better move.
    tenth = rate / 10
    if tenth <= _AUTO_FRACTION * max_rate:
        suggestion = f"--learning-rate {tenth:.6g} (a tenth of it)"
    else:
        suggestion = (
            f"--learning-rate {_AUTO_FRACTION * max_rate:.6g} "
            f"({_AUTO_FRACTION} × max_learning_rate)"
        )
    return (
        f"jaxgd: the fit diverged at step {step}: learning rate {rate:.6g} is too "
        f"large (max_learning_rate = {max_rate:.6g}); try {suggestion}"
    )


# --- figures -----------------------------------------------------------------


def _plot_module(what: str) -> Any:
    """`jaxgd.plot`, or a one-line error when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None:
        raise CliError(f'{what} draws with matplotlib: pip install "jaxgd[plot]"')
    from .. import plot

    return plot


def _save(figure: Any, path: str) -> None:
    try:
        figure.savefig(path)
    except (OSError, ValueError) as error:  # a missing folder, an unknown format
        raise CliError(f"cannot write the figure {path!r}: {error}") from None
