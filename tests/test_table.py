"""Tests of the strict CSV table reader `jaxgd._table`."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxgd.cli._table import Table, TableError, read_table, select


def exactly(message: str) -> str:
    """A `pytest.raises` pattern that matches `message` and nothing else."""
    return "^" + re.escape(message) + "$"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- reading -----------------------------------------------------------------


def test_reads_header_and_numbers(tmp_path):
    path = write(tmp_path, "x,y,label\n1,2.5,0\n-3,4e-1,1\n.5,+7.,0\n")
    table = read_table(path)
    assert isinstance(table, Table)
    assert table.columns == ("x", "y", "label")
    assert table.data.dtype == np.float64
    np.testing.assert_array_equal(
        table.data, [[1.0, 2.5, 0.0], [-3.0, 0.4, 1.0], [0.5, 7.0, 0.0]]
    )


def test_accepts_str_path_and_open_stream(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    from_path = read_table(path)
    from_str = read_table(str(path))
    with open(path, encoding="utf-8", newline="") as stream:
        from_stream = read_table(stream)
    for table in (from_str, from_stream):
        assert table.columns == from_path.columns
        np.testing.assert_array_equal(table.data, from_path.data)


def test_ignores_spaces_blank_lines_crlf_and_byte_order_mark(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf a , b \r\n\r\n 1 , 2 \r\n\r\n3,4\r\n\r\n")
    table = read_table(path)
    assert table.columns == ("a", "b")
    np.testing.assert_array_equal(table.data, [[1.0, 2.0], [3.0, 4.0]])


def test_byte_order_mark_in_a_stream_is_dropped():
    table = read_table(io.StringIO("\ufeffa,b\n1,2\n"))
    assert table.columns == ("a", "b")


def test_quoted_numbers_and_names_are_read():
    table = read_table(io.StringIO('"a b","c"\n"1.5",2\n'))
    assert table.columns == ("a b", "c")
    np.testing.assert_array_equal(table.data, [[1.5, 2.0]])


def test_single_column_table():
    table = read_table(io.StringIO("y\n1\n2\n"))
    assert table.data.shape == (2, 1)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 4)),
        elements=st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_round_trips_any_finite_float64_matrix(data):
    columns = [f"c{j}" for j in range(data.shape[1])]
    lines = [",".join(columns)] + [
        ",".join(repr(float(v)) for v in row) for row in data
    ]
    table = read_table(io.StringIO("\n".join(lines) + "\n"))
    assert table.columns == tuple(columns)
    # repr of a float is its shortest exact decimal form: reading it is exact.
    np.testing.assert_array_equal(table.data, data)


def test_round_trips_a_table_written_with_csv_module(tmp_path):
    import csv

    rng = np.random.default_rng(0)
    data = rng.normal(size=(20, 3)) * [1e-3, 1.0, 1e6]
    path = tmp_path / "w.csv"
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["small", "unit", "large"])
        writer.writerows(data.tolist())
    table = read_table(path)
    assert table.columns == ("small", "unit", "large")
    np.testing.assert_array_equal(table.data, data)


# --- errors: the file --------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(
        TableError,
        match=exactly(f"{path}: cannot read the table: No such file or directory"),
    ):
        read_table(path)


def test_directory_is_not_a_table(tmp_path):
    with pytest.raises(
        TableError, match=exactly(f"{tmp_path}: cannot read the table: Is a directory")
    ):
        read_table(tmp_path)


def test_binary_file_is_not_utf8_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: cannot read the table: it is not UTF-8 text (found the byte 0xff)"
        ),
    ):
        read_table(path)


def test_binary_stream_is_not_csv_text(tmp_path):
    path = write(tmp_path, "a\n1\n")
    with (
        open(path, "rb") as stream,
        pytest.raises(
            TableError,
            match=exactly(
                f"{path}: the text is not valid CSV: iterator should return strings, "
                "not bytes (the file should be opened in text mode)"
            ),
        ),
    ):
        read_table(stream)


def test_stream_in_another_encoding_is_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("a\n1\n".encode("utf-16"))
    with (
        open(path, encoding="utf-8", newline="") as stream,
        pytest.raises(
            TableError,
            match=exactly(
                f"{path}: cannot read the table: it is not UTF-8 text "
                "(found the byte 0xff)"
            ),
        ),
    ):
        read_table(stream)


def test_table_error_is_a_value_error():
    assert issubclass(TableError, ValueError)


@pytest.mark.parametrize("text", ["", "\n\n", "\r\n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: the table is empty; it needs a header row of column names "
            "and at least one row of numbers"
        ),
    ):
        read_table(path)


def test_header_without_rows(tmp_path):
    path = write(tmp_path, "a,b\n\n")
    with pytest.raises(
        TableError,
        match=exactly(f"{path}: the table has a header but no rows of numbers"),
    ):
        read_table(path)


def test_stream_without_name_is_called_stream():
    with pytest.raises(
        TableError,
        match=exactly("<stream>: the table has a header but no rows of numbers"),
    ):
        read_table(io.StringIO("a,b\n"))


# --- errors: the header ------------------------------------------------------


def test_duplicate_column_names(tmp_path):
    path = write(tmp_path, "a,b,c,b\n1,2,3,4\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: the header repeats the column name 'b' (columns 2 and 4)"
        ),
    ):
        read_table(path)


def test_names_equal_after_stripping_spaces_are_duplicates(tmp_path):
    path = write(tmp_path, "a, a\n1,2\n")
    with pytest.raises(TableError, match=re.escape("column name 'a' (columns 1")):
        read_table(path)


def test_empty_column_name(tmp_path):
    path = write(tmp_path, "a, ,c\n1,2,3\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: column 2 of the header has no name; every column needs one"
        ),
    ):
        read_table(path)


def test_header_of_numbers_means_a_missing_header(tmp_path):
    path = write(tmp_path, "1.5,2\n3,4\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: the first row '1.5,2' is all numbers; "
            "a table starts with a header row of column names"
        ),
    ):
        read_table(path)


# --- errors: the rows --------------------------------------------------------


def test_row_with_too_few_cells(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: data row 2 (line 3) has 2 cells, expected 3 "
            "(one per column of the header)"
        ),
    ):
        read_table(path)


def test_row_with_too_many_cells_counts_blank_lines_in_line_number(tmp_path):
    # A decimal comma splits a number in two: the row has one cell too many.
    path = write(tmp_path, "a,b\n\n1,2\n\n3,4,5\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: data row 2 (line 5) has 3 cells, expected 2 "
            "(one per column of the header)"
        ),
    ):
        read_table(path)


def test_row_with_one_cell_says_cell(tmp_path):
    path = write(tmp_path, "a,b\n7\n")
    with pytest.raises(TableError, match=re.escape("has 1 cell, expected 2")):
        read_table(path)


@pytest.mark.parametrize("cell", ["abc", "1_000", "0x10", "1.2.3", "NA", "?", "e5"])
def test_non_numeric_cell_names_row_column_and_text(tmp_path, cell):
    path = write(tmp_path, f"width,height\n1,2\n3,4\n5,{cell}\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: data row 3 (line 4), column 'height': "
            f"cannot read {cell!r} as a number"
        ),
    ):
        read_table(path)


def test_quoted_decimal_comma_is_not_a_number(tmp_path):
    path = write(tmp_path, 'a\n"1,5"\n')
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: data row 1 (line 2), column 'a': cannot read '1,5' as a number"
        ),
    ):
        read_table(path)


def test_malformed_quoting_is_not_csv(tmp_path):
    path = write(tmp_path, 'a,b\n1,2\n"3"x,4\n')
    with pytest.raises(
        TableError,
        match=exactly(f"{path}: line 3 is not valid CSV: ',' expected after '\"'"),
    ):
        read_table(path)


def test_one_empty_cell(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: 1 cell is empty, NaN or infinite: data row 2 column 'b'"
        ),
    ):
        read_table(path)


def test_nan_and_infinite_cells_are_listed_in_file_order(tmp_path):
    path = write(tmp_path, "a,b\nNaN,1\n2,-inf\n3,4\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: 2 cells are empty, NaN or infinite: "
            "data row 1 column 'a'; data row 2 column 'b'"
        ),
    ):
        read_table(path)


def test_many_missing_cells_list_the_first_five_then_count(tmp_path):
    path = write(tmp_path, "a,b\n,\n,nan\n1,2\n,Infinity\n\n,\n")
    with pytest.raises(
        TableError,
        match=exactly(
            f"{path}: 8 cells are empty, NaN or infinite: "
            "data row 1 column 'a'; data row 1 column 'b'; data row 2 column 'a'; "
            "data row 2 column 'b'; data row 4 column 'a'; and 3 more"
        ),
    ):
        read_table(path)


def test_a_bad_cell_is_reported_before_missing_cells(tmp_path):
    path = write(tmp_path, "a,b\n,1\n2,x\n")
    with pytest.raises(TableError, match=re.escape("cannot read 'x' as a number")):
        read_table(path)


# --- select ------------------------------------------------------------------


TABLE = Table(
    ("a", "b", "y", "c"),
    np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]),
)


def test_select_defaults_to_every_other_column():
    X, y, names = select(TABLE, "y")
    assert names == ("a", "b", "c")
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(X, [[1.0, 2.0, 4.0], [5.0, 6.0, 8.0]])
    np.testing.assert_array_equal(y, [[3.0], [7.0]])


def test_select_keeps_the_requested_feature_order():
    X, y, names = select(TABLE, "a", ["c", "b"])
    assert names == ("c", "b")
    np.testing.assert_array_equal(X, [[4.0, 2.0], [8.0, 6.0]])
    np.testing.assert_array_equal(y, [[1.0], [5.0]])


def test_select_returns_copies():
    X, y, _ = select(TABLE, "y")
    X[:] = 0.0
    y[:] = 0.0
    assert TABLE.data[0, 0] == 1.0 and TABLE.data[0, 2] == 3.0


def test_select_missing_target_lists_columns():
    with pytest.raises(
        TableError,
        match=exactly(
            "target column 'price' is not in the table; "
            "its columns are: 'a', 'b', 'y', 'c'"
        ),
    ):
        select(TABLE, "price")


def test_select_missing_feature_lists_columns():
    with pytest.raises(
        TableError,
        match=exactly(
            "feature column 'd' is not in the table; "
            "its columns are: 'a', 'b', 'y', 'c'"
        ),
    ):
        select(TABLE, "y", ["a", "d"])


def test_select_missing_features_are_all_named():
    with pytest.raises(
        TableError,
        match=exactly(
            "feature columns 'd', 'e' are not in the table; "
            "its columns are: 'a', 'b', 'y', 'c'"
        ),
    ):
        select(TABLE, "y", ["d", "a", "e"])


def test_select_target_among_features():
    with pytest.raises(
        TableError,
        match=exactly(
            "target column 'y' is also listed among the features; "
            "a column cannot be used to predict itself"
        ),
    ):
        select(TABLE, "y", ["a", "y"])


def test_select_feature_listed_twice():
    with pytest.raises(TableError, match=exactly("feature column 'a' is listed twice")):
        select(TABLE, "y", ["a", "b", "a"])


def test_select_no_features():
    with pytest.raises(
        TableError,
        match=exactly("features is empty: name at least one feature column"),
    ):
        select(TABLE, "y", [])


def test_select_table_with_only_the_target():
    table = Table(("y",), np.zeros((3, 1)))
    with pytest.raises(
        TableError,
        match=exactly(
            "the table has no column besides the target 'y', "
            "so there is nothing to predict it from"
        ),
    ):
        select(table, "y")


def test_select_features_as_a_string_is_a_type_error():
    with pytest.raises(
        TypeError,
        match=exactly(
            "features must be a sequence of column names, not the string 'ab'; "
            "write features=['ab']"
        ),
    ):
        select(TABLE, "y", "ab")
