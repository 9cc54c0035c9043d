"""`jaxgd fit --save` and `jaxgd predict`: a model kept, read back and applied."""

import json
import os

import jax
import numpy as np
import pytest
from cli_helpers import (
    fails_with,
    fit_args,
    labels_csv,
    regression_csv,
    run,
    run_json,
    write_csv,
)

import jaxgd


def saved(tmp_path, capsys, path, *more):
    model = tmp_path / "model.json"
    code, report, _ = run_json(capsys, fit_args(path, "--save", model, *more))
    assert code == 0
    return model, report


def test_the_model_holds_the_fit_in_the_units_of_the_data(tmp_path, capsys):
    path, X, _ = regression_csv(tmp_path)
    model, report = saved(tmp_path, capsys, path)
    kept = json.loads(model.read_text(encoding="utf-8"))
    assert kept["format"] == "jaxgd linear model"
    assert kept["jaxgd_version"] == jaxgd.__version__
    assert (kept["loss"], kept["target"]) == ("mse", "y")
    assert kept["features"] == ["x1", "x2"]
    assert kept["weights"] == report["weights"] and kept["bias"] == report["bias"]
    np.testing.assert_allclose(
        list(kept["standardization"]["mean"].values()), X.mean(axis=0), rtol=1e-14
    )
    np.testing.assert_allclose(
        list(kept["standardization"]["scale"].values()), X.std(axis=0), rtol=1e-12
    )
    assert kept["trained_on"]["rows"] == len(X)
    assert kept["trained_on"]["final_loss"] == report["final_loss"]
    # Nothing else is left in the folder: the file was renamed into place.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.json"]


def test_predict_round_trip_mse(tmp_path, capsys):
    path, X, _ = regression_csv(tmp_path)
    model, report = saved(tmp_path, capsys, path)
    W = np.array(list(report["weights"].values()))
    want = X @ W + report["bias"]
    # The features in another order, beside other columns and no target.
    other = write_csv(
        tmp_path / "new.csv",
        np.hstack([X[:, [1]], np.ones((len(X), 1))]),
        X[:, [0]],
        ("x2", "extra", "x1"),
    )
    code, out, err = run(capsys, ["predict", model, other])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "y"
    np.testing.assert_allclose([float(v) for v in lines[1:]], want, rtol=1e-14)
    target = tmp_path / "predictions.csv"
    code, out, _ = run(capsys, ["predict", model, other, "--out", target])
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").splitlines() == lines


@pytest.mark.slow
def test_predict_round_trip_bce_gives_probabilities(tmp_path, capsys):
    path, X, y = labels_csv(tmp_path)
    model, report = saved(tmp_path, capsys, path, "--loss", "bce")
    W = np.array(list(report["weights"].values()))
    logits = X @ W + report["bias"]
    code, out, _ = run(capsys, ["predict", model, path])
    lines = out.splitlines()
    assert code == 0 and lines[0] == "y_probability"
    probabilities = np.array([float(v) for v in lines[1:]])
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-13)
    assert np.mean((probabilities > 0.5) == (y[:, 0] == 1)) == report["accuracy"]


@pytest.mark.slow
def test_save_and_predict_on_the_shipped_data(tmp_path, capsys):
    model = tmp_path / "mpg.json"
    code, report, _ = run_json(capsys, ["fit", "--steps", "300", "--save", model])
    assert code == 0
    source = tmp_path / "cars.csv"
    data = jaxgd.datasets.load("auto_mpg")
    write_csv(source, data.X, data.y, (*data.feature_names, "mpg"))
    code, out, _ = run(capsys, ["predict", model, source])
    predictions = np.array([float(v) for v in out.splitlines()[1:]])
    assert code == 0
    mse = np.mean((predictions - data.y[:, 0]) ** 2)
    np.testing.assert_allclose(mse, report["final_loss"], rtol=1e-10)


def test_a_diverged_fit_is_not_saved(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    model = tmp_path / "model.json"
    model.write_text("the old model", encoding="utf-8")
    argv = fit_args(path, "--learning-rate", "5", "--save", model)
    code, _, err = run(capsys, argv)
    assert code == 1 and err.endswith("jaxgd: the model was not saved\n")
    assert model.read_text(encoding="utf-8") == "the old model"


def test_an_interrupted_write_leaves_the_old_file(tmp_path, capsys, monkeypatch):
    path, _, _ = regression_csv(tmp_path)
    model, _ = saved(tmp_path, capsys, path)
    before = model.read_text(encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    code, _, err = run(capsys, fit_args(path, "--save", model, "--steps", "7"))
    assert code == 130 and err == "jaxgd: interrupted\n"
    assert model.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.json"]


def test_predict_missing_feature_columns(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    model, _ = saved(tmp_path, capsys, path)
    other = write_csv(tmp_path / "new.csv", X[:, :1], y, ("x1", "y"))
    fails_with(
        capsys,
        ["predict", model, other],
        "feature column 'x2' is not in the table; its columns are: 'x1', 'y'",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not a model: not JSON"),
        ("[]", 'it has no "format": "jaxgd linear model"'),
        ('{"format": "jaxgd linear model", "loss": "mae"}', "\"loss\" is 'mae'"),
        (
            '{"format": "jaxgd linear model", "loss": "mse", "features": "x1"}',
            '"features" is not a list of column names',
        ),
        (
            '{"format": "jaxgd linear model", "loss": "mse", "features": ["x1"], '
            '"target": "y", "weights": {"x2": 1}, "bias": 0}',
            '"weights" does not give one weight per feature',
        ),
        (
            '{"format": "jaxgd linear model", "loss": "mse", "features": ["x1"], '
            '"target": "y", "weights": {"x1": "1"}, "bias": 0}',
            "the weight of 'x1' is '1', not a finite number",
        ),
        (
            '{"format": "jaxgd linear model", "loss": "mse", "features": ["x1"], '
            '"target": "y", "weights": {"x1": 1}, "bias": NaN}',
            "the weight of 'bias' is nan, not a finite number",
        ),
    ],
)
def test_bad_models_are_one_line(tmp_path, capsys, text, message):
    path, _, _ = regression_csv(tmp_path)
    model = tmp_path / "bad.json"
    model.write_text(text, encoding="utf-8")
    fails_with(capsys, ["predict", model, path], message)


def test_bad_paths_are_refused_before_the_run(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys,
        ["predict", tmp_path / "none.json", path],
        f"cannot read the model {tmp_path / 'none.json'}: No such file or directory",
    )
    fails_with(
        capsys,
        fit_args(path, "--save", tmp_path / "no" / "m.json"),
        f"--save {tmp_path / 'no' / 'm.json'}: the folder {tmp_path / 'no'} does "
        "not exist",
    )
    fails_with(
        capsys, fit_args(path, "--save", tmp_path), "is a folder; give a file name"
    )
    model, _ = saved(tmp_path, capsys, path)
    fails_with(
        capsys,
        ["predict", model, path, "--out", tmp_path / "no" / "p.csv"],
        "the folder",
    )


def test_predict_under_jit_is_the_affine_map(tmp_path, capsys):
    """The saved weights are exact: predict equals linear.predict of them."""
    path, X, _ = regression_csv(tmp_path)
    model, report = saved(tmp_path, capsys, path)
    params = {
        "W": np.array([[w] for w in report["weights"].values()]),
        "b": np.array([report["bias"]]),
    }
    with jax.enable_x64(True):
        want = np.asarray(jax.jit(jaxgd.linear.predict)(params, X))[:, 0]
    code, out, _ = run(capsys, ["predict", model, path])
    assert code == 0
    np.testing.assert_array_equal([float(v) for v in out.splitlines()[1:]], want)
