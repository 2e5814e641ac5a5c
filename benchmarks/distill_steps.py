"""Is the distilled actor the prior? The scenarios' own priors, with more or fewer distillation steps.

The default recipe distils the actor from the prior on the states of the gate's probe (``distill_steps`` Adam steps,
half of each minibatch jittered) before training's first env step; until then the model acts through the prior
exactly. ``benchmarks/distill_fidelity.py`` measured that on two seeds of its own priors; this script does it on the
benchmark's scenarios, with their cached priors, seeds and hyperparameters, for several values of ``distill_steps``:
each run is a sweep's run of today's default (``recipe_ablation.variant_setup``) taken through its warm-up only (the
probe, the gate, the distillation, the buffer's fill and the critic's pre-training; no gradient step of RL), then
the distilled actor and the prior are evaluated on the same seeded episodes (seeds 10,000 and up, the sweeps'). A
run whose gate stands the prior down is reported as such (the actor is distilled all the same, but nothing holds it).

Run: ``python benchmarks/distill_steps.py --scenarios pendulum-same,pendulum-heavy --steps 1000,3000``
(``--quick`` for a smoke test).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from _args import UsageError, run_script, write_summary
from recipe_ablation import variant_setup

from sb3_finetune import evaluate, model_policy, prior_policy
from sb3_finetune.experiment import SCENARIOS

FAITHFUL = 0.9
"""A distilled actor scoring below this share of the prior's score counts as unfaithful (the collapse test's 0.9)."""


@dataclass
class Args:
    """Command-line arguments."""

    scenarios: str = "pendulum-same,pendulum-heavy"
    """scenarios of sb3_finetune.experiment.SCENARIOS"""
    algos: str = "td3,sac"
    """algorithms"""
    seeds: int = 10
    """model seeds (0 to seeds - 1)"""
    steps: str = "1000,3000"
    """values of distill_steps to compare, comma-separated"""
    episodes: int = 50
    """evaluation episodes (seeds 10,000 and up)"""
    workers: int = 2
    """parallel runs"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results/distill_steps.json"
    """summary file"""
    quick: bool = False
    """the same task, TD3, one seed, 100 and 200 steps, 2 episodes, 20 steps of the critic's pre-training"""


def warm_run(
    scenario_name: str,
    algo: str,
    seed: int,
    steps: int,
    episodes: int,
    cache: str,
    critic_pretrain_steps: int | None = None,
) -> dict[str, Any]:
    """One sweep run of today's default, through its warm-up, with ``distill_steps=steps``: the actor against the prior.

    :param critic_pretrain_steps: the critic's pre-training (``None``: the default's; it comes after the distillation
        and holds the actor, so it does not move the figures, only the time)
    :return: the run's figures (returns, scores, the gate's verdict)
    """
    th.set_num_threads(1)
    scenario = SCENARIOS[scenario_name]
    changes: dict[str, Any] = {"distill_steps": steps}
    if critic_pretrain_steps is not None:
        changes["critic_pretrain_steps"] = critic_pretrain_steps
    setup = variant_setup(scenario_name, algo, "default", seed, cache, recipe_changes=changes)
    setup.warm_up(scenario.budget)
    actor = evaluate(model_policy(setup.model), scenario.env_id, scenario.target, episodes, 10_000)
    prior = evaluate(prior_policy(setup.prior), scenario.env_id, scenario.target, episodes, 10_000)
    actor_score, prior_score = scenario.score(actor.as_dict()), scenario.score(prior.as_dict())
    return {
        "scenario": scenario_name,
        "algo": algo,
        "seed": seed,
        "distill_steps": steps,
        "trusted": setup.trusted,
        "actor_return": actor.mean_return,
        "prior_return": prior.mean_return,
        "actor_score": actor_score,
        "prior_score": prior_score,
        "ratio": actor_score / prior_score if prior_score else 1.0,
    }


def cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario, algorithm and ``distill_steps``: the actor's score over the prior's, over the trusted runs.

    :param rows: :func:`warm_run`'s records
    :return: one row per cell: runs, trusted runs, median and lowest ratio, trusted runs below :data:`FAITHFUL`
    """
    out = []
    for key in dict.fromkeys((r["scenario"], r["algo"], r["distill_steps"]) for r in rows):
        runs = [r for r in rows if (r["scenario"], r["algo"], r["distill_steps"]) == key]
        ratios = [r["ratio"] for r in runs if r["trusted"]]
        out.append(
            {
                "scenario": key[0],
                "algo": key[1],
                "distill_steps": key[2],
                "runs": len(runs),
                "trusted": len(ratios),
                "median_ratio": float(np.median(ratios)) if ratios else None,
                "lowest_ratio": min(ratios) if ratios else None,
                "below": sum(ratio < FAITHFUL for ratio in ratios),
            }
        )
    return out


def main(args: Args) -> dict:
    if args.quick:
        args.scenarios, args.algos, args.seeds, args.steps, args.episodes = "same-task", "td3", 1, "100,200", 2
    scenarios = args.scenarios.split(",")
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        raise UsageError(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}")
    try:
        steps = [int(value) for value in args.steps.split(",")]
    except ValueError:
        raise UsageError(f"--steps must be comma-separated integers, got {args.steps!r}") from None
    if min(steps) < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    runs = [
        (name, algo, seed, n)
        for name in scenarios
        for algo in args.algos.split(",")
        for n in steps
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        pretrain = 20 if args.quick else None
        futures = [pool.submit(warm_run, *run, args.episodes, args.cache, pretrain) for run in runs]
        rows = [future.result() for future in futures]
    table = cells(rows)
    for cell in table:
        low = "-" if cell["lowest_ratio"] is None else f"{cell['lowest_ratio']:.2f}"
        median = "-" if cell["median_ratio"] is None else f"{cell['median_ratio']:.2f}"
        print(
            f"{cell['scenario']:<16} {cell['algo']:<5} distill_steps {cell['distill_steps']:>6}: trusted "
            f"{cell['trusted']}/{cell['runs']}, actor / prior score median {median}, lowest {low}, "
            f"{cell['below']} below {FAITHFUL:g}"
        )
    return write_summary(args, {"cells": table, "runs": rows}, args.out)


if __name__ == "__main__":
    run_script(main, Args, __doc__)
