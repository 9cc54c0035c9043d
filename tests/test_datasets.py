"""Tests of the shipped data sets `jaxgd.datasets` against the published data."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jaxgd import datasets

PACKAGE = Path(datasets.__file__).parent

AUTO_MPG_FEATURES = (
    "cylinders",
    "displacement",
    "horsepower",
    "weight",
    "acceleration",
    "model_year",
)
BREAST_CANCER_FEATURES = (
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
    "mean_symmetry",
    "mean_fractal_dimension",
)


def test_names_lists_the_shipped_data_sets():
    assert datasets.names() == ("auto_mpg", "breast_cancer")


@pytest.mark.parametrize("name", ["auto_mpg", "breast_cancer"])
def test_every_dataset_is_well_formed(name):
    data = datasets.load(name)
    assert isinstance(data, datasets.Dataset)
    assert data.name == name
    assert data.X.dtype == np.float64 and data.y.dtype == np.float64
    assert data.X.ndim == 2 and data.y.shape == (data.X.shape[0], 1)
    assert len(data.feature_names) == data.X.shape[1]
    assert data.target_name not in data.feature_names
    assert np.isfinite(data.X).all() and np.isfinite(data.y).all()
    assert data.license == "CC BY 4.0"
    assert "https://doi.org/10.24432/" in data.citation
    assert "\n" not in data.description and len(data.description) > 200


@pytest.mark.parametrize(
    ("name", "loader"),
    [
        ("auto_mpg", datasets.load_auto_mpg),
        ("breast_cancer", datasets.load_breast_cancer),
    ],
)
def test_load_by_name_equals_the_loader(name, loader):
    by_name, direct = datasets.load(name), loader()
    np.testing.assert_array_equal(by_name.X, direct.X)
    np.testing.assert_array_equal(by_name.y, direct.y)
    assert by_name[2:] == direct[2:]


def test_each_load_returns_fresh_arrays():
    first = datasets.load_auto_mpg()
    first.X[:] = 0.0
    first.y[:] = 0.0
    second = datasets.load_auto_mpg()
    assert second.X[0, 0] == 8.0 and second.y[0, 0] == 18.0


@pytest.mark.parametrize("name", ["iris", "Auto_MPG", ""])
def test_unknown_name_lists_the_valid_ones(name):
    with pytest.raises(
        ValueError,
        match=(
            rf"^unknown data set name {name!r}; "
            r"the data sets are: 'auto_mpg', 'breast_cancer'$"
        ),
    ):
        datasets.load(name)


@pytest.mark.parametrize(
    ("name", "shown"), [(None, "NoneType None"), (3, "int 3"), (["x"] * 30, "list \\[")]
)
def test_a_name_that_is_not_a_str_is_a_type_error(name, shown):
    with pytest.raises(
        TypeError,
        match=rf"^name must be a str, one of 'auto_mpg', 'breast_cancer'; got {shown}",
    ):
        datasets.load(name)


# --- Auto MPG ------------------------------------------------------------------


def test_auto_mpg_shape_and_columns():
    data = datasets.load_auto_mpg()
    assert data.X.shape == (392, 6) and data.y.shape == (392, 1)
    assert data.feature_names == AUTO_MPG_FEATURES
    assert data.target_name == "mpg"


def test_auto_mpg_published_rows():
    data = datasets.load_auto_mpg()
    # First and last rows of the UCI file: chevrolet chevelle malibu (1970)
    # and chevy s-10 (1982).
    np.testing.assert_array_equal(data.X[0], [8, 307, 130, 3504, 12.0, 70])
    assert data.y[0, 0] == 18.0
    np.testing.assert_array_equal(data.X[-1], [4, 119, 82, 2720, 19.4, 82])
    assert data.y[-1, 0] == 31.0


def test_auto_mpg_published_summary():
    data = datasets.load_auto_mpg()
    X, mpg = data.X, data.y[:, 0]
    # The 392 complete cases: mpg 9 to 46.6 (mean 23.446), weight 1613 to 5140
    # lb, horsepower 46 to 230 (mean 104.47), model years 70 to 82.
    assert (mpg.min(), mpg.max()) == (9.0, 46.6)
    np.testing.assert_allclose(mpg.mean(), 23.445918, atol=1e-6)
    np.testing.assert_allclose(X[:, 2].mean(), 104.469388, atol=1e-6)
    assert (X[:, 3].min(), X[:, 3].max()) == (1613.0, 5140.0)
    assert (X[:, 2].min(), X[:, 2].max()) == (46.0, 230.0)
    assert set(np.unique(X[:, 0])) == {3.0, 4.0, 5.0, 6.0, 8.0}
    np.testing.assert_array_equal(np.unique(X[:, 5]), np.arange(70, 83))


def test_auto_mpg_leaves_out_the_cars_without_horsepower():
    data = datasets.load_auto_mpg()
    rows = np.column_stack([data.y, data.X])
    # ford pinto (1971) and renault lecar deluxe (1980) have no horsepower in
    # the source: (mpg, cylinders, displacement, weight, acceleration, year).
    for mpg, cyl, disp, weight, acc, year in [
        (25.0, 4, 98, 2046, 19.0, 71),
        (40.9, 4, 85, 1835, 17.3, 80),
    ]:
        match = (
            (rows[:, 0] == mpg)
            & (rows[:, 1] == cyl)
            & (rows[:, 2] == disp)
            & (rows[:, 4] == weight)
            & (rows[:, 5] == acc)
            & (rows[:, 6] == year)
        )
        assert not match.any()


# --- Breast Cancer Wisconsin (Diagnostic) ---------------------------------------


def test_breast_cancer_shape_and_columns():
    data = datasets.load_breast_cancer()
    assert data.X.shape == (569, 10) and data.y.shape == (569, 1)
    assert data.feature_names == BREAST_CANCER_FEATURES
    assert data.target_name == "malignant"


def test_breast_cancer_labels_are_exactly_zero_and_one():
    y = datasets.load_breast_cancer().y
    assert set(np.unique(y)) == {0.0, 1.0}
    # 212 malignant (label 1) and 357 benign (label 0), as published.
    assert int((y == 1.0).sum()) == 212
    assert int((y == 0.0).sum()) == 357


def test_breast_cancer_published_rows():
    data = datasets.load_breast_cancer()
    # Sample 842302, diagnosed malignant, is the first of the UCI file;
    # sample 92751, benign, is the last.
    np.testing.assert_array_equal(
        data.X[0],
        [17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871],
    )
    assert data.y[0, 0] == 1.0
    np.testing.assert_array_equal(
        data.X[-1], [7.76, 24.54, 47.92, 181, 0.05263, 0.04362, 0, 0, 0.1587, 0.05884]
    )
    assert data.y[-1, 0] == 0.0


def test_breast_cancer_published_ranges():
    X = datasets.load_breast_cancer().X
    # Minimum and maximum of each mean feature, to the 3 decimals published
    # with the data.
    published = [
        (6.981, 28.11),
        (9.71, 39.28),
        (43.79, 188.5),
        (143.5, 2501.0),
        (0.053, 0.163),
        (0.019, 0.345),
        (0.0, 0.427),
        (0.0, 0.201),
        (0.106, 0.304),
        (0.050, 0.097),
    ]
    np.testing.assert_allclose(X.min(axis=0), [lo for lo, _ in published], atol=6e-4)
    np.testing.assert_allclose(X.max(axis=0), [hi for _, hi in published], atol=6e-4)


def test_malignant_tumours_are_larger_on_average():
    data = datasets.load_breast_cancer()
    malignant = data.y[:, 0] == 1.0
    radius = data.X[:, 0]
    assert radius[malignant].mean() > radius[~malignant].mean() + 4.0


# --- the shipped files ----------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "rows", "columns"),
    [("auto_mpg.csv", 392, 7), ("breast_cancer.csv", 569, 11)],
)
def test_shipped_files_are_small_strict_tables(file, rows, columns):
    path = PACKAGE / "data" / file
    assert path.stat().st_size < 64 * 1024
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    assert len(set(header)) == len(header) == columns
    # Every cell of every row a finite number, as the command line reads them.
    cells = [line.split(",") for line in lines[1:]]
    assert len(cells) == rows and {len(row) for row in cells} == {columns}
    assert np.all(np.isfinite(np.array(cells, dtype=np.float64)))


def test_data_readme_cites_every_table():
    readme = (PACKAGE / "data" / "README.md").read_text(encoding="utf-8")
    for name in datasets.names():
        data = datasets.load(name)
        assert f"{name}.csv" in readme
        assert data.citation.rsplit(" ", 1)[-1] in readme  # the DOI


def test_loads_from_a_zipped_package(tmp_path):
    # An installed package need not be plain files on disk: the loader must go
    # through importlib.resources, which also reads from a zip archive.
    archive = tmp_path / "jaxgd.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("jaxgd/__init__.py", "")
        for module in ("datasets.py",):
            zipped.write(PACKAGE / module, f"jaxgd/{module}")
        for name in datasets.names():
            zipped.write(PACKAGE / "data" / f"{name}.csv", f"jaxgd/data/{name}.csv")
    script = (
        "import jaxgd, jaxgd.datasets as d\n"
        f"assert jaxgd.__file__.startswith({str(archive)!r}), jaxgd.__file__\n"
        "print(d.load_auto_mpg().X.shape, d.load_breast_cancer().y.shape)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(archive)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(392, 6) (569, 1)"
