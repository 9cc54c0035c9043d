"""Small real data sets shipped with jaxgd, for regression and classification.

Each loader returns a `Dataset`: the features ``X`` of shape (N, n) and the
target ``y`` of shape (N, 1), both float64 numpy arrays, with the column names,
a description, the citation and the license of the data. The tables travel
inside the package as CSV files, so loading needs no network.

* `load_auto_mpg` — fuel consumption of 392 cars, a regression target for
  `jaxgd.linear.mse`.
* `load_breast_cancer` — 569 breast tumour biopsies labelled malignant (1) or
  benign (0), a binary target for `jaxgd.linear.bce`.

The features of both tables lie on very different scales (a car's weight is in
the thousands, its cylinders in single digits), so standardise ``X`` before
plain gradient descent, or the largest safe learning rate is tiny.

Examples:
    >>> from jaxgd import datasets
    >>> datasets.names()
    ('auto_mpg', 'breast_cancer')
    >>> data = datasets.load("auto_mpg")
    >>> X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    >>> X.shape, data.y.shape
    ((392, 6), (392, 1))
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "load", "load_auto_mpg", "load_breast_cancer", "names"]


class Dataset(NamedTuple):
    """A real data table split into features and target, with its provenance.

    Attributes:
        X: (N, n) float64 features, one row per sample.
        y: (N, 1) float64 target.
        feature_names: the n column names of ``X``, in order.
        target_name: the column name of ``y``.
        name: the name that `load` accepts.
        description: one paragraph on what the rows and columns mean.
        citation: the reference to cite when using the data.
        license: the license of the data.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    name: str
    description: str
    citation: str
    license: str


class _Source(NamedTuple):
    """Where a shipped table lives and what it is."""

    file: str
    target: str
    description: str
    citation: str
    license: str


_SOURCES: dict[str, _Source] = {
    "auto_mpg": _Source(
        file="auto_mpg.csv",
        target="mpg",
        description=(
            "City-cycle fuel consumption of 392 car models of the model years "
            "1970 to 1982, from the UCI Auto MPG data (originally the StatLib "
            "library at Carnegie Mellon University, shown at the 1983 American "
            "Statistical Association Exposition). The target mpg is in miles "
            "per US gallon; the features are cylinders, displacement (cubic "
            "inches), horsepower, weight (pounds), acceleration (seconds from "
            "0 to 60 mph) and model_year (70 for 1970). The 6 cars whose "
            "horsepower is unknown are left out, as are the car name and the "
            "region of origin."
        ),
        citation=(
            "Quinlan, R. (1993). Auto MPG [Dataset]. UCI Machine Learning "
            "Repository. https://doi.org/10.24432/C5859H"
        ),
        license="CC BY 4.0",
    ),
    "breast_cancer": _Source(
        file="breast_cancer.csv",
        target="malignant",
        description=(
            "Breast Cancer Wisconsin (Diagnostic): 569 fine-needle aspirates of "
            "breast masses, each a digitised image of cell nuclei, from the "
            "University of Wisconsin Hospitals, Madison. The ten features are "
            "the means over the nuclei of an image of radius, texture (standard "
            "deviation of grey-scale values), perimeter, area, smoothness "
            "(local variation in radius lengths), compactness "
            "(perimeter^2 / area - 1), concavity (severity of concave parts of "
            "the contour), concave points (their number), symmetry and fractal "
            "dimension (coastline approximation - 1). The label malignant is 1 "
            "for a malignant tumour (212 cases) and 0 for a benign one (357)."
        ),
        citation=(
            "Wolberg, W., Mangasarian, O., Street, N., & Street, W. (1995). "
            "Breast Cancer Wisconsin (Diagnostic) [Dataset]. UCI Machine "
            "Learning Repository. https://doi.org/10.24432/C5DW2B"
        ),
        license="CC BY 4.0",
    ),
}


def names() -> tuple[str, ...]:
    """Returns the names of the shipped data sets, the ones `load` accepts.

    Examples:
        >>> from jaxgd import datasets
        >>> datasets.names()
        ('auto_mpg', 'breast_cancer')
    """
    return tuple(_SOURCES)


def load(name: str) -> Dataset:
    """Loads a shipped data set by name.

    Args:
        name: one of `names()`.

    Returns:
        The `Dataset`; every call reads the table anew, so the arrays are the
        caller's to change.

    Raises:
        ValueError: ``name`` is not the name of a shipped data set.
        TypeError: ``name`` is not a str.

    Examples:
        >>> from jaxgd import datasets
        >>> data = datasets.load("breast_cancer")
        >>> data.X.shape, data.y.shape, data.target_name
        ((569, 10), (569, 1), 'malignant')
    """
    valid = ", ".join(repr(known) for known in _SOURCES)
    if not isinstance(name, str):
        raise TypeError(
            f"name must be a str, one of {valid}; got {type(name).__name__} "
            f"{_short(name)}"
        )
    source = _SOURCES.get(name)
    if source is None:
        raise ValueError(f"unknown data set name {name!r}; the data sets are: {valid}")
    resource = resources.files(__package__) / "data" / source.file
    with resource.open("r", encoding="utf-8") as stream:
        columns = stream.readline().strip().split(",")
        table = np.loadtxt(stream, delimiter=",", ndmin=2, comments=None)
    target = columns.index(source.target)
    feature_names = tuple(name for name in columns if name != source.target)
    X = np.delete(table, target, axis=1)
    y = table[:, [target]]
    return Dataset(
        X=X,
        y=y,
        feature_names=feature_names,
        target_name=source.target,
        name=name,
        description=source.description,
        citation=source.citation,
        license=source.license,
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_auto_mpg() -> Dataset:
    """Loads the Auto MPG data: predict a car's fuel consumption (regression).

    392 cars of the model years 1970 to 1982 (the 6 with unknown horsepower are
    left out). The target ``mpg`` is in miles per US gallon; the six features
    are cylinders, displacement (cubic inches), horsepower, weight (pounds),
    acceleration (seconds from 0 to 60 mph) and model_year (70 for 1970).
    Quinlan (1993), UCI Machine Learning Repository, CC BY 4.0.

    Returns:
        A `Dataset` with ``X`` of shape (392, 6) and ``y`` of shape (392, 1).

    Examples:
        >>> from jaxgd import datasets
        >>> data = datasets.load_auto_mpg()
        >>> data.X.shape, data.y.shape
        ((392, 6), (392, 1))
        >>> print(*data.feature_names)
        cylinders displacement horsepower weight acceleration model_year
        >>> print(data.target_name, data.y[0, 0])
        mpg 18.0
    """
    return load("auto_mpg")


def load_breast_cancer() -> Dataset:
    """Loads the Breast Cancer Wisconsin (Diagnostic) data (binary labels).

    569 breast tumour biopsies described by the means of ten measurements of
    their cell nuclei. The label ``malignant`` is 1 for a malignant tumour
    (212 cases) and 0 for a benign one (357). Wolberg, Mangasarian and Street
    (1995), UCI Machine Learning Repository, CC BY 4.0.

    Returns:
        A `Dataset` with ``X`` of shape (569, 10) and ``y`` of shape (569, 1)
        holding only 0.0 and 1.0.

    Examples:
        >>> from jaxgd import datasets
        >>> data = datasets.load_breast_cancer()
        >>> data.X.shape, data.y.shape
        ((569, 10), (569, 1))
        >>> data.feature_names[:3]
        ('mean_radius', 'mean_texture', 'mean_perimeter')
        >>> int(data.y.sum()), int((data.y == 0).sum())
        (212, 357)
    """
    return load("breast_cancer")
