import json


def test_distill_fidelity_script_runs_on_a_tiny_budget(tmp_path, run_benchmark):
    out = tmp_path / "fidelity.json"
    result = run_benchmark("distill_fidelity.py", "--quick", "--algos", "td3", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert {(row["env"], row["jitter"]) for row in summary["rows"]} == {
        (env, jitter) for env in ("pendulum", "nav same-task", "nav obstacle") for jitter in (0.0, 0.3)
    }
    assert all(len(row["distilled_returns"]) == 1 for row in summary["rows"])
    assert summary["command"].startswith("python benchmarks/distill_fidelity.py")
