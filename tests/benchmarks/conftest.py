"""Benchmark scripts run as a user runs them: ``python benchmarks/<script>.py ...`` from the repository root."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The scripts import their shared helper as ``from _args import ...``; the tests import the scripts the same way.
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture
def run_benchmark():
    """Run a benchmark script in a subprocess; returns the ``CompletedProcess`` (output captured as text)."""

    def run(script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, f"benchmarks/{script}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def refuses(capsys):
    """A benchmark script's command line run in this process, as ``python benchmarks/<script>.py`` runs it through
    :func:`_args.run_script`, for a usage mistake: asserts exit status 2 and one line on stderr, and returns the line.

    A refusal needs no subprocess (each spends about 3 s importing torch and SB3); the scripts' own runs keep one.
    """
    import importlib

    from _args import run_script

    def run(script: str, *args: str) -> str:
        module = importlib.import_module(script)
        with pytest.raises(SystemExit) as exited:
            run_script(module.main, module.Args, module.__doc__, list(args))
        stderr = capsys.readouterr().err
        assert exited.value.code == 2 and stderr.count("\n") == 1, stderr
        return stderr

    return run
