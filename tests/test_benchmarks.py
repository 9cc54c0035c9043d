"""The benchmark runs end to end on tiny sizes, and its cross-check catches errors.

Nothing here asserts a time: speed is measured by `benchmarks/run.py` itself.
"""

import dataclasses
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxgd import linear

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
# Loading the harness loads every library it compares (torch among them).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("jaxgd_benchmarks", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_quick_run_end_to_end(bench, tmp_path, capsys):
    out = tmp_path / "results.json"
    markdown = tmp_path / "results.md"
    argv = ["--quick", "--only", "linreg-large,sweep"]
    status = bench.main([*argv, "--json", str(out), "--markdown", str(markdown)])
    assert status == 0
    results = json.loads(out.read_text())
    assert set(results["workloads"]) == {"linreg-large", "sweep"}
    for workload in results["workloads"].values():
        names = [t["name"] for t in workload["timings"]]
        assert bench.REFERENCE in names and len(names) >= 4
        for timing in workload["timings"]:
            assert timing["error"] is None, timing
            assert timing["steps"] > 0 and timing["run_s"] > 0
    sweep = results["workloads"]["sweep"]["compilations"]
    assert sweep["jaxgd sweep"]["loops compiled"] == 1
    assert sweep["jaxgd fit, one per rate"]["loops compiled"] == 1
    scaling = results["workloads"]["linreg-large"]["fast path scaling"]
    assert list(scaling) == ["20 steps", "200 steps", "2,000 steps"]
    assert results["matmul_peak"]["jnp.dot GFLOP/s"] > 0
    text = markdown.read_text()
    assert "## Targets" in text and "### linreg-large" in text
    assert "GFLOP/s" in text
    assert text in capsys.readouterr().out


def off_by_one(bench):
    """A hand scan that makes one update too few: the error to catch."""

    def build(problem, num_steps):
        return bench.build_hand_scan(problem, max(num_steps - 1, 0))

    return bench.Impl("off by one", build)


def wrong_rate(bench):
    def build(problem, num_steps):
        return bench.build_hand_scan(
            dataclasses.replace(problem, learning_rate=1.1 * problem.learning_rate),
            num_steps,
        )

    return bench.Impl("rate 10% off", build)


@pytest.mark.parametrize("make_wrong", [off_by_one, wrong_rate])
def test_cross_check_reports_a_wrong_implementation(bench, make_wrong):
    problem = bench.linreg_problem("tiny", quick=True)
    impls = [bench.Impl(bench.REFERENCE, bench.build_hand_scan), make_wrong(bench)]
    impls.append(bench.Impl("jaxgd", bench.build_jaxgd))
    timings = {
        t.name: t for t in bench.measure(problem, impls, repeats=1, loop_steps=5)
    }
    wrong = timings[impls[1].name]
    assert wrong.error.startswith("MismatchError: ")
    assert "disagrees with the hand scan" in wrong.error
    assert np.isnan(wrong.run_s)
    assert timings["jaxgd"].error is None and timings["jaxgd"].run_s > 0


def test_check_compares_params_and_losses(bench):
    params = {"W": np.ones((2, 1)), "b": np.zeros(1)}
    losses = np.linspace(1.0, 0.5, 4)
    bench.check("same", (params, losses), (params, losses), rtol=1e-6, atol=0.0)
    bench.check("no history", (params, None), (params, losses), rtol=1e-6, atol=0.0)
    moved = {"W": params["W"] + 1e-3, "b": params["b"]}
    with pytest.raises(bench.MismatchError, match=r"moved disagrees .* params differ"):
        bench.check("moved", (moved, losses), (params, losses), rtol=1e-4, atol=0.0)
    with pytest.raises(bench.MismatchError, match=r"losses differ by 0.5"):
        bench.check("late", (params, losses + 0.5), (params, losses), 1e-4, 0.0)
    with pytest.raises(bench.MismatchError, match=r"shape \(3,\)"):
        bench.check("short", (params, losses[:3]), (params, losses), 1e-4, 0.0)


def test_missing_peers_are_skipped_and_named(bench, monkeypatch):
    monkeypatch.setattr(bench, "torch", None)
    kept, skipped = bench.available(bench.SWEEP_IMPLS)
    assert "torch, rates as columns" in skipped
    assert all(not impl.name.startswith("torch") for impl in kept)


def test_a_compile_time_measured_as_zero_gives_no_ratio(bench):
    # A first call no slower than the median run (a busy machine, a long run)
    # leaves the hand scan no compile time to divide by.
    timings = [
        bench.Timing("jaxgd", 100, first_call_s=2.5, compile_s=0.5, run_s=2.0),
        bench.Timing(bench.REFERENCE, 100, first_call_s=2.3, compile_s=0.0, run_s=2.5),
    ]
    sections = {"linreg-large": bench.Section(None, timings, [], {})}
    rows = {target: row for target, *row in bench.targets(sections)}
    assert rows["linreg-large: jaxgd compile ÷ hand scan"] == [
        "n/a: the hand scan's compile time measured 0",
        "≤ 1.5",
        None,
    ]
    assert rows["linreg-large: jaxgd s/step ÷ hand scan"] == ["0.8", "≤ 1.10", True]


def test_the_report_names_the_compiler_flags_of_its_run(bench, monkeypatch):
    for name in list(os.environ):
        if name == "XLA_FLAGS" or name.startswith("JAX_"):
            monkeypatch.delenv(name)
    flags = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=8192"
    monkeypatch.setenv("XLA_FLAGS", flags)
    monkeypatch.setenv("JAX_ENABLE_X64", "0")
    monkeypatch.setenv("JAXGD_UNRELATED", "1")
    env = bench.environment()
    assert env["flags"] == {"JAX_ENABLE_X64": "0", "XLA_FLAGS": flags}
    header = bench.report({}, None, env).splitlines()[2]
    assert header.endswith(f" JAX_ENABLE_X64='0'. XLA_FLAGS={flags!r}.")
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.delenv("JAX_ENABLE_X64")
    assert "XLA_FLAGS" not in bench.report({}, None, bench.environment())


def test_the_problems_are_well_posed(bench):
    """No lane diverges at the issue's settings, and no ball starts on a hilltop."""
    sweep = bench.sweep_problem(quick=False)
    rates = np.asarray(sweep.learning_rate)
    assert rates.shape == (64,)
    np.testing.assert_allclose(rates[[0, -1]], [1e-3, 0.5], rtol=1e-6)
    assert rates.max() < linear.max_learning_rate(sweep.data[0])
    for size in bench.LINREG_SIZES:
        X, _ = bench.linreg_problem(size, quick=True).data
        np.testing.assert_allclose(np.mean(X, axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(np.std(X, axis=0), 1, rtol=1e-4)
    multistart = bench.multistart_problem(quick=False)
    starts = np.asarray(multistart.params, np.float64)
    assert starts.shape == (1024,)
    # curve'(x) = 4x^3 - 6x + 1/2; the middle root is the hilltop.
    hilltop = np.sort(np.roots([4.0, 0.0, -6.0, 0.5]).real)[1]
    assert np.min(np.abs(starts - hilltop)) > 1e-3
    curvature = 12 * np.max(starts**2) - 6
    assert multistart.learning_rate * curvature < 2


def test_quick_search_and_cross_validation(bench, tmp_path):
    """The rows run at tiny sizes; the peers are compared where installed."""
    out = tmp_path / "results.json"
    argv = ["--quick", "--only", "search,cross-validation", "--json", str(out)]
    assert bench.main(argv) == 0
    results = json.loads(out.read_text())
    search = results["workloads"]["search"]["search"]
    # 9 lanes, rungs ending after 10 and 30 updates, 90 in all: 9 lanes run 10
    # steps, 3 run 20 more, 1 runs the last 60.
    halving = search["jaxgd successive halving"]
    assert halving["lane-steps"] == "210"
    assert search["jaxgd exhaustive sweep"]["lane-steps"] == "810"
    assert halving["÷ exhaustive lane-steps"] == pytest.approx(210 / 810)
    targets = {row[0]: row for row in results["targets"]}
    assert "search: successive halving ÷ exhaustive sweep, lane-steps" in targets
    cv = results["workloads"]["cross-validation"]["cross-validation"]
    peers = {"optuna": bench.optuna, "scikit-learn": bench.sklearn}
    missing = sorted(name for name, module in peers.items() if module is None)
    skipped = (
        results["workloads"]["search"]["skipped"]
        + results["workloads"]["cross-validation"]["skipped"]
    )
    assert sorted(skipped) == missing
    if bench.optuna is not None:
        assert "optuna, one fit per trial" in search
        assert "search: optuna ÷ successive halving, wall time" in targets
    if bench.sklearn is not None:
        mine, theirs = cv["jaxgd cross_validate"], cv["scikit-learn RidgeCV"]
        assert mine["chosen l2"] == theirs["chosen l2"]
        gap = cv["largest gap in CV mean squared error, over the l2"]
        assert gap["its CV mean squared error"] < 1e-2


def test_missing_search_peers_are_named_and_give_no_target(bench):
    table = {
        "jaxgd successive halving": {
            "÷ exhaustive lane-steps": 0.05,
            "÷ exhaustive s": 0.5,
            "s (warm, median)": 1.0,
        }
    }
    problem = bench.Problem("search", "title", None, None, (), None, 0)
    section = bench.Section(problem, [], ["optuna"], {"search": table})
    assert "Skipped, not installed: optuna." in bench.section_table(section, None)
    rows = {target: row for target, *row in bench.targets({"search": section})}
    assert rows == {
        "search: successive halving ÷ exhaustive sweep, lane-steps": [
            "0.05",
            "≤ 0.2",
            True,
        ],
        "search: successive halving ÷ exhaustive sweep, wall time": [
            "0.5",
            "≤ 0.4",
            False,
        ],
    }


def test_the_checkpoint_workload_times_three_runs_that_agree(bench, tmp_path):
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--only", "checkpoint", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    times = results["workloads"]["checkpoint"]["times"]
    assert list(times) == ["without", "one a minute", "one a second"]
    assert all(row["run s"] > 0 for row in times.values())
    targets = [row[0] for row in results["targets"]]
    assert "checkpoint, one a minute ÷ without" in targets
