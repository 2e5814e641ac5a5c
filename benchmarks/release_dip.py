"""How far the agent falls right after the actor's release, between the benchmark's evaluations.

The sweeps evaluate every 20th of the budget (every 1,000 steps on Pendulum), and their collapse count only sees a
fall that lasts until an evaluation. This script builds the same runs (the scenario's budget, so the recipe's
schedules are the sweep's), trains the first ``--steps`` env steps of them and evaluates every ``--every`` env steps,
so that a short fall after the actor's release shows. For each run it
reports the lowest score over the score at step 0 (the prior's), the step of it, the env steps spent below 0.9 of
it, and the lowest of the evaluations the sweep's own schedule would have made.

Run: ``python benchmarks/release_dip.py --scenario pendulum-heavy --algos td3,sac --seeds 3`` (``--quick`` for a
smoke test). The recipe is ``default`` or a variant of ``benchmarks/recipe_ablation.py``.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch as th
from _args import run_script, write_summary
from _residual import make_residual
from recipe_ablation import VARIANTS, variant_recipe, variant_setup

from sb3_finetune.cli import UsageError
from sb3_finetune.evaluation import LearningCurveCallback, evaluate, model_policy
from sb3_finetune.experiment import SCENARIOS
from sb3_finetune.rehearsal import HoldRehearsal

FALL = 0.9
"""A score below this share of the score at step 0 counts as a fall, as the sweeps' collapse test counts it."""


@dataclass
class Args:
    """Command-line arguments."""

    scenario: str = "pendulum-heavy"
    """scenario of sb3_finetune.experiment.SCENARIOS"""
    algos: str = "td3,sac"
    """algorithms"""
    variant: str = "default"
    """recipe: a variant of benchmarks/recipe_ablation.py (``default``: today's default)"""
    seeds: int = 3
    """model seeds (0 to seeds - 1)"""
    seed_list: str = ""
    """comma-separated model seeds to run instead of ``--seeds`` (those that fell in a sweep, say)"""
    steps: int = 4_000
    """env steps trained of each run (the scenario's budget sets the recipe; the release is at learning_starts plus
    the critic warm-up, 2,200 on Pendulum, where the probe takes 1,200 steps)"""
    every: int = 100
    """env steps between evaluations"""
    eval_episodes: int = 10
    """episodes per evaluation"""
    workers: int = 2
    """parallel runs"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results/release_dip.json"
    """summary file"""
    learning_starts: int = 0
    """the algorithm's learning_starts (``0``: the scenario's, as in the sweep); a larger one leaves the warm-up
    hand-over room after a probe that fills the scenario's"""
    n_critics: int = 0
    """critics of the policy (SB3's ``policy_kwargs["n_critics"]``; ``0``: the algorithm's, 2)"""
    ent_coef: str = ""
    """SAC's entropy coefficient (a number, ``auto`` or ``auto_INIT``; empty: the scenario's)"""
    rehearsal_score: bool = False
    """also score the hold rehearsal's actor at the release, deterministic on the curve's own evaluation episodes, in
    place of the held actor for that one evaluation (a recipe that rehearses its hold only)"""
    residual_scale: float = 0.0
    """a bounded residual on the frozen prior, of this size (``0``: none; see ``benchmarks/_residual.py``)"""
    quick: bool = False
    """the same task, TD3, one seed, 600 steps, 2 episodes per evaluation"""


def fine_run(
    scenario_name: str,
    algo: str,
    variant: str,
    seed: int,
    steps: int,
    every: int,
    episodes: int,
    cache: str,
    learning_starts: int = 0,
    n_critics: int = 0,
    ent_coef: str = "",
    rehearsal_score: bool = False,
    residual_scale: float = 0.0,
) -> dict[str, Any]:
    """The first ``steps`` env steps of a sweep's run, evaluated every ``every`` steps.

    ``learning_starts`` replaces the algorithm's (``0``: the scenario's, as in the sweep), ``n_critics`` its
    number of critics (``0``: its own), and ``ent_coef`` SAC's entropy coefficient (empty: the scenario's). With
    ``rehearsal_score`` the hold rehearsal's actor is evaluated too at the release, on the same episodes. With
    ``residual_scale`` the actor is a bounded residual on the frozen prior (:func:`_residual.make_residual`).

    :return: ``{"seed": ..., "curve": [{"step": ..., "score": ...}, ...]}``, and with ``rehearsal_score``
        ``"rehearsal": {"step": ..., "score": ...}`` (``None`` where nothing was rehearsed)
    """
    th.set_num_threads(1)
    scenario = SCENARIOS[scenario_name]
    overrides: dict[str, Any] = {"learning_starts": learning_starts} if learning_starts else {}
    if n_critics:
        overrides["policy_kwargs"] = {"n_critics": n_critics}
    if ent_coef:
        overrides["ent_coef"] = ent_coef if ent_coef.startswith("auto") else float(ent_coef)
    setup = variant_setup(scenario_name, algo, variant, seed, cache, overrides)
    if residual_scale:
        make_residual(setup, residual_scale)
    curve = LearningCurveCallback(scenario.env_id, scenario.target, every, episodes)
    scored: dict[str, Any] = {}
    if rehearsal_score:
        rehearsals = [c for c in setup.callbacks if isinstance(c, HoldRehearsal)]
        assert rehearsals, f"{variant} does not rehearse the hold with {algo} (main() checks)"
        policy = setup.model.policy

        def score_rehearsal(actor: th.nn.Module) -> None:
            held, policy.actor = policy.actor, actor
            try:
                figures = evaluate(model_policy(setup.model), scenario.env_id, scenario.target, episodes, curve.seed)
            finally:
                policy.actor = held
            scored.update(step=setup.model.num_timesteps, score=scenario.score(figures.as_dict()))

        rehearsals[0].on_end = score_rehearsal
    setup.learn(steps, callback=curve)
    record = {"seed": seed, "curve": [{"step": p["step"], "score": scenario.score(p)} for p in curve.curve]}
    if rehearsal_score:
        record["rehearsal"] = scored or None
    return record


def dip(record: dict[str, Any], sweep_every: int, threshold: float | None = None) -> dict[str, Any]:
    """The fall in one run's fine curve, and what the sweep's coarser schedule would have seen of it.

    :param record: ``{"seed": ..., "curve": [{"step": ..., "score": ...}, ...]}`` (:func:`fine_run`)
    :param sweep_every: env steps between the sweep's own evaluations
    :param threshold: the scenario's threshold as a score; with it, ``at_threshold`` is the first evaluation's step at
        or above it (``None`` where none is)
    :return: the run's figures
    """
    curve = record["curve"]
    start = curve[0]["score"]
    ratios = [(point["step"], point["score"] / start if start else 1.0) for point in curve]
    low_step, low = min(ratios, key=lambda pair: pair[1])
    every = curve[1]["step"] - curve[0]["step"] if len(curve) > 1 else 0
    coarse = [ratio for step, ratio in ratios if step % sweep_every == 0]
    return {
        "seed": record["seed"],
        "start_score": start,
        "lowest": low,
        "lowest_step": low_step,
        "steps_below": every * sum(ratio < FALL for _, ratio in ratios),
        "lowest_at_sweep_evaluations": min(coarse),
        **(
            {}
            if threshold is None
            else {"at_threshold": next((p["step"] for p in curve if p["score"] >= threshold), None)}
        ),
        "curve": [(step, round(ratio, 4)) for step, ratio in ratios],
        **({"rehearsal": _rehearsal(record["rehearsal"], start)} if "rehearsal" in record else {}),
    }


def _rehearsal(scored: dict[str, Any] | None, start: float) -> dict[str, Any] | None:
    """The rehearsal actor's score at the release over the score at step 0, as the curve's points are given."""
    if scored is None:
        return None
    return {"step": scored["step"], "score": scored["score"] / start if start else 1.0}


def main(args: Args) -> dict:
    if args.quick:
        args.scenario, args.algos, args.seeds, args.steps, args.eval_episodes = "same-task", "td3", 1, 600, 2
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    if args.variant not in VARIANTS:
        raise UsageError(f"unknown variant {args.variant!r}; choose from {sorted(VARIANTS)}")
    if args.every < 1 or args.steps < args.every:
        raise UsageError(f"--every must be between 1 and --steps, got {args.every}")
    if args.learning_starts < 0:
        raise UsageError(f"--learning-starts must be >= 0, got {args.learning_starts}")
    if args.residual_scale < 0:
        raise UsageError(f"--residual-scale must be >= 0, got {args.residual_scale}")
    if args.n_critics < 0:
        raise UsageError(f"--n-critics must be >= 0, got {args.n_critics}")
    if args.ent_coef and args.algos != "sac":
        raise UsageError("--ent-coef is SAC's entropy coefficient: give --algos sac")
    if args.ent_coef and not args.ent_coef.startswith("auto"):
        try:
            float(args.ent_coef)
        except ValueError:
            raise UsageError(f"--ent-coef expects a number, auto or auto_INIT, got {args.ent_coef!r}") from None
    try:
        seeds = [int(seed) for seed in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    except ValueError:
        raise UsageError(f"--seed-list must be comma-separated integers, got {args.seed_list!r}") from None
    for algo in args.algos.split(",") if args.rehearsal_score else ():
        recipe = variant_recipe(args.variant).for_algorithm(algo)[0]
        if not recipe.hold_rehearsal:
            raise UsageError(f"--rehearsal-score: {args.variant} does not rehearse the hold with {algo}")
    scenario = SCENARIOS[args.scenario]
    sweep_every = max(scenario.budget // 20, 1)
    threshold = scenario.score({scenario.measure: scenario.threshold})  # the threshold as a score
    runs = [(algo, seed) for algo in args.algos.split(",") for seed in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [
            pool.submit(
                fine_run,
                args.scenario,
                algo,
                args.variant,
                seed,
                args.steps,
                args.every,
                args.eval_episodes,
                args.cache,
                args.learning_starts,
                args.n_critics,
                args.ent_coef,
                args.rehearsal_score,
                args.residual_scale,
            )
            for algo, seed in runs
        ]
        records = [future.result() for future in futures]
    rows = []
    for (algo, _), record in zip(runs, records, strict=True):
        row = {"algo": algo, **dip(record, sweep_every, threshold)}
        rows.append(row)
        print(
            f"{algo:<5} seed {row['seed']}  lowest {row['lowest']:.2f} of the start at step {row['lowest_step']}, "
            f"{row['steps_below']} steps below {FALL:g}; at the sweep's evaluations (every {sweep_every}): "
            f"{row['lowest_at_sweep_evaluations']:.2f}; first at the threshold: {row['at_threshold']}"
            + (f"; the rehearsal actor at the release: {row['rehearsal']['score']:.2f}" if row.get("rehearsal") else "")
        )
    return write_summary(args, rows, args.out)


if __name__ == "__main__":
    run_script(main, Args, __doc__)
