import json

import pytest

from sb3_finetune.cli import UsageError
from sb3_finetune.sweep import load_all


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
    assert "| same-task | 90% success | td3 | default | 2 |" in table
    assert (tmp_path / "transfer_summary.csv").exists()
    assert (tmp_path / "curves_same-task_td3.png").stat().st_size > 0
    # Resumable: a second invocation runs nothing new.
    again = run_benchmark(*command)
    assert again.returncode == 0 and "[1]" not in again.stdout
    assert len(results.read_text().splitlines()) == 4
    # The command that made the runs is logged once, and the table names it and the goals' verdicts.
    logged = (tmp_path / "transfer.commands.txt").read_text().splitlines()
    assert len(logged) == 1 and logged[0].startswith("python benchmarks/transfer.py --quick")
    assert "| same-task, TD3: default at 90% success from step 0 |" in (tmp_path / "transfer_table.md").read_text()


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
        "--summary",
        str(tmp_path / "same-task.summary.json"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "same-task.summary.json").read_text())["summary"]
    assert set(summary) == {"same-task/td3/scratch", "same-task/td3/default"}
    # Censoring-aware figures beside the medians: the default's ratio against scratch, each cell's KM median.
    default, scratch = summary["same-task/td3/default"], summary["same-task/td3/scratch"]
    assert default["reached_threshold"] == 1.0 and default["km_median_steps"][0] == 0  # the prior is right here
    assert default["steps_ratio_vs_scratch"] is not None and scratch["steps_ratio_vs_scratch"] is None
    # The goal's collapses and the falls over the whole run, counted (scratch has no prior's skill to keep).
    assert (default["early_collapses"], default["runs_below_over_the_run"]) == (0, 0)
    assert scratch["early_collapses"] is None and scratch["runs_below_over_the_run"] is None
    # How finely the grid measures a ratio: one evaluation (a 20th of the 300 steps) over scratch's IQM steps
    resolution = scratch["evaluation_resolution"]
    assert resolution["eval_freq"] == 15
    assert resolution["ratio"] == pytest.approx(15 / scratch["median_steps_to_threshold"])
    assert resolution["per_seed"] == resolution["ratio"]  # one seed: the IQM is that seed
    assert "one evaluation (15 env steps) is" in result.stdout


@pytest.mark.real_defaults
def test_recipe_ablation_runs_each_distinct_recipe_once():
    from recipe_ablation import Args, plan

    # no-q-filter is the default of before the saturation escape (no-escape); stand-down-skip-warmup is today's
    # default with every algorithm (it names the default's fields, those left to the algorithm as None); before it,
    # pretrain-5k-handover-critic-ln-no-hold was TD3's default and stand-down-warmup SAC's, rehearse-100 SAC's before
    # its stand-down warm-up, pretrain-5k-handover-critic-ln SAC's before its rehearsal, and
    # gate-confidence-95-margin-20 SAC's before its norm; since SAC's default took the entropy decay (2026-12-07,
    # seventeenth session), entropy-decay is SAC's default and stand-down-skip-warmup SAC's default of before, while
    # with TD3, on which the decay does nothing, both are today's: asking for both of a pair must not repeat its runs,
    # and which pairs are pairs depends on the algorithm.
    variants = (
        "default,gate-confidence-95-margin-20,pretrain-5k-handover-critic-ln,pretrain-5k-handover-critic-ln-no-hold,"
        "rehearse-100,stand-down-warmup,stand-down-skip-warmup,no-escape,no-q-filter,no-bc,entropy-decay"
    )
    specs, same_as = plan(Args(scenarios="same-task", algos="td3,sac", variants=variants, seeds=2))
    assert same_as == {
        "td3/stand-down-skip-warmup": "default",
        "td3/no-q-filter": "no-escape",
        "td3/entropy-decay": "default",
        "sac/no-q-filter": "no-escape",
        "sac/entropy-decay": "default",
    }
    assert [spec.arm for spec in specs].count("scratch") == 4
    for algo, distinct in (("td3", 8), ("sac", 9)):
        fingerprints = [spec.recipe_fingerprint for spec in specs if spec.arm != "scratch" and spec.algo == algo]
        assert len(fingerprints) == 2 * distinct and len(set(fingerprints)) == distinct  # 2 seeds each
    assert len({spec.key for spec in specs}) == len(specs)


def test_recipe_ablation_keeps_a_variant_that_differs_in_one_of_the_scenarios_asked():
    """``distill_random_probe`` acts only where the gate runs a random probe: with TD3 on the nav task the default of
    before is the default, on Pendulum it is not, so asked for both scenarios it runs on both (with DDPG, whose
    default leaves it off, it is the default on both). (SAC's default of before differs from today's everywhere
    since its entropy decay.)"""
    from recipe_ablation import Args, plan

    asked = "default,no-distill-random-probe"
    _, same_as = plan(Args(scenarios="same-task", algos="td3", variants=asked, seeds=1))
    assert same_as == {"td3/no-distill-random-probe": "default"}
    specs, same_as = plan(Args(scenarios="same-task,pendulum-same", algos="ddpg,td3", variants=asked, seeds=1))
    assert same_as == {"ddpg/no-distill-random-probe": "default"}
    specs = [spec for spec in specs if spec.algo == "td3"]
    assert len(specs) == 6
    fingerprints = {(spec.scenario, spec.recipe_fingerprint) for spec in specs if spec.arm != "scratch"}
    assert len({fp for scenario, fp in fingerprints if scenario == "pendulum-same"}) == 2
    assert len({fp for scenario, fp in fingerprints if scenario == "same-task"}) == 1


def test_recipe_ablation_tells_a_variant_apart_by_the_hyperparameters_every_arm_gets():
    """``entropy_start`` acts only under SAC's ``ent_coef="auto"``: with ``--ent-coef auto`` the variant that sets it
    runs; without, it is the default and is not run again (it was taken for the default with ``auto`` too, and not
    run, before the arms' hyperparameters were part of the comparison)."""
    from recipe_ablation import Args, plan

    asked = dict(scenarios="pendulum-same", algos="sac", variants="default,sb3-entropy-start", seeds=1)
    specs, same_as = plan(Args(**asked, ent_coef="auto"))
    assert same_as == {} and len(specs) == 3
    specs, same_as = plan(Args(**asked))
    assert same_as == {"sac/sb3-entropy-start": "default"} and len(specs) == 2
    # Since its adoption the default is the variant that set it.
    _, same_as = plan(Args(**{**asked, "variants": "default,current-entropy-start-0.01"}, ent_coef="auto"))
    assert same_as == {"sac/current-entropy-start-0.01": "default"}
    # The RL Zoo's learning rate goes to every arm, scratch too, after the entropy coefficient.
    specs, _ = plan(Args(**asked, ent_coef="auto", learning_rate=1e-3))
    assert [spec.hyperparams for spec in specs] == [(("ent_coef", "auto"), ("learning_rate", 1e-3))] * 3
    with pytest.raises(UsageError, match="--learning-rate must be above 0"):
        plan(Args(**asked, learning_rate=-1e-3))


def test_recipe_ablation_variants_on_the_current_default_change_only_their_own_fields():
    """A variant built with ``on_current_default`` is the default recipe as it is now but for its change: none of the
    earlier default's fields (``_EARLIER_DEFAULT``) fills a field it leaves alone. One built with
    ``on_todays_default`` is the sixth session's default: on Pendulum its actor is distilled on the prior's probe
    alone, which made three screens measure an older default than they said."""
    from recipe_ablation import VARIANTS, on_current_default, variant_recipe

    from sb3_finetune.recipes import RECIPES

    default = RECIPES["default"].as_dict()
    changes = {
        "current-fade-whole-budget": {"bc_fade": 1.0, "entropy_decay": None},  # SAC's runs made before the decay
        "current-entropy-start-0.01": {},  # the default's since 2026-12-07
        "current-progress-fade": {"bc_progress": 10, "bc_progress_with_fade": True},
        "sb3-entropy-start": {"entropy_start": None},
    }
    for variant, change in changes.items():
        recipe = variant_recipe(variant).as_dict()
        assert {name: value for name, value in recipe.items() if default[name] != value} == change, variant
    assert VARIANTS["sb3-entropy-start"] == on_current_default(("entropy_start", None))
    older = variant_recipe("entropy-start-0.01").as_dict()
    assert {name for name, value in older.items() if default[name] != value} == {
        "distill_random_probe",
        "stand_down_distill_random_probe",
        "entropy_decay",  # SAC's default's since 2026-12-07 (seventeenth session)
    }
    # A variant that does not set the entropy start has SB3's, as every variant measured before it was adopted.
    assert variant_recipe("fade-whole-budget").entropy_start is None


def test_recipe_ablation_gives_every_arm_a_long_warm_up_and_scratch_its_own():
    from recipe_ablation import Args, plan

    from sb3_finetune.experiment import SCENARIOS

    args = Args(scenarios="pendulum-reversed", algos="td3", variants="default,stand-down-wait", seeds=1, budget=0)
    specs, _ = plan(Args(**{**vars(args), "learning_starts": 5_000}))
    assert [spec.hyperparams for spec in specs] == [(("learning_starts", 5_000),)] * 3
    specs, _ = plan(Args(**{**vars(args), "learning_starts": 5_000, "scratch_learning_starts": 1_200}))
    assert [spec.hyperparams for spec in specs] == [(("learning_starts", 1_200),)] + [(("learning_starts", 5_000),)] * 2
    assert len({spec.recipe_fingerprint for spec in specs if spec.arm != "scratch"}) == 2
    # A wrong prior is not in the scoreboard's "external" group, which is judged as partly right
    import transfer

    assert "pendulum-reversed" not in transfer.EXTERNAL_SCENARIOS
    assert all(SCENARIOS[name].prior == "partly right" for name in transfer.EXTERNAL_SCENARIOS)
    with pytest.raises(ValueError, match="prior must be"):
        type(SCENARIOS["same-task"])("x", "x", "SimpleNavigation-v0", {}, {}, 100, prior="half")


def test_recipe_ablation_scratch_arm_with_a_normalised_critic_is_a_run_of_its_own():
    import gymnasium as gym
    from recipe_ablation import Args, plan

    from sb3_finetune.experiment import SCENARIOS, scenario_hyperparams

    plain, _ = plan(Args(scenarios="obstacle", algos="td3", variants="default", seeds=1))
    normalised, _ = plan(
        Args(scenarios="obstacle", algos="td3", variants="default", seeds=1, scratch_critic_layer_norm=True)
    )
    scratch = [spec for spec in normalised if spec.arm == "scratch"]
    assert [spec.hyperparams for spec in scratch] == [(("policy_kwargs", (("critic_layer_norm", True),)),)]
    assert len(set(normalised)) == len(normalised)  # hashable, as run_sweep needs
    plain_scratch = next(spec for spec in plain if spec.arm == "scratch")
    assert scratch[0].identity != plain_scratch.identity and scratch[0].key != plain_scratch.key
    hyperparams = scenario_hyperparams(
        SCENARIOS["obstacle"], "td3", gym.spaces.Box(-1, 1, (2,)), dict(scratch[0].hyperparams)
    )
    assert hyperparams["policy_kwargs"] == {"critic_layer_norm": True}  # as make_finetune takes it
    # the fine-tuned arms are the same runs either way
    assert [s.key for s in plain if s.arm != "scratch"] == [s.key for s in normalised if s.arm != "scratch"]


def test_recipe_ablation_variants_keep_the_earlier_defaults_fields_they_do_not_set():
    from recipe_ablation import _on_earlier_default

    untested = (("gate_confidence", None), ("gate_margin", 0.0))
    # Another gate field (gate_return) is not the test: the test stays off, as it was when the variant was measured.
    assert _on_earlier_default((("gate_return", -200.0),)) == (
        ("gate_return", -200.0),
        ("escape_saturation", False),
        *untested,
        ("critic_pretrain_steps", 0),
        ("warmup_handover", False),
        ("critic_layer_norm", False),
        ("critic_warmup", 1_000),
        ("hold_rehearsal", 0.0),
        ("stand_down_warmup", False),
        ("stand_down_skip_warmup", False),
        ("distill_random_probe", False),
        ("stand_down_distill_random_probe", True),
        ("entropy_start", None),
        ("entropy_decay", None),
    )
    # Setting either field of the test keeps the group the variant's own; the escape (and no critic pre-training
    # and no hand-over and SB3's critic and the 1,000-step critic warm-up and no rehearsal and the random stand-down
    # warm-up, which the default leaves to the algorithm since 2026-12-04, 2026-12-05 and 2026-12-06, and the
    # stand-down's wait for learning_starts) are added alone.
    assert _on_earlier_default((("gate_confidence", 0.9),)) == (
        ("gate_confidence", 0.9),
        ("escape_saturation", False),
        ("critic_pretrain_steps", 0),
        ("warmup_handover", False),
        ("critic_layer_norm", False),
        ("critic_warmup", 1_000),
        ("hold_rehearsal", 0.0),
        ("stand_down_warmup", False),
        ("stand_down_skip_warmup", False),
        ("distill_random_probe", False),
        ("stand_down_distill_random_probe", True),
        ("entropy_start", None),
        ("entropy_decay", None),
    )
    assert _on_earlier_default((("critic_pretrain_steps", 5_000),)) == (
        ("critic_pretrain_steps", 5_000),
        ("escape_saturation", False),
        *untested,
        ("warmup_handover", False),
        ("critic_layer_norm", False),
        ("critic_warmup", 1_000),
        ("hold_rehearsal", 0.0),
        ("stand_down_warmup", False),
        ("stand_down_skip_warmup", False),
        ("distill_random_probe", False),
        ("stand_down_distill_random_probe", True),
        ("entropy_start", None),
        ("entropy_decay", None),
    )


def test_recipe_ablation_frontier_variant_is_the_frontier_recipe():
    """The ablation spells the frontier recipe as overrides of the default; it must stay the recipe transfer.py runs."""
    from recipe_ablation import VARIANTS

    from sb3_finetune.experiment import RunSpec

    as_variant = RunSpec("obstacle", "td3", "default", 0, recipe_overrides=VARIANTS["frontier"])
    assert as_variant.recipe_fingerprint == RunSpec("obstacle", "td3", "frontier", 0).recipe_fingerprint
    without_warmup = RunSpec("obstacle", "td3", "default", 0, recipe_overrides=VARIANTS["frontier-no-critic-warmup"])
    assert without_warmup.recipe_fingerprint != as_variant.recipe_fingerprint


def test_stored_results_keep_their_keys():
    """A recipe field added later must not change the key of a run made before it (or every stored result would be
    orphaned and re-run): it goes into LATER_RECIPE_FIELDS at its default. The keys below are those in
    benchmarks/results/frontier.jsonl."""
    from sb3_finetune.experiment import RunSpec

    assert RunSpec("obstacle", "sac", "default", 0).recipe_fingerprint != "129acbbf"  # the gate's test, see below
    assert RunSpec("obstacle", "td3", "frontier", 0).recipe_fingerprint == "a96a12d5"
    # The default's own change (the saturation escape, 2026-12-03) changes its TD3 key, on purpose; its runs from
    # before are found as the escape switched off.
    # (The default's TD3 critic pre-training, 2026-12-04, its TD3 hand-over and its TD3 critic norm, 2026-12-05,
    # change its TD3 key again; those runs had none of them.)
    earlier = (
        ("escape_saturation", False),
        ("gate_confidence", None),
        ("gate_margin", 0.0),
        ("critic_pretrain_steps", 0),
        ("warmup_handover", False),
        ("critic_layer_norm", False),
        ("critic_warmup", 1_000),
        ("hold_rehearsal", 0.0),
        ("stand_down_skip_warmup", False),
    )
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=earlier).recipe_fingerprint == "129acbbf"
    assert RunSpec("obstacle", "td3", "default", 0).recipe_fingerprint != "129acbbf"
    # So does the gate's test with a zone (later that day): its runs from before are found as the test switched off;
    # SAC's runs (the escape a no-op there) keep their key with the test off. The keys are in frontier.jsonl.
    test_off = (("gate_confidence", None), ("gate_margin", 0.0))
    # SAC without its norm: no pre-training, no hand-over; and waiting for learning_starts on a stand-down
    sac_then = (*test_off, ("critic_layer_norm", False), ("stand_down_skip_warmup", False), ("entropy_decay", None))
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=sac_then).recipe_fingerprint == "129acbbf"
    test_off_then = (
        *test_off,
        ("critic_pretrain_steps", 0),
        ("warmup_handover", False),
        ("critic_layer_norm", False),
        ("critic_warmup", 1_000),
        ("hold_rehearsal", 0.0),
        ("stand_down_skip_warmup", False),
    )
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=test_off_then).recipe_fingerprint == "8cbf2912"


def test_recipe_ablation_first_seed_runs_the_later_seeds_only():
    from recipe_ablation import Args, plan

    args = Args(scenarios="pendulum-heavy", algos="td3", variants="default", seeds=3, budget=0)
    assert sorted({spec.seed for spec in plan(args)[0]}) == [0, 1, 2]
    fresh, _ = plan(Args(**{**vars(args), "first_seed": 10}))
    assert sorted({spec.seed for spec in fresh}) == [10, 11, 12]
    assert [spec.arm for spec in fresh] == ["scratch", "default"] * 3


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("variants", "default,bogus", "unknown variant 'bogus'"),
        ("scenarios", "moon", "unknown scenario 'moon'"),
        ("first_seed", -1, "--first-seed must be 0 or more, got -1"),
    ],
)
def test_recipe_ablation_names_an_unknown_variant_or_scenario(flag, value, message):
    from recipe_ablation import Args, plan

    with pytest.raises(UsageError, match=message):
        plan(Args(**{flag: value}))


def test_transfer_plan_expands_groups_and_names_an_unknown_arm():
    import transfer  # benchmarks/ is on sys.path (conftest.py)

    specs = transfer.plan(transfer.Args(scenarios="external,obstacle", algos="td3", arms="scratch,ibrl", seeds=1))
    assert [spec.scenario for spec in specs][::2] == [*transfer.EXTERNAL_SCENARIOS, "obstacle"]
    assert {spec.arm for spec in specs} == {"scratch", "ibrl"}
    with pytest.raises(UsageError, match="unknown arm 'bogus'"):
        transfer.plan(transfer.Args(arms="scratch,bogus"))


def test_run_time_profiles_normalise_by_scratchs_iqm_and_leave_out_what_cannot_be_compared(tmp_path):
    import transfer  # benchmarks/ is on sys.path (conftest.py)

    records = []
    for seed, (scratch, tuned) in enumerate([(1_000, 400), (2_000, 500), (3_000, 600), (4_000, 5_000)]):
        records += [_record("drift", "td3", "scratch", seed, scratch), _record("drift", "td3", "default", seed, tuned)]
    never = _record("obstacle", "td3", "default", 0, 10_000)
    never["metrics"]["reached_threshold"] = False  # censored at the budget: at no tau
    records += [_record("obstacle", "td3", "scratch", 0, 8_000), never, _record("obstacle", "td3", "default", 1, 4_000)]
    records += [_record("same-task", "td3", "scratch", 0, 2_000), _record("same-task", "td3", "default", 0, 0)]
    records += [_record("obstacle", "sac", "default", 0, 100)]  # no scratch arm: no profile
    records += [_record("drift", "td3", "frozen", 0, 100)]  # an arm on one of the two scenarios: left out
    rows = transfer.run_time_profiles(records)
    assert {(row["algo"], row["arm"]) for row in rows} == {("td3", "default"), ("td3", "scratch")}
    assert {row["scenarios"] for row in rows} == {"drift,obstacle"}  # the right prior's same task is not profiled
    at = {(row["arm"], row["tau"]): row["fraction"] for row in rows}
    # drift's scratch IQM is 2,500 steps: the default's runs are at 0.16, 0.2, 0.24 and 2.0 of it; the obstacle's is
    # 8,000: one run at 0.5, one never. Each scenario weighs one half.
    assert at["default", 0.2] == pytest.approx((2 / 4 + 0) / 2)
    assert at["default", 0.5] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert at["default", 2.0] == pytest.approx((4 / 4 + 1 / 2) / 2)
    assert at["scratch", 1.0] == pytest.approx((2 / 4 + 1) / 2)
    assert transfer.plot_profiles(rows, tmp_path).stat().st_size > 0
    assert transfer.plot_profiles([], tmp_path) is None


def test_stored_reports_keep_the_earliest_run_of_each_cell_and_seed(tmp_path):
    import transfer  # benchmarks/ is on sys.path (conftest.py)

    spec = {"scenario": "moon", "algo": "td3", "arm": "default", "seed": 0, "budget": None}
    old, new = (_record("moon", "td3", "default", 0, steps) for steps in (100, 900))
    for record, key in ((old, "moon/td3/default/aaaa/seed=0"), (new, "moon/td3/default/bbbb/seed=0")):
        record.update(key=key, spec=dict(spec), curve=[])
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(record) + "\n" for record in (old, new)))
    chosen = transfer.stored_records(load_all([results]), [transfer.RunSpec("moon", "td3", "default", 0)])
    assert [record["key"] for record in chosen] == ["moon/td3/default/aaaa/seed=0"]


def test_reports_read_several_results_files_and_name_a_missing_one(tmp_path):
    """``--results a,b``: runs go to ``a``, runs in either count, the first file's first; ``b`` must exist."""
    import transfer  # benchmarks/ is on sys.path (conftest.py)
    from _args import results_files

    spec = {"scenario": "moon", "algo": "td3", "arm": "default", "seed": 0, "budget": None}
    first, second = (_record("moon", "td3", "default", 0, steps) for steps in (100, 900))
    for record, key in ((first, "moon/td3/default/aaaa/seed=0"), (second, "moon/td3/default/bbbb/seed=0")):
        record.update(key=key, spec=dict(spec), curve=[])
    written, read = tmp_path / "new.jsonl", tmp_path / "read.jsonl"
    written.write_text(json.dumps(second) + "\n")
    read.write_text(json.dumps(first) + "\n")
    stored = load_all(results_files(f"{written},{read}"))
    chosen = transfer.stored_records(stored, [transfer.RunSpec("moon", "td3", "default", 0)])
    assert [record["key"] for record in chosen] == ["moon/td3/default/bbbb/seed=0"]
    assert results_files(f"{tmp_path / 'fresh.jsonl'},{read}") == [tmp_path / "fresh.jsonl", read]
    with pytest.raises(UsageError, match=r"no such file .*absent\.jsonl"):
        results_files(f"{written},{tmp_path / 'absent.jsonl'}")


@pytest.mark.slow  # about 15 s; kept out of the default run to hold it under 10 minutes
@pytest.mark.real_defaults  # Ray's workers key their records with the real figures, which the test process needs too
def test_ray_backend_runs_a_tiny_sweep(tmp_path):
    pytest.importorskip("ray")
    from sb3_finetune.experiment import RunSpec
    from sb3_finetune.sweep import run_sweep

    specs = [RunSpec("same-task", "td3", "default", seed, budget=60, eval_episodes=5) for seed in range(2)]
    records = run_sweep(specs, tmp_path / "ray.jsonl", tmp_path / "cache", backend="ray")
    assert set(records) == {spec.key for spec in specs}
    assert all(record["curve"][-1]["step"] == 60 for record in records.values())


@pytest.mark.slow  # about 15 s; kept out of the default run to hold it under 10 minutes
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


def _record(scenario, algo, arm, seed, steps, early=1.0, start=0.8, expert_ratio=1.0, late=None):
    """A run's record: its score starts at ``start``, is ``early`` at its lowest in the first 20% of the budget and
    ``late`` (if given) at its lowest after that."""
    metrics = {
        "jumpstart": start if arm == "default" else 0.0,
        "steps_to_threshold": steps,
        "reached_threshold": True,
        "wall_s_to_threshold": 1.0,
        "area_under_curve": 1.0 - steps / 10_000,
        "final_success": 1.0,
        "final_score": 1.0,
        "min_score_early": early,
        "min_score": min(start, early, 1.0 if late is None else late),
        "final_expert_return_ratio": expert_ratio,
    }
    spec = {"scenario": scenario, "algo": algo, "arm": arm, "seed": seed}
    return {
        "spec": spec,
        "metrics": metrics,
        "pretrained_score_on_target": start,
        "pretrained_success_on_target": start,
        "cpu_s": 1.0,
    }


def test_goals_judge_the_summary_rows():
    import transfer  # benchmarks/ is on sys.path (conftest.py)

    records = []
    for seed in range(5):
        records.append(_record("obstacle", "td3", "scratch", seed, 5_000 + 100 * seed))
        # 0.1x scratch: met, and the 0.2x aim; one run falls to half the prior's score after the first 20%.
        records.append(_record("obstacle", "td3", "default", seed, 500, late=0.4 if seed == 3 else None))
        records.append(_record("drift", "td3", "scratch", seed, 2_000 + 100 * seed))
        # Worse than scratch everywhere, and one run's early score falls below 0.9 x 0.8.
        records.append(_record("drift", "td3", "default", seed, 4_000, early=0.5 if seed == 0 else 0.8))
        records.append(_record("goal-moved", "sac", "scratch", seed, 2_000 + 100 * seed))
        records.append(_record("goal-moved", "sac", "default", seed, 1_700 + 100 * seed, start=0.0))  # ~0.85x
        records.append(_record("goal-moved", "td3", "scratch", seed, 2_000 + 100 * seed))
        records.append(_record("goal-moved", "td3", "default", seed, 2_400 + 100 * seed, start=0.0))  # ~1.2x
        records.append(_record("goal-moved", "sac", "naive", seed, 1_000, start=0.0))
        records.append(_record("pendulum-heavy", "td3", "scratch", seed, 8_000 + 100 * seed))
        records.append(_record("pendulum-heavy", "td3", "default", seed, 6_000))  # 0.73x: not the 0.5x asked
    verdicts = {goal: (figures, verdict) for goal, figures, verdict in transfer.goals(transfer.summarise(records))}
    figures, verdict = verdicts["obstacle, TD3: default <= 0.5x scratch's steps to 90% success"]
    assert verdict == "met; every seed reached it: yes; aim 0.2x: met"
    assert verdicts["drift, TD3: default <= 0.5x scratch's steps to 90% success"][1] == "not met"
    # Within the declared non-inferiority margin (1.1) only if the interval's upper end is below it.
    goal = "goal-moved, SAC: default not worse than scratch (ratio's CI upper end < 1.1)"
    assert verdicts[goal][1] == "met; naive not worse"
    assert verdicts[goal.replace("SAC", "TD3")][1] == "not met"
    assert verdicts["pendulum-heavy, TD3: default <= 0.5x scratch's steps to return >= -200"][1] == "not met"
    figures, verdict = verdicts["drift: default, no collapse"]
    assert verdict == "not met" and "1/5 collapsed" in figures
    assert "over the whole run, below 0.9x the prior's score: TD3 1/5 (0.62)" in figures
    # A fall after the first 20% of the budget is not a collapse by the goal's definition, and shows beside it.
    figures, verdict = verdicts["obstacle: default, no collapse and final return >= 0.98x expert"]
    assert verdict == "met" and "TD3 0/5 collapsed" in figures and "TD3 1/5 (0.50)" in figures
    table = transfer.markdown(transfer.summarise(records), "python benchmarks/transfer.py")
    (row,) = [line for line in table.splitlines() if line.startswith("| obstacle | 90% success | td3 | default |")]
    assert row.endswith("| 0/5 | 1/5 (0.50) |")
    (row,) = [line for line in table.splitlines() if line.startswith("| obstacle | 90% success | td3 | scratch |")]
    assert row.endswith("| - | - | - |")  # scratch has no prior's skill to keep


def test_other_goals_read_the_wallclock_and_overhead_results(tmp_path):
    import transfer  # benchmarks/ is on sys.path (conftest.py)

    assert transfer.other_goals(tmp_path) == []
    wallclock = {
        "command": "python benchmarks/wallclock.py --seeds 3",
        "summary": {
            "pretrain_s": 4.0,
            "sac-sb3-default": {"runs": 3, "reached": 1, "iqm_wall_s_to_threshold": 300.0},
            "finetune-sac": {"runs": 3, "reached": 3, "speedup_vs_reference": [12.0, 9.0, 15.0]},
            "finetune-td3": {"runs": 3, "reached": 3, "speedup_vs_reference": [4.5, 3.0, 6.0]},
        },
    }
    (tmp_path / "wallclock.json").write_text(json.dumps(wallclock))
    overhead = {
        "command": "python benchmarks/train_overhead.py",
        "ratios": {
            "sac": {"unfrozen_vs_plain": 1.1, "frozen_vs_plain": 1.2},
            "td3": {"unfrozen_vs_plain": 0.97, "frozen_vs_plain": 0.99},
        },
    }
    (tmp_path / "train_overhead.json").write_text(json.dumps(overhead))
    lines = {goal: (figures, verdict) for goal, figures, verdict in transfer.other_goals(tmp_path)}
    sac = lines["wall-clock, finetune-sac: >= 5x faster to 90% than SB3-default SAC from scratch"]
    assert sac == (
        "IQM speed-up 12.00 [9.00, 15.00]x over 3 seeds (3/3 reached 90%; `python benchmarks/wallclock.py --seeds 3`)",
        "met",
    )
    assert lines["wall-clock, finetune-td3: >= 5x faster to 90% than SB3-default SAC from scratch"][1] == "not met"
    goal = "training cost, {}: unfrozen >= 0.95x plain SB3's steps/s, frozen >= 1x plain SB3's steps/s"
    assert lines[goal.format("SAC")][1] == "met"
    figures, verdict = lines[goal.format("TD3")]
    assert verdict == "not met" and "frozen vs plain 0.99x" in figures
    # The table carries them after the sweep's own goals.
    table = transfer.markdown([], "python benchmarks/transfer.py --report-only", (), transfer.other_goals(tmp_path))
    assert "| training cost, SAC:" in table and "| wall-clock, finetune-td3:" in table


def test_escape_q_scale_is_the_gate_margin_default_with_the_scaled_pull():
    """The variant names the gate's fields of the default of 2026-12-03 (later), so that on nav it is not the earlier
    default's gate with the pull scaled. Its runs are in frontier.jsonl under the key below; on Pendulum, judged
    against a random probe, the gate's fields do nothing and its key is the one it had before."""
    from recipe_ablation import VARIANTS

    from sb3_finetune.experiment import RunSpec

    overrides = VARIANTS["escape-q-scale"]
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=overrides).recipe_fingerprint == "954e7df5"
    earlier_gate = (
        ("escape_saturation", True),
        ("bc_q_scale", True),
        ("gate_confidence", None),
        ("gate_margin", 0.0),
        ("critic_pretrain_steps", 0),  # measured before the default's TD3 critic pre-training
        ("warmup_handover", False),  # and before its hand-over
        ("critic_layer_norm", False),  # and its critic's norm
        ("critic_warmup", 1_000),  # and with its critic warm-up
        ("stand_down_skip_warmup", False),  # and waiting for learning_starts on a stand-down
        ("distill_random_probe", False),  # and distilled on the prior's probe alone
    )
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=earlier_gate).recipe_fingerprint != "954e7df5"
    for spelling in (overrides, earlier_gate):
        assert RunSpec("pendulum-heavy", "td3", "default", 0, recipe_overrides=spelling).recipe_fingerprint == (
            "dfd5bdc0"
        )


@pytest.mark.real_defaults
def test_pretrain_5k_variants_are_todays_default_with_more_critic_pretraining():
    """They name the default's gate and escape fields (2026-12-03, later), so they stay that recipe with 5,000 critic
    pre-training steps when the default moves; their runs are stored under these fingerprints."""
    from recipe_ablation import VARIANTS

    from sb3_finetune.experiment import RunSpec
    from sb3_finetune.recipes import get_recipe

    for name, fingerprint, critic_warmup, q_scale in (
        ("pretrain-5k", "ffb134de", 1_000, False),
        ("pretrain-5k-no-critic-warmup", "f09ecd4d", 0, False),
        ("pretrain-5k-q-scale", "8943fd2c", 1_000, True),
        ("pretrain-5k-hold-3k", "915e77b6", 3_000, False),
        ("pretrain-5k-handover", "321e6cde", 1_000, False),
    ):
        overrides = VARIANTS[name]
        assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=overrides).recipe_fingerprint == fingerprint
        recipe = get_recipe("default", **dict(overrides))
        fields = (recipe.critic_pretrain_steps, recipe.critic_warmup, recipe.bc_q_scale)
        assert fields == (5_000, critic_warmup, q_scale)
        assert recipe.escape_saturation and (recipe.gate_confidence, recipe.gate_margin) == (0.95, 0.2)
        assert not recipe.bc_q_filter  # the default's unfiltered pull
        assert recipe.warmup_handover == name.endswith("handover")
    # On 2026-12-05 the default was pretrain-5k-handover with TD3 (pretrain-5k's were from 2026-12-04); later that day
    # pretrain-5k-handover-critic-ln with TD3 and SAC (test below), then with DDPG too (its runs of before, 8c42ada6,
    # are found as the three fields turned off), and with TD3 its actor released at learning_starts since
    # (pretrain-5k-handover-critic-ln-no-hold); on 2026-12-05 (fourth session) DDPG's too.
    # On 2026-12-06 (fifth session) every algorithm's default took the stand-down's start at the probes
    # (stand-down-skip-warmup): its defaults of before are found with it turned off.
    # On 2026-12-07 (seventeenth session) SAC's default took the entropy decay (entropy-decay's runs): with SAC
    # stand-down-skip-warmup is its default of before, with TD3 and DDPG, on which the decay does nothing, today's.
    skip = VARIANTS["stand-down-skip-warmup"]
    for algo, fingerprint, today in (
        ("td3", "df92c239", "df92c239"),
        ("sac", "bbe9e52b", "314a5d58"),
        ("ddpg", "df92c239", "df92c239"),
    ):
        assert RunSpec("obstacle", algo, "default", 0).recipe_fingerprint == today
        assert RunSpec("obstacle", algo, "default", 0, recipe_overrides=skip).recipe_fingerprint == fingerprint
        decay = RunSpec("obstacle", algo, "default", 0, recipe_overrides=VARIANTS["entropy-decay"])
        assert decay.recipe_fingerprint == today
    waiting = (("stand_down_skip_warmup", False),)
    kept = (("entropy_decay", None),)  # SAC's coefficient, as every SAC default before 2026-12-07 (seventeenth session)
    on_the_prior = (("distill_random_probe", False),)  # the distillation of before (see below)
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=waiting).recipe_fingerprint == "61701361"
    no_hold = VARIANTS["pretrain-5k-handover-critic-ln-no-hold"]
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=no_hold).recipe_fingerprint == "61701361"
    # On 2026-12-06 SAC's default took the hold's rehearsal (rehearse-100), then the stand-down's warm-up acted by
    # the policy (stand-down-warmup); its defaults of before are found with them turned off.
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=(*waiting, *kept)).recipe_fingerprint == (
        "d7fa831b"
    )
    sdw = VARIANTS["stand-down-warmup"]
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=sdw).recipe_fingerprint == "d7fa831b"
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=VARIANTS["rehearse-100"]).recipe_fingerprint == (
        "5ac9a619"
    )
    unrehearsed = (("hold_rehearsal", 0.0), ("stand_down_warmup", False), *waiting, *kept)
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=unrehearsed).recipe_fingerprint == "cf10ec84"
    assert RunSpec("obstacle", "ddpg", "default", 0, recipe_overrides=waiting).recipe_fingerprint == "61701361"
    ddpg_held = (("critic_warmup", 1_000), *waiting)  # DDPG's default of before, its runs in critic_ln_ddpg.jsonl
    assert RunSpec("obstacle", "ddpg", "default", 0, recipe_overrides=ddpg_held).recipe_fingerprint == "8f52eb26"
    ddpg_before = (*ddpg_held, ("critic_pretrain_steps", 0), ("warmup_handover", False), ("critic_layer_norm", False))
    assert RunSpec("obstacle", "ddpg", "default", 0, recipe_overrides=ddpg_before).recipe_fingerprint == "8c42ada6"
    for algo in ("td3", "ddpg"):
        assert (
            RunSpec("pendulum-heavy", algo, "default", 0, recipe_overrides=(*waiting, *on_the_prior)).recipe_fingerprint
            == RunSpec("pendulum-heavy", algo, "default", 0, recipe_overrides=no_hold).recipe_fingerprint
        )
    # In its seventh session SAC's default took the random probe's states into the distillation
    # (distill_random_probe), in the eighth TD3's, both only where the gate trusts the prior
    # (stand_down_distill_random_probe off): where no random probe runs (nav) the same runs and fingerprints; on
    # Pendulum their defaults of before (the runs in pendulum_same.jsonl) are found with it turned off, and where the
    # gate trusts the prior the runs of distill-random-probe (taken on a stand-down too) stand for today's. (With
    # SAC since its entropy decay, 2026-12-07, seventeenth session, they do with the decay: entropy-decay's runs.)
    before = VARIANTS["no-distill-random-probe"]
    for algo, fingerprint in (("td3", "4a755dab"), ("sac", "7d665735")):
        assert RunSpec("pendulum-same", algo, "default", 0, recipe_overrides=before).recipe_fingerprint == fingerprint
        today = RunSpec("pendulum-same", algo, "default", 0)
        assert today.recipe_fingerprint != fingerprint
        decay = {"entropy_decay": 0.1} if algo == "sac" else {}
        everywhere = {**dict(VARIANTS["distill-random-probe"]), **decay}.items()
        everywhere_spec = RunSpec("pendulum-same", algo, "default", 0, recipe_overrides=tuple(everywhere))
        assert today.trusted_identity == everywhere_spec.trusted_identity
        on_nav = tuple({**dict(before), **decay}.items())
        assert RunSpec("obstacle", algo, "default", 0, recipe_overrides=on_nav).recipe_fingerprint == (
            RunSpec("obstacle", algo, "default", 0).recipe_fingerprint
        )


@pytest.mark.real_defaults
def test_the_sac_spread_variant_changes_only_sacs_runs():
    """distill_sac_std sets only SAC's actor: with TD3 the variant is pretrain-5k-handover's runs (the TD3 default's
    before its critic's norm), with SAC a recipe of its own; at its default (0.3) the field leaves every stored key as
    it was (SAC's default of before its norm: 2d030dab)."""
    from recipe_ablation import VARIANTS

    from sb3_finetune.experiment import RunSpec

    spread = VARIANTS["pretrain-5k-handover-sac-std-0.1"]
    for algo, same in (("td3", True), ("ddpg", True), ("sac", False)):
        with_spread = RunSpec("pendulum-heavy", algo, "default", 0, recipe_overrides=spread).recipe_fingerprint
        plain = RunSpec("pendulum-heavy", algo, "default", 0, recipe_overrides=VARIANTS["pretrain-5k-handover"])
        assert (with_spread == plain.recipe_fingerprint) is same
    assert RunSpec("pendulum-heavy", "sac", "default", 0, recipe_overrides=spread).recipe_fingerprint == "c34853dc"
    stated = (
        ("distill_sac_std", 0.3),
        ("hold_rehearsal", 0.0),
        ("stand_down_warmup", False),
        ("stand_down_skip_warmup", False),
        ("entropy_decay", None),
    )
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=stated).recipe_fingerprint == "cf10ec84"
    before_the_norm = (*stated, ("critic_layer_norm", False))  # SAC then: no pre-training, no hand-over
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=before_the_norm).recipe_fingerprint == "2d030dab"
    # The SAC screens' other variant, whose runs are stored under these keys: the hand-over's, with the pull scaled.
    scaled = dict(VARIANTS["pretrain-5k-handover-q-scale"])
    assert scaled == {**dict(VARIANTS["pretrain-5k-handover"]), "bc_q_scale": True}
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=tuple(scaled.items())).recipe_fingerprint == (
        "cd0c4f47"
    )
    assert RunSpec(
        "obstacle", "sac", "default", 0, recipe_overrides=VARIANTS["pretrain-5k-handover"]
    ).recipe_fingerprint == ("b8d3bd84")


def test_the_critic_norm_variant_is_the_handover_recipe_with_the_norm():
    """Its runs are stored under these keys (with TD3, today's default's); at its default (off) the field leaves every
    stored key as it was."""
    from recipe_ablation import VARIANTS

    from sb3_finetune.experiment import RunSpec

    normed = VARIANTS["pretrain-5k-handover-critic-ln"]
    assert dict(normed) == {**dict(VARIANTS["pretrain-5k-handover"]), "critic_layer_norm": True}
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=normed).recipe_fingerprint == "8f52eb26"
    assert RunSpec("pendulum-heavy", "sac", "default", 0, recipe_overrides=normed).recipe_fingerprint == "6ee929db"
    stated_off = (*VARIANTS["pretrain-5k-handover"], ("critic_layer_norm", False))
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=stated_off).recipe_fingerprint == "321e6cde"
