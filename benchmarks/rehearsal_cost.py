"""Compute cost of SAC's hold rehearsal: the hold's wall-clock with and without it, in one run.

SAC's default recipe holds the actor for 1,000 env steps after its first gradient step and, since 2026-12-06,
rehearses the hold (``recipes.HOLD_REHEARSAL``): at each of the actor's gradient steps a copy of it takes SAC's actor
step on a batch of its own, and it acts in the hold's episodes. That is compute, not env steps. Two arms on a
scenario of ``sb3_finetune.experiment`` (the sweep's set-up: its target env, hyperparameters and seed):

- ``rehearsed``: today's default (variant ``default`` of ``benchmarks/recipe_ablation.py``);
- ``plain``: the same recipe without the rehearsal (variant ``pretrain-5k-handover-critic-ln``, SAC's default before).

Each run trains to the actor's release; the clock runs over the hold (from the first gradient step after the warm-up
to the release; the warm-up and the critic's pre-training are left out, the same in both). The arms alternate,
``--repeats`` times each, and the fastest hold of each arm is kept (the machines are noisy; the fastest run is the
one least disturbed). The ratio is against ``plain`` of the same run.

Run: ``python benchmarks/rehearsal_cost.py`` (``--quick`` for a smoke test). Output: ``--out`` (JSON).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch as th
from _args import run_script, write_summary
from recipe_ablation import variant_setup

from sb3_finetune.cli import UsageError
from sb3_finetune.experiment import SCENARIOS
from sb3_finetune.recipes import ActorUpdateHook

ARMS = {"rehearsed": "default", "plain": "pretrain-5k-handover-critic-ln"}
"""Arm -> variant of ``benchmarks/recipe_ablation.py``."""


@dataclass
class Args:
    """Command-line arguments."""

    scenario: str = "pendulum-heavy"
    """scenario of sb3_finetune.experiment.SCENARIOS (one where the trust gate keeps the prior, so SAC holds)"""
    seed: int = 0
    """seed of every run"""
    repeats: int = 3
    """runs per arm; the fastest hold is kept"""
    cache: str = "benchmarks/results/cache"
    """where the scenario's pretrained network is cached"""
    out: str = "benchmarks/results/rehearsal_cost.json"
    """where to write the figures"""
    quick: bool = False
    """the same task, a 100-step hold, a 30-step critic pre-training, one run per arm"""


def hold_seconds(args: Args, variant: str) -> tuple[float, int]:
    """One run of ``variant``: its warm-up (not timed), then its hold, timed to the actor's release.

    :return: the hold's seconds, and its env steps
    """
    overrides: dict[str, Any] = {"learning_starts": 200} if args.quick else {}
    changes: dict[str, Any] = {"critic_warmup": 100, "critic_pretrain_steps": 30} if args.quick else {}
    setup = variant_setup(args.scenario, "sac", variant, args.seed, args.cache, overrides, changes)
    budget = SCENARIOS[args.scenario].budget
    setup.warm_up(budget)
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    if not setup.trusted:
        raise UsageError(
            f"the trust gate stood the prior down on {args.scenario!r} (seed {args.seed}): no hold to time"
        )
    first = setup.model.num_timesteps
    started = time.perf_counter()
    setup.learn(hook.hold_steps)  # from where the warm-up stopped to the actor's release (SAC's schedules are flat)
    return time.perf_counter() - started, setup.model.num_timesteps - first


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.scenario, args.repeats = "same-task", 1
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    th.set_num_threads(1)
    seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
    steps: dict[str, int] = {}
    for _ in range(args.repeats):
        for arm, variant in ARMS.items():
            taken, steps[arm] = hold_seconds(args, variant)
            seconds[arm].append(taken)
    best = {arm: min(values) for arm, values in seconds.items()}
    ratio = best["rehearsed"] / best["plain"]
    for arm in ARMS:
        runs = ", ".join(f"{s:.1f}" for s in seconds[arm])
        print(f"{arm:<10} hold of {steps[arm]} env steps: fastest {best[arm]:.1f} s   runs {runs}")
    print(f"rehearsed / plain: {ratio:.2f}x")
    rows = [
        {"arm": arm, "variant": ARMS[arm], "hold_steps": steps[arm], "seconds": seconds[arm], "fastest": best[arm]}
        for arm in ARMS
    ]
    return write_summary(args, [*rows, {"rehearsed_vs_plain": ratio}], args.out)


if __name__ == "__main__":
    run_script(main, Args, __doc__)
