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
