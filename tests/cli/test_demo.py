"""The main job: ``sb3-finetune demo`` prints its table and writes its plot and curves."""

import importlib.util
import json
import subprocess
import sys


def test_demo_on_a_small_budget_prints_the_table_and_writes_the_plot(tmp_path):
    command = [sys.executable, "-m", "sb3_finetune.cli", "demo", "--budget", "400", "--out-dir", "out"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for row in ("pretrained alone", "td3 fine-tuned", "td3 scratch"):
        assert row in result.stdout
    assert "%" in result.stderr  # progress lines, stderr not being a terminal
    curves = json.loads((tmp_path / "out" / "curves.json").read_text())
    assert set(curves) == {"td3 fine-tuned", "td3 scratch"}
    for curve in curves.values():
        assert curve[0]["step"] == 0 and all(point["wall_s"] >= 0 for point in curve)
        assert [p["step"] for p in curve] == sorted(p["step"] for p in curve)
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "out" / "learning_curve.png").stat().st_size > 10_000


def test_demo_refuses_a_budget_too_small(tmp_path):
    command = [sys.executable, "-m", "sb3_finetune.cli", "demo", "--budget", "0"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--budget" in result.stderr


def test_the_demo_shows_a_prior_that_is_partly_right():
    """The main job shows the case fine-tuning is for, on the scenario's own budget."""
    import inspect

    from sb3_finetune.demo import DEMO_SCENARIO, run_demo
    from sb3_finetune.experiment import SCENARIOS

    assert SCENARIOS[DEMO_SCENARIO].prior == "partly right"
    assert inspect.signature(run_demo).parameters["budget"].default is None  # None: the scenario's budget
