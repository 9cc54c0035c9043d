"""Strict JAX for the whole suite, compiled quickly and kept between runs."""

import os
import subprocess
import sys

import jax
import pytest
from helpers import QUICK_COMPILE

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    _compile_quickly()
    _keep_compiled(config)


def _compile_quickly():
    """Compiles with XLA:CPU's older fusion emitters, unless XLA_FLAGS is set.

    Most of the suite's time is XLA compiling small programs, and the older
    emitters compile them in about half the time of XLA:CPU's default ones
    (benchmarks/RESULTS.md, "Compile time"). The library itself keeps the
    default ones, which run some of its users' programs faster. The results
    the tests check are the same under both: `XLA_FLAGS= pytest` (set, even
    empty) runs the suite under XLA's defaults, as CI does for the quick
    subset. A jaxlib that no longer knows the flag is left with its defaults:
    it is tried first in a separate process, since XLA ends a process that
    passes it an unknown flag. Workers and the tests' subprocesses inherit it.
    """
    if "XLA_FLAGS" in os.environ:
        return
    probe = subprocess.run(
        [sys.executable, "-c", "import jax; jax.devices('cpu')"],
        env={**os.environ, "XLA_FLAGS": QUICK_COMPILE, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
    )
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = QUICK_COMPILE


def _keep_compiled(config):
    """Keeps what XLA compiles in pytest's cache folder, for the next run.

    Most of the suite's time is compiling small programs, the same ones run
    after run: JAX's persistent compilation cache skips that work (tracing
    still happens, so tests that count traces are unchanged). The folder is
    `.pytest_cache/d/jax-compiled`; `pytest --cache-clear` empties it and
    `-p no:cacheprovider` runs without it. Subprocesses started by the tests
    inherit it through the environment.
    """
    if not config.pluginmanager.hasplugin("cacheprovider"):
        return
    folder = str(config.cache.mkdir("jax-compiled"))
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", folder)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


@pytest.fixture
def x64():
    """Runs the test with 64-bit floats enabled."""
    with jax.enable_x64(True):
        yield
