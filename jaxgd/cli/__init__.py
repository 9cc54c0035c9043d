"""The `jaxgd` command line: `demo`, `fit`, `sweep` and `predict`.

`fit` and `sweep` train the linear model of `jaxgd.linear` on a CSV table, or
on a shipped data set when no file is given, and report the learned weights by
feature name, in the units of the data; `fit --save` keeps the model and
`predict` applies it to another table. Bad input is one line on stderr
starting with `jaxgd: error:` and exit status 2; a run that diverged exits
with status 1 and says which learning rate to try instead; Ctrl-C ends the
command with the line `jaxgd: interrupted` and exit status 130.

This module parses the arguments with the standard library alone, so that
`--help`, `--version` and usage errors answer at once; the commands, which
need JAX, are imported once the arguments are good.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import errno
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["main", "script"]

_LOSSES = ("bce", "mse")
_OPTIMIZERS = ("adam", "momentum", "sgd")
# Argument values that would overflow what they are passed to.
_MAX_STEPS = 2**31 - 1
_MAX_SEED = 2**63 - 1
# `--auto-lr` takes this fraction of `linear.max_learning_rate`; mini-batch
# gradients are noisier than the full-batch ones the bound is computed for.
AUTO_FRACTION = 0.9
AUTO_FRACTION_BATCHED = 0.5
# The file formats of `jaxgd demo --format`.
DEMO_FORMATS = ("png", "svg", "pdf")


class CliError(Exception):
    """Bad command-line input; `main` prints it as one line and exits with 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `jaxgd` command line.

    Args:
        argv: the arguments after the program name; `sys.argv[1:]` when None.

    Returns:
        The exit status: 0 on success, 1 when a run diverged, 2 for bad input,
        130 when interrupted.
    """
    try:
        with _interrupts_not_lost() as interrupts:
            return _main(argv, interrupts)
    except KeyboardInterrupt:
        print("jaxgd: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None, interrupts: _Interrupts) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error reported
        return int(stop.code or 0)
    from ._reader import start
    from ._table import TableError

    reader = None
    try:
        if sys.stdout is None and args.command != "predict":
            raise CliError("standard output is closed; there is nowhere to report")
        # The table is read by another process while JAX is imported.
        reader = start(args) if args.command in ("fit", "sweep") else None
        with _interrupts_deferred():
            from jaxgd import _interrupt

            from ._commands import run

        interrupts.runs = _interrupt
        with interrupts.come_first():
            status = run(args, reader)
            if sys.stdout is not None:
                sys.stdout.flush()  # a closed pipe or a full disk shows here
        return status
    except (TableError, CliError) as error:
        print(f"jaxgd: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (`jaxgd demo | head`): stop quietly, and point stdout
        # at nothing so that the flush at exit does not raise again.
        _silence_stdout()
        return 1
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EIO, errno.EBADF):
            raise
        _silence_stdout()
        print(
            f"jaxgd: error: cannot write to standard output: {error.strerror}",
            file=sys.stderr,
        )
        return 2
    finally:
        if reader is not None:
            reader.stop()


class _Interrupts:
    """Ctrl-C during a command: whether it was pressed; the runs to stop."""

    def __init__(self) -> None:
        self.pressed = threading.Event()
        self.runs: Any = None  # `jaxgd._interrupt`, once JAX is imported

    def press(self) -> None:
        self.pressed.set()
        if self.runs is not None:
            self.runs.request()

    @contextlib.contextmanager
    def come_first(self) -> Iterator[None]:
        """Once Ctrl-C was pressed, an error raised is its doing: an interrupt."""
        try:
            yield
        except Exception:
            if self.pressed.is_set():
                raise KeyboardInterrupt from None
            raise


@contextlib.contextmanager
def _interrupts_not_lost() -> Iterator[_Interrupts]:
    """Ctrl-C always ends the command as interrupted, wherever it lands.

    Python raises `KeyboardInterrupt` in whatever Python code runs when the
    signal arrives, and some code on the way loses it or changes it:

    - a garbage-collection callback or a `__del__` (JAX registers one, and
      runs many while it imports and compiles): Python prints "Exception
      ignored in ..." with a traceback and drops the exception;
    - a bare `except:` (JAX has a few on its tracing path) drops it;
    - JAX's comparison of pytree metadata turns it into a `ValueError`.

    Here Ctrl-C is also recorded. One dropped in a finalizer is kept quiet
    and raised again in the main thread by a watching thread; a long compiled
    run that has not started yet does not start (`jaxgd._interrupt`); and a
    command that ends in any other way once Ctrl-C was pressed ends as
    interrupted.
    """
    interrupts = _Interrupts()
    previous = sys.unraisablehook
    dropped, done = threading.Event(), threading.Event()

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            dropped.set()
        else:
            previous(unraisable)

    def watch() -> None:
        while dropped.wait() and not done.is_set():
            dropped.clear()
            _thread.interrupt_main()

    def interrupt(signum: int, frame: Any) -> None:
        interrupts.press()
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        # None: a handler set outside Python, which cannot be put back as is.
        handler = signal.signal(signal.SIGINT, interrupt) or signal.default_int_handler
    sys.unraisablehook = hook
    threading.Thread(target=watch, name="jaxgd-interrupts", daemon=True).start()
    try:
        yield interrupts
    finally:
        done.set()
        dropped.set()  # lets the watching thread end
        sys.unraisablehook = previous
        if interrupts.pressed.is_set() and interrupts.runs is not None:
            interrupts.runs.forget()
        if main_thread:
            signal.signal(signal.SIGINT, handler)
    if interrupts.pressed.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C during the block takes effect when it ends.

    For the import of JAX: an interrupt raised while jaxlib initialises its
    compiled extension aborts the process from C++ instead of unwinding.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def script() -> None:
    """The `jaxgd` program: runs `main` and exits with its status.

    After Ctrl-C the process ends at once, without the interpreter's
    shutdown: JAX's threads may be in the middle of a compilation, and
    tearing the runtime down under them can crash the process after the
    one-line message, turning exit status 130 into a crash.
    """
    status = main()
    if status == 130:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(130)
    raise SystemExit(status)


def _silence_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


# --- arguments ---------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one `jaxgd: error:` line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"jaxgd: error: {message} (see '{self.prog} --help')\n")


def _whole(minimum: int, maximum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {minimum} to {maximum}; got {text!r}"
            )
        return value

    return parse


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


def _delimiter(text: str) -> str:
    if text in ("tab", "\\t"):
        return "\t"
    if len(text) != 1 or text.isalnum() or text in '.+-"\r\n ':
        raise argparse.ArgumentTypeError(
            "expected one character between cells, such as , ; | or 'tab' "
            f"(not a letter, digit, sign, point, quote or space); got {text!r}"
        )
    return text


class LogRates(NamedTuple):
    """`--learning-rates START:STOP:COUNT`: COUNT log-spaced rates."""

    start: float
    stop: float
    count: int


def _learning_rates(text: str) -> LogRates | tuple[float, ...]:
    """Parses `START:STOP:COUNT` (log-spaced rates) or a comma list of rates."""
    if ":" not in text:
        try:
            rates = tuple(float(part) for part in text.split(","))
        except ValueError:
            rates = ()
        if not (rates and all(math.isfinite(x) and x > 0 for x in rates)):
            raise argparse.ArgumentTypeError(
                "expected positive numbers separated by commas (e.g. 0.01,0.1,0.5) "
                f"or START:STOP:COUNT (e.g. 1e-3:1:10); got {text!r}"
            )
        return rates
    parts = text.split(":")
    try:
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        valid = len(parts) == 3 and 1 <= count <= 1_000_000
        valid = valid and all(math.isfinite(x) and x > 0 for x in (start, stop))
    except (ValueError, IndexError):
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(
            "expected START:STOP:COUNT, two positive numbers and a whole number "
            f">= 1 (e.g. 1e-3:1:10 for 10 log-spaced rates), or rates separated "
            f"by commas (e.g. 0.01,0.1,0.5); got {text!r}"
        )
    return LogRates(start, stop, count)


def _file_name(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a file name; got ''")
    return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxgd")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


class _VersionAction(argparse.Action):
    """`--version`, whose number is looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help=kwargs.get("help"))

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"jaxgd {_version()}")
        parser.exit(0)


def _cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not keep compiled programs between runs (by default they are "
        "kept in the user's cache folder, or in $JAXGD_CACHE_DIR)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxgd",
        description="Gradient descent in JAX, from the command line.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the version and exit"
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="run the gradient-descent chapter end to end and draw its figures",
        description="Runs the chapter's story on the shipped data and writes "
        "one figure per part.",
        allow_abbrev=False,
    )
    demo.add_argument(
        "--format",
        choices=DEMO_FORMATS,
        default="png",
        help="the figures' file format (default: png)",
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
        type=_whole(1, _MAX_STEPS),
        default=1000,
        help="gradient-descent steps of each model run (default: 1000)",
    )
    _cache_option(demo)

    reading = _Parser(add_help=False, allow_abbrev=False)
    reading.add_argument(
        "--delimiter",
        metavar="CHAR",
        type=_delimiter,
        help="the character between cells (default: , ; tab or |, found from "
        "the header and the first row)",
    )
    reading.add_argument(
        "--skip-rows",
        metavar="N",
        type=_whole(0, _MAX_STEPS),
        default=0,
        help="skip the first N lines of the table, before its header (e.g. 1 "
        "for scikit-learn's CSV files, whose first line holds counts)",
    )
    reading.add_argument(
        "--no-header",
        action="store_true",
        help="the table has no header row: its columns are named x0, x1, ... "
        "(columns can also be given by number, from 0)",
    )
    reading.add_argument(
        "--missing",
        choices=("error", "drop"),
        default="error",
        help="a row with a missing cell (empty, NA, N/A, NaN, null or ?) in a "
        "used column: refuse the table, or drop the row (default: error)",
    )

    training = _Parser(add_help=False, allow_abbrev=False, parents=[reading])
    training.add_argument(
        "csv",
        metavar="CSV",
        nargs="?",
        type=_file_name,
        help="a CSV table with a header row, or - to read it from standard "
        "input; without it the shipped auto_mpg (for mse) or breast_cancer (for "
        "bce) data set is used",
    )
    training.add_argument(
        "--target",
        metavar="COL",
        help="the column to predict, by name or number from 0 (required with a CSV)",
    )
    training.add_argument(
        "--features",
        metavar="A,B,...",
        type=_column_names,
        help="the input columns, by name or number from 0 (default: every "
        "column but the target); other columns may hold anything",
    )
    training.add_argument(
        "--loss",
        choices=_LOSSES,
        default="mse",
        help="mse: linear regression; bce: logistic regression on 0/1 labels "
        "(default: mse)",
    )
    training.add_argument(
        "--steps",
        metavar="N",
        type=_whole(1, _MAX_STEPS),
        default=1000,
        help="number of updates (default: 1000)",
    )
    training.add_argument(
        "--batch-size",
        metavar="B",
        type=_whole(1, _MAX_STEPS),
        help="mini-batch SGD with batches of B rows, the table in memory "
        "(default: full batch; mse then streams the table)",
    )
    training.add_argument(
        "--seed",
        metavar="S",
        type=_whole(0, _MAX_SEED),
        default=0,
        help="seeds the initial weights (linear.init) and the mini-batch order "
        "(default: 0)",
    )
    training.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rescale every feature to mean 0 and standard deviation 1 for the "
        "optimizer and report the weights in the data's units (the default); "
        "--no-standardize runs on the raw columns",
    )
    training.add_argument(
        "--optimizer",
        choices=_OPTIMIZERS,
        default="sgd",
        help="sgd: plain gradient descent; momentum: with momentum 0.9; adam "
        "(needs --learning-rate) (default: sgd)",
    )
    training.add_argument(
        "--tol",
        metavar="TOL",
        type=_positive_float,
        help="stop once the gradient's norm is at most TOL",
    )
    training.add_argument(
        "--plot",
        metavar="FILE",
        type=_file_name,
        help="draw a figure into FILE, whose extension picks the format; the "
        "gap to the optimum on a log axis when the optimum is known",
    )
    training.add_argument(
        "--json", action="store_true", help="print one JSON object and nothing else"
    )
    _cache_option(training)

    fit_parser = commands.add_parser(
        "fit",
        parents=[training],
        help="fit the linear model to a table by gradient descent",
        description="Fits f(x) = x·W + b by gradient descent and compares it "
        "with the exact optimum: the closed form (mse) or Newton's method "
        "(bce). --plot draws the loss curve, as the gap to the optimum on a "
        "log axis when there is one.",
        allow_abbrev=False,
    )
    rate = fit_parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--learning-rate", metavar="LR", type=_positive_float, help="the step size"
    )
    rate.add_argument(
        "--auto-lr",
        action="store_true",
        help=f"use {AUTO_FRACTION} × linear.max_learning_rate "
        f"({AUTO_FRACTION_BATCHED} × with --batch-size); the default",
    )
    rate.add_argument(
        "--line-search",
        action="store_true",
        help="let an Armijo backtracking line search choose every step "
        '(jaxgd.fit(..., learning_rate="auto")); pays off on unstandardized columns',
    )
    fit_parser.add_argument(
        "--save",
        metavar="MODEL.json",
        type=_file_name,
        help="write the fitted model (weights by feature in the data's units, "
        "bias, loss, target, standardization) to this file",
    )

    sweep_parser = commands.add_parser(
        "sweep",
        parents=[training],
        help="fit once per learning rate, all in one compiled call",
        description="Runs one fit per learning rate in one compiled, vmapped "
        "call and picks the best. --plot draws final loss against learning "
        "rate with max_learning_rate marked (the gap to the optimum on a log "
        "axis when there is one).",
        allow_abbrev=False,
    )
    sweep_parser.add_argument(
        "--learning-rates",
        metavar="START:STOP:COUNT|A,B,...",
        type=_learning_rates,
        required=True,
        help="COUNT log-spaced rates from START to STOP (e.g. 1e-3:1:10), or the "
        "rates themselves separated by commas (e.g. 0.01,0.1,0.5)",
    )

    predict = commands.add_parser(
        "predict",
        parents=[reading],
        help="apply a model saved by 'jaxgd fit --save' to a table",
        description="Writes one prediction per row of the table as CSV: the "
        "value for mse, the probability of label 1 for bce.",
        allow_abbrev=False,
    )
    predict.add_argument(
        "model", metavar="MODEL.json", type=_file_name, help="a saved model"
    )
    predict.add_argument(
        "csv",
        metavar="CSV",
        type=_file_name,
        help="a table with the model's feature columns, or - to read it from "
        "standard input",
    )
    predict.add_argument(
        "--out",
        metavar="FILE",
        type=_file_name,
        help="write the predictions here (default, or -: standard output)",
    )
    _cache_option(predict)
    return parser
