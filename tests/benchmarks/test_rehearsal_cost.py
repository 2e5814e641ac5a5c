import json


def test_rehearsal_cost_script_times_both_holds_on_a_tiny_budget(tmp_path, run_benchmark, refuses):
    out = tmp_path / "cost.json"
    result = run_benchmark("rehearsal_cost.py", "--quick", "--cache", str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    rehearsed, plain, ratio = summary["rows"]
    assert (rehearsed["arm"], plain["arm"]) == ("rehearsed", "plain")
    assert rehearsed["hold_steps"] == plain["hold_steps"] == 100  # the warm-up left out, the hold timed to its end
    assert rehearsed["fastest"] > 0 and plain["fastest"] > 0
    assert ratio["rehearsed_vs_plain"] == rehearsed["fastest"] / plain["fastest"]
    assert summary["command"].startswith("python benchmarks/rehearsal_cost.py")
    mistake = refuses("rehearsal_cost", "--scenario", "bogus")
    assert "unknown scenario 'bogus'" in mistake
