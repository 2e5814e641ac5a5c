import json

import pytest


def test_a_fall_between_the_sweeps_evaluations_shows_in_the_fine_curve_only():
    from release_dip import dip

    scores = [0.8, 0.8, 0.8, 0.16, 0.4, 0.76, 0.8, 0.8, 0.8, 0.8, 0.8]
    record = {"seed": 3, "curve": [{"step": 100 * i, "score": s} for i, s in enumerate(scores)]}
    row = dip(record, sweep_every=500)
    assert (row["seed"], row["lowest_step"], row["steps_below"]) == (3, 300, 200)
    assert abs(row["lowest"] - 0.2) < 1e-9
    assert abs(row["lowest_at_sweep_evaluations"] - 0.95) < 1e-9  # steps 0, 500 and 1000 only
    assert "rehearsal" not in row and "at_threshold" not in row
    assert dip(record, sweep_every=500, threshold=0.78)["at_threshold"] == 0
    assert dip({**record, "curve": record["curve"][3:]}, sweep_every=500, threshold=0.7)["at_threshold"] == 500
    assert dip(record, sweep_every=500, threshold=0.9)["at_threshold"] is None  # never there
    rehearsed = dip({**record, "rehearsal": {"step": 200, "score": 0.4}}, sweep_every=500)
    assert rehearsed["rehearsal"]["step"] == 200 and abs(rehearsed["rehearsal"]["score"] - 0.5) < 1e-9
    assert dip({**record, "rehearsal": None}, sweep_every=500)["rehearsal"] is None  # the gate stood it down


def test_release_dip_script_runs_on_a_tiny_budget(tmp_path, run_benchmark):
    out = tmp_path / "dip.json"
    result = run_benchmark("release_dip.py", "--quick", "--cache", str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    (row,) = summary["rows"]
    assert row["algo"] == "td3" and [step for step, _ in row["curve"]] == list(range(0, 700, 100))
    assert summary["command"].startswith("python benchmarks/release_dip.py")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "bogus"], "unknown variant 'bogus'"),
        (["--learning-starts", "-1"], "--learning-starts must be >= 0, got -1"),
        (["--seed-list", "1,x"], "--seed-list must be comma-separated integers, got '1,x'"),
        (["--residual-scale", "-0.5"], "--residual-scale must be >= 0, got -0.5"),
        (["--n-critics", "-2"], "--n-critics must be >= 0, got -2"),
        (["--algos", "td3", "--ent-coef", "0.1"], "--ent-coef is SAC's entropy coefficient"),
        (["--algos", "td3", "--rehearsal-score"], "--rehearsal-score: default does not rehearse the hold with td3"),
        (["--algos", "sac", "--ent-coef", "hot"], "--ent-coef expects a number, auto or auto_INIT, got 'hot'"),
    ],
)
def test_release_dip_refuses_a_mistake_in_one_line(refuses, args, message):
    assert message in refuses("release_dip", *args)
