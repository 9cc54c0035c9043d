"""Reading numeric CSV tables for the command line, a block of rows at a time.

A table is a header row of column names, then rows of cells separated by one
delimiter (`,` `;` tab or `|`, found from the header and the first row when
not given). numpy's C parser (`numpy.loadtxt`) reads the rows a block at a
time, only the columns that are used, so a table larger than memory streams
and unused columns may hold anything. What the C parser cannot read is read
again in Python, which names the file, the data row, the line, the column and
the cell at fault. Nothing is guessed: a cell that is not a number is an
error, and so is an infinite one; a missing cell (empty, NA, N/A, NaN, null
or ?) is an error unless the caller drops its row.
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
from collections.abc import Collection, Iterator, Sequence
from typing import IO, NamedTuple

import numpy as np

# How many bad cells a message lists before it only counts the rest.
_MAX_LISTED = 5
# Text read from the file at a time; a line longer than _MAX_LINE is refused
# (a file with no line breaks, such as a binary one, is not read into memory).
_BLOCK_BYTES = 1 << 22
_MAX_LINE = 1 << 20
# Rows in a block of `read_rows`.
BLOCK_ROWS = 1 << 16
_DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
# Cells that mean "no value here", compared lower-cased and stripped.
MISSING = ("", "na", "n/a", "nan", "null", "?")
# A finite decimal number as written in a CSV file: optional sign, digits with
# an optional `.` fraction, optional exponent.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITE = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


class TableError(ValueError):
    """A CSV table cannot be read or does not hold what was asked of it."""


class Table(NamedTuple):
    """An opened CSV table: its header, and how to read its rows.

    Attributes:
        path: the file, as given, or "standard input" (it names the table in
            messages).
        columns: the column names, in file order (x0, x1, ... without a header).
        delimiter: the character between cells.
        first_line: the number of the line of the first row of numbers.
        stream: the open file, past the lines read ahead; its rows are read once.
        ahead: the bytes of the rows already read from `stream`.
    """

    path: str
    columns: tuple[str, ...]
    delimiter: str
    first_line: int = 2
    stream: IO[bytes] | None = None
    ahead: bytes = b""


class Block(NamedTuple):
    """Rows read from a table.

    Attributes:
        values: (rows, k) float64, the columns asked for, in that order.
        dropped: rows left out since the previous block, for a missing cell.
    """

    values: np.ndarray
    dropped: int


def open_table(
    path: str,
    delimiter: str | None = None,
    *,
    skip_rows: int = 0,
    header: bool = True,
) -> Table:
    """Reads the header of a CSV table and settles its delimiter.

    Args:
        path: the file, or `-` for standard input.
        delimiter: the character between cells; found when None.
        skip_rows: lines to skip before the header (or the first row).
        header: False when the table has no header row: its columns are then
            named x0, x1, ... from the first row's number of cells.

    Raises:
        TableError: the file cannot be read, is empty or not UTF-8 text; the
            header has an empty or repeated name, or is all numbers.
    """
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise TableError("standard input is closed; there is no table to read")
        name = "standard input"
    else:
        name = path
        try:
            stream = open(path, "rb")  # closed once its rows are read
        except OSError as error:
            raise TableError(
                f"{path}: cannot read the table: {error.strerror or error}"
            ) from None
    try:
        return _open(name, stream, delimiter, skip_rows, header)
    except BaseException:
        _close(stream)
        raise


def _open(
    name: str, stream: IO[bytes], delimiter: str | None, skip_rows: int, header: bool
) -> Table:
    try:
        line = 0
        for _ in range(skip_rows):
            if not _readline(stream, name, line + 1):
                raise TableError(
                    f"{name}: --skip-rows {skip_rows} skips the whole table: it has "
                    f"{line} line{'s' if line != 1 else ''}"
                )
            line += 1
        title = None
        if header:
            raw = _readline(stream, name, line + 1)
            line += 1
            title = _decode(raw, name, line).removeprefix("\ufeff").rstrip("\r\n")
            if not title.strip():
                raise TableError(
                    f"{name}: the table is empty; it needs a header row of column "
                    "names and at least one row of numbers"
                )
        # The first rows, for the delimiter (and, without a header, the columns).
        ahead, end = b"", False
        while ahead.count(b"\n") < 2 and len(ahead) <= 2 * _MAX_LINE:
            more = stream.read1(_MAX_LINE)
            if not more:
                end = True
                break
            ahead += more
    except OSError as error:
        raise TableError(
            f"{name}: cannot read the table: {error.strerror or error}"
        ) from None
    if line == 0:
        ahead = ahead.removeprefix(b"\xef\xbb\xbf")
    lines = ahead.split(b"\n")
    rows = list(
        itertools.islice(
            (
                _decode(raw, name, line + 1 + i).rstrip("\r")
                for i, raw in enumerate(lines if end else lines[:-1])
                if raw.strip()
            ),
            2,
        )
    )
    if title is None:
        if not rows:
            raise TableError(f"{name}: the table is empty; it has no rows of numbers")
        if delimiter is None:
            delimiter = _detect(rows[0], rows[1] if len(rows) > 1 else None)
        columns = tuple(f"x{j}" for j in range(len(_cells(rows[0], delimiter))))
    else:
        if delimiter is None:
            delimiter = _detect(title, rows[0] if rows else None)
        columns = _parse_header(_cells(title, delimiter), name)
    return Table(name, columns, delimiter, line + 1, stream, ahead)


def _readline(stream: IO[bytes], name: str, number: int) -> bytes:
    """The next line, with its line break; b"" at the end of the file."""
    raw = stream.readline(_MAX_LINE + 1)
    if len(raw.rstrip(b"\n")) > _MAX_LINE:
        raise _too_long(name, number)
    return raw


def close(table: Table) -> None:
    """Closes the file of `table` (standard input is left open)."""
    if table.stream is not None:
        _close(table.stream)


def _close(stream: IO[bytes]) -> None:
    if stream is not getattr(sys.stdin, "buffer", None):
        stream.close()


def column(table: Table, key: str, role: str = "target") -> str:
    """The name of the column `key`: one of the table's names, or a number from 0.

    Raises:
        TableError: no column has that name or number.
    """
    found = _column(table, key)
    if found is None:
        raise TableError(
            f"{role} column {key!r} is not in the table; {_columns_of(table)}"
        )
    return found


def _column(table: Table, key: str) -> str | None:
    if key in table.columns:
        return key
    if key.isdigit() and int(key) < len(table.columns):
        return table.columns[int(key)]
    return None


def _columns_of(table: Table) -> str:
    return f"its columns are: {listed(table.columns)}"


def select(
    table: Table, target: str | None, features: Sequence[str] | None
) -> tuple[str | None, tuple[str, ...]]:
    """The target's name and the feature columns, by name or number from 0.

    The features are those given, or every column but the target.

    Raises:
        TableError: a named column is not in the table, the target is among
            the features, a feature is listed twice, or none is left.
    """
    names = table.columns
    if target is not None:
        target = column(table, target)
    if features is None:
        features = [name for name in names if name != target]
        if not features:
            raise TableError(
                f"the table has no column besides the target {target!r}, "
                "so there is nothing to predict it from"
            )
    found = [_column(table, key) for key in features]
    missing = [key for key, name in zip(features, found, strict=True) if name is None]
    if missing:
        plural = len(missing) > 1
        raise TableError(
            f"feature column{'s' if plural else ''} {listed(missing)} "
            f"{'are' if plural else 'is'} not in the table; {_columns_of(table)}"
        )
    features = [name for name in found if name is not None]
    if target is not None and target in features:
        raise TableError(
            f"target column {target!r} is also listed among the features; "
            "a column cannot be used to predict itself"
        )
    seen: set[str] = set()
    for name in features:
        if name in seen:
            raise TableError(f"feature column {name!r} is listed twice")
        seen.add(name)
    return target, tuple(features)


def read_rows(
    table: Table,
    names: Sequence[str],
    *,
    missing: str = "error",
    optional: Collection[str] = (),
    block_rows: int = BLOCK_ROWS,
) -> Iterator[Block]:
    """The rows of the named columns, `block_rows` rows a block (the last fewer).

    Args:
        table: an opened table.
        names: the columns to read, in the order wanted.
        missing: `"error"` to refuse a missing cell in these columns, `"drop"`
            to leave its row out.
        optional: the columns that `--features` may leave out: an error about
            a cell of one says so.
        block_rows: rows per block.

    Raises:
        TableError: a row has the wrong number of cells, a cell of these
            columns is not a number or is infinite, or (with `"error"`) is
            missing; the file cannot be read or a line is too long.
    """
    index = {name: j for j, name in enumerate(table.columns)}
    usecols = [index[name] for name in names]
    pending: list[np.ndarray] = []
    held, dropped, rows_seen = 0, 0, 0
    for text, first_line in _text_blocks(table):
        values, _, _ = _parse(table, text, first_line, rows_seen, usecols, optional)
        rows_seen += values.shape[0]
        bad = np.isnan(values).any(axis=1)
        if bad.any():
            if missing == "error":
                raise _missing_error(table, names, values, rows_seen)
            dropped += int(bad.sum())
            values = values[~bad]
        pending.append(values)
        held += values.shape[0]
        while held >= block_rows:
            rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield Block(rows[:block_rows], dropped)
            pending, held, dropped = [rows[block_rows:]], held - block_rows, 0
    if rows_seen == 0:
        raise TableError(f"{table.path}: the table has a header but no rows of numbers")
    if held or dropped:
        rows = np.concatenate(pending) if pending else np.zeros((0, len(usecols)))
        yield Block(rows, dropped)


# --- the header --------------------------------------------------------------


def _detect(header: str, first: str | None) -> str:
    """The delimiter that splits the header, and the first row alike, best."""
    counts = {d: len(_cells(header, d)) for d in _DELIMITERS}
    splitting = [d for d in _DELIMITERS if counts[d] > 1]
    if not splitting:
        return ","
    if first is not None:
        agreeing = [d for d in splitting if len(_cells(first, d)) == counts[d]]
        if agreeing:
            return agreeing[0]
    return max(splitting, key=lambda d: counts[d])


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return line.split(delimiter)


def _parse_header(cells: list[str], where: str) -> tuple[str, ...]:
    columns = tuple(name.strip() for name in cells)
    counts = all(_NUMBER.fullmatch(name) for name in columns if name)
    for j, name in enumerate(columns, start=1):
        if not name:
            raise TableError(
                f"{where}: column {j} of the header has no name; every column needs "
                "one"
                + (
                    " (a first line of counts, as in scikit-learn's CSV files, is "
                    "skipped with --skip-rows 1)"
                    if counts
                    else ""
                )
            )
    first_seen: dict[str, int] = {}
    for j, name in enumerate(columns, start=1):
        if name in first_seen:
            raise TableError(
                f"{where}: the header repeats the column name {name!r} "
                f"(columns {first_seen[name]} and {j})"
            )
        first_seen[name] = j
    if all(_NUMBER.fullmatch(name) for name in columns):
        raise TableError(
            f"{where}: the first row {_cut(','.join(columns))!r} is all numbers; "
            "a table starts with a header row of column names (--no-header "
            "reads a table without one, its columns named x0, x1, ...)"
        )
    return columns


# --- the rows ----------------------------------------------------------------


def _text_blocks(table: Table) -> Iterator[tuple[str, int]]:
    """Whole lines of the rows after the header: `(text, number of its first line)`."""
    path, stream = table.path, table.stream
    if stream is None:
        raise TableError(f"{path}: the rows of the table were read already")
    line, rest = table.first_line, table.ahead
    try:
        while True:
            chunk = stream.read(_BLOCK_BYTES)
            data = rest + chunk
            last = data.rfind(b"\n") + 1
            if len(data) - last > _MAX_LINE:
                raise _too_long(path, line + data.count(b"\n"))
            end = last if chunk else len(data)
            if end:
                text = _decode(data[:end], path, line)
                yield text, line
                line += text.count("\n")
            rest = data[end:]
            if not chunk:
                return
    except OSError as error:
        raise TableError(
            f"{path}: cannot read the table: {error.strerror or error}"
        ) from None
    finally:
        _close(stream)


def _parse(
    table: Table,
    text: str,
    first_line: int,
    rows_before: int,
    usecols: list[int],
    optional: Collection[str] = (),
) -> tuple[np.ndarray, list[str], Sequence[int]]:
    """One block of lines as (rows, k) float64 with NaN where a cell is missing.

    Also returns the block's rows as lines, and their line numbers, for
    messages. A block whose delimiters do not add up to one cell per column
    in every line (or that has quotes or blank lines) is checked line by line.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    numbers: Sequence[int] = range(first_line, first_line + len(lines))
    d = table.delimiter
    expected = len(table.columns)
    if (
        '"' in text
        or "\n\n" in text
        or "\n\r\n" in text
        or text[:1] in ("\n", "\r")
        or text.count(d) != len(lines) * (expected - 1)
    ):
        kept = [
            (n, line) for n, line in zip(numbers, lines, strict=True) if line.strip()
        ]
        numbers, lines = [n for n, _ in kept], [line for _, line in kept]
        _check_counts(table, lines, numbers, rows_before)
    if not lines:
        return np.zeros((0, len(usecols))), lines, numbers
    values = _loadtxt(lines, d, usecols)
    if values is None:  # missing markers, or something to explain
        marked = _MARKERS[d].sub(r"\1nan", "\n".join(lines))
        values = _loadtxt(marked.split("\n"), d, usecols)
    if values is None:
        values = _parse_in_python(table, lines, numbers, rows_before, usecols, optional)
    infinite = np.argwhere(np.isinf(values))
    if infinite.size:
        row, col = infinite[0]
        cell = _cells(lines[row], d)[usecols[col]]
        raise TableError(
            f"{table.path}: data row {rows_before + row + 1} (line {numbers[row]}), "
            f"column {table.columns[usecols[col]]!r}: {cell!r} is not a finite number"
        )
    return values, lines, numbers


def _loadtxt(lines: list[str], delimiter: str, usecols: list[int]) -> np.ndarray | None:
    try:
        return np.loadtxt(
            lines,
            delimiter=delimiter,
            usecols=usecols,
            comments=None,
            quotechar='"',
            ndmin=2,
            dtype=np.float64,
        )
    except ValueError:
        return None


def _marker(d: str) -> re.Pattern[str]:
    """`(start or delimiter) marker (end or delimiter)`: a missing cell."""
    space = "[ ]*" if d == "\t" else "[ \t]*"
    d = re.escape(d)
    return re.compile(
        rf"(^|{d}){space}(?:na|n/a|null|\?)?{space}(?={d}|\r?$)", re.M | re.I
    )


_MARKERS = {d: _marker(d) for d in _DELIMITERS}


def _check_counts(
    table: Table, lines: list[str], numbers: Sequence[int], rows_before: int
) -> None:
    """Every row has one cell per column of the header, or an error says where."""
    expected = len(table.columns)
    rows = csv.reader(lines, delimiter=table.delimiter, strict=True)
    try:
        for row, (n, cells) in enumerate(
            zip(numbers, rows, strict=True), start=rows_before + 1
        ):
            if len(cells) != expected:
                raise TableError(
                    f"{table.path}: data row {row} (line {n}) has {len(cells)} "
                    f"cell{'s' if len(cells) != 1 else ''}, expected {expected} "
                    "(one per column of the header)"
                )
    except csv.Error as error:
        raise TableError(f"{table.path}: a line is not valid CSV: {error}") from None


def _parse_in_python(
    table: Table,
    lines: list[str],
    numbers: Sequence[int],
    rows_before: int,
    usecols: list[int],
    optional: Collection[str],
) -> np.ndarray:
    """The slow, exact reading of a block, whose errors name the cell at fault."""
    values = np.empty((len(lines), len(usecols)))
    for i, (n, line) in enumerate(zip(numbers, lines, strict=True)):
        cells = _cells(line, table.delimiter)
        for k, j in enumerate(usecols):
            text = cells[j].strip()
            if _NUMBER.fullmatch(text):
                values[i, k] = float(text)
            elif text.lower() in MISSING:
                values[i, k] = np.nan
            elif text.lower() in _INFINITE:
                values[i, k] = np.inf
            else:
                hint = _hint(text, table.delimiter)
                if not hint and table.columns[j] in optional:
                    hint = (
                        "; if it is not a feature, leave it out by naming the "
                        "feature columns with --features"
                    )
                raise TableError(
                    f"{table.path}: data row {rows_before + i + 1} (line {n}), "
                    f"column {table.columns[j]!r}: cannot read {cells[j]!r} as a "
                    f"number{hint}"
                )
    return values


def _hint(text: str, delimiter: str) -> str:
    others = [d for d in _DELIMITERS if d != delimiter and d in text]
    if others:
        return (
            f" (the delimiter is {_NAMES[delimiter]}; if it is "
            f"{_NAMES[others[0]]}, say --delimiter)"
        )
    if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", text):
        return " (numbers take '.' as the decimal separator)"
    return ""


def _missing_error(
    table: Table,
    names: Sequence[str],
    values: np.ndarray,
    rows_seen: int,
) -> TableError:
    first = rows_seen - values.shape[0]
    places = [
        f"data row {first + row + 1} column {names[col]!r}"
        for row, col in np.argwhere(np.isnan(values))
    ]
    shown = "; ".join(places[:_MAX_LISTED])
    rest = len(places) - _MAX_LISTED
    count = len(places)
    return TableError(
        f"{table.path}: {count} cell{'s are' if count > 1 else ' is'} missing "
        f"(empty, NA or NaN): {shown}{f'; and {rest} more' if rest > 0 else ''}"
        f"{f' in data rows up to {rows_seen}' if first else ''}; "
        "--missing drop leaves such rows out"
    )


def _decode(data: bytes, path: str, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        at = line + data[: error.start].count(b"\n")
        raise TableError(
            f"{path}: cannot read the table: line {at} is not UTF-8 text "
            f"(found the byte {data[error.start]:#04x})"
        ) from None


def _too_long(path: str, line: int) -> TableError:
    return TableError(
        f"{path}: line {line} is longer than {_MAX_LINE:,} bytes; is it a CSV table?"
    )


def _cut(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[:size] + "…"


def listed(names: Sequence[str]) -> str:
    """The names quoted, the first few of a long list and a count of the rest."""
    shown = ", ".join(repr(name) for name in names[:_MAX_LISTED])
    rest = len(names) - _MAX_LISTED
    return f"{shown}, … and {rest:,} more" if rest > 0 else shown
