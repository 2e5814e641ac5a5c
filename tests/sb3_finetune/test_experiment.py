import json
import warnings

import pytest

from sb3_finetune.checkpoint import list_checkpoints, load_replay_buffer, save_checkpoint, save_replay_buffer
from sb3_finetune.experiment import SCENARIOS, RunSpec, curve_metrics, record_identity
from sb3_finetune.sweep import collapsed, load_all, load_results, lowest_ratio, match_records, rescore, run_sweep


def point(step, success, wall=0.0, ratio=1.0, mean_return=-1.0):
    return {
        "step": step,
        "success_rate": success,
        "mean_return": mean_return,
        "wall_s": wall,
        "expert_return_ratio": ratio,
    }


def test_curve_metrics_on_a_known_curve():
    curve = [
        point(0, 0.8, 0),
        point(100, 0.7, 1),
        point(200, 0.95, 2),
        point(300, 1.0, 3, 0.99),
        point(1000, 1.0, 9, 0.99),
    ]
    metrics = curve_metrics(curve, budget=1000)
    assert metrics["jumpstart"] == 0.8
    assert metrics["steps_to_threshold"] == 200 and metrics["reached_threshold"]
    assert metrics["wall_s_to_threshold"] == 2
    assert metrics["min_score_early"] == 0.7  # steps 0..200 are the first 20%
    assert metrics["min_score"] == 0.7
    assert metrics["final_success"] == metrics["final_score"] == 1.0 and metrics["final_expert_return_ratio"] == 0.99
    # trapezoid area / 1000 steps: (75 + 82.5 + 97.5 + 700) / 1000
    assert metrics["area_under_curve"] == pytest.approx(0.955)


def test_curve_metrics_on_a_return_threshold_score_the_return_between_random_and_best():
    scenario = SCENARIOS["pendulum-heavy"]
    low, high = scenario.return_range
    curve = [
        {"step": 0, "success_rate": None, "mean_return": low, "wall_s": 0.0, "expert_return_ratio": None},
        {"step": 500, "success_rate": None, "mean_return": -201.0, "wall_s": 1.0, "expert_return_ratio": None},
        {"step": 1000, "success_rate": None, "mean_return": -199.0, "wall_s": 2.0, "expert_return_ratio": None},
    ]
    metrics = curve_metrics(curve, budget=1000, scenario=scenario)
    assert metrics["steps_to_threshold"] == 1000 and metrics["reached_threshold"]  # -201 is short of -200
    assert metrics["jumpstart"] == 0.0
    assert metrics["final_score"] == pytest.approx((-199.0 - low) / (high - low))
    assert metrics["final_return"] == -199.0
    assert metrics["final_success"] is None and metrics["final_expert_return_ratio"] is None
    assert scenario.threshold_label() == "return >= -200"


def test_a_fall_after_the_first_fifth_of_the_budget_is_no_collapse_and_shows_as_the_lowest_ratio():
    scenario = SCENARIOS["pendulum-heavy"]
    low, high = scenario.return_range
    returns = [low + 0.8 * (high - low), low + 0.78 * (high - low), low + 0.4 * (high - low), low + 0.9 * (high - low)]
    curve = [point(step, None, mean_return=value) for step, value in zip((0, 100, 500, 1000), returns, strict=True)]
    record = {"metrics": curve_metrics(curve, budget=1000, scenario=scenario), "pretrained_score_on_target": 0.8}
    assert not collapsed(record)  # 0.78 / 0.8 at step 100; the fall to 0.4 comes at step 500, past 20% of 1,000
    assert lowest_ratio(record) == pytest.approx(0.5)
    assert lowest_ratio({**record, "pretrained_score_on_target": 0.4}) is None  # no skill to keep


def test_records_are_read_with_metrics_computed_from_their_curve_by_todays_scenarios():
    old = {  # a nav record from before scores existed, its metrics under old names
        "spec": {"scenario": "same-task"},
        "budget": 1000,
        "metrics": {"min_success_early": 0.4, "final_success": 0.9},
        "pretrained_success_on_target": 0.8,
        "curve": [point(0, 0.8), point(200, 0.4), point(1000, 0.95)],
    }
    record = rescore(old)
    assert record["metrics"]["min_score_early"] == 0.4 and record["metrics"]["final_score"] == 0.95
    assert record["metrics"]["steps_to_threshold"] == 1000 and "min_success_early" not in record["metrics"]
    assert record["pretrained_score_on_target"] == 0.8 and record["curve"][1]["score"] == 0.4
    assert rescore({"spec": {"scenario": "moon"}, "curve": []}) == {"spec": {"scenario": "moon"}, "curve": []}


def test_steps_to_threshold_is_capped_at_the_budget():
    metrics = curve_metrics([point(0, 0.0), point(500, 0.5)], budget=500)
    assert metrics["steps_to_threshold"] == 500 and not metrics["reached_threshold"]
    assert metrics["wall_s_to_threshold"] is None


def test_sweep_runs_once_and_resumes(tmp_path):
    results = tmp_path / "results.jsonl"
    specs = [RunSpec("same-task", "td3", arm, 0, budget=120, eval_episodes=5) for arm in ("scratch", "default")]
    records = run_sweep(specs, results, tmp_path / "cache", workers=1)
    assert set(records) == {spec.key for spec in specs}
    for record in records.values():
        assert record["curve"][0]["step"] == 0 and record["curve"][-1]["step"] == 120
        assert 0.0 <= record["metrics"]["final_success"] <= 1.0
        assert record["metrics"]["final_score"] == record["metrics"]["final_success"]
        assert isinstance(record["decisions"], list)
    assert records[specs[0].key]["gate"] is None  # scratch has no prior to judge
    assert records[specs[1].key]["gate"]["trusted"] is True and records[specs[1].key]["gate"]["criterion"] == "success"
    lines_before = results.read_text().count("\n")
    with results.open("a") as stream:
        stream.write('{"torn": ')  # a sweep killed mid-write
    again = run_sweep(specs, results, tmp_path / "cache", workers=1)
    assert set(again) == set(records)
    assert results.read_text().count("\n") == lines_before  # nothing ran twice
    assert len(load_results(results)) == 2


def test_a_sweep_counts_the_runs_of_files_it_only_reads(tmp_path):
    """``read_also``: runs stored in another file are not run again, and that file is never written."""
    specs = [RunSpec("same-task", "td3", "scratch", seed, budget=120, eval_episodes=5) for seed in (0, 1)]
    other, ours = tmp_path / "other.jsonl", tmp_path / "ours.jsonl"
    run_sweep(specs[:1], other, tmp_path / "cache", workers=1)
    before = other.read_text()
    records = run_sweep(specs, ours, tmp_path / "cache", workers=1, read_also=[other, tmp_path / "absent.jsonl"])
    assert set(records) >= {spec.key for spec in specs}
    assert list(load_results(ours)) == [specs[1].key]  # only the run that no file held
    assert other.read_text() == before
    assert records[specs[0].key]["curve"] == json.loads(before)["curve"]
    assert load_all([ours, other]).keys() == load_all([other, ours]).keys() == {spec.key for spec in specs}


def test_replay_buffer_round_trip_and_atomic_checkpoints(tmp_path):
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import TD3

    import nav_env  # noqa: F401

    model = TD3("MlpPolicy", gym.make("SimpleNavigation-v0"), learning_starts=50, device="cpu", seed=0)
    model.learn(120)
    save_replay_buffer(model.replay_buffer, tmp_path / "buffer.npz")
    fresh = TD3("MlpPolicy", gym.make("SimpleNavigation-v0"), device="cpu")
    load_replay_buffer(fresh.replay_buffer, tmp_path / "buffer.npz")
    assert fresh.replay_buffer.pos == model.replay_buffer.pos == 120
    np.testing.assert_array_equal(fresh.replay_buffer.observations, model.replay_buffer.observations)
    np.testing.assert_array_equal(fresh.replay_buffer.actions, model.replay_buffer.actions)
    (tmp_path / "ckpt" / ".step-999.1.tmp").mkdir(parents=True)  # a checkpoint interrupted mid-write
    for _ in range(3):
        model.learn(10, reset_num_timesteps=False)
        save_checkpoint(model, tmp_path / "ckpt", {"note": "test"}, keep=2)
    found = list_checkpoints(tmp_path / "ckpt")
    assert [step for step, _ in found] == [140, 150]
    assert json.loads((found[-1][1] / "state.json").read_text())["num_timesteps"] == 150


def test_a_her_buffer_round_trip_without_pickles(tmp_path):
    """HER's buffer keeps each transition's info dict in an object array (read by ``compute_reward`` with
    ``copy_info_dict``): it is stored as JSON, its numpy values exact; a checkpoint resumes with the env given to
    ``load`` (no second ``set_env``) and the unfinished episode ended, as SB3's ``load_replay_buffer`` ends it; a file
    holding a pickle is refused before anything is copied."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import TD3, HerReplayBuffer

    from sb3_finetune.checkpoint import load_checkpoint

    def make(env):
        kwargs = {"copy_info_dict": True}
        return TD3("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=kwargs,
                   learning_starts=150, buffer_size=1_000, device="cpu", seed=0)  # fmt: skip

    env = gym.make("SimpleNavigationGoal-v0")
    model = make(env)
    model.learn(230)
    buffer = model.replay_buffer
    ended = [info for info in buffer.infos[:230, 0] if "terminal_observation" in info]
    assert ended and isinstance(ended[0]["terminal_observation"]["observation"], np.ndarray)
    save_replay_buffer(buffer, tmp_path / "buffer.npz")
    with np.load(tmp_path / "buffer.npz", allow_pickle=False) as data:  # no entry needs a pickle
        assert all(data[name].dtype != object for name in data.files)
    fresh = make(gym.make("SimpleNavigationGoal-v0"))
    load_replay_buffer(fresh.replay_buffer, tmp_path / "buffer.npz")
    assert fresh.replay_buffer.pos == buffer.pos == 230
    for got, want in zip(fresh.replay_buffer.infos[:230, 0], buffer.infos[:230, 0], strict=True):
        assert got.keys() == want.keys()
        if "terminal_observation" in want:
            for key, value in want["terminal_observation"].items():
                stored = got["terminal_observation"][key]
                assert stored.dtype == value.dtype
                np.testing.assert_array_equal(stored, value)
    np.testing.assert_array_equal(fresh.replay_buffer.ep_length, buffer.ep_length)

    checkpoint = save_checkpoint(model, tmp_path / "ckpt")
    assert buffer._current_ep_start[0] != buffer.pos  # the checkpoint is taken in the middle of an episode
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's warning (advice for its own loader) is replaced by a sentence
        resumed, state = load_checkpoint(checkpoint, TD3, env=gym.make("SimpleNavigationGoal-v0"), device="cpu")
    assert len(state["load_notes"]) == 1 and "HER's episodes unfinished at the checkpoint end" in state["load_notes"][0]
    assert resumed.replay_buffer.dones[buffer.pos - 1, 0]
    assert resumed.replay_buffer.env is resumed.get_env()
    assert (resumed.replay_buffer._current_ep_start == resumed.replay_buffer.pos).all()
    resumed.learn(20, reset_num_timesteps=False)
    assert resumed.num_timesteps == 250

    arrays = dict(np.load(tmp_path / "buffer.npz", allow_pickle=False))
    arrays = {name: value for name, value in arrays.items() if not name.startswith("__objects__/")}
    np.savez(tmp_path / "pickled.npz", **arrays, infos=buffer.infos)  # as written before 2026-12-06
    empty = make(gym.make("SimpleNavigationGoal-v0")).replay_buffer
    with pytest.raises(ValueError, match="infos is stored as a pickle"):
        load_replay_buffer(empty, tmp_path / "pickled.npz")
    assert empty.pos == 0 and not empty.observations["observation"].any()


def test_a_scenario_on_return_must_state_its_range():
    from sb3_finetune.experiment import Scenario

    with pytest.raises(ValueError, match="needs return_range"):
        Scenario("x", "x", "Pendulum-v1", {}, {}, 100, measure="mean_return", threshold=-200.0)
    with pytest.raises(ValueError, match="measure must be"):
        Scenario("x", "x", "Pendulum-v1", {}, {}, 100, measure="return")


def test_a_run_is_found_under_any_spelling_of_its_recipe(tmp_path):
    """The frontier recipe by name and as the default's overrides is one run: run once, reported under each name."""
    results = tmp_path / "results.jsonl"
    overrides = (
        ("warmup_handover", True),
        ("bc_q_filter", True),
        ("bc_q_filter_conservative", True),
        ("critic_pretrain_steps", 1_000),
        ("escape_saturation", False),  # in the default since, not in frontier
        ("gate_confidence", None),  # the same
        ("gate_margin", 0.0),
        ("critic_layer_norm", False),  # left to the algorithm since (on with TD3), not in frontier
        ("stand_down_skip_warmup", False),  # in the default since 2026-12-06, not in frontier
    )
    by_name = RunSpec("same-task", "td3", "frontier", 0, budget=120, eval_episodes=5)
    spelled = RunSpec("same-task", "td3", "default", 0, budget=120, eval_episodes=5, recipe_overrides=overrides)
    assert by_name.key != spelled.key and by_name.identity == spelled.identity
    assert RunSpec("same-task", "td3", "frontier", 1, budget=120).identity != by_name.identity
    assert RunSpec("same-task", "td3", "scratch", 0, budget=120).identity != by_name.identity
    records = run_sweep([by_name, spelled], results, tmp_path / "cache", workers=1)
    assert results.read_text().count("\n") == 1  # one run for two spellings
    stored = load_results(results)
    assert list(stored) == [by_name.key] and record_identity(stored[by_name.key]) == by_name.identity
    assert records[spelled.key]["curve"] == records[by_name.key]["curve"]
    assert records[spelled.key]["spec"]["arm"] == "default" and records[spelled.key]["key"] == spelled.key
    again = run_sweep([spelled], results, tmp_path / "cache", workers=1)
    assert results.read_text().count("\n") == 1 and again[spelled.key]["curve"] == records[by_name.key]["curve"]
    # The saturation escape does nothing for SAC (no tanh layer): its runs match with it on or off; TD3's do not.
    escape_off = (("escape_saturation", False),)
    for algo, same in (("sac", True), ("td3", False)):
        with_escape = RunSpec("obstacle", algo, "default", 0).recipe_fingerprint
        without = RunSpec("obstacle", algo, "default", 0, recipe_overrides=escape_off).recipe_fingerprint
        assert (with_escape == without) is same
    # Where the env reports no success and no gate_return is given, the gate compares with a random probe, whose
    # length gate_confidence and gate_margin do not set: Pendulum's runs match with them or without.
    zoned = (("gate_confidence", 0.95), ("gate_margin", 0.2))  # the default's
    untested = (("gate_confidence", None), ("gate_margin", 0.0))  # the default's before
    for scenario, extra, same in (
        ("pendulum-heavy", (), True),
        ("pendulum-heavy", (("gate_return", -200.0),), False),
        ("obstacle", (), False),
        ("obstacle", (("gate_criterion", "return"),), True),  # the env's success not read: a random probe there too
    ):
        plain = RunSpec(scenario, "td3", "default", 0, recipe_overrides=extra + untested).recipe_fingerprint
        assert (
            RunSpec(scenario, "td3", "default", 0, recipe_overrides=extra + zoned).recipe_fingerprint == plain
        ) is same
    assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=zoned).key == RunSpec(
        "obstacle", "td3", "default", 0
    ).key.replace("/default/", "/default" + "".join(f",{k}={v}" for k, v in zoned) + "/")
    # Without a trust gate there is no probe for the test to lengthen, and without the test no zone: the default's
    # gate fields change nothing there, so those runs match the runs recorded before the default had them.
    for changed in ((("trust_gate", None),), (("gate_confidence", None),)):
        assert (
            RunSpec("obstacle", "td3", "default", 0, recipe_overrides=changed).recipe_fingerprint
            == RunSpec("obstacle", "td3", "default", 0, recipe_overrides=(*changed, *untested)).recipe_fingerprint
        )
    # gate_criterion is a later field: a record made before it existed (its recipe without it) is today's run.
    today = RunSpec("obstacle", "td3", "default", 0)
    before = {name: value for name, value in today.recipe_fields().items() if name != "gate_criterion"}
    assert today.fingerprint_of(before) == today.recipe_fingerprint
    # A record made under another recipe fingerprint (the recipe's defaults changed since) is not the same run.
    older = {**stored[by_name.key], "key": by_name.key.replace(by_name.recipe_fingerprint, "0ld0ld00")}
    assert match_records([by_name, spelled], {older["key"]: older}) == {}


def test_a_trusted_run_stands_for_recipes_that_differ_only_where_the_gate_stands_down(tmp_path):
    """A run whose trust gate trusted the prior is the run of every recipe that differs only in STAND_DOWN_ONLY."""
    from sb3_finetune.experiment import STAND_DOWN_ONLY

    assert set(STAND_DOWN_ONLY) == {
        "stand_down_warmup",
        "stand_down_skip_warmup",
        "stand_down_critic_pretrain",
        "stand_down_distill_random_probe",
    }
    stored_run = RunSpec("same-task", "td3", "default", 0, budget=120, eval_episodes=5)
    skipping = (("stand_down_skip_warmup", True), ("stand_down_warmup", True), ("stand_down_critic_pretrain", True))
    wanted = RunSpec("same-task", "td3", "default", 0, budget=120, eval_episodes=5, recipe_overrides=skipping)
    assert wanted.recipe_fingerprint != stored_run.recipe_fingerprint and wanted.identity != stored_run.identity
    assert wanted.trusted_identity == stored_run.trusted_identity
    results = tmp_path / "results.jsonl"
    (record,) = run_sweep([stored_run], results, tmp_path / "cache", workers=1).values()
    assert record["gate"]["trusted"]  # the prior is right on its own task
    found = run_sweep([wanted], results, tmp_path / "cache", workers=1)[wanted.key]
    assert results.read_text().count("\n") == 1  # not run again
    assert found["same_run_as"] == stored_run.key and found["key"] == wanted.key and found["curve"] == record["curve"]
    # And it is the same run: made on its own, its curve is the stored one, point for point (wall times aside).
    (made,) = run_sweep([wanted], tmp_path / "own.jsonl", tmp_path / "cache", workers=1).values()
    assert "same_run_as" not in made and made["gate"]["trusted"]

    def drop_times(curve: list) -> list:
        return [{k: v for k, v in point.items() if k != "wall_s"} for point in curve]

    assert drop_times(made["curve"]) == drop_times(record["curve"])
    # A run whose gate stood the prior down is not: there the fields acted.
    stood_down = {**record, "gate": {**record["gate"], "trusted": False}}
    assert match_records([wanted], {record["key"]: stood_down}) == {}
    # Nor a record of a scenario that no longer exists (it is skipped, not an error)
    gone = {**record, "key": "old-scenario/x", "spec": {**record["spec"], "scenario": "old-scenario"}}
    assert match_records([wanted], {gone["key"]: gone}) == {}
    # Nor does a field outside STAND_DOWN_ONLY match (it acts whatever the gate says).
    other = RunSpec("same-task", "td3", "default", 0, budget=120, eval_episodes=5, recipe_overrides=(("bc_fade", 0.3),))
    assert (
        other.trusted_identity != stored_run.trusted_identity and match_records([other], {record["key"]: record}) == {}
    )


def test_stand_down_distill_random_probe_changes_the_fingerprint_only_where_it_can_act():
    """It says what ``distill_random_probe`` does on a stand-down: nothing without it, nothing where no random probe
    runs (the nav tasks report success)."""
    trusted_only = (("distill_random_probe", True), ("stand_down_distill_random_probe", False))
    everywhere = (("distill_random_probe", True), ("stand_down_distill_random_probe", True))
    off = (("distill_random_probe", False),)

    def fingerprint(scenario: str, overrides: tuple) -> str:
        return RunSpec(scenario, "td3", "default", 0, recipe_overrides=overrides).recipe_fingerprint

    assert fingerprint("pendulum-heavy", trusted_only) != fingerprint("pendulum-heavy", everywhere)
    assert fingerprint("pendulum-heavy", (*off, ("stand_down_distill_random_probe", True))) == fingerprint(
        "pendulum-heavy", off
    )
    nav = {fingerprint("same-task", overrides) for overrides in (trusted_only, everywhere, off)}
    assert len(nav) == 1


@pytest.mark.parametrize(
    "change", [("entropy_start", None), ("critic_pretrain_entropy", False), ("entropy_floor", 0.01)]
)
def test_entropy_fields_count_in_a_runs_fingerprint_only_where_they_act(change):
    """``entropy_start``, ``critic_pretrain_entropy`` and ``entropy_floor`` act on SAC under ``ent_coef="auto"``
    only: elsewhere a run with another value is the default's run (the stored runs, all with SAC's fixed 0.01, keep
    their fingerprint)."""
    start = (change,)
    for algo in ("sac", "td3"):
        plain = RunSpec("obstacle", algo, "default", 0)
        assert RunSpec("obstacle", algo, "default", 0, recipe_overrides=start).recipe_fingerprint == (
            plain.recipe_fingerprint
        )
    auto = (("ent_coef", "auto"),)
    assert (
        RunSpec("pendulum-same", "sac", "default", 0, recipe_overrides=start, hyperparams=auto).recipe_fingerprint
        != RunSpec("pendulum-same", "sac", "default", 0, hyperparams=auto).recipe_fingerprint
    )
    # A start of the user's ("auto_<value>") is kept, so entropy_start does nothing there; SB3 still tunes the
    # coefficient, so the critic's pre-training and the floor act on it as under "auto".
    own_start = (("ent_coef", "auto_0.1"),)
    moved = RunSpec("pendulum-same", "sac", "default", 0, recipe_overrides=start, hyperparams=own_start)
    same = (
        moved.recipe_fingerprint
        == RunSpec("pendulum-same", "sac", "default", 0, hyperparams=own_start).recipe_fingerprint
    )
    assert same is (change[0] == "entropy_start")


def test_entropy_decay_counts_in_a_runs_fingerprint_only_where_it_acts():
    """``entropy_decay`` acts on SAC with a fixed coefficient only (the scoreboard's 0.01), and its window only with
    it: elsewhere a run with it is the run without it. The default recipe has it since 2026-12-07 (a tenth): SAC's
    default runs are those of the decay, its runs of before those with it off."""
    decay, kept = (("entropy_decay", 0.1),), (("entropy_decay", None),)
    window = (("entropy_decay_from", 0.25),)
    plain = RunSpec("obstacle", "sac", "default", 0, recipe_overrides=kept).recipe_fingerprint
    decayed = RunSpec("obstacle", "sac", "default", 0, recipe_overrides=decay).recipe_fingerprint
    assert decayed != plain and RunSpec("obstacle", "sac", "default", 0).recipe_fingerprint == decayed
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=(*decay, *window)).recipe_fingerprint != decayed
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=window).recipe_fingerprint != decayed
    assert RunSpec("obstacle", "sac", "default", 0, recipe_overrides=(*kept, *window)).recipe_fingerprint == plain
    td3 = RunSpec("obstacle", "td3", "default", 0).recipe_fingerprint
    for change in (decay, kept, (*kept, *window)):
        assert RunSpec("obstacle", "td3", "default", 0, recipe_overrides=change).recipe_fingerprint == td3
    for auto in ((("ent_coef", "auto"),), (("ent_coef", "auto_0.1"),)):
        tuned = RunSpec("obstacle", "sac", "default", 0, hyperparams=auto)
        for change in (decay, kept):
            with_change = RunSpec("obstacle", "sac", "default", 0, recipe_overrides=change, hyperparams=auto)
            assert with_change.recipe_fingerprint == tuned.recipe_fingerprint
