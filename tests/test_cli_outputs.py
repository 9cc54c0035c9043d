"""What the command line writes: never over what it reads, through pipes and
devices, into folders checked before the run.

Each file a command would write (`fit --save`, `--plot`, `predict --out`) is
checked before the table is read: an output that is an input of the same
command, an empty name, or a folder that cannot be written to is one line and
exit status 2, with every file left as it was.
"""

import os
import stat
import subprocess
import threading
from pathlib import Path

import matplotlib
import pytest
from cli_helpers import (
    PYTHON,
    fails_with,
    fit_args,
    labels_csv,
    regression_csv,
    run,
    run_json,
    subprocess_env,
    sweep_args,
)


def saved_model(tmp_path, capsys, path):
    model = tmp_path / "model.json"
    code, _, err = run(capsys, fit_args(path, "--save", model))
    assert code == 0, err
    return model


def unchanged(*paths):
    """The bytes of each file, to compare with after a command."""
    return {path: Path(path).read_bytes() for path in paths}


@pytest.mark.slow
def test_predict_never_writes_over_its_table_or_its_model(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    model = saved_model(tmp_path, capsys, path)
    before = unchanged(path, model)
    fails_with(
        capsys,
        ["predict", model, path, "--out", path],
        f"--out {path} is the table this command reads ({path}); writing it would "
        "destroy the table: give another file name",
    )
    fails_with(
        capsys,
        ["predict", model, path, "--out", model],
        f"--out {model} is the model this command reads ({model}); writing it would "
        "destroy the model: give another file name",
    )
    assert unchanged(path, model) == before


def test_fit_never_writes_over_its_table(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    before = unchanged(path)
    fails_with(
        capsys,
        fit_args(path, "--save", path),
        f"--save {path} is the table this command reads ({path})",
    )
    assert unchanged(path) == before


def test_another_name_of_an_input_is_the_input(tmp_path, capsys):
    """A relative path, a symlink and a hard link all lead to the table."""
    path, _, _ = regression_csv(tmp_path)
    link, hard = tmp_path / "link.csv", tmp_path / "hard.csv"
    link.symlink_to(path)
    os.link(path, hard)
    before = unchanged(path)
    relative = os.path.relpath(path)
    for other in (link, hard, relative, tmp_path / "." / "data.csv"):
        fails_with(capsys, fit_args(path, "--save", other), "is the table this ")
        fails_with(capsys, fit_args(other, "--save", path), "is the table this ")
    assert unchanged(path) == before


def test_two_outputs_cannot_be_one_file(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "out.svg"
    fails_with(
        capsys,
        fit_args(path, "--save", figure, "--plot", figure),
        f"--plot {figure} is also the file of --save",
    )
    assert not figure.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "t.csv", "--target", "y", "--save", ""],
        ["fit", "t.csv", "--target", "y", "--plot", ""],
        ["sweep", "t.csv", "--target", "y", "--learning-rates", "0.1", "--plot", ""],
        ["predict", "m.json", "t.csv", "--out", ""],
        ["fit", "", "--target", "y"],
        ["predict", "", "t.csv"],
    ],
    ids=["save", "plot", "sweep-plot", "out", "table", "model"],
)
def test_empty_file_names_are_refused(capsys, argv):
    option = next(
        (argv[i - 1] for i, arg in enumerate(argv) if arg == "" and i > 1), None
    )
    option = option if option and option.startswith("--") else None
    err = fails_with(capsys, argv, "expected a file name; got ''")
    if option is not None:
        assert f"argument {option}: " in err


def test_output_folders_are_checked_before_the_table_is_read(tmp_path, capsys):
    """Even a table that cannot be read is not looked at before the outputs."""
    table = tmp_path / "broken.csv"
    table.write_text("x1,x2,y\n1,2,oops\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    fails_with(
        capsys,
        fit_args(table, "--save", blocker / "m.json"),
        f"--save {blocker / 'm.json'}: {blocker} is not a folder",
    )
    fails_with(
        capsys,
        fit_args(table, "--plot", tmp_path / "none" / "loss.png"),
        f"--plot {tmp_path / 'none' / 'loss.png'}: the folder {tmp_path / 'none'} "
        "does not exist",
    )
    fails_with(
        capsys,
        ["predict", tmp_path / "m.json", table, "--out", blocker / "p.csv"],
        f"--out {blocker / 'p.csv'}: {blocker} is not a folder",
    )


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permission bits do not stop root from writing",
)
def test_a_read_only_folder_fails_before_the_run(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        fails_with(
            capsys,
            fit_args(path, "--steps", "5000000", "--save", folder / "m.json"),
            f"--save {folder / 'm.json'}: cannot write into the folder {folder}: "
            "Permission denied",
        )
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_a_failed_figure_names_the_figure_not_a_temporary_file(
    tmp_path, capsys, monkeypatch
):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "loss.png"

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run(capsys, fit_args(path, "--plot", figure))
    assert code == 2
    assert err == (
        f"jaxgd: error: cannot write the figure {figure}: No space left on device\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_dash_writes_the_predictions_to_standard_output(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    model = saved_model(tmp_path, capsys, path)
    code, default, _ = run(capsys, ["predict", model, path])
    assert code == 0
    code, dash, _ = run(capsys, ["predict", model, path, "--out", "-"])
    assert code == 0 and dash == default
    assert not (Path.cwd() / "-").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_is_written_through_not_replaced(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    model = saved_model(tmp_path, capsys, path)
    code, want, _ = run(capsys, ["predict", model, path])
    assert code == 0
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(
        target=lambda: got.append(pipe.read_text("utf-8")), daemon=True
    )
    reader.start()
    try:
        code, out, err = run(capsys, ["predict", model, path, "--out", pipe])
    finally:
        if reader.is_alive():  # the command failed before opening the pipe
            # Without blocking: a reader that has just read to the end is
            # gone, and a blocking open would wait for another forever.
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        reader.join(timeout=60)
    assert (code, out, err) == (0, "", "")
    assert got == [want]
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_device_is_written_through_and_its_error_is_one_line(tmp_path, capsys):
    """Run as root, renaming over /dev/full would replace the device node."""
    path, _, _ = regression_csv(tmp_path)
    model = saved_model(tmp_path, capsys, path)
    fails_with(
        capsys,
        ["predict", model, path, "--out", "/dev/full"],
        "cannot write the predictions to /dev/full: No space left on device",
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
def test_dev_stdout_reaches_standard_output(tmp_path, capsys):
    """Whether standard output is a pipe or a file, /dev/stdout writes to it."""
    path, _, _ = regression_csv(tmp_path)
    model = saved_model(tmp_path, capsys, path)
    code, want, _ = run(capsys, ["predict", model, path])
    assert code == 0
    predict = [PYTHON, "-m", "jaxgd", "predict", str(model), str(path), "--no-cache"]
    piped = subprocess.run(
        [*predict, "--out", "/dev/stdout"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=subprocess_env(tmp_path),
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, want, "")
    into = tmp_path / "into.csv"
    with open(into, "w", encoding="utf-8") as stream:
        done = subprocess.run(
            [*predict, "--out", "/dev/stdout"],
            stdout=stream,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=300,
            env=subprocess_env(tmp_path),
        )
    assert (done.returncode, done.stderr) == (0, "")
    assert into.read_text(encoding="utf-8") == want
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


# --- the figure --------------------------------------------------------------


@pytest.fixture
def svg_text(monkeypatch):
    """Figures keep their text as text, so that a test can read it back."""
    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")


@pytest.mark.parametrize("loss", ["mse", pytest.param("bce", marks=pytest.mark.slow)])
def test_fit_plot_draws_the_gap_to_the_optimum_on_a_log_axis(
    tmp_path, capsys, svg_text, loss
):
    path = regression_csv(tmp_path)[0] if loss == "mse" else labels_csv(tmp_path)[0]
    figure = tmp_path / "loss.svg"
    code, _, err = run(capsys, fit_args(path, "--loss", loss, "--plot", figure))
    assert code == 0, err
    text = figure.read_text(encoding="utf-8")
    assert "loss − optimum" in text
    assert "$\\mathdefault{10^{" in text  # the ticks of a log axis


@pytest.mark.slow
def test_batched_fit_plot_draws_the_loss(tmp_path, capsys, svg_text):
    """Mini-batch losses may fall below the optimum: the loss itself is drawn."""
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "loss.svg"
    code, _, err = run(capsys, fit_args(path, "--batch-size", "6", "--plot", figure))
    assert code == 0, err
    assert "optimum" not in figure.read_text(encoding="utf-8")


@pytest.mark.slow
def test_sweep_plot_draws_the_gap_to_the_optimum(tmp_path, capsys, svg_text):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "sweep.svg"
    code, _, err = run_json(capsys, sweep_args(path, "1e-2:1:3", "--plot", figure))
    assert code == 0, err
    assert "final loss − optimum" in figure.read_text(encoding="utf-8")
