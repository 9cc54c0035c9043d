"""The command line's cache of compiled programs, kept whole.

The cache is JAX's persistent compilation cache, one file an entry. JAX reads
an entry and trusts it: a damaged one (empty, truncated, garbage) is two lines
of warning on every run and is never repaired, since JAX does not write over
an entry; an entry of another program (files swapped) ends in a traceback.

So the command line records the SHA-256 of every entry, in a file beside them,
once the run that wrote it ends. Before a run, an entry whose bytes differ from
their record is removed, and JAX compiles its program again and writes it
anew; a warning says so in one line. An entry without a record (of a run that
did not end, or still running) is removed too: it may be half written. A
folder that cannot be written to is one line, and the run goes on without the
cache. When JAX still cannot read an entry during a run, the entries that do
not decompress are removed there and then, before JAX compiles the program
and writes it again, and a warning says so in one line, once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import jax

from . import _files

# The records of the entries, beside them in the cache folder.
_RECORDS = "jaxgd-entries.json"
# JAX's entries are `<program>-<key>-cache` (and `-atime` beside them when
# the cache has a size limit).
_ENTRY = "-cache"
_JAX_WARNING = re.compile(r"Error (reading|writing) persistent compilation cache")


@contextlib.contextmanager
def kept(folder: Path) -> Iterator[None]:
    """Runs the block with JAX's compilation cache in `folder`, kept whole."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _files.probe(folder)
    except OSError as error:
        _warn(
            f"cannot keep compiled programs in {folder}: "
            f"{error.strerror or error}; running without the cache"
        )
        yield
        return
    digests = _check(folder)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Every program of a run compiles in well under JAX's default threshold of
    # a second, yet together they are most of a short run's time.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    try:
        with _one_line(folder, digests):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            _record(folder, digests)


def _check(folder: Path) -> dict[str, str]:
    """Removes the entries that differ from their record, or have none.

    Returns the digests of the entries kept.
    """
    records = _records(folder)
    digests, damaged = {}, 0
    for path in _entries(folder):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        digest = hashlib.sha256(data).hexdigest()
        known = records.get(path.name)
        if digest == known:
            digests[path.name] = digest
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        damaged += known is not None or not _whole(data)
    if damaged:
        many = damaged > 1
        _warn(
            f"removed {damaged} damaged entr{'ies' if many else 'y'} from the cache "
            f"of compiled programs in {folder}; {'they are' if many else 'it is'} "
            "compiled again"
        )
    return digests


def _record(folder: Path, digests: dict[str, str]) -> None:
    """Records the digests of the entries in `folder`.

    Those of the entries checked before the run, and of those written since
    that decompress.
    """
    now = {}
    for path in _entries(folder):
        if path.name in digests:
            now[path.name] = digests[path.name]
            continue
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if _whole(data):
                now[path.name] = hashlib.sha256(data).hexdigest()
    if now != _records(folder):
        text = json.dumps(now, indent=0, sort_keys=True) + "\n"
        _files.write(folder / _RECORDS, lambda stream: stream.write(text))


def _records(folder: Path) -> dict[str, str]:
    try:
        records = json.loads((folder / _RECORDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(records, dict):
        return {}
    return {k: v for k, v in records.items() if isinstance(v, str)}


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.name.endswith(_ENTRY)]
    except OSError:
        return []


def _whole(data: bytes) -> bool:
    """Whether an entry's bytes decompress as JAX wrote them."""
    try:
        from jax._src import compilation_cache
    except ImportError:  # another JAX: only the records tell
        return bool(data)
    try:
        compilation_cache.decompress_executable(data)
    except Exception:  # whatever the codec raises
        return False
    return bool(data)


@contextlib.contextmanager
def _one_line(folder: Path, digests: dict[str, str]) -> Iterator[None]:
    """JAX's warnings about the cache during the block: one line, once.

    An entry removed here is also taken out of `digests`, the entries checked
    before the run: JAX writes it anew.
    """
    shown = []
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not _JAX_WARNING.search(str(message)):
            previous(message, category, filename, lineno, file, line)
            return
        if str(message).startswith("Error reading"):
            # Before JAX compiles the program again and writes its entry.
            for path in _entries(folder):
                with contextlib.suppress(OSError):
                    if not _whole(path.read_bytes()):
                        path.unlink()
                        digests.pop(path.name, None)
        if not shown:
            shown.append(message)
            first = str(message).splitlines()[0] if str(message) else ""
            _warn(f"the cache of compiled programs in {folder}: {first}")

    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=_JAX_WARNING.pattern)
        warnings.showwarning = show
        yield


def _warn(message: str) -> None:
    print(f"jaxgd: warning: {message}", file=sys.stderr)
