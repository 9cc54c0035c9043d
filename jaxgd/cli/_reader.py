"""The table of `fit` and `sweep`, read by a second process while JAX is imported.

A large table takes a while to parse, and so does importing JAX and tracing
the command's programs; both hold the GIL, so threads cannot run them side
by side. When the command is started from the shell (JAX not imported yet),
`start` forks a process before the import: it reads the table with numpy
alone (`_table.read_rows`, the C parser a block at a time) and sends each
block of rows through a pipe, while this process imports JAX and, for `fit`,
rehearses its programs on stand-in data of the table's shape (see
`_commands._rehearse`). The child reads at most `_AHEAD_BYTES` of rows ahead
of the blocks taken here, so memory stays bounded on a table of any size.

Everything the child raises is sent in its place among the blocks and raised
here when that block is asked for, so messages, and their order with the
other checks of the command, are those of reading in this process; `opened`
is that reading, the one both paths run. A command called from Python, once
JAX is imported, reads in its own process: there is no import to overlap, and
forking a process that runs JAX's threads is unsafe.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import queue
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import _table

# The rows the child may hold, parsed, beyond those taken by this process:
# about what it parses while this process imports JAX and rehearses.
_AHEAD_BYTES = 256 << 20


class Rows(NamedTuple):
    """The table of a command, its columns chosen, and its rows to read.

    Attributes:
        source: the table's name in messages (its path, or "standard input").
        target: the name of the target column.
        features: the names of the feature columns.
        blocks: the rows, target first, then the features, a block at a time.
    """

    source: str
    target: str | None
    features: tuple[str, ...]
    blocks: Iterator[_table.Block]


@contextlib.contextmanager
def opened(args: argparse.Namespace) -> Iterator[Rows]:
    """The table of `args`, read in this process; closed when the block ends."""
    table = _table.open_table(
        args.csv,
        args.delimiter,
        skip_rows=args.skip_rows,
        header=not args.no_header,
    )
    try:
        target, features = _table.select(table, args.target, args.features)
        blocks = _table.read_rows(
            table,
            [target, *features],
            missing=args.missing,
            optional=features if args.features is None else (),
        )
        yield Rows(table.path, target, features, blocks)
    finally:
        _table.close(table)


def start(args: argparse.Namespace) -> Reader | None:
    """A child process reading the table of `args`, or None to read it here.

    None when there is no table, no target (an error the command reports),
    no `fork` on this system, JAX is imported already, or no process can be
    started.
    """
    if (
        getattr(args, "csv", None) is None
        or getattr(args, "target", None) is None
        or not hasattr(os, "fork")
        or sys.platform != "linux"
        or "jax" in sys.modules
    ):
        return None
    read_end, write_end = os.pipe()
    try:
        with warnings.catch_warnings():
            # Python warns of a fork beside other threads; the one running
            # here (`_interrupts_not_lost`'s) is never used by the child.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # no process to spare: the table is read here
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child: it never returns into the command
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
            _serve(args, os.fdopen(write_end, "wb"))
        finally:
            os._exit(0)
    os.close(write_end)
    return Reader(pid, os.fdopen(read_end, "rb"))


def _serve(args: argparse.Namespace, pipe: Any) -> None:
    """Reads the table and sends it, message by message, to the parent.

    A thread sends while the reading goes on, up to `_AHEAD_BYTES` of blocks
    ahead of what the parent has taken.
    """
    pending: queue.Queue | None = None
    sender = None

    def send() -> None:
        while True:
            message = pending.get()
            _send(pipe, message)
            if message[0] in ("end", "error"):
                return

    try:
        with opened(args) as rows:
            size = _table.BLOCK_ROWS * 8 * (1 + len(rows.features))
            pending = queue.Queue(maxsize=max(1, _AHEAD_BYTES // size))
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            pending.put(("columns", rows.source, rows.target, rows.features))
            for block in rows.blocks:
                pending.put(("block", block))
        pending.put(("end",))
    except BaseException as error:
        if pending is None:
            _send(pipe, ("error", _picklable(error)))
        else:
            pending.put(("error", _picklable(error)))
    if sender is not None:
        sender.join()


def _send(pipe: Any, message: tuple) -> None:
    # A parent that has stopped reading has closed the pipe: writing fails,
    # and the child ends there.
    try:
        pickle.dump(message, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.flush()
    except BaseException:
        os._exit(0)


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class Reader:
    """The parent's end of a child reading the table (see `start`)."""

    def __init__(self, pid: int, pipe: Any) -> None:
        self._pid: int | None = pid
        self._pipe = pipe

    @contextlib.contextmanager
    def rows(self) -> Iterator[Rows]:
        """What `opened` gives, read by the child; it is stopped when the block ends."""
        try:
            _, source, target, features = self._receive("columns")
            yield Rows(source, target, features, self._blocks())
        finally:
            self.stop()

    def _blocks(self) -> Iterator[_table.Block]:
        while True:
            message = self._receive("block", "end")
            if message[0] == "end":
                return
            yield message[1]

    def _receive(self, *kinds: str) -> tuple:
        try:
            message = pickle.load(self._pipe)
        except EOFError:
            message = ("error", RuntimeError("the process reading the table ended"))
        if message[0] == "error":
            raise message[1]
        if message[0] not in kinds:
            raise RuntimeError(f"the table's reader sent {message[0]!r}")
        return message

    def stop(self) -> None:
        """Ends the child, whatever it is doing, and waits for it; once is enough."""
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        self._pipe.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
