"""Checkpoints: the loop's carry written at chunk boundaries, and resume.

**What is written.** A run with `checkpoint=path` carries a hook that,
after a chunk, asks the host (one `io_callback` of two scalars, at a cadence
the host measures, as `_interrupt` does) whether `checkpoint_every` seconds
have passed since the last write. When they have, the hook sends the host
the whole carry of the loop, as the next chunk will start from it: the
state (params, optimizer state, counters, statuses), the mini-batches'
permutation, the carries of the hooks that are part of the run (validation:
the lowest loss, its step, the patience count, the best params), the
histories, and the index of the next chunk. The carries of the hooks that
only talk to the host (when to ask it next) are left out: a resumed run
starts them afresh. The last chunk always writes, so a run that ends
leaves its final carry, and resuming it returns the same result at once. A
run stopped by Ctrl-C or by its callback writes nothing from then on: its
file holds the last carry before the stop, from which it can continue.

**Format.** One `.npz` file (numpy's zip of arrays): the carry's leaves in
the order of `jax.tree.flatten`, the next chunk, and a header (the format's
version, the carry's tree structure, and a fingerprint of the call: its
static settings and digests of its small traced inputs). It is exact (the
bytes of every array), needs nothing beyond numpy, and is read without
pickle. The file is written to a temporary file in the same folder, flushed
to disk, and renamed over the old one (`os.replace`, atomic on POSIX and
Windows): a kill at any moment leaves the previous checkpoint or the new
one, never a torn file.

**Resume.** `resume=path` reads the file before the run, checks it against
the call (its fingerprint, the carry's structure, the leaves' shapes and
dtypes), and starts the loop at the saved chunk with the saved carry. The
chunk is a traced input of the program: a run from the start and a resumed
run are one compiled program, which computes each chunk from the carry
alone, so the resumed run's params, optimizer state and histories are those
of the uninterrupted run, bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ._loop import Clock, Hook, Report, Resume
from ._step import INTERRUPTED, RUNNING, StepState

# The version of the file's layout; a file of another one is refused.
FORMAT = 1
# The checkpoint_every of a call that does not give one, in seconds.
DEFAULT_EVERY_S = 60.0
# The longest time between two questions to the host, in seconds.
ASK_EVERY_S = 0.1
# The chunks between two questions grow at most this many times per question.
GROWTH = 8


class Start(NamedTuple):
    """The traced part of a run that can be checkpointed or resumed.

    Attributes:
        run: 0-d int32, the host's record of the call (its path, cadence).
        chunk: the chunk to start from (0 for a fresh run), or None before
            the carry is known.
        saved: the carry to start from, without the host hooks' carries, or
            None before it is known.
    """

    run: jax.Array
    chunk: jax.Array | None = None
    saved: tuple | None = None


@dataclasses.dataclass(eq=False)
class _Run:
    """The host's side of a call: where to write, and when it last did."""

    path: str | None
    every_s: float
    resume: str | None
    header: str = ""
    asked: float = 0.0
    saved: float = 0.0


_runs: dict[int, _Run] = {}
_ids: dict[tuple, int] = {}


def prepare(checkpoint: Any, checkpoint_every: Any, resume: Any) -> Start | None:
    """Checks the three arguments at call time; None when both are off.

    The folder of `checkpoint` must exist and take a new file (one is
    created there and removed); `resume` must be a file.
    """
    if checkpoint is None:
        if checkpoint_every is not None:
            raise ValueError(
                "checkpoint_every is the time between two checkpoints: pass "
                f"checkpoint=path too; got checkpoint_every={checkpoint_every!r} "
                "without checkpoint."
            )
    else:
        checkpoint = _path(checkpoint, "checkpoint")
        folder = os.path.dirname(os.path.abspath(checkpoint))
        try:
            fd, probe = tempfile.mkstemp(prefix=".jaxgd-", dir=folder)
            os.close(fd)
            os.remove(probe)
        except OSError as error:
            raise ValueError(
                f"checkpoint must be a file in a folder that exists and can be "
                f"written; got {checkpoint!r}: {error.strerror}."
            ) from None
        if os.path.isdir(checkpoint):
            raise ValueError(
                f"checkpoint must be a file, not a folder; got {checkpoint!r}."
            )
    every = DEFAULT_EVERY_S if checkpoint_every is None else checkpoint_every
    if (
        isinstance(every, bool)
        or not isinstance(every, (int, float, np.integer, np.floating))
        or not (every > 0)
        or math.isnan(every)
    ):
        raise ValueError(
            "checkpoint_every must be a positive number of seconds; got "
            f"{checkpoint_every!r}."
        )
    if resume is not None:
        resume = _path(resume, "resume")
        if not os.path.isfile(resume):
            raise FileNotFoundError(f"resume: there is no checkpoint at {resume!r}.")
    if checkpoint is None and resume is None:
        return None
    settings = (checkpoint, float(every), resume)
    if settings not in _ids:
        _ids[settings] = len(_ids)
        _runs[_ids[settings]] = _Run(*settings)
    return Start(run=np.int32(_ids[settings]))


def _path(value: Any, name: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike); got {value!r}.")
    return os.fspath(value)


def kept(loop: tuple, hooks: dict[str, Hook]) -> tuple:
    """The part of the loop's carry a checkpoint holds: all but the host hooks'."""
    state, extra, carries, history = loop
    carries = {
        name: carry
        for name, carry in carries.items()
        if name in hooks and not hooks[name].host
    }
    return state, extra, carries, history


def resume_from(start: Start, fresh: tuple, hooks: dict[str, Hook]) -> Resume:
    """Inside the run: the saved carry, with the host hooks' carries afresh."""
    state, extra, carries, history = start.saved
    carries = {
        name: carries[name] if name in carries else carry
        for name, carry in fresh[2].items()
    }
    return Resume(start.chunk, (state, extra, carries, history))


def hook(chunks: int, hooks: dict[str, Hook], run: jax.Array) -> Hook:
    """The loop's hook, the last one: writes the carry when the host says so.

    Args:
        chunks: the chunks of the run.
        hooks: the run's hooks, this one excluded: which carries to keep.
        run: the host's record of the call.

    Its carry is `(left, every)`: the chunks before the next question, and
    the number the host last asked for.
    """

    def init(state: StepState) -> tuple:
        del state
        return jnp.ones((), jnp.int32), jnp.ones((), jnp.int32)

    def after(state: StepState, carry: tuple, clock: Clock, report: Report) -> tuple:
        left, every = carry
        inside = clock.index < chunks
        # A run stopped by the host continues from the checkpoint before.
        stopped = jnp.any(state.status == INTERRUPTED)
        due = jnp.any(state.status == RUNNING) & (left <= 1) & inside & ~stopped
        write, every = jax.lax.cond(
            due,
            lambda every: _ask(run, every),
            lambda every: (jnp.zeros((), bool), every),
            every,
        )
        write = (write | (clock.index == chunks - 1)) & ~stopped
        loop = kept(report.loop, hooks)
        jax.lax.cond(
            write,
            lambda: _send(run, clock.index + 1, loop),
            lambda: None,
        )
        left = jnp.where(due, every, left - 1)
        return state, (left, every)

    return Hook(init=init, after=after, host=True)


def _ask(run: jax.Array, every: jax.Array) -> tuple[jax.Array, jax.Array]:
    return io_callback(
        _answer,
        (jax.ShapeDtypeStruct((), bool), jax.ShapeDtypeStruct((), jnp.int32)),
        run,
        every,
        ordered=False,
    )


def _answer(run: np.ndarray, every: np.ndarray) -> tuple[np.bool_, np.int32]:
    """On the host: whether to write now, and the chunks to the next question."""
    record = _runs[int(run)]
    now = time.monotonic()
    elapsed, record.asked = now - record.asked, now
    every = int(every)
    ask_s = min(ASK_EVERY_S, record.every_s / 4)
    target = every * ask_s / max(elapsed, 1e-9)
    following = int(min(every * GROWTH, max(1.0, target), 2**30))
    # Written at the question before `every_s` is up, not the one after.
    due = record.path is not None and now - record.saved + ask_s >= record.every_s
    return np.bool_(due), np.int32(following)


def _send(run: jax.Array, chunk: jax.Array, loop: tuple) -> None:
    io_callback(_write, jax.ShapeDtypeStruct((), bool), run, chunk, loop, ordered=False)


def _write(run: np.ndarray, chunk: np.ndarray, loop: tuple) -> np.bool_:
    """On the host: the carry written atomically to the call's path."""
    record = _runs[int(run)]
    if record.path is None:
        return np.bool_(False)
    leaves = jax.tree.leaves(loop)
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["chunk"] = np.asarray(chunk, np.int32)
    arrays["header"] = np.asarray(record.header)
    write_atomically(record.path, arrays)
    record.saved = time.monotonic()
    return np.bool_(True)


def write_atomically(path: str, arrays: dict[str, np.ndarray]) -> None:
    """`numpy.savez` to a temporary file in the folder, synced, renamed to `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".jaxgd-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    with contextlib.suppress(OSError):  # not every system syncs a folder
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def start(initial: Callable[[], tuple], settings: dict[str, Any], inputs: Any) -> Start:
    """On the host, before the run: the chunk and carry it starts from.

    Args:
        initial: the compiled function of the run's initial kept carry.
        settings: the static settings of the call that a resumed run must
            share (the fingerprint).
        inputs: the call's `Inputs`, whose small traced numbers must match.

    Raises:
        ValueError: under the user's `jax.vmap` or `jax.grad`, or when the
            file of `resume` does not belong to this call.
    """
    transformed = [
        x
        for x in jax.tree.leaves(inputs)
        if isinstance(x, jax.core.Tracer)
        and not isinstance(x, jax.interpreters.partial_eval.DynamicJaxprTracer)
    ]
    if transformed:
        raise ValueError(
            "checkpoint and resume hold one run on the host: they cannot be used "
            "under jax.vmap or jax.grad of fit (jax.jit is fine); for many runs "
            "in one call use jaxgd.sweep or jaxgd.multistart with checkpoint=."
        )
    record = _runs[int(inputs.checkpoint.run)]
    values = {
        name: _digest(getattr(inputs, name))
        for name in ("learning_rate", "hyperparams", "tol", "key")
    }
    # The fresh carry (a compiled call of the small program), also what a
    # file must match.
    fresh = initial()
    expected = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), fresh)
    structure = str(jax.tree.structure(expected))
    fingerprint = {"settings": settings, "values": values}
    record.header = json.dumps(
        {"format": FORMAT, "structure": structure, **fingerprint}
    )
    if record.resume is None:
        chunk, saved = np.int32(0), fresh
    else:
        chunk, saved = _load(record.resume, expected, structure, fingerprint)
    record.asked = record.saved = time.monotonic()
    return Start(inputs.checkpoint.run, chunk, saved)


def _digest(tree: Any) -> str | None:
    """A digest of the values of `tree`, or None when they are not known now."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return "none"
    hasher = hashlib.sha256()
    for leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            return None
        if jnp.issubdtype(jnp.result_type(leaf), jax.dtypes.prng_key):
            with jax.ensure_compile_time_eval():  # a key is known under jit too
                leaf = jax.random.key_data(leaf)
        value = np.asarray(leaf)
        hasher.update(str((value.shape, value.dtype.str)).encode())
        hasher.update(value.tobytes())
    return hasher.hexdigest()[:16]


def _load(
    path: str, expected: Any, structure: str, fingerprint: dict[str, Any]
) -> tuple[np.int32, Any]:
    """The chunk and carry of the file at `path`, checked against the call."""
    try:
        with np.load(path, allow_pickle=False) as file:
            arrays = {name: file[name] for name in file.files}
        header = json.loads(str(arrays.pop("header")))
        chunk = np.int32(arrays.pop("chunk"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"resume: {path!r} is not a checkpoint jaxgd can read ({error})."
        ) from None
    if header.get("format") != FORMAT:
        raise ValueError(
            f"resume: {path!r} has checkpoint format {header.get('format')!r}; "
            f"this version reads format {FORMAT}."
        )
    settings, values = header.get("settings", {}), header.get("values", {})
    differs = [
        f"{name}: the checkpoint's run has {settings.get(name)!r}, this call {value!r}"
        for name, value in fingerprint["settings"].items()
        if settings.get(name) != value
    ] + [
        f"{name} differs"
        for name, value in fingerprint["values"].items()
        # Values under the user's jit are not known: they are not compared.
        if None not in (value, values.get(name)) and values.get(name) != value
    ]
    if differs:
        raise ValueError(
            f"resume: the checkpoint {path!r} was written by another run; "
            + "; ".join(differs)
            + "."
        )
    if header.get("structure") != structure:
        raise ValueError(
            f"resume: the checkpoint {path!r} holds a run of another structure "
            f"(another optimizer, model or option?): it has "
            f"{header.get('structure')}, this call needs {structure}."
        )
    paths, treedef = jax.tree_util.tree_flatten_with_path(expected)
    leaves = []
    for i, (where, want) in enumerate(paths):
        got = arrays[f"leaf_{i}"]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(
                f"resume: the checkpoint {path!r} has {jax.tree_util.keystr(where)} "
                f"of shape {got.shape} and dtype {got.dtype}; this call needs "
                f"shape {want.shape} and dtype {want.dtype}."
            )
        leaves.append(got)
    return chunk, jax.tree.unflatten(treedef, leaves)
