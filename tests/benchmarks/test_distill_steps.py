"""``benchmarks/distill_steps.py``: the distilled actor against the prior, on the scenarios' own priors."""

import pytest


def test_a_warm_run_compares_the_distilled_actor_with_the_prior(tmp_path):
    from distill_steps import warm_run

    row = warm_run("same-task", "td3", 0, 100, 2, str(tmp_path / "cache"))
    assert row["trusted"] is True and row["distill_steps"] == 100
    assert row["prior_score"] == 1.0  # the nav expert's clone on its own task: every episode a success
    assert 0.0 <= row["actor_score"] <= 1.0 and row["ratio"] == row["actor_score"]


def test_cells_count_the_unfaithful_trusted_runs_only():
    from distill_steps import cells

    def run(seed, steps, ratio, trusted=True):
        row = {"scenario": "s", "algo": "td3", "seed": seed, "distill_steps": steps}
        return {**row, "ratio": ratio, "trusted": trusted}

    rows = [run(0, 1000, 0.5), run(1, 1000, 1.0), run(2, 1000, 0.1, trusted=False), run(0, 3000, 0.95)]
    few, many = cells(rows)
    assert (few["runs"], few["trusted"], few["below"], few["lowest_ratio"]) == (3, 2, 1, 0.5)
    assert few["median_ratio"] == pytest.approx(0.75)
    assert (many["distill_steps"], many["below"]) == (3000, 0)


def test_the_script_runs_quick(tmp_path, run_benchmark):
    import json

    out = tmp_path / "distill.json"
    result = run_benchmark("distill_steps.py", "--quick", "--cache", str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert [cell["distill_steps"] for cell in summary["rows"]["cells"]] == [100, 200]
    assert len(summary["rows"]["runs"]) == 2 and summary["command"].startswith("python benchmarks/distill_steps.py")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "1000,x"], "--steps must be comma-separated integers, got '1000,x'"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--scenarios", "nowhere"], "unknown scenario(s) ['nowhere']"),
    ],
)
def test_the_script_refuses_a_mistake_in_one_line(refuses, args, message):
    assert message in refuses("distill_steps", *args)
