import json

import pytest


def test_train_overhead_script_runs_on_a_tiny_budget(tmp_path, run_benchmark):
    out = tmp_path / "overhead.json"
    result = run_benchmark("train_overhead.py", "--quick", "--algos", "td3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert set(figures["env_steps_per_s_best"]["td3"]) == {"plain", "unfrozen", "frozen"}
    assert all(rate > 0 for rate in figures["env_steps_per_s_best"]["td3"].values())
    assert set(figures["ratios"]["td3"]) == {"unfrozen_vs_plain", "frozen_vs_plain"}
    assert figures["command"].startswith("python benchmarks/train_overhead.py")


@pytest.mark.slow  # about 12 s; kept out of the default run to hold it under 10 minutes
def test_memory_bound_script_runs_on_a_tiny_budget(tmp_path, run_benchmark):
    out = tmp_path / "memory.json"
    result = run_benchmark("memory_bound.py", "--quick", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["rss_mib_when_buffer_full"] > 0 and figures["steps_after_full"] > 0
    assert max(sample["buffer"] for sample in figures["samples"]) == 500  # the buffer never grows past its size
