"""``compare``: the prior fine-tuned against from scratch on any env, with censoring-aware statistics."""

import json

import gymnasium as gym
import pytest

from sb3_finetune import get_recipe
from sb3_finetune.cli import main
from sb3_finetune.compare import compare, steps_to_threshold, summarise

RECIPE = get_recipe("default", distill_steps=20, critic_pretrain_steps=10)


def _curve(values, every=100, seconds_per_step=0.01):
    return [{"step": index * every, "success_rate": value, "mean_return": -10.0 + value,
             "wall_s": index * every * seconds_per_step} for index, value in enumerate(values)]  # fmt: skip


def test_the_statistics_treat_a_run_never_solved_as_censored_not_as_solved_at_the_budget():
    curves = {
        "fine-tuned": {
            seed: _curve(values, seconds_per_step=0.02)  # twice scratch's compute per env step
            for seed, values in enumerate(([0.8, 0.95, 1.0], [0.8, 0.9, 1.0], [0.8, 0.85, 0.95]))
        },
        "scratch": {0: _curve([0.0, 0.5, 0.95]), 1: _curve([0.0, 0.2, 0.5]), 2: _curve([0.0, 0.1, 0.4])},
    }
    comparison = summarise(curves, "success_rate", 0.9, budget=200)
    assert steps_to_threshold(curves["scratch"][1], "success_rate", 0.9) is None
    tuned, scratch = comparison.arms["fine-tuned"], comparison.arms["scratch"]
    assert (tuned.reached, scratch.reached) == (3, 1)
    assert tuned.steps_iqm[0] == pytest.approx(400 / 3)  # 100, 100, 200: the IQM of three runs is their mean
    assert scratch.steps_iqm[0] == 200  # 200 and two runs capped at the budget
    assert tuned.km_median[0] == 100 and scratch.km_median[0] is None  # two of three never got there: beyond it
    assert comparison.steps_ratio[0] == pytest.approx((400 / 3) / 200)
    # every fine-tuned run is solved before or with scratch's one solved run, and the two never solved are later
    # than any: 8 of 9 pairs sooner, the tie (200 against 200) a half
    assert comparison.p_sooner == pytest.approx(8.5 / 9)
    assert comparison.prior_score == pytest.approx(0.8)
    assert comparison.wall_ratio == pytest.approx((2.0, 2.0, 2.0))  # every run's time the same within its arm
    # to solved: 2, 2 and 4 s fine-tuned (100, 100, 200 steps at 0.02 s); 2 s and two whole runs of 2 s scratch
    assert comparison.wall_to_solved_ratio[0] == pytest.approx((8 / 3) / 2)
    text = comparison.report("test")
    assert "1/3" in text and ">200 [" in text and "P(a fine-tuned run is solved sooner) 0.94" in text


def test_compare_runs_both_arms_stores_every_run_and_resumes(pendulum_prior, tmp_path):
    results = tmp_path / "runs.jsonl"
    seen = []
    options = dict(recipe=RECIPE, hyperparams={"learning_starts": 200}, eval_freq=200, eval_episodes=2,
                   measure="mean_return", threshold=-1_000.0, results=results)  # fmt: skip
    first = compare("td3", "Pendulum-v1", pendulum_prior, 400, [0], on_run=lambda *run: seen.append(run), **options)
    assert sorted(job.arm for job, _, reused in seen if not reused) == ["fine-tuned", "scratch"]
    assert first.curves["fine-tuned"][0][0]["step"] == 0 and first.curves["scratch"][0][-1]["step"] == 400
    assert first.gates[0]["criterion"] == "random probe" and first.decisions[0]  # the recipe's, kept per run
    assert first.arms["fine-tuned"].wall_s_iqm[0] > 0 and first.wall_ratio[0] > 0
    assert len(results.read_text().splitlines()) == 2
    with results.open("a") as stream:  # a process killed while writing its third run
        stream.write('{"key": "0123", "arm": "scr')
    seen.clear()
    second = compare(
        "td3", "Pendulum-v1", pendulum_prior, 400, [0, 1], on_run=lambda *run: seen.append(run), workers=2, **options
    )  # fmt: skip  (the new seed's two runs in worker processes)
    assert [(job.seed, reused) for job, _, reused in seen if job.seed == 0] == [(0, True), (0, True)]
    assert second.curves["fine-tuned"][0] == first.curves["fine-tuned"][0] and second.arms["scratch"].runs == 2
    assert len(results.read_text().splitlines()) == 5  # the torn line is left as it was, and skipped
    seen.clear()  # the runs appended after the torn line read back: nothing runs again
    compare("td3", "Pendulum-v1", pendulum_prior, 400, [0, 1], on_run=lambda *run: seen.append(run), **options)
    assert len(seen) == 4 and all(reused for *_, reused in seen)


def test_compare_refuses_before_any_run(pendulum_prior, tmp_path):
    results = tmp_path / "runs.jsonl"
    with pytest.raises(ValueError, match="give the return that counts as solved"):
        compare("td3", "Pendulum-v1", pendulum_prior, 400, [0], results=results)  # no success on Pendulum
    with pytest.raises(ValueError, match="reports no success"):
        compare("td3", "Pendulum-v1", pendulum_prior, 400, [0], measure="success_rate", results=results)
    with pytest.raises(ValueError, match="does not take this env's observations"):
        compare("td3", "MountainCarContinuous-v0", pendulum_prior, 400, [0], threshold=0.0, results=results)
    assert not results.exists()


def test_the_command_line_prints_the_table_and_writes_its_files(nav_bc_weights, tmp_path, capsys):
    out = tmp_path / "out"
    run = ["compare", "--algo", "td3", "--env", "SimpleNavigation-v0", "--pretrained", nav_bc_weights, "-n", "40"]
    # two workers, spawned: nav_env is imported there only because the env's entry point names it
    status = main([*run, "--seeds", "1", "--eval-freq", "20", "--eval-episodes", "2", "--out-dir", str(out),
                   "--workers", "2"])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0
    assert "solved: 90% success" in printed and "trust gate (success): trusted the prior in 1 of 1 runs" in printed
    figures = json.loads((out / "comparison.json").read_text())
    assert figures["measure"] == "success_rate" and set(figures["arms"]) == {"fine-tuned", "scratch"}
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2
    assert main(["compare", "--algo", "td3", "--env", "Pendulum-v1", "--pretrained", nav_bc_weights, "-n", "10"]) == 2
    assert "at least 20 env steps" in capsys.readouterr().err
    # the gate's criterion goes to the fine-tuned arm's recipe: the nav env's success not read, a random probe judges
    status = main([*run, "--seeds", "1", "--eval-freq", "20", "--eval-episodes", "2", "--out-dir", str(tmp_path / "by"),
                   "--gate-criterion", "return"])  # fmt: skip
    assert status == 0 and "trust gate (random probe" in capsys.readouterr().out  # per step, on 40 env steps


def test_a_run_is_stored_under_what_it_does():
    """A stored run is reused under its effective settings: the recipe as it acts with the algorithm and the library's
    default arguments, not the names that spelled them, so a library whose defaults changed does not reuse it."""
    from sb3_finetune.compare import Job

    def key(recipe, defaults=None, pretrained="p.pt"):
        job = Job("td3", "Pendulum-v1", {}, pretrained, 400, 0, recipe=recipe)
        return job.key("digest" if pretrained else None, defaults or {"learning_starts": 1_000})

    assert key("default") == key(get_recipe("default"))
    assert key("default") != key(get_recipe("default", bc_weight=0.0))
    assert key("default") != key("default", {"learning_starts": 500})
    assert key("default", pretrained=None) == key("frontier", pretrained=None)  # scratch has no recipe


def test_both_arms_train_under_vecnormalize_where_asked(pendulum_prior):
    """The Zoo's ``normalize`` reaches both arms; each model is evaluated with its own statistics, the fine-tuned one
    being its prior at step 0, and the runs are stored under a key of their own."""
    from sb3_finetune.compare import Job, run_job
    from sb3_finetune.evaluation import evaluate, prior_policy
    from sb3_finetune.prior import load_prior

    options = dict(recipe=RECIPE, hyperparams={"learning_starts": 200}, eval_freq=200, eval_episodes=2)
    plain = Job("td3", "Pendulum-v1", {}, pendulum_prior, 400, 0, **options)
    normalised = Job("td3", "Pendulum-v1", {}, pendulum_prior, 400, 0, normalize={"norm_reward": False}, **options)
    assert plain.key("d", {}) != normalised.key("d", {})
    run = run_job(normalised)
    env = gym.make("Pendulum-v1")
    prior = evaluate(prior_policy(load_prior(pendulum_prior, env.action_space, env.observation_space)),
                     "Pendulum-v1", {}, 2, seed=10_000)  # fmt: skip
    assert run["curve"][0]["mean_return"] == pytest.approx(prior.mean_return, rel=1e-5)
    assert run["curve"][-1]["step"] == 400
