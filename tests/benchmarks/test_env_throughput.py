import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_throughput_script_runs_on_a_tiny_budget(tmp_path, run_benchmark):
    out = tmp_path / "throughput.json"
    result = run_benchmark("env_throughput.py", "--quick", "--out", str(out))
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["command"].startswith("python benchmarks/env_throughput.py")
    assert set(figures["ratios"]) == {
        "nav_vs_do_nothing",
        "nav_vs_do_nothing_shared_obs",
        "nav_vs_mountain_car_continuous",
        "nav_vector_vs_cartpole_vector",
    }
    assert all(value > 0 for value in figures["single_steps_per_s"].values())
    assert all(value > 0 for value in figures["vector_env_steps_per_s"].values())
    assert "nav_vs_do_nothing" in result.stdout


def test_expert_demo_prints_a_table():
    result = subprocess.run(
        [sys.executable, "-m", "nav_env", "--episodes", "5"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("SimpleNavigation")]
    assert len(rows) == 4 and all("100%" in row for row in rows)


def test_expert_demo_rejects_a_bad_flag():
    result = subprocess.run(
        [sys.executable, "-m", "nav_env", "--episodes", "0"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "--episodes" in result.stderr
