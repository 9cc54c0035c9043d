"""The README's quickstart runs and does what it says."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _block_after(heading):
    text = README.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quickstart_fits_the_linear_layer(capsys):
    code = _block_after("## Quickstart")
    assert len(code.strip().splitlines()) <= 10
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.count("\n") >= 2
    result = namespace["result"]
    losses = np.asarray(result.losses)
    assert losses.shape == (200,) and np.all(
        np.diff(losses) <= 1e-12
    )  # down to rounding
    assert losses[-1] < 1e-10 * losses[0]
    np.testing.assert_allclose(result.params["W"].ravel(), [1.0, -2.0, 0.5], atol=1e-3)
    np.testing.assert_allclose(result.params["b"], [0.3], atol=1e-3)


def test_early_stopping_prints_what_the_readme_shows(capsys):
    code = _block_after("## Stopping early and watching a validation set")
    section = README.read_text(encoding="utf-8").split(
        "## Stopping early and watching a validation set", 1
    )[1]
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert capsys.readouterr().out == shown
    result = namespace["result"]
    assert result.stopped_early and int(result.best_step) < int(result.steps_taken)


def test_optimizers_models_and_metrics_print_what_the_readme_shows(capsys):
    """Each python block of the section, run in order, prints the text block
    that follows it."""
    section = (
        README.read_text(encoding="utf-8")
        .split("## Optimizers, models and metrics", 1)[1]
        .split("\n## ", 1)[0]
    )
    pairs = re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", section, re.S)
    assert len(pairs) == 3
    namespace = {}
    for code, shown in pairs:
        exec(compile(code, str(README), "exec"), namespace)
        assert capsys.readouterr().out == shown


def test_setup_commands_are_the_ones_ci_runs():
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)\n```", text.split("## Set up", 1)[1], re.S)
    demo, tests = commands[:2]
    assert "jaxgd demo" in demo
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.split("&& ")[-1] in ci
