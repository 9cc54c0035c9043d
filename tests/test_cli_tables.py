"""Reading CSV tables on the command line: delimiters, text columns, missing cells.

Every table here is read through `jaxgd fit`; its report holds the rows used
and the learned weights, which must equal a fit of the numbers written.
"""

import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import jax
import numpy as np
import pytest
from cli_helpers import (
    PYTHON,
    STEPS,
    assert_same_params,
    direct_fit,
    fails_with,
    fit_args,
    regression_data,
    run,
    run_json,
    subprocess_env,
    write_csv,
)
from helpers import xla_flags

import jaxgd
from jaxgd import linear


def table_text(X, y, delimiter=",", extra=None):
    """A table of the numbers, written exactly, with text columns if given."""
    names = ["x1", "x2", "y"]
    rows = [[repr(float(v)) for v in row] for row in np.hstack([X, y])]
    if extra is not None:
        names.insert(1, "name")
        for row, text in zip(rows, extra, strict=True):
            row.insert(1, text)
    lines = [delimiter.join(names), *(delimiter.join(row) for row in rows)]
    return "\n".join(lines) + "\n"


def fits_the_numbers(capsys, path, X, y, *more):
    code, report, err = run_json(capsys, fit_args(path, *more))
    assert code == 0, err
    assert report["rows"] == len(X)
    _, params = direct_fit(X, y)
    assert_same_params(report, params)
    return report


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "bar"]
)
def test_delimiters_are_found(tmp_path, capsys, delimiter):
    X, y = regression_data()
    path = tmp_path / "t.csv"
    path.write_text(table_text(X, y, delimiter), encoding="utf-8")
    fits_the_numbers(capsys, path, X, y)
    given = "tab" if delimiter == "\t" else delimiter
    fits_the_numbers(capsys, path, X, y, "--delimiter", given)


def test_a_decimal_comma_table_is_found_by_its_semicolons(tmp_path, capsys):
    X, y = regression_data()
    path = tmp_path / "t.csv"
    text = table_text(X, y, ";")
    # One column of decimal commas, as European spreadsheets write them: unused.
    lines = text.splitlines()
    lines = [lines[0] + ";note"] + [line + ";1,5" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fits_the_numbers(capsys, path, X, y, "--features", "x1,x2")
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: data row 1 (line 2), column 'note': cannot read '1,5' as a number "
        "(the delimiter is ';'; if it is ',', say --delimiter)",
    )


def test_the_wrong_delimiter_given_gets_a_hint(tmp_path, capsys):
    X, y = regression_data()
    path = tmp_path / "t.csv"
    path.write_text(table_text(X, y, ";"), encoding="utf-8")
    fails_with(
        capsys,
        fit_args(path, "--delimiter", ","),
        "target column 'y' is not in the table; its columns are: 'x1;x2;y'",
    )


def test_unused_columns_may_hold_anything(tmp_path, capsys):
    X, y = regression_data()
    names = [f'"car, model {i}"' if i % 2 else f"car{i} NA ∞" for i in range(len(X))]
    path = tmp_path / "t.csv"
    path.write_text(table_text(X, y, ",", names), encoding="utf-8")
    fits_the_numbers(capsys, path, X, y, "--features", "x1,x2")
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: data row 1 (line 2), column 'name': cannot read 'car0 NA ∞' as a "
        "number",
    )


def test_spaces_blank_lines_crlf_quotes_and_byte_order_mark(tmp_path, capsys):
    X, y = regression_data()
    lines = table_text(X, y).splitlines()
    lines = [
        '\ufeff x1 ,"x2", y',
        *(f" {line.replace(',', ' , ')} " for line in lines[1:6]),
        "",
        "   ",
        *('"{}","{}",{}'.format(*line.split(",")) for line in lines[6:]),
    ]
    path = tmp_path / "t.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    fits_the_numbers(capsys, path, X, y)


@pytest.mark.parametrize("marker", ["", "NA", "n/a", "NaN", "null", "?", " "], ids=repr)
def test_missing_cells_are_an_error_or_dropped(tmp_path, capsys, marker):
    X, y = regression_data()
    text = table_text(X, y).splitlines()
    for row in (3, 7):  # data rows 3 and 7: one cell each
        cells = text[row].split(",")
        cells[row % 3] = marker
        text[row] = ",".join(cells)
    path = tmp_path / "t.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: 2 cells are missing (empty, NA or NaN): data row 3 column 'x1'; "
        "data row 7 column 'x2'; --missing drop leaves such rows out",
    )
    keep = np.ones(len(X), bool)
    keep[[2, 6]] = False
    code, report, _ = run_json(capsys, fit_args(path, "--missing", "drop"))
    assert code == 0 and report["dropped_rows"] == 2 and report["rows"] == len(X) - 2
    _, params = direct_fit(X[keep], y[keep])
    assert_same_params(report, params)


def test_missing_cells_in_unused_columns_drop_nothing(tmp_path, capsys):
    X, y = regression_data()
    path = tmp_path / "t.csv"
    path.write_text(table_text(X, y, ",", ["NA"] * len(X)), encoding="utf-8")
    report = fits_the_numbers(
        capsys, path, X, y, "--features", "x1,x2", "--missing", "drop"
    )
    assert report["dropped_rows"] == 0


def test_every_row_dropped(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("x1,x2,y\n1,,3\nNA,2,3\n", encoding="utf-8")
    fails_with(
        capsys,
        fit_args(path, "--missing", "drop"),
        f"no rows left in {path}: every row has a missing cell (2 dropped)",
    )


def test_many_missing_cells_are_counted(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("x1,x2,y\n" + "1,,3\n" * 8, encoding="utf-8")
    fails_with(
        capsys,
        fit_args(path),
        "8 cells are missing (empty, NA or NaN): data row 1 column 'x2'; data row 2 "
        "column 'x2'; data row 3 column 'x2'; data row 4 column 'x2'; data row 5 "
        "column 'x2'; and 3 more; --missing drop",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the table is empty", id="empty"),
        pytest.param("\n\n", "the table is empty", id="blank"),
        pytest.param("x1,x2,y\n", "the table has a header but no rows", id="no-rows"),
        pytest.param(
            "x1,x2,y\n1,2,3\n4,abc,6\n",
            "data row 2 (line 3), column 'x2': cannot read 'abc' as a number",
            id="not-a-number",
        ),
        pytest.param(
            "x1,x2,y\n1,2,3\n\n4,1_000,6\n",
            "data row 2 (line 4), column 'x2': cannot read '1_000' as a number",
            id="after-a-blank-line",
        ),
        pytest.param(
            "x1,x2,y\n1,2,3\n4,5,1e999\n",
            "data row 2 (line 3), column 'y': '1e999' is not a finite number",
            id="overflow",
        ),
        pytest.param(
            "x1,x2,y\n1,-inf,3\n",
            "data row 1 (line 2), column 'x2': '-inf' is not a finite number",
            id="infinite",
        ),
        pytest.param(
            "x1,x2,y\n1,2,3\n4,5\n",
            "data row 2 (line 3) has 2 cells, expected 3 (one per column of the "
            "header)",
            id="short-row",
        ),
        pytest.param(
            "x1,x2,y\n1,2,3,4\n",
            "data row 1 (line 2) has 4 cells, expected 3",
            id="long-row",
        ),
        pytest.param(
            "x1,,y\n1,2,3\n",
            "column 2 of the header has no name; every column needs one",
            id="unnamed",
        ),
        pytest.param(
            "x1,x2,x1\n1,2,3\n",
            "the header repeats the column name 'x1' (columns 1 and 3)",
            id="repeated",
        ),
        pytest.param(
            "1,2,3\n4,5,6\n",
            "the first row '1,2,3' is all numbers; a table starts with a header row",
            id="no-header",
        ),
        pytest.param(
            "x1,x2,y\n1,2,3\n4,5,6\xff\n",
            "cannot read the table: line 3 is not UTF-8 text (found the byte 0xff)",
            id="not-utf8",
        ),
    ],
)
def test_bad_tables_are_one_line_naming_the_place(tmp_path, capsys, text, message):
    path = tmp_path / "bad.csv"
    data = text.encode("utf-8").replace("\xff".encode(), b"\xff")
    path.write_bytes(data)
    fails_with(capsys, fit_args(path), f"{path}: {message}")


def test_missing_and_unreadable_files(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    fails_with(
        capsys, fit_args(missing), f"{missing}: cannot read the table: No such file"
    )
    fails_with(capsys, fit_args(tmp_path), f"{tmp_path}: cannot read the table")


def test_a_file_without_line_breaks_is_refused_without_reading_it_all(tmp_path, capsys):
    path = tmp_path / "zeros.csv"
    path.write_bytes(b"\0" * (3 << 20))
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: line 1 is longer than 1,048,576 bytes; is it a CSV table?",
    )
    path.write_bytes(b"x1,x2,y\n1,2,3\n" + b"4" * (3 << 20))
    fails_with(capsys, fit_args(path), f"{path}: line 3 is longer than 1,048,576")
    if Path("/dev/zero").exists():  # endless: once read until memory ran out
        fails_with(
            capsys, fit_args("/dev/zero"), "/dev/zero: line 1 is longer than 1,048,576"
        )


def test_missing_columns_list_the_columns(tmp_path, capsys):
    X, y = regression_data()
    path = write_csv(tmp_path / "t.csv", X, y)
    columns = "its columns are: 'x1', 'x2', 'y'"
    fails_with(
        capsys,
        ["fit", path, "--target", "z"],
        f"target column 'z' is not in the table; {columns}",
    )
    fails_with(
        capsys,
        fit_args(path, "--features", "x1,q"),
        f"feature column 'q' is not in the table; {columns}",
    )
    fails_with(
        capsys,
        fit_args(path, "--features", "x1,y"),
        "target column 'y' is also listed among the features",
    )
    fails_with(
        capsys,
        fit_args(path, "--features", "x1,x1"),
        "feature column 'x1' is listed twice",
    )


@pytest.mark.slow
def test_memory_does_not_grow_with_the_rows(tmp_path, capsys):
    """Full-batch least squares streams the table: with 4 times the rows, the
    peak of the memory that the run allocates on the host grows by much less
    than the table (both tables span several blocks)."""
    rng = np.random.default_rng(0)
    peaks = {}
    for rows in (100_000, 400_000):
        X = rng.normal(size=(rows, 5))
        y = X @ rng.normal(size=(5, 1)) + rng.normal(size=(rows, 1))
        path = write_csv(tmp_path / f"{rows}.csv", X, y, ("a", "b", "c", "d", "e", "y"))
        tracemalloc.start()
        try:
            code, report, _ = run_json(capsys, ["fit", path, "--target", "y"])
            peaks[rows] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert code == 0 and report["rows"] == rows
        size = os.path.getsize(path)
    # Holding the used columns (19 MB here) would add about 20 MB; streaming,
    # the blocks are the same for both tables.
    assert peaks[400_000] - peaks[100_000] < size / 4


@pytest.mark.slow
def test_a_table_wider_than_long_is_fitted_through_its_rows(tmp_path, capsys):
    """Fewer rows than columns: the statistics would be (n + 1)² sums, far more
    than the table, so the rows are kept and least squares goes through them.
    The run equals a fit of the rows, and the closed form is the minimum-norm
    solution, which fits every row exactly."""
    rng = np.random.default_rng(3)
    rows, n = 6, 40
    X = rng.normal(size=(rows, n)) * np.linspace(0.5, 3.0, n) + 1.0
    y = X[:, :3] @ [[1.0], [-2.0], [0.5]] + rng.normal(size=(rows, 1))
    names = tuple(f"x{j}" for j in range(n))
    path = write_csv(tmp_path / "wide.csv", X, y, (*names, "y"))
    code, report, err = run_json(capsys, fit_args(path))
    assert code == 0, err
    assert report["rows"] == rows
    with jax.enable_x64(True):
        Z, scaling = linear.standardize(X)
        params = linear.init(jax.random.split(jax.random.key(0))[0], n, 1, np.float64)
        rate = 0.9 * linear.max_learning_rate(Z)
        result = jaxgd.fit(
            linear.mse, params, Z, y, learning_rate=rate, num_steps=STEPS
        )
        want = scaling.unscale(result.params)
        assert_same_params(report, jax.tree.map(np.asarray, want), names, rtol=1e-9)
        np.testing.assert_allclose(
            report["final_loss"], float(linear.mse(want, X, y)), rtol=1e-9
        )
    assert report["closed_form_loss"] < 1e-20
    np.testing.assert_allclose(report["gap"], report["final_loss"], rtol=1e-12)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets RLIMIT_AS")
def test_a_wide_table_needs_no_memory_for_its_gram_matrix(tmp_path):
    """3 rows of 20,000 features: the (n + 1)² statistics would take 3.2 GB,
    the rows 0.5 MB. Under an address-space limit of 3 GB the fit runs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 20_000))
    y = rng.normal(size=(3, 1))
    names = (*(f"x{j}" for j in range(X.shape[1])), "y")
    path = write_csv(tmp_path / "wide.csv", X, y, names)
    limit = 3 * 2**30
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
            "from jaxgd.cli import main; "
            f"sys.exit(main(['fit', {path!r}, '--target', 'y', '--json', "
            "'--steps', '10', '--no-cache']))",
        ],
        env={**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["rows"] == 3 and len(report["weights"]) == 20_000
    assert report["closed_form_loss"] < 1e-20


# --- files as they come ------------------------------------------------------


def sklearn_text(X, y, header=None):
    """A table as scikit-learn ships it: a first line of counts, then the rows.

    Boston's has a header row and a line of counts as wide as the table
    (`506,13,,,...`); breast cancer's has no header and names its classes
    (`569,30,malignant,benign`).
    """
    n, k = X.shape
    if header is None:
        lines = [f"{n},{k},malignant,benign"]
    else:
        lines = [f"{n},{k}" + "," * (k - 1), header]
    rows = [",".join(repr(float(v)) for v in row) for row in np.hstack([X, y])]
    return "\n".join([*lines, *rows]) + "\n"


def test_a_first_line_of_counts_is_skipped(tmp_path, capsys):
    """Boston's table: `506,13,,,...`, then the header."""
    X, y = regression_data()
    path = tmp_path / "boston.csv"
    path.write_text(sklearn_text(X, y, "x1,x2,y"), encoding="utf-8")
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: column 3 of the header has no name; every column needs one (a "
        "first line of counts, as in scikit-learn's CSV files, is skipped with "
        "--skip-rows 1)",
    )
    fits_the_numbers(capsys, path, X, y, "--skip-rows", "1")


@pytest.mark.slow
def test_a_table_without_a_header_names_its_columns_by_number(tmp_path, capsys):
    """Breast cancer's table: a line of counts, no header, 30 features and the
    0/1 target last."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 30)) * rng.uniform(0.1, 100, size=30)
    y = X / X.std(axis=0) @ rng.normal(size=(30, 1)) + rng.normal(size=(80, 1)) > 0
    y = y.astype(float)
    path = tmp_path / "breast_cancer.csv"
    path.write_text(sklearn_text(X, y), encoding="utf-8")
    argv = ["fit", path, "--loss", "bce", "--steps", STEPS]
    code, report, err = run_json(
        capsys, [*argv, "--skip-rows", "1", "--no-header", "--target", "30"]
    )
    assert code == 0, err
    assert report["target"] == "x30" and report["rows"] == len(X)
    _, params = direct_fit(X, y, loss="bce")
    assert_same_params(report, params, names=[f"x{j}" for j in range(30)])
    err = fails_with(
        capsys,
        [*argv, "--skip-rows", "1", "--target", "30"],
        "…' is all numbers; a table starts with a header row of column names "
        "(--no-header reads a table without one, its columns named x0, x1, ...)",
    )
    assert f"{path}: the first row '{float(X[0, 0])!r}," in err and len(err) < 400


def test_columns_are_given_by_name_or_number(tmp_path, capsys):
    X, y = regression_data()
    path = write_csv(tmp_path / "t.csv", X, y)
    by_name = fits_the_numbers(capsys, path, X, y)
    code, by_number, _ = run_json(
        capsys, ["fit", path, "--target", "2", "--features", "0,x2", "--steps", STEPS]
    )
    assert code == 0 and by_number == by_name
    columns = "its columns are: 'x1', 'x2', 'y'"
    fails_with(
        capsys,
        ["fit", path, "--target", "3"],
        f"target column '3' is not in the table; {columns}",
    )
    fails_with(
        capsys,
        fit_args(path, "--features", "0,x1"),
        "feature column 'x1' is listed twice",
    )
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(Path(path).read_text().split("\n", 1)[1], encoding="utf-8")
    code, report, _ = run_json(
        capsys,
        ["fit", headerless, "--no-header", "--target", "x2", "--steps", STEPS],
    )
    assert code == 0 and list(report["weights"]) == ["x0", "x1"]
    assert list(report["weights"].values()) == list(by_name["weights"].values())


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            "a,b\n1,2\n",
            ["--skip-rows", "5"],
            "--skip-rows 5 skips the whole table: it has 2 lines",
        ),
        ("", ["--no-header"], "the table is empty; it has no rows of numbers"),
        ("\n\n", ["--no-header"], "the table is empty; it has no rows of numbers"),
    ],
)
def test_skipped_and_headerless_tables_that_hold_nothing(
    tmp_path, capsys, text, options, message
):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    fails_with(capsys, [*fit_args(path), *options], f"{path}: {message}")


def test_standard_input_is_a_table(tmp_path, capsys, monkeypatch):
    """`cat t.csv | jaxgd fit - --target y`, and predict from standard input."""
    X, y = regression_data()
    path = write_csv(tmp_path / "t.csv", X, y)
    text = Path(path).read_bytes()

    def stdin(data):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    stdin(text)
    report = fits_the_numbers(capsys, "-", X, y, "--save", tmp_path / "m.json")
    assert report["data"] == "standard input"
    code, want, _ = run(capsys, ["predict", tmp_path / "m.json", path])
    assert code == 0
    stdin(text)
    code, got, _ = run(capsys, ["predict", tmp_path / "m.json", "-"])
    assert (code, got) == (0, want)
    stdin(b"x1,x2,y\n1,2,oops\n")
    fails_with(
        capsys,
        fit_args("-"),
        "standard input: data row 1 (line 2), column 'y': cannot read 'oops'",
    )
    monkeypatch.setattr(sys, "stdin", None)
    fails_with(
        capsys, fit_args("-"), "standard input is closed; there is no table to read"
    )


def test_a_text_column_suggests_leaving_it_out(tmp_path, capsys):
    X, y = regression_data()
    path = tmp_path / "t.csv"
    path.write_text(
        table_text(X, y, ",", [f"town{i}" for i in range(len(X))]), encoding="utf-8"
    )
    fails_with(
        capsys,
        fit_args(path),
        f"{path}: data row 1 (line 2), column 'name': cannot read 'town0' as a "
        "number; if it is not a feature, leave it out by naming the feature columns "
        "with --features",
    )
    fits_the_numbers(capsys, path, X, y, "--features", "x1,x2")


def test_long_lists_of_columns_are_cut_to_a_count(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    names = [f"c{j}" for j in range(10_000)]
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * 10_000) + "\n")
    err = fails_with(
        capsys,
        ["fit", path, "--target", "y"],
        "target column 'y' is not in the table; its columns are: 'c0', 'c1', 'c2', "
        "'c3', 'c4', … and 9,995 more\n",
    )
    assert len(err) < 200
    err = fails_with(
        capsys,
        [
            "fit",
            path,
            "--target",
            "c0",
            "--features",
            ",".join(f"q{j}" for j in range(9)),
        ],
        "feature columns 'q0', 'q1', 'q2', 'q3', 'q4', … and 4 more are not in the "
        "table; its columns are: 'c0', 'c1', 'c2', 'c3', 'c4', … and 9,995 more\n",
    )


def test_predict_drops_rows_with_missing_cells_when_asked(tmp_path, capsys):
    X, y = regression_data()
    path = write_csv(tmp_path / "t.csv", X, y)
    code, _, _ = run(capsys, fit_args(path, "--save", tmp_path / "m.json"))
    assert code == 0
    lines = Path(path).read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split(",")[0], "NA", 1)
    holey = tmp_path / "holey.csv"
    holey.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fails_with(
        capsys,
        ["predict", tmp_path / "m.json", holey],
        "1 cell is missing (empty, NA or NaN): data row 2 column 'x1'; --missing "
        "drop leaves such rows out",
    )
    code, want, _ = run(capsys, ["predict", tmp_path / "m.json", path])
    code, got, err = run(
        capsys, ["predict", tmp_path / "m.json", holey, "--missing", "drop"]
    )
    assert code == 0
    assert err == "jaxgd: 1 row with a missing cell dropped: no prediction for it\n"
    kept = want.splitlines()
    del kept[2]
    assert got.splitlines() == kept


# --- the program, whose table is read while JAX is imported ------------------


@pytest.mark.slow
def test_the_program_answers_as_main_does(tmp_path, capsys, monkeypatch):
    """`python -m jaxgd` reads its table in a second process while it imports
    JAX, and rehearses the fit: its reports, errors and exit statuses are
    those of `main` in this process, also for a table of several blocks of
    rows, from standard input, with rows dropped, and for an error found in
    a later block or before the table is read."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70_000, 2)) * [1.0, 30.0]
    y = X @ [[1.5], [-0.05]] + 2.0 + 0.1 * rng.normal(size=(70_000, 1))
    lines = table_text(X, y).splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[0], "NA", 1)
    tall = tmp_path / "tall.csv"
    tall.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines[68_000] = lines[68_000].replace(lines[68_000].split(",")[1], "oops", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rates = ["--learning-rates", "0.1,1", "--missing", "drop", "--json"]
    cases = [
        (fit_args(tall, "--missing", "drop", "--json"), None),
        (fit_args("-", "--missing", "drop", "--json"), tall),
        (["sweep", tall, "--target", "y", "--steps", STEPS, *rates], None),
        (fit_args(bad, "--missing", "drop"), None),
        (fit_args(tall, "--target", "z"), None),
        (fit_args(tall, "--save", tmp_path / "nowhere" / "m.json"), None),
    ]
    answers = []
    for argv, table in cases:
        argv = [str(arg) for arg in argv]
        given = Path(table).read_bytes() if table else b""
        done = subprocess.run(
            [PYTHON, "-m", "jaxgd", *argv],
            input=given,
            capture_output=True,
            env=subprocess_env(tmp_path),
            timeout=300,
        )
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(given)))
        want = run(capsys, argv)
        answers.append((done.returncode, done.stdout.decode(), done.stderr.decode()))
        assert answers[-1] == want, argv
    report = json.loads(answers[0][1])
    assert (report["rows"], report["dropped_rows"]) == (69_999, 1)
    assert [code for code, _, _ in answers] == [0, 0, 0, 2, 2, 2]
    assert (
        "data row 68000 (line 68001), column 'x2': cannot read 'oops'"
        in (answers[3][2])
    )
