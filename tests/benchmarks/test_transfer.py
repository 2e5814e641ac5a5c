import json

import pytest


def test_transfer_sweep_quick_writes_results_tables_and_plots(tmp_path, run_benchmark):
    results = tmp_path / "transfer.jsonl"
    command = [
        "transfer.py",
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
    result = run_benchmark(*command)
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
    again = run_benchmark(*command)
    assert again.returncode == 0 and "[1]" not in again.stdout
    assert len(results.read_text().splitlines()) == 4


def test_recipe_ablation_quick(tmp_path, run_benchmark):
    result = run_benchmark(
        "recipe_ablation.py",
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


def test_wallclock_quick_times_both_arms_side_by_side(tmp_path, run_benchmark):
    out = tmp_path / "wallclock.json"
    result = run_benchmark(
        "wallclock.py", "--quick", "--algos", "td3", "--results", str(out), "--cache", str(tmp_path / "cache")
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["command"].startswith("python benchmarks/wallclock.py")
    runs = report["runs"]
    assert {run["arm"] for run in runs} == {"sac-sb3-default", "finetune-td3"}
    for run in runs:
        assert run["wall_s_to_threshold"] > 0
        assert run["steps_to_threshold"] <= 300
        # The clock stops at the first evaluation at 90% or more, or runs to the end of the budget.
        first = next((step for step, success in run["curve"] if success >= 0.9), None)
        assert run["reached"] == (first is not None)
        if first is not None:
            assert run["steps_to_threshold"] == first
    summary = report["summary"]
    assert summary["pretrain_s"] > 0
    ratio, low, high = summary["finetune-td3"]["speedup_vs_reference"]
    assert low <= ratio <= high
