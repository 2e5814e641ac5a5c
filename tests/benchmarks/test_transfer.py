import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_transfer_sweep_quick_writes_results_tables_and_plots(tmp_path):
    results = tmp_path / "transfer.jsonl"
    command = [
        "benchmarks/transfer.py",
        "--quick",
        "--scenarios",
        "same-task",
        "--algos",
        "td3",
        "--arms",
        "scratch,default",
        "--results",
        str(results),
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path),
        "--workers",
        "2",
    ]
    result = run_script(*command)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(records) == 4
    assert {r["spec"]["arm"] for r in records} == {"scratch", "default"}
    table = (tmp_path / "transfer_table.md").read_text()
    assert "Produced by `python benchmarks/transfer.py --quick" in table
    assert "| same-task | td3 | default | 2 |" in table
    assert (tmp_path / "transfer_summary.csv").exists()
    assert (tmp_path / "curves_same-task_td3.png").stat().st_size > 0
    # Resumable: a second invocation runs nothing new.
    again = run_script(*command)
    assert again.returncode == 0 and "[1]" not in again.stdout
    assert len(results.read_text().splitlines()) == 4


def test_recipe_ablation_quick(tmp_path):
    result = run_script(
        "benchmarks/recipe_ablation.py",
        "--quick",
        "--scenarios",
        "same-task",
        "--results",
        str(tmp_path / "ablation.jsonl"),
        "--cache",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "ablation.summary.json").read_text())["summary"]
    assert set(summary) == {"same-task/td3/scratch", "same-task/td3/default"}


def test_ray_backend_runs_a_tiny_sweep(tmp_path):
    pytest.importorskip("ray")
    from sb3_finetune.experiment import RunSpec
    from sb3_finetune.sweep import run_sweep

    specs = [RunSpec("same-task", "td3", "default", seed, budget=60, eval_episodes=5) for seed in range(2)]
    records = run_sweep(specs, tmp_path / "ray.jsonl", tmp_path / "cache", backend="ray")
    assert set(records) == {spec.key for spec in specs}
    assert all(record["curve"][-1]["step"] == 60 for record in records.values())
