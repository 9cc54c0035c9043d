"""Files the command line writes: whole or not at all, and never an input.

A regular file (or a new one) is written beside its name and renamed into
place. Standard output (`-`, or a name of it such as `/dev/stdout`), a named
pipe, a terminal or another device is written through: renaming a file over
it would replace the pipe or the device node, and nothing would reach its
reader.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
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
    """Runs `writer(stream)` into `path`, or through it if it `writes_through`."""
    if str(path) == "-" or _is_stdout(path):
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        writer(stream)
        stream.flush()
    elif writes_through(path):
        encoding = None if "b" in mode else "utf-8"
        with open(path, mode, encoding=encoding) as stream:
            writer(stream)
    else:
        with replacing(path, mode) as stream:
            writer(stream)


def writes_through(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is written in place rather than replaced.

    That is `-`, standard output, or an existing file that is not a regular
    one (a pipe, a terminal, a device).
    """
    if str(path) == "-" or _is_stdout(path):
        return True
    # A device node, or a name of a file descriptor (/dev/stdout, /dev/fd/1,
    # /proc/self/fd/1), is never replaced, wherever it leads.
    folder = os.path.dirname(os.path.abspath(path))
    if any(folder == top or folder.startswith(top + os.sep) for top in _SYSTEM):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether the two names lead to one file (through links, or one inode)."""
    if "-" in (str(a), str(b)):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def probe(folder: str | os.PathLike[str]) -> None:
    """Creates and removes a file in `folder`; raises `OSError` if it cannot."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=".jaxgd-probe.", suffix=".tmp")
    os.close(handle)
    os.unlink(name)


def _is_stdout(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is the file that standard output writes to."""
    try:
        here = os.stat(path)
        out = os.fstat(sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):  # no such file; no real stdout
        return False
    return (here.st_dev, here.st_ino) == (out.st_dev, out.st_ino)


# Folders of device nodes and of the process's own files.
_SYSTEM = ("/dev", "/proc")


def _mode(target: Path) -> int:
    """The permissions of `target`, or those the umask gives a new file."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
