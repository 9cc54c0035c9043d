"""Files the command line writes: whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """A temporary file beside `path` that becomes `path` when the block ends.

    Written in full, flushed to disk and then renamed over `path`, so that an
    interrupted run leaves the old file, or none, never half a new one; on an
    error the temporary file is removed and `path` is untouched. A symlink at
    `path` is replaced by the new file: the file it pointed to is not written.
    """
    target = Path(path)
    folder = target.parent
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        # A temporary file is private to its owner; the file it becomes gets
        # the permissions of any new file (or of the one it replaces).
        os.chmod(temporary, _mode(target))
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write(path: str | os.PathLike[str], writer: Callable[[IO], None], mode="w"):
    """Runs `writer(stream)` into `replacing(path)`."""
    with replacing(path, mode) as stream:
        writer(stream)


def _mode(target: Path) -> int:
    """The permissions of `target`, or those the umask gives a new file."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
