import json


def test_external_priors_script_measures_controller_prior_and_random(tmp_path, run_benchmark):
    from sb3_finetune.experiment import SCENARIOS
    from sb3_finetune.external import clone_controller, mountain_car_pump

    scenario = SCENARIOS["mountaincar-weak"]
    # A cheap clone where the benchmark caches its prior, so the test does not pay for the full one.
    clone = tmp_path / "mountaincar-weak-source.pt"
    clone_controller(clone, scenario.env_id, scenario.source, mountain_car_pump(0.2), steps=1_000, epochs=3)
    made = clone.stat().st_mtime_ns
    out = tmp_path / "priors.json"
    result = run_benchmark(
        "external_priors.py", "--quick", "--scenarios", "mountaincar-weak", "--cache", str(tmp_path), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["command"].startswith("python benchmarks/external_priors.py --quick")
    (row,) = report["rows"]
    # The pump reaches the flag on the source engine, not on the weak one; random is the score's zero.
    assert row["controller_on_source"]["mean_return"] > 90 > row["controller_on_target"]["mean_return"]
    assert row["controller_on_target"]["success_rate"] is None
    assert abs(row["random_score_on_target"]) < 0.1
    assert clone.stat().st_mtime_ns == made  # the cached clone was used, not made again
