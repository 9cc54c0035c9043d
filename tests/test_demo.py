"""`jaxgd demo`: every figure written, the summary table true to the mathematics."""

import os
import struct
import sys

import jax
import pytest
from helpers import DEMO_FIGURES
from readme import DOCS, commands, matches

from jaxgd import datasets, linear
from jaxgd.cli import main

STEPS = 5


def run_demo(out_dir, *options):
    return main(
        ["demo", "--out", str(out_dir), "--steps", str(STEPS), "--no-cache", *options]
    )


def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.slow
def test_demo_as_the_readme_runs_it_writes_every_figure_and_prints_its_table(
    tmp_path, monkeypatch, capsys
):
    """`jaxgd demo` prints what the tutorial shows and writes every figure.

    tests/test_readme.py leaves this command to this test, which runs it once.
    """
    tutorial = (DOCS / "tutorial.md").read_text("utf-8")
    (command,) = [c for c in commands(tutorial) if c.argv[1] == "demo"]
    monkeypatch.chdir(tmp_path)
    code = main([*command.argv[1:], "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert matches(command.shown, (out + err).splitlines()), (
        f"docs/tutorial.md line {command.line} shows\n" + "\n".join(command.shown)
    )
    out_dir = tmp_path / "figures"
    names = [f"{name}.png" for name in DEMO_FIGURES]
    assert sorted(path.name for path in out_dir.iterdir()) == names
    for name in names:
        png = (out_dir / name).read_bytes()
        assert png.startswith(b"\x89PNG")
        # Printable: at least 960 pixels wide, drawn at 150 dots per inch
        # (the pHYs chunk holds pixels per metre).
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 960 and height >= 500, (name, width, height)
        chunk = png.index(b"pHYs")
        per_metre = struct.unpack(">I", png[chunk + 4 : chunk + 8])[0]
        assert round(per_metre * 0.0254) == 150
        # Readable by anyone who may read the folder, like any new file.
        assert (out_dir / name).stat().st_mode & 0o777 == 0o666 & ~umask()
        assert f"  figures/{name}\n" in out
    # Part 4: the closed form is least squares on the standardized features.
    data = datasets.load("auto_mpg")
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    with jax.enable_x64(True):
        closed = float(linear.mse(linear.solve(X, data.y), X, data.y))
    assert f"closed form (linear.solve) {closed:.6g}" in out


@pytest.mark.parametrize(
    ("format", "magic"),
    [
        pytest.param("svg", b"<?xml", marks=pytest.mark.slow),
        pytest.param("pdf", b"%PDF-", marks=pytest.mark.slow),
    ],
)
def test_demo_writes_vector_figures(tmp_path, capsys, format, magic):
    code = run_demo(tmp_path, "--format", format)
    out, err = capsys.readouterr()
    assert code == 0, err
    names = [f"{name}.{format}" for name in DEMO_FIGURES]
    assert sorted(path.name for path in tmp_path.iterdir()) == names
    for name in names:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(magic), name
        if format == "svg":
            assert b"<svg" in data[:1000] and data.rstrip().endswith(b"</svg>")
        assert f"  {tmp_path / name}\n" in out
    for part in range(1, 8):
        assert f"\n{part}.  " in out
    # Part 1: the ball on (x - 1)²/2 at rate 0.3 is x_t = 1 + (x_0 - 1) 0.7^t.
    left, right = (1 + (x0 - 1) * 0.7**STEPS for x0 in (-2.0, 4.0))
    assert f"x = -2 rolls right to {left:.4f}, x = 4 rolls left to {right:.4f}" in out


def test_demo_rejects_an_unknown_format(tmp_path, capsys):
    code = run_demo(tmp_path, "--format", "bmp")
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("jaxgd: error: argument --format: invalid choice: 'bmp'")
    assert "png" in err and "svg" in err and "pdf" in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["demo", "--out", str(tmp_path), "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        'jaxgd: error: jaxgd demo draws with matplotlib: pip install "jaxgd[plot]"\n'
    )
    assert list(tmp_path.iterdir()) == []


def test_demo_into_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder", encoding="utf-8")
    code = run_demo(blocker)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"jaxgd: error: cannot write the figures into {blocker}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("steps", ["0", "x"])
def test_demo_rejects_bad_steps(tmp_path, capsys, steps):
    code = main(["demo", "--out", str(tmp_path), "--steps", steps, "--no-cache"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith(
        f"jaxgd: error: argument --steps: must be a whole number from 1 to 2147483647; "
        f"got '{steps}'"
    )
