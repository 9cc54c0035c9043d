"""The commands behind `jaxgd fit`, `sweep`, `predict` and `demo`.

Every number is computed in float64. Full-batch least squares never holds the
table: it reads it a block of rows at a time into `linear.stats`, so its
memory does not grow with the number of rows; logistic regression and
mini-batches hold the used columns in memory. The features are standardized
for the optimizer by default (`linear.standardize`), and the weights are
reported, saved and applied in the units of the data.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgd
from jaxgd import datasets, linear

from . import (
    AUTO_FRACTION,
    AUTO_FRACTION_BATCHED,
    CliError,
    LogRates,
    _cache,
    _files,
    _reader,
    _table,
)

_DATASETS = {"mse": "auto_mpg", "bce": "breast_cancer"}
_MEANING = {
    "mse": "2/λ_max of the loss Hessian: any larger constant rate diverges",
    "bce": "a bound from the sigmoid's curvature ≤ 1/4: any rate below it converges",
}
_OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation] | None] = {
    "sgd": None,
    "momentum": functools.partial(optax.sgd, momentum=0.9),
    "adam": optax.adam,
}
_OPTIMIZER_NAMES = {
    "sgd": "gradient descent",
    "momentum": "gradient descent with momentum 0.9",
    "adam": "adam",
}
# From this many steps on, a run shows a progress bar when stderr is a terminal.
_PROGRESS_STEPS = 100_000
# `fit` rehearses its programs while its table is read, up to this many steps
# and stand-in rows of this size.
_REHEARSAL_STEPS = 10_000
_REHEARSAL_BYTES = 64 << 20
_MODEL_FORMAT = "jaxgd linear model"


def run(args: argparse.Namespace, reader: _reader.Reader | None = None) -> int:
    """Runs the command of `args`, in float64, with the compilation cache.

    `reader`: the process reading the table of `fit` or `sweep`, if one was
    started (`_reader.start`); else the table is read here.
    """
    cache = contextlib.nullcontext() if args.no_cache else _cache.kept(cache_dir())
    with cache, jax.enable_x64(True):
        if args.command in ("fit", "sweep"):
            return _COMMANDS[args.command](args, reader)
        return _COMMANDS[args.command](args)


# --- the compilation cache ---------------------------------------------------


def cache_dir() -> Path:
    """Where compiled programs are kept: $JAXGD_CACHE_DIR, or the user's cache."""
    given = os.environ.get("JAXGD_CACHE_DIR")
    if given:
        return Path(given)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData/Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "jaxgd" / "compiled"


# --- data --------------------------------------------------------------------


class Data(NamedTuple):
    """The data of a `fit` or `sweep`, read and checked, in the data's units.

    Attributes:
        source: the CSV path, or the name of the shipped data set.
        target: the name of the target column.
        features: the names of the feature columns.
        loss: `"mse"` or `"bce"`.
        rows: the rows used.
        dropped: the rows left out for a missing cell.
        stats: float64 `linear.stats` of the rows, for mse on more rows than
            columns.
        X: (rows, n) float64 features, when held in memory (bce, batches,
            a table of no more rows than columns).
        y: (rows, 1) float64 target, likewise.
    """

    source: str
    target: str
    features: tuple[str, ...]
    loss: str
    rows: int
    dropped: int
    stats: linear.Stats | None
    X: np.ndarray | None
    y: np.ndarray | None


def _load(
    args: argparse.Namespace,
    reader: _reader.Reader | None = None,
    rehearse: Callable[[Data], Any] | None = None,
) -> Data:
    """Reads the data of `fit` and `sweep`: streamed for full-batch mse.

    With a `reader` (the table read by another process), `rehearse` runs on
    stand-in data of the table's shape before the rows are taken, while that
    process parses them.
    """
    with contextlib.ExitStack() as opened:
        return _read(args, opened, reader, rehearse)


def _read(
    args: argparse.Namespace,
    opened: contextlib.ExitStack,
    reader: _reader.Reader | None,
    rehearse: Callable[[Data], Any] | None,
) -> Data:
    in_memory = args.loss == "bce" or args.batch_size is not None
    if args.csv is None:
        data = datasets.load(_DATASETS[args.loss])
        columns = (*data.feature_names, data.target_name)
        table = np.hstack([data.X, data.y])
        shipped = _table.Table(data.name, columns, ",")
        try:
            target = _table.column(shipped, args.target or data.target_name)
        except _table.TableError as error:
            raise CliError(str(error).replace("the table", data.name)) from None
        _, features = _table.select(shipped, target, args.features)
        index = {name: j for j, name in enumerate(columns)}
        X = table[:, [index[name] for name in features]]
        y = table[:, [index[target]]]
        blocks: Iterator[tuple[np.ndarray, np.ndarray, int]] = iter([(X, y, 0)])
        source = data.name
    else:
        if args.target is None:
            raise CliError(f"--target is required with a CSV file ({args.csv})")
        rows = opened.enter_context(
            _reader.opened(args) if reader is None else reader.rows()
        )
        source, target, features = rows.source, rows.target, rows.features
        blocks = (
            (block.values[:, 1:], block.values[:, :1], block.dropped)
            for block in rows.blocks
        )
        if reader is not None and rehearse is not None and not in_memory:
            _rehearse(rehearse, source, target, features)
    counts = {"rows": 0, "dropped": 0}
    # The largest magnitude of each used column: features, then the target.
    peaks = np.zeros(len(features) + 1)

    def checked() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for X, y, dropped in blocks:
            if args.loss == "bce":
                _check_labels(y, target, counts["rows"])
            counts["rows"] += X.shape[0]
            counts["dropped"] += dropped
            if X.shape[0]:
                np.maximum(peaks, np.abs(np.hstack([X, y])).max(axis=0), out=peaks)
                yield X, y

    X = y = stats = None
    overflow = None
    try:
        chunks = checked()
        # The rows are held until they outnumber the design's n + 1 columns:
        # a tall table then streams into its statistics, whose (n + 1)² sums
        # stay the same size whatever the rows, while a wide one stays as its
        # rows, smaller than those sums, and is solved through them.
        held: list[tuple[np.ndarray, np.ndarray]] = []
        count = 0
        for part in chunks:
            held.append(part)
            count += part[0].shape[0]
            if count > len(features) + 1:
                break
        tall = count > len(features) + 1
        if in_memory:
            held.extend(chunks)
        if in_memory or not tall:
            if held:
                X, y = (np.concatenate(part) for part in zip(*held, strict=True))
            if args.loss == "mse" and tall:
                stats = linear.stats(X, y)
        else:
            stats = linear.stats(itertools.chain(held, chunks))
    except _table.TableError:
        raise
    except ValueError as error:  # sums of squares past the largest float
        overflow = error
    if counts["rows"] == 0:
        raise CliError(
            f"no rows left in {source}: every row has a missing cell "
            f"({counts['dropped']} dropped)"
        )
    _check_magnitudes(peaks, (*features, target), counts["rows"])
    if overflow is not None:
        raise CliError(str(overflow)) from None
    if args.batch_size is not None and args.batch_size > counts["rows"]:
        raise CliError(
            f"--batch-size {args.batch_size} is larger than the data: {source} "
            f"has {counts['rows']} rows"
        )
    return Data(
        source=source,
        target=target,
        features=features,
        loss=args.loss,
        rows=counts["rows"],
        dropped=counts["dropped"],
        stats=stats,
        X=X,
        y=y,
    )


@contextlib.contextmanager
def _opened(args: argparse.Namespace) -> Iterator[_table.Table]:
    """The table of `args.csv`, opened, and closed when the block ends."""
    table = _table.open_table(
        args.csv,
        args.delimiter,
        skip_rows=args.skip_rows,
        header=not args.no_header,
    )
    try:
        yield table
    finally:
        _table.close(table)


def _rehearse(
    rehearse: Callable[[Data], Any],
    source: str,
    target: str,
    features: tuple[str, ...],
) -> None:
    """Runs `rehearse` on stand-in statistics of the table's columns.

    While another process parses the table (`_reader`), the command's
    programs on statistics of these columns are traced, and compiled or
    fetched from the cache, on two blocks of random rows; the run on the
    table then finds them ready. Whatever the stand-in run gives, or raises,
    is dropped: the run on the table meets its own errors. A table too wide
    for a block of stand-in rows is not rehearsed.
    """
    rows = _table.BLOCK_ROWS
    if rows * (len(features) + 1) * 8 > _REHEARSAL_BYTES:
        return
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((rows, len(features))), rng.standard_normal((rows, 1))
    with contextlib.suppress(Exception):
        stats = linear.stats([(X, y), (X, y)])  # two blocks: their merge too
        rehearse(Data(source, target, features, "mse", 2 * rows, 0, stats, None, None))


def _check_magnitudes(peaks: np.ndarray, columns: tuple[str, ...], rows: int) -> None:
    """Every column small enough that the sum of its squares over the rows fits.

    The statistics, the Gram matrix, the standardization and Newton's method
    all sum products of two columns over the rows; each such sum is at most
    `rows * peak**2`, which must stay below float64's largest number (with a
    margin of 4 for rounding and for the sums of two such terms).
    """
    limit = math.sqrt(np.finfo(np.float64).max / (4 * rows))
    too_large = np.flatnonzero(peaks >= limit)
    if too_large.size:
        j = too_large[np.argmax(peaks[too_large])]
        raise CliError(
            f"column {columns[j]!r} holds {peaks[j]:.6g}, too large to compute "
            f"with: over {rows} rows the sum of its squares overflows float64, "
            f"so every value must be below {limit:.3g} in magnitude; rescale "
            "the column, e.g. divide it by a power of ten"
        )


def _check_labels(y: np.ndarray, target: str, before: int) -> None:
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        rest = bad.size - 1
        more = f" (and {rest} more row{'s' if rest > 1 else ''})" if rest else ""
        raise CliError(
            f"--loss bce needs labels 0 or 1 in the target column {target!r}; "
            f"data row {before + bad[0] + 1} holds {y[bad[0], 0]:g}{more}"
        )


class Problem(NamedTuple):
    """What the optimizer sees: the data, standardized or not, as `fit` takes it.

    Attributes:
        loss: the loss function of the params and `data`.
        data: `(stats,)` for full-batch mse, else `(X, y)`.
        scaling: the `linear.Standardization`, or None on the raw columns.
        max_rate: `linear.max_learning_rate` of that data.
    """

    loss: Callable[..., jax.Array]
    data: tuple[Any, ...]
    scaling: linear.Standardization | None
    max_rate: float


def _problem(data: Data, args: argparse.Namespace) -> Problem:
    source = data.stats if data.X is None else data.X
    scaling = None
    if args.standardize:
        try:
            source, scaling = linear.standardize(source)
        except ValueError as error:
            if "constant" not in str(error):
                raise CliError(str(error)) from None
            constant = _constant_columns(data)
            plural = len(constant) > 1
            raise CliError(
                f"cannot standardize a constant column: {_table.listed(constant)} "
                f"{'have' if plural else 'has'} the same value in every row; leave "
                f"{'them' if plural else 'it'} out with --features, or "
                "--no-standardize"
            ) from None
    if data.X is None:
        loss, train = linear.mse_stats, (source,)
    else:
        loss = linear.mse if data.loss == "mse" else linear.bce
        train = (jnp.asarray(source), jnp.asarray(data.y))
    return Problem(loss, train, scaling, linear.max_learning_rate(source, data.loss))


def _constant_columns(data: Data) -> list[str]:
    """The features whose spread is nothing next to their values.

    Or else the one with the least: a name at least, whatever rounding made
    `linear.standardize` find a column constant.
    """
    if data.X is not None:
        mean, spread = np.mean(data.X, axis=0), np.std(data.X, axis=0)
    else:
        stats = data.stats
        mean = np.asarray(stats.x_mean)
        variance = np.diagonal(np.asarray(stats.gram)) / float(stats.count)
        spread = np.sqrt(np.maximum(variance - np.asarray(stats.xc_mean) ** 2, 0))
    relative = spread / np.maximum(np.abs(mean), np.finfo(np.float64).tiny)
    constant = np.flatnonzero((spread == 0) | (relative <= 1e-12))
    if not constant.size:
        constant = [int(np.argmin(relative))]
    return [data.features[j] for j in constant]


# --- training ----------------------------------------------------------------


def _options(args: argparse.Namespace, data: Data) -> tuple[Any, dict]:
    """The initial params and the options of every run, from the arguments."""
    init_key, batch_key = jax.random.split(jax.random.key(args.seed))
    params = linear.init(init_key, len(data.features), 1, jnp.float64)
    options: dict[str, Any] = {
        "num_steps": args.steps,
        "progress": args.steps >= _PROGRESS_STEPS and sys.stderr.isatty(),
    }
    if args.tol is not None:
        options["tol"] = args.tol
    if args.batch_size is not None:
        options.update(batch_size=args.batch_size, key=batch_key)
    return params, options


def _check_optimizer(args: argparse.Namespace) -> None:
    if (
        args.optimizer == "adam"
        and args.command == "fit"
        and args.learning_rate is None
    ):
        raise CliError(
            "--optimizer adam needs --learning-rate: the bound that --auto-lr "
            "uses is for gradient descent"
        )
    if args.optimizer != "sgd" and getattr(args, "line_search", False):
        raise CliError(
            f"--line-search chooses the steps of plain gradient descent; it does "
            f"not go with --optimizer {args.optimizer}"
        )


def _unscaled(problem: Problem, params: Any) -> dict:
    """The params in the units of the data, as float64 numpy arrays."""
    if problem.scaling is not None:
        params = problem.scaling.unscale(params)
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def _optimum_loss(data: Data) -> float | None:
    """The lowest loss there is on the data, or None (bce without an optimum)."""
    if data.loss == "mse":
        on = (data.X, data.y) if data.stats is None else (data.stats,)
        loss = linear.mse if data.stats is None else linear.mse_stats
        return float(loss(linear.solve(*on), *on))
    try:
        optimum = linear.solve(data.X, data.y, loss="bce")
    except ValueError:
        return None
    return float(linear.bce(optimum, data.X, data.y))


def _quality(data: Data, params: dict) -> dict[str, Any]:
    """The loss of params in the data's units, and the exact optimum's."""
    report: dict[str, Any] = {}
    if data.loss == "mse":
        # A wide table is held as its rows, a tall one as its statistics.
        if data.stats is None:
            loss, on = linear.mse, (data.X, data.y)
        else:
            loss, on = linear.mse_stats, (data.stats,)
        optimum = linear.solve(*on)
        report["final_loss"] = float(loss(params, *on))
        report["closed_form_loss"] = float(loss(optimum, *on))
        report["gap"] = report["final_loss"] - report["closed_form_loss"]
        return report
    report["final_loss"] = float(linear.bce(params, data.X, data.y))
    try:
        optimum = linear.solve(data.X, data.y, loss="bce")
    except ValueError as error:
        report["optimum_loss"] = None
        report["gap"] = None
        report["no_optimum"] = str(error)
    else:
        report["optimum_loss"] = float(linear.bce(optimum, data.X, data.y))
        report["gap"] = report["final_loss"] - report["optimum_loss"]
    report["accuracy"] = linear.accuracy(params, data.X, data.y)
    return report


# --- commands ----------------------------------------------------------------


class _Fitted(NamedTuple):
    """What `fit` computed: the problem, the run, its rate and why, its report."""

    problem: Problem
    result: jaxgd.FitResult
    rate: float | str
    why: str
    report: dict[str, Any]
    start: float
    growing: bool


def _fitted(data: Data, args: argparse.Namespace) -> _Fitted:
    """The computation of `jaxgd fit` on `data`: everything but the output."""
    problem = _problem(data, args)
    params, options = _options(args, data)
    if args.learning_rate is not None:
        rate, why = args.learning_rate, "--learning-rate"
    elif args.line_search:
        rate, why = "auto", "--line-search: an Armijo backtracking line search"
    else:
        fraction = AUTO_FRACTION if args.batch_size is None else AUTO_FRACTION_BATCHED
        rate = fraction * problem.max_rate
        why = f"--auto-lr: {fraction} × max_learning_rate"
    factory = _OPTIMIZERS[args.optimizer]
    if factory is None:
        options["learning_rate"] = rate
    else:
        options["optimizer"] = factory(rate)
    result = jaxgd.fit(problem.loss, params, *problem.data, **options)
    learned = _unscaled(problem, result.params)
    report: dict[str, Any] = {
        **_about(data, args),
        **_learned(data, learned),
        **_quality(data, learned),
        "optimizer": args.optimizer,
        "learning_rate": rate,
        "max_learning_rate": problem.max_rate,
        "steps_taken": int(result.steps_taken),
        "converged": bool(result.converged),
        "diverged": bool(result.diverged),
    }
    # In float64 a rate past the bound can take hundreds of steps to overflow;
    # a loss that ended above where it started is divergence all the same.
    start = float(result.losses[0])
    growing = not report["diverged"] and report["final_loss"] > start
    report["diverged"] = report["diverged"] or growing
    if rate == "auto":
        steps = np.asarray(result.step_sizes, np.float64)
        taken = steps[np.isfinite(steps)]
        report["step_sizes"] = {
            "min": float(taken.min()) if taken.size else math.nan,
            "max": float(taken.max()) if taken.size else math.nan,
        }
        report["loss_evals"] = int(result.loss_evals)
    return _Fitted(problem, result, rate, why, report, start, growing)


def _run_fit(args: argparse.Namespace, reader: _reader.Reader | None = None) -> int:
    _check_optimizer(args)
    _check_outputs(
        [("--save", args.save), ("--plot", args.plot)], [("table", args.csv)]
    )
    plot = _plot_module("--plot", args.plot) if args.plot is not None else None
    # A long run's own time dwarfs the tracing that a rehearsal saves, and a
    # progress bar would show twice.
    rehearse = None
    if args.steps <= _REHEARSAL_STEPS:
        rehearse = functools.partial(_fitted, args=args)
    data = _load(args, reader, rehearse)
    problem, result, rate, why, report, start, growing = _fitted(data, args)
    if args.save is not None and not report["diverged"]:
        _save_model(args.save, report, data, problem)
    if args.json:
        print(_json(report))
    else:
        _print_fit(report, why, args)
    if args.plot is not None:
        # The gap to the optimum, where the losses drawn are of the whole data.
        optimum = report.get("closed_form_loss", report.get("optimum_loss"))
        if report["diverged"] or args.batch_size is not None:
            optimum = None
        _save_figure(plot.loss_curve(result, optimum=optimum), args.plot)
    if report["diverged"]:
        where = (
            f": the loss grew from {start:.6g} to {report['final_loss']:.6g} in "
            f"{report['steps_taken']} steps"
            if growing
            else f" at step {report['steps_taken']}"
        )
        if rate == "auto" or args.optimizer != "sgd":
            why = "" if growing else ": the loss or its gradient is not finite there"
            print(
                f"jaxgd: the fit diverged{where}{why}; check the data, or try a "
                "smaller --learning-rate",
                file=sys.stderr,
            )
        else:
            print(_divergence(rate, problem.max_rate, where), file=sys.stderr)
        if args.save is not None:
            print("jaxgd: the model was not saved", file=sys.stderr)
        return 1
    return 0


def _run_sweep(args: argparse.Namespace, reader: _reader.Reader | None = None) -> int:
    _check_optimizer(args)
    _check_outputs([("--plot", args.plot)], [("table", args.csv)])
    plot = _plot_module("--plot", args.plot) if args.plot is not None else None
    data = _load(args, reader)
    problem = _problem(data, args)
    params, options = _options(args, data)
    if isinstance(args.learning_rates, LogRates):
        start, stop, count = args.learning_rates
        rates = np.logspace(math.log10(start), math.log10(stop), count)
    else:
        rates = np.asarray(args.learning_rates, np.float64)
    # A sweep reports where each lane started and ended, not its path: the
    # first record of each lane is the one kept (history_every=steps), so
    # that the memory of a long sweep does not grow with its steps.
    result = jaxgd.sweep(
        problem.loss,
        params,
        *problem.data,
        learning_rates=rates,
        optimizer=_OPTIMIZERS[args.optimizer],
        history_every=max(1, args.steps),
        **options,
    )
    # As for fit: a lane whose loss ended above where it started diverged,
    # though in float64 it may not have overflowed yet.
    final = np.asarray(result.final_loss, np.float64)
    diverged = np.asarray(result.diverged) | (final > np.asarray(result.losses)[:, 0])
    runs = [
        {
            "learning_rate": float(rate),
            "final_loss": float(loss),
            "steps_taken": int(steps),
            "diverged": bool(lost),
        }
        for rate, loss, steps, lost in zip(
            rates, final, np.asarray(result.steps_taken), diverged, strict=True
        )
    ]
    try:
        index, lane = jaxgd.best(result)
    except ValueError:  # every lane diverged
        index = None
    if index is None or diverged[index]:
        top = None
    else:
        learned = _unscaled(problem, lane.params)
        top = {
            "index": index,
            **runs[index],
            **_learned(data, learned),
            **_quality(data, learned),
        }
    report = {
        **_about(data, args),
        "optimizer": args.optimizer,
        "max_learning_rate": problem.max_rate,
        "runs": runs,
        "best": top,
    }
    if args.json:
        print(_json(report))
    else:
        _print_sweep(report, args)
    if args.plot is not None:
        figure = plot.lr_sweep(
            rates,
            result,
            max_learning_rate=problem.max_rate,
            optimum=None if args.batch_size is not None else _optimum_loss(data),
        )
        _save_figure(figure, args.plot)
    if top is None:
        print(
            f"jaxgd: every learning rate diverged; try rates below "
            f"max_learning_rate = {problem.max_rate:.6g}",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    _check_outputs([("--out", args.out)], [("model", args.model), ("table", args.csv)])
    model = _read_model(args.model)
    if args.out in (None, "-") and sys.stdout is None:
        raise CliError("standard output is closed; give --out FILE")
    with _opened(args) as table:
        _, features = _table.select(table, None, model["features"])
        dropped = _predict(model, table, features, args)
    if dropped:
        print(
            f"jaxgd: {dropped} row{'s' if dropped > 1 else ''} with a missing cell "
            f"dropped: no prediction for {'them' if dropped > 1 else 'it'}",
            file=sys.stderr,
        )
    return 0


def _predict(
    model: dict, table: _table.Table, features: tuple[str, ...], args: Any
) -> int:
    """Writes the predictions of every row; returns the rows dropped."""
    params = {
        "W": jnp.asarray([[model["weights"][f]] for f in features], jnp.float64),
        "b": jnp.asarray([model["bias"]], jnp.float64),
    }
    name = model["target"] + ("_probability" if model["loss"] == "bce" else "")
    dropped = 0

    def write(stream: Any) -> None:
        nonlocal dropped
        # The header goes with the first block: a table refused at its first
        # rows writes nothing.
        head = f"{name}\n"
        for block in _table.read_rows(table, features, missing=args.missing):
            dropped += block.dropped
            out = linear.predict(params, block.values)
            if model["loss"] == "bce":
                out = jax.nn.sigmoid(out)
            values = np.asarray(out)[:, 0].tolist()
            stream.write(head + "".join(f"{v!r}\n" for v in values))
            head = ""

    if args.out is None:
        write(sys.stdout)
        return dropped
    try:
        _files.write(args.out, write)
    except OSError as error:
        raise CliError(
            f"cannot write the predictions to {args.out}: {error.strerror or error}"
        ) from None
    return dropped


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    _plot_module("jaxgd demo")
    try:
        rows = run_demo(args.out, num_steps=args.steps, format=args.format)
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


_COMMANDS = {
    "demo": _run_demo,
    "fit": _run_fit,
    "sweep": _run_sweep,
    "predict": _run_predict,
}


# --- models ------------------------------------------------------------------


def _save_model(path: str, report: dict, data: Data, problem: Problem) -> None:
    scaling = None
    if problem.scaling is not None:
        scaling = {
            key: dict(zip(data.features, np.asarray(value).tolist(), strict=True))
            for key, value in problem.scaling._asdict().items()
        }
    model = {
        "format": _MODEL_FORMAT,
        "jaxgd_version": jaxgd.__version__,
        "loss": data.loss,
        "target": data.target,
        "features": list(data.features),
        "weights": report["weights"],
        "bias": report["bias"],
        "standardization": scaling,
        "trained_on": {
            "data": data.source,
            "rows": data.rows,
            "dropped_rows": data.dropped,
            "final_loss": report["final_loss"],
            "steps_taken": report["steps_taken"],
        },
    }
    text = json.dumps(model, indent=2, allow_nan=False) + "\n"
    try:
        _files.write(path, lambda stream: stream.write(text))
    except OSError as error:
        raise CliError(
            f"cannot write the model to {path}: {error.strerror or error}"
        ) from None


def _read_model(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as stream:
            model = json.load(stream)
    except OSError as error:
        raise CliError(f"cannot read the model {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise CliError(f"{path} is not a model: not JSON ({error})") from None

    def wrong(what: str) -> CliError:
        return CliError(f"{path} is not a model saved by 'jaxgd fit --save': {what}")

    if not isinstance(model, dict) or model.get("format") != _MODEL_FORMAT:
        raise wrong(f'it has no "format": "{_MODEL_FORMAT}"')
    if model.get("loss") not in ("mse", "bce"):
        raise wrong(f'"loss" is {model.get("loss")!r}, not "mse" or "bce"')
    features, weights = model.get("features"), model.get("weights")
    if not (
        isinstance(features, list)
        and features
        and all(isinstance(f, str) for f in features)
    ):
        raise wrong('"features" is not a list of column names')
    if not isinstance(model.get("target"), str):
        raise wrong('"target" is not a column name')
    if not isinstance(weights, dict) or set(weights) != set(features):
        raise wrong('"weights" does not give one weight per feature')
    for key, value in [*weights.items(), ("bias", model.get("bias"))]:
        if not (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        ):
            raise wrong(f"the weight of {key!r} is {value!r}, not a finite number")
    return model


# --- output ------------------------------------------------------------------


def _about(data: Data, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "loss": data.loss,
        "data": data.source,
        "target": data.target,
        "rows": data.rows,
        "dropped_rows": data.dropped,
        "standardized": args.standardize,
    }


def _learned(data: Data, params: dict) -> dict[str, Any]:
    """The weights by feature name and the bias, in the units of the data."""
    return {
        "weights": dict(zip(data.features, params["W"][:, 0].tolist(), strict=True)),
        "bias": float(params["b"][0]),
    }


def _print_fit(report: dict[str, Any], why: str, args: argparse.Namespace) -> None:
    scaled = (
        "standardized for the optimizer, weights in the data's units"
        if report["standardized"]
        else "raw columns"
    )
    dropped = report["dropped_rows"]
    dropped = f" ({dropped} with a missing cell dropped)" if dropped else ""
    print(
        f"{report['loss']} fit of {report['target']!r} on {report['data']}: "
        f"{report['rows']} rows{dropped}, {len(report['weights'])} features, {scaled}"
    )
    if args.optimizer != "sgd":
        print(f"optimizer          {_OPTIMIZER_NAMES[args.optimizer]}")
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
    state = ""
    if report["diverged"]:
        state = " (diverged)"
    elif report["converged"]:
        state = " (converged: the gradient's norm reached --tol)"
    print(f"steps taken        {report['steps_taken']}{state}\n")
    lines = [("feature", "weight")]
    lines += [(name, f"{w:.6g}") for name, w in report["weights"].items()]
    lines.append(("bias", f"{report['bias']:.6g}"))
    print(_columns(lines, "lr"))
    print(f"\nfinal loss         {report['final_loss']:.6g}")
    if report["loss"] == "mse":
        print(f"closed-form loss   {report['closed_form_loss']:.6g} (linear.solve)")
        print(f"gap                {report['gap']:.3g}")
        optimum = report["closed_form_loss"]
    elif report["optimum_loss"] is None:
        print(f"optimum            none: {report['no_optimum']}")
        optimum = None
    else:
        print(
            f"optimum loss       {report['optimum_loss']:.6g} "
            '(linear.solve(..., loss="bce"), Newton\'s method)'
        )
        print(f"gap                {report['gap']:.3g}")
        optimum = report["optimum_loss"]
    if report["loss"] == "bce":
        rows = report["rows"]
        correct = round(report["accuracy"] * rows)
        print(f"accuracy           {report['accuracy']:.4f} ({correct} of {rows})")
    if (
        optimum is not None
        and not report["diverged"]
        and report["gap"] > 1e-3 * abs(optimum)
    ):
        scale = "" if report["standardized"] else ", or drop --no-standardize"
        print(f"\nnot at the optimum yet: try more --steps{scale}")


def _print_sweep(report: dict[str, Any], args: argparse.Namespace) -> None:
    scaled = "standardized" if report["standardized"] else "raw columns"
    dropped = report["dropped_rows"]
    dropped = f", {dropped} with a missing cell dropped" if dropped else ""
    print(
        f"{report['loss']} sweep of {report['target']!r} on {report['data']} "
        f"({report['rows']} rows{dropped}, {scaled}), {args.steps} steps per "
        "learning rate"
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


def _columns(lines: list[tuple[str, ...]], align: str) -> str:
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


def _divergence(rate: float, max_rate: float, where: str) -> str:
    # The chapter's advice is to cut a diverging rate to 10%; when even that is
    # above the bound, the bound's safe fraction is the better move.
    tenth = rate / 10
    if tenth <= AUTO_FRACTION * max_rate:
        suggestion = f"--learning-rate {tenth:.6g} (a tenth of it)"
    else:
        suggestion = (
            f"--learning-rate {AUTO_FRACTION * max_rate:.6g} "
            f"({AUTO_FRACTION} × max_learning_rate)"
        )
    return (
        f"jaxgd: the fit diverged{where}: learning rate {rate:.6g} is too "
        f"large (max_learning_rate = {max_rate:.6g}); try {suggestion}"
    )


# --- files -------------------------------------------------------------------


def _check_outputs(
    outputs: list[tuple[str, str | None]], inputs: list[tuple[str, str | None]]
) -> None:
    """Every output can be written, and none is an input or another output.

    Checked before the run, so that a long run does not end in an error, and a
    command never writes over what it reads.
    """
    given = [(option, path) for option, path in outputs if path is not None]
    for i, (option, path) in enumerate(given):
        if path == "-" or _files.writes_through(path):
            if path != "-" and not os.access(path, os.W_OK):
                raise CliError(f"{option} {path}: cannot write to it")
            continue
        target = Path(path)
        if target.is_dir():
            raise CliError(f"{option} {path} is a folder; give a file name")
        for role, other in inputs:
            if other is not None and _files.same_file(path, other):
                raise CliError(
                    f"{option} {path} is the {role} this command reads "
                    f"({other}); writing it would destroy the {role}: give "
                    "another file name"
                )
        for earlier, other in given[:i]:
            if _files.same_file(path, other):
                raise CliError(f"{option} {path} is also the file of {earlier}")
        folder = target.parent
        if not folder.exists():
            raise CliError(f"{option} {path}: the folder {folder} does not exist")
        if not folder.is_dir():
            raise CliError(f"{option} {path}: {folder} is not a folder")
        try:
            _files.probe(folder)
        except OSError as error:
            raise CliError(
                f"{option} {path}: cannot write into the folder {folder}: "
                f"{error.strerror or error}"
            ) from None


def _plot_module(what: str, path: str | None = None) -> Any:
    """`jaxgd.plot`, or a one-line error when matplotlib is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise CliError(f'{what} draws with matplotlib: pip install "jaxgd[plot]"')
    from jaxgd import plot

    if path is not None:
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        suffix = Path(path).suffix.lower().removeprefix(".")
        if suffix not in formats:
            raise CliError(
                f"{what} {path}: the file name must end in the figure's format, "
                f"one of {', '.join('.' + f for f in sorted(formats))}"
            )
    return plot


def _save_figure(figure: Any, path: str) -> None:
    suffix = Path(path).suffix.lower().removeprefix(".")
    try:
        _files.write(path, lambda stream: figure.savefig(stream, format=suffix), "wb")
    except OSError as error:
        raise CliError(
            f"cannot write the figure {path}: {error.strerror or error}"
        ) from None
    except ValueError as error:
        raise CliError(f"cannot write the figure {path}: {error}") from None
