"""A strict reader for small numeric CSV tables.

A table is a header row of column names followed by rows of numbers, with `,`
between cells and `.` as the decimal separator. Anything else is an error that
names the place and the content at fault, so that a bad file is never turned
into silently wrong numbers: no guessed separators, no skipped rows, no cell
quietly read as NaN.

Only the standard library's `csv` module and numpy are used, so the reader
works wherever jaxgd does. The shipped data sets (`jaxgd.datasets`) and the
command line read their tables with it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, NamedTuple

import numpy as np

__all__ = ["Table", "TableError", "read_table", "select"]

# How many bad cells a message lists before it only counts the rest.
_MAX_LISTED = 5

# A finite decimal number as written in a CSV file: optional sign, digits with
# an optional `.` fraction, optional exponent. Python's `float` alone would also
# take `1_000`, non-ASCII digits and words such as `infinity`.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAN = frozenset({"nan", "+nan", "-nan"})
_INF = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


class TableError(ValueError):
    """A CSV table cannot be read or does not hold what was asked of it."""


class Table(NamedTuple):
    """A numeric table read from CSV.

    Attributes:
        columns: the column names, in file order.
        data: (rows, columns) float64 array; ``data[:, j]`` is ``columns[j]``.
    """

    columns: tuple[str, ...]
    data: np.ndarray


def read_table(source: str | os.PathLike[str] | IO[str]) -> Table:
    r"""Reads a numeric CSV table: a header row of names, then rows of numbers.

    Cells are separated by `,` and numbers use `.` as the decimal separator.
    Spaces around names and cells are ignored, as are blank lines and a UTF-8
    byte order mark. Every cell must be a finite number.

    Args:
        source: a path to a UTF-8 CSV file, or a text stream opened on one
            (preferably with ``newline=""``).

    Returns:
        A `Table` with the column names and a (rows, columns) float64 array.

    Raises:
        TableError: the file cannot be read or is empty; the header is missing,
            has an empty or repeated name, or is made of numbers; a row has the
            wrong number of cells; a cell is not a number; or cells are empty,
            NaN or infinite. The message names the file, the 1-based data row
            (the first row after the header is row 1), the column and the
            cell's text.

    Examples:
        >>> import io
        >>> table = read_table(io.StringIO("x,y\n1,2.5\n3,-4e-1\n"))
        >>> table.columns
        ('x', 'y')
        >>> table.data
        array([[ 1. ,  2.5],
               [ 3. , -0.4]])
    """
    if not isinstance(source, (str, os.PathLike)):
        name = getattr(source, "name", None)
        where = name if isinstance(name, str) else "<stream>"
        return _decode(lambda: _parse(source, where), where)
    where = os.fspath(source)
    try:
        # utf-8-sig drops the byte order mark that spreadsheet exports add.
        with open(source, encoding="utf-8-sig", newline="") as stream:
            return _decode(lambda: _parse(stream, where), where)
    except OSError as error:
        reason = error.strerror or str(error)
        raise TableError(f"{where}: cannot read the table: {reason}") from None


def select(
    table: Table, target: str, features: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    r"""Splits a table into a feature matrix and a target column.

    Args:
        table: a `Table`, as returned by `read_table`.
        target: the name of the column to predict.
        features: the names of the input columns, in the order wanted in ``X``;
            ``None`` takes every column but the target, in table order.

    Returns:
        ``(X, y, feature_names)``: ``X`` of shape (rows, len(feature_names))
        and ``y`` of shape (rows, 1), both float64 and fresh copies.

    Raises:
        TypeError: ``features`` is a single string rather than a sequence.
        TableError: the target or a feature is not a column of the table, the
            target is among the features, a feature is listed twice, or no
            feature is left.

    Examples:
        >>> import io
        >>> table = read_table(io.StringIO("a,b,y\n1,2,3\n4,5,6\n"))
        >>> X, y, names = select(table, "y")
        >>> X.shape, y.shape, names
        ((2, 2), (2, 1), ('a', 'b'))
        >>> select(table, "y", ["b"])[0]
        array([[2.],
               [5.]])
    """
    if isinstance(features, str):
        raise TypeError(
            f"features must be a sequence of column names, not the string "
            f"{features!r}; write features=[{features!r}]"
        )
    index = {name: j for j, name in enumerate(table.columns)}
    if target not in index:
        raise TableError(
            f"target column {target!r} is not in the table; "
            f"its columns are: {_names(table.columns)}"
        )
    if features is None:
        features = [name for name in table.columns if name != target]
        if not features:
            raise TableError(
                f"the table has no column besides the target {target!r}, "
                "so there is nothing to predict it from"
            )
    features = tuple(features)
    if not features:
        raise TableError("features is empty: name at least one feature column")
    missing = [name for name in features if name not in index]
    if missing:
        raise TableError(
            f"feature column{'s' if len(missing) > 1 else ''} {_names(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not in the table; "
            f"its columns are: {_names(table.columns)}"
        )
    if target in features:
        raise TableError(
            f"target column {target!r} is also listed among the features; "
            "a column cannot be used to predict itself"
        )
    seen: set[str] = set()
    for name in features:
        if name in seen:
            raise TableError(f"feature column {name!r} is listed twice")
        seen.add(name)
    X = table.data[:, [index[name] for name in features]]  # fancy indexing copies
    y = table.data[:, [index[target]]]
    return X, y, features


def _parse(stream: IO[str], where: str) -> Table:
    """Parses an open CSV stream; `where` names it in error messages."""
    rows = _rows(stream, where)
    try:
        _, header = next(rows)
    except StopIteration:
        raise TableError(
            f"{where}: the table is empty; it needs a header row of column names "
            "and at least one row of numbers"
        ) from None
    columns = _parse_header(header, where)
    values: list[list[float]] = []
    bad: list[str] = []  # empty, NaN or infinite cells, as "data row R column 'c'"
    for row_number, (line, row) in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise TableError(
                f"{where}: data row {row_number} (line {line}) has {len(row)} "
                f"cell{'s' if len(row) != 1 else ''}, expected {len(columns)} "
                "(one per column of the header)"
            )
        parsed = []
        for column, cell in zip(columns, row, strict=True):
            text = cell.strip()
            if _NUMBER.fullmatch(text):
                parsed.append(float(text))
            elif text == "" or text.lower() in _NAN or text.lower() in _INF:
                bad.append(f"data row {row_number} column {column!r}")
                parsed.append(float("nan"))
            else:
                raise TableError(
                    f"{where}: data row {row_number} (line {line}), column "
                    f"{column!r}: cannot read {cell!r} as a number"
                )
        values.append(parsed)
    if not values:
        raise TableError(f"{where}: the table has a header but no rows of numbers")
    if bad:
        raise TableError(
            f"{where}: {len(bad)} cell{'s are' if len(bad) > 1 else ' is'} "
            f"empty, NaN or infinite: {_listing(bad)}"
        )
    return Table(columns, np.array(values, dtype=np.float64))


def _decode(parse: Callable[[], Table], where: str) -> Table:
    """Runs `parse`, turning a text decoding error into a `TableError`."""
    try:
        return parse()
    except UnicodeDecodeError as error:
        raise TableError(
            f"{where}: cannot read the table: it is not UTF-8 text "
            f"(found the byte {error.object[error.start]:#04x})"
        ) from None


def _rows(stream: IO[str], where: str) -> Iterator[tuple[int, list[str]]]:
    """Yields ``(line number, cells)`` for each non-blank row of CSV text."""
    reader = csv.reader(stream, strict=True)
    try:
        for row in reader:
            if row:
                yield reader.line_num, row
    except csv.Error as error:
        at = f"line {reader.line_num}" if reader.line_num else "the text"
        raise TableError(f"{where}: {at} is not valid CSV: {error}") from None


def _parse_header(header: list[str], where: str) -> tuple[str, ...]:
    """Checks the header row and returns its stripped column names."""
    # A stream opened without utf-8-sig still carries the byte order mark.
    columns = tuple(name.strip() for name in header)
    columns = (columns[0].removeprefix("\ufeff").strip(), *columns[1:])
    for j, name in enumerate(columns, start=1):
        if not name:
            raise TableError(
                f"{where}: column {j} of the header has no name; every column needs one"
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
            f"{where}: the first row {','.join(columns)!r} is all numbers; "
            "a table starts with a header row of column names"
        )
    return columns


def _names(names: Iterable[str]) -> str:
    """Formats column names as a comma-separated list of quoted names."""
    return ", ".join(repr(name) for name in names)


def _listing(items: list[str]) -> str:
    """Lists the first few items and counts the rest."""
    shown = "; ".join(items[:_MAX_LISTED])
    rest = len(items) - _MAX_LISTED
    return f"{shown}; and {rest} more" if rest > 0 else shown
