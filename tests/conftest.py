"""Strict JAX for the whole suite, and compiled programs kept between runs."""

import os

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
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
