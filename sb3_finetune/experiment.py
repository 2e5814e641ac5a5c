"""One transfer experiment: pretrain on a source task, then train one arm on a target task and measure it.

Used by the ``demo`` command and by the benchmark scripts. A run is described by a :class:`RunSpec` (plain
data, so it can be sent to a process pool or a Ray worker) and returns a JSON-friendly dict: its learning curve
and the transfer metrics of Taylor & Stone (2009): jumpstart, steps to threshold, area under the curve, final
performance, plus the collapse measure of the recipes issue and wall-clock time to threshold.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import HerReplayBuffer

import nav_env  # noqa: F401  (registers the ids)
from sb3_finetune.evaluation import LearningCurveCallback, evaluate, prior_policy
from sb3_finetune.nav import expert_policy, nav_prior, pretrain_expert
from sb3_finetune.recipes import get_recipe, make_finetune

THRESHOLD = 0.9
"""Success rate that counts as solved."""
EARLY_FRACTION = 0.2
"""The first part of training in which a collapse is looked for."""


@dataclass(frozen=True)
class Scenario:
    """A source task to pretrain on and a target task to fine-tune on.

    :param name: short name
    :param description: one line for tables
    :param env_id: the ``nav_env`` id of both tasks
    :param source: env kwargs of the source task
    :param target: env kwargs of the target task
    :param budget: env steps of fine-tuning (and of training from scratch)
    :param her: use SB3's ``HerReplayBuffer`` (goal env)
    """

    name: str
    description: str
    env_id: str
    source: dict[str, Any]
    target: dict[str, Any]
    budget: int
    her: bool = False


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("same-task", "pretrain and fine-tune on the note's task", "SimpleNavigation-v0", {}, {}, 6_000),
        Scenario(
            "goal-moved",
            "goal (0.5, 0.5) -> (-0.5, -0.5)",
            "SimpleNavigation-v0",
            {},
            {"goal_position": (-0.5, -0.5)},
            6_000,
        ),
        Scenario(
            "obstacle",
            "an obstacle between the start region and the goal",
            "SimpleNavigation-v0",
            {"goal_position": (0.7, 0.7)},
            {"goal_position": (0.7, 0.7), "obstacles": [(0.3, 0.3, 0.3)]},
            10_000,
        ),
        Scenario(
            "drift",
            "a constant drift (0.04, -0.03) per step",
            "SimpleNavigation-v0",
            {},
            {"drift": (0.04, -0.03)},
            6_000,
        ),
        Scenario(
            "wind",
            "a constant wind (0.03, 0) per step, unseen in pretraining",
            "SimpleNavigation-v0",
            {},
            {"drift": (0.03, 0.0)},
            6_000,
        ),
        Scenario(
            "sparse-goal",
            "goal-conditioned, dense -> sparse reward (HER)",
            "SimpleNavigationGoal-v0",
            {},
            {"reward_type": "sparse"},
            10_000,
            her=True,
        ),
    )
}

ARMS = ("scratch", "default", "frozen", "naive")
"""Training from scratch, and the three recipes of :data:`sb3_finetune.recipes.RECIPES`."""


@dataclass(frozen=True)
class RunSpec:
    """One run: a scenario, an algorithm, an arm and a seed.

    :param scenario: key of :data:`SCENARIOS`
    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param arm: ``"scratch"`` or a recipe name
    :param seed: seed of the model (the pretrained network and the evaluation episodes are fixed)
    :param budget: env steps (``None``: the scenario's)
    :param eval_freq: env steps between evaluations (``None``: a 20th of the budget)
    :param eval_episodes: episodes per evaluation
    :param recipe_overrides: recipe fields to change, as ``(name, value)`` pairs
    :param hyperparams: algorithm arguments over the defaults, as ``(name, value)`` pairs
    """

    scenario: str
    algo: str
    arm: str
    seed: int
    budget: int | None = None
    eval_freq: int | None = None
    eval_episodes: int = 50
    recipe_overrides: tuple[tuple[str, Any], ...] = ()
    hyperparams: tuple[tuple[str, Any], ...] = ()

    @property
    def recipe_fingerprint(self) -> str:
        """A short hash of the effective recipe (the arm's, with the overrides); ``""`` for scratch.

        Two specs with the same fingerprint fine-tune the same way, whatever overrides spelled it.
        """
        if self.arm == "scratch":
            return ""
        recipe = get_recipe(self.arm, **dict(self.recipe_overrides)).as_dict()
        return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]

    @property
    def key(self) -> str:
        """A unique name of the run (used to merge and resume sweeps).

        It carries :attr:`recipe_fingerprint`, so that records made before a recipe's defaults changed are not
        mistaken for runs of the new one.
        """
        extra = "".join(f",{k}={v}" for k, v in self.recipe_overrides + self.hyperparams)
        fingerprint = f"/{self.recipe_fingerprint}" if self.recipe_fingerprint else ""
        return f"{self.scenario}/{self.algo}/{self.arm}{extra}{fingerprint}/budget={self.budget}/seed={self.seed}"


def pretrained_weights(scenario: Scenario, cache_dir: str | os.PathLike) -> Path:
    """The scenario's pretrained network (behaviour cloning of the expert on the source task), cached on disk.

    :param scenario: the scenario
    :param cache_dir: folder of the cache
    :return: path of the weights file
    """
    path = Path(cache_dir) / f"{scenario.name}-source.pt"
    if not path.exists():
        pretrain_expert(path, scenario.env_id, scenario.source, seed=0)
    return path


def curve_metrics(curve: list[dict[str, float]], budget: int) -> dict[str, Any]:
    """Transfer metrics of a learning curve (evaluations at increasing steps, the first at step 0).

    :param curve: points with ``step``, ``success_rate``, ``wall_s`` and ``expert_return_ratio``
    :param budget: the run's budget (steps to threshold are capped at it)
    :return: the metrics
    """
    steps = np.array([p["step"] for p in curve], dtype=float)
    success = np.array([p["success_rate"] for p in curve], dtype=float)
    solved = np.flatnonzero(success >= THRESHOLD)
    early = success[steps <= EARLY_FRACTION * budget]
    area = float(np.trapezoid(success, steps) / (steps[-1] - steps[0])) if len(steps) > 1 else float(success[0])
    return {
        "jumpstart": float(success[0]),
        "steps_to_threshold": float(steps[solved[0]]) if len(solved) else float(budget),
        "reached_threshold": bool(len(solved)),
        "wall_s_to_threshold": float(curve[solved[0]]["wall_s"]) if len(solved) else None,
        "area_under_curve": area,
        "final_success": float(success[-1]),
        "min_success_early": float(early.min()),
        "final_expert_return_ratio": float(curve[-1]["expert_return_ratio"]),
    }


def run(spec: RunSpec, cache_dir: str | os.PathLike, threads: int = 1) -> dict[str, Any]:
    """Carry out one run and return its record (spec, curve, metrics, timing).

    :param spec: the run
    :param cache_dir: where pretrained networks are cached
    :param threads: torch threads for this run
    :return: a JSON-friendly record
    """
    th.set_num_threads(threads)
    scenario = SCENARIOS[spec.scenario]
    budget = spec.budget or scenario.budget
    eval_freq = spec.eval_freq or max(budget // 20, 1)
    weights = pretrained_weights(scenario, cache_dir)
    env = gym.make(scenario.env_id, **scenario.target)
    hyperparams = dict(spec.hyperparams)
    if scenario.her:
        hyperparams.setdefault("replay_buffer_class", HerReplayBuffer)
        hyperparams.setdefault("learning_starts", 1_000)
    recipe = get_recipe("default" if spec.arm == "scratch" else spec.arm, **dict(spec.recipe_overrides))
    pretrained = None if spec.arm == "scratch" else str(weights)
    started = time.perf_counter()
    setup = make_finetune(spec.algo, env, pretrained, budget, recipe, hyperparams, seed=spec.seed)
    setup_s = time.perf_counter() - started
    expert = expert_policy(scenario.env_id, scenario.target)
    curve = LearningCurveCallback(scenario.env_id, scenario.target, eval_freq, spec.eval_episodes, expert=expert)
    setup.learn(budget, callback=curve)
    if curve.curve[-1]["step"] != setup.model.num_timesteps:
        curve._evaluate()
    total_s = time.perf_counter() - started
    pretrained_eval = evaluate(
        prior_policy(nav_prior(weights, scenario.env_id, scenario.target)),
        scenario.env_id,
        scenario.target,
        spec.eval_episodes,
        curve.seed,
    )
    return {
        "key": spec.key,
        "spec": asdict(spec),
        "budget": budget,
        "recipe": None if spec.arm == "scratch" else recipe.as_dict(),
        "curve": curve.curve,
        "metrics": curve_metrics(curve.curve, budget),
        "pretrained_success_on_target": pretrained_eval.success_rate,
        "setup_s": setup_s,
        "total_s": total_s,
        "cpu_s": total_s * threads,
    }


@dataclass
class SweepPlan:
    """The runs of a sweep."""

    specs: list[RunSpec] = field(default_factory=list)

    def add(self, scenarios: list[str], algos: list[str], arms: list[str], seeds: list[int], **kwargs: Any) -> None:
        """Add the full grid of ``scenarios x algos x arms x seeds``."""
        for scenario in scenarios:
            for algo in algos:
                for arm in arms:
                    for seed in seeds:
                        self.specs.append(RunSpec(scenario, algo, arm, seed, **kwargs))
