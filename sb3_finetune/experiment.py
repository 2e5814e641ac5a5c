"""One transfer experiment: pretrain on a source task, then train one arm on a target task and measure it.

Used by the ``demo`` command and by the benchmark scripts. A run is described by a :class:`RunSpec` (plain
data, so it can be sent to a process pool or a Ray worker) and returns a JSON-friendly dict: its learning curve
and the transfer metrics of Taylor & Stone (2009): jumpstart, steps to threshold, area under the curve, final
performance, plus the collapse measure of the recipes issue and wall-clock time to threshold.

The scenarios run on ``nav_env`` (the expert's behaviour clone is the prior) and on standard envs nobody here
wrote (:mod:`sb3_finetune.external`: a controller's behaviour clone is the prior). Each says what "solved" means:
a success rate (nav, PointMaze) or a mean return (Pendulum, MountainCar) reaching its threshold. Every curve point
also gets a **score** in the same sense for all of them: the success rate where success is the measure, else the
return mapped linearly from the scenario's random-policy return (0) to its best known return (1); jumpstart, area
under the curve and collapse are read on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import HerReplayBuffer

import nav_env  # noqa: F401  (registers the ids)
from sb3_finetune import external
from sb3_finetune.evaluation import LearningCurveCallback, evaluate, prior_policy
from sb3_finetune.nav import expert_policy, pretrain_expert
from sb3_finetune.prior import load_prior
from sb3_finetune.recipes import gaussian_action_noise, get_recipe, make_finetune

THRESHOLD = 0.9
"""Success rate that counts as solved."""
EARLY_FRACTION = 0.2
"""The first part of training in which a collapse is looked for."""


@dataclass(frozen=True)
class Scenario:
    """A source task to pretrain on and a target task to fine-tune on.

    :param name: short name
    :param description: one line for tables
    :param env_id: the env id of both tasks
    :param source: env kwargs of the source task
    :param target: env kwargs of the target task
    :param budget: env steps of fine-tuning (and of training from scratch)
    :param her: use SB3's ``HerReplayBuffer`` (goal env)
    :param controller: ``None``: the prior clones ``nav_env``'s expert; else the name of the controller of
        :data:`sb3_finetune.external.CONTROLLERS` whose rollouts on the source task the prior clones
    :param controller_kwargs: that controller's arguments
    :param measure: ``"success_rate"`` or ``"mean_return"``: what the threshold is on
    :param threshold: the value of ``measure`` that counts as solved
    :param return_range: the random policy's and the best known mean return on the target, mapped to scores 0
        and 1 (with ``measure="mean_return"``)
    :param hyperparams: algorithm arguments of this scenario for every arm, as ``(name, value)`` pairs
        (``noise_std`` sizes TD3's and DDPG's Gaussian exploration noise)
    :param prior: how right the prior is meant to be on the target: ``"right"``, ``"partly right"`` or
        ``"wrong"`` (what ``benchmarks/transfer.py`` judges it by)
    """

    name: str
    description: str
    env_id: str
    source: dict[str, Any]
    target: dict[str, Any]
    budget: int
    her: bool = False
    controller: str | None = None
    controller_kwargs: dict[str, Any] = field(default_factory=dict)
    measure: str = "success_rate"
    threshold: float = THRESHOLD
    return_range: tuple[float, float] | None = None
    hyperparams: tuple[tuple[str, Any], ...] = ()
    prior: str = "partly right"

    def __post_init__(self) -> None:
        if self.prior not in ("right", "partly right", "wrong"):
            raise ValueError(f"scenario {self.name!r}: prior must be 'right', 'partly right' or 'wrong'")
        if self.measure not in ("success_rate", "mean_return"):
            raise ValueError(f"scenario {self.name!r}: measure must be 'success_rate' or 'mean_return'")
        if self.measure == "mean_return" and self.return_range is None:
            raise ValueError(f"scenario {self.name!r}: a threshold on return needs return_range (random, best)")

    @property
    def external(self) -> bool:
        """Whether the scenario runs on an env nobody here wrote (its prior clones a controller)."""
        return self.controller is not None

    def threshold_label(self) -> str:
        """What counts as solved, for tables: ``90% success`` or ``return >= -200``."""
        if self.measure == "success_rate":
            return f"{self.threshold:.0%} success"
        return f"return >= {self.threshold:g}"

    def score(self, point: dict[str, Any]) -> float:
        """A curve point's score (see the module docstring).

        :param point: an evaluation; its ``measure`` (``success_rate`` or ``mean_return``) is read
        :return: the success rate, or the return mapped from ``return_range`` onto ``[0, 1]`` (not clipped)
        """
        if self.measure == "success_rate":
            return float(point["success_rate"])
        low, high = self.return_range  # type: ignore[misc]  (checked at construction)
        return float((point["mean_return"] - low) / (high - low))


def _pendulum_clone(
    name: str, description: str, target: dict[str, Any], random_return: float, prior: str = "partly right"
) -> Scenario:
    """A Pendulum scenario whose prior is the swing-up controller for ``Pendulum-v1``'s own physics, cloned.

    Every Pendulum scenario shares the source, the budget (20,000 env steps) and the threshold, -200: not the -170
    first planned, since TD3 from scratch levelled off at -190 to -191 in all three of its seeds on ``pendulum-heavy``
    (20,000 steps) and never reached -170; it reaches -200 at about 9,000 steps. Scores run from ``random_return``
    (a uniform-random policy's on the target: ``benchmarks/external_priors.py`` on these evaluation episodes) to -143,
    the plateau reported for SAC from scratch when the scenarios were proposed (a scale, not measured here).
    """
    return Scenario(
        name,
        description,
        external.PENDULUM_ID,
        {},
        target,
        20_000,
        controller="pendulum_swing_up",
        measure="mean_return",
        threshold=-200.0,
        return_range=(random_return, -143.0),
        prior=prior,
    )


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "same-task",
            "pretrain and fine-tune on the note's task",
            "SimpleNavigation-v0",
            {},
            {},
            6_000,
            prior="right",
        ),
        Scenario(
            "goal-moved",
            "goal (0.5, 0.5) -> (-0.5, -0.5)",
            "SimpleNavigation-v0",
            {},
            {"goal_position": (-0.5, -0.5)},
            6_000,
            prior="wrong",
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
            prior="right",  # at 100% there (the demo's target until 2026-12-06, when it moved to the obstacle)
        ),
        Scenario(
            "sparse-goal",
            "goal-conditioned, dense -> sparse reward (HER)",
            "SimpleNavigationGoal-v0",
            {},
            {"reward_type": "sparse"},
            10_000,
            her=True,
            prior="right",
        ),
        # Standard envs (sb3_finetune.external). The figures of each prior on its target, and how the thresholds
        # and return ranges were measured, are in the README's benchmark section.
        _pendulum_clone(
            "pendulum-heavy",
            "Pendulum-v1 -> pole mass 1.3, gravity 12 (swing-up controller for m=1, g=10, cloned)",
            {"g": 12.0, "mass": 1.3},
            -1296.0,
        ),
        Scenario(
            "mountaincar-weak",
            "MountainCarContinuous-v0 -> engine power 0.0015 -> 0.0012 (0.2 sign(velocity) pump, cloned)",
            external.MOUNTAIN_CAR_ID,
            {},
            {"power": 0.0012},
            50_000,
            controller="mountain_car_pump",
            controller_kwargs={"scale": 0.2},
            measure="mean_return",
            threshold=90.0,
            # Random, and the controller on the source engine: benchmarks/external_priors.py.
            return_range=(-33.2, 98.6),
            # The RL Zoo's exploration for this env (its TD3 entry: noise_std 0.5), for every arm alike.
            hyperparams=(("noise_std", 0.5),),
        ),
        Scenario(
            "pointmaze-umaze",
            "PointMaze open arena -> U-maze, dense, continuing (straight-to-goal controller, cloned)",
            external.POINT_MAZE_ID,
            {"maze_map": external.OPEN_ARENA, "continuing_task": True, "reset_target": False},
            {"continuing_task": True, "reset_target": False},
            40_000,
            controller="point_maze_straight",
        ),
        # A prior that is right on a standard env: the same clone as pendulum-reversed's, on its own source physics
        # (-152 there). What the nav scenarios' right priors check (at the threshold from step 0, no collapse), on an
        # env nobody here wrote. Not in benchmarks/transfer.py's "external" group (its partly right scenarios): run by
        # name.
        _pendulum_clone(
            "pendulum-same",
            "Pendulum-v1 -> Pendulum-v1 (swing-up controller for Pendulum-v1, cloned): a right prior",
            {},
            -1219.0,
            prior="right",
        ),
        # A prior that is right on Dict observations with the env's own success signal: pointmaze-umaze's clone of the
        # straight-to-goal controller, on the open arena it was cloned on. Half pointmaze-umaze's budget: the right
        # prior's goals (at the threshold from step 0, no collapse) need no learning to be seen. Run by name.
        Scenario(
            "pointmaze-open",
            "PointMaze open arena -> the same arena (straight-to-goal controller, cloned): a right prior",
            external.POINT_MAZE_ID,
            {"maze_map": external.OPEN_ARENA, "continuing_task": True, "reset_target": False},
            {"maze_map": external.OPEN_ARENA, "continuing_task": True, "reset_target": False},
            20_000,
            controller="point_maze_straight",
            prior="right",
        ),
        # A prior that is wrong on a standard env: the swing-up controller on Pendulum-v1's own physics, cloned, on a
        # target whose motor turns the other way: the prior pumps energy out (-1,824 against random's -1,211, and
        # -152 on the source; benchmarks/external_priors.py, results/external_priors_pendulum_reversed.json). Not in
        # benchmarks/transfer.py's "external" group (its partly right scenarios): run by name.
        _pendulum_clone(
            "pendulum-reversed",
            "Pendulum-v1 -> its motor reversed (swing-up controller for Pendulum-v1, cloned): a wrong prior",
            {"reversed_motor": True},
            -1211.0,
            prior="wrong",
        ),
    )
}

LATER_RECIPE_FIELDS: dict[str, Any] = {
    "arbitrate": False,
    "warmup_handover": False,
    "layer_norm": False,
    "stand_down_layer_norm": False,
    "critic_pretrain_steps": 0,
    "bc_q_filter_conservative": False,
    "collapse_guard": None,
    "guard_episodes": 10,
    "guard_hold": 1_000,
    "guard_restores": 2,
    "guard_restore": "released",
    "frontier_explore": None,
    "explore_episodes": 20,
    "explore_until": 0.5,
    "explore_hold": 1,
    "explore_noise": "uniform",
    "escape_saturation": False,
    "escape_above": 0.0,
    "gate_confidence": None,
    "gate_margin": 0.0,
    "gate_criterion": "auto",
    "bc_progress": None,
    "bc_progress_with_fade": False,
    "distill_sac_std": 0.3,
    "actor_ramp": 0,
    "critic_layer_norm": False,
    "stand_down_critic_pretrain": False,
    "stand_down_warmup": False,
    "stand_down_skip_warmup": False,
    "hold_rehearsal": 0.0,
    "rehearsal_restart": 0,
    "rehearsal_release": None,
    "rehearsal_release_extend": 2_000,
    "rehearsal_pull": False,
    "rehearsal_release_window": None,
    "rehearsal_release_margin": 0.0,
    "distill_random_probe": False,
    "stand_down_distill_random_probe": True,
    "entropy_start": None,
    "critic_pretrain_entropy": True,
    "entropy_floor": None,
    "entropy_decay": None,
    "entropy_decay_from": 0.5,
    "entropy_decay_until": 0.75,
}
"""Recipe fields added after records were made, left out of the fingerprint while at these values."""

STAND_DOWN_ONLY: tuple[str, ...] = (
    "stand_down_warmup",
    "stand_down_skip_warmup",
    "stand_down_critic_pretrain",
    "stand_down_distill_random_probe",
)
"""Recipe fields that act only where the trust gate stands the prior down (:func:`sb3_finetune.recipes.run_warm_up`
reads them after the gate's decision, nothing before it): a run whose gate trusted the prior is the same run, step
for step, whatever their values (``tests/sb3_finetune/test_recipes.py`` checks it bit for bit for each, on nav, and
``tests/sb3_finetune/test_any_env.py`` ``stand_down_distill_random_probe`` on Pendulum, where a random probe runs), so
:func:`sb3_finetune.sweep.match_records` takes it for a spec that differs from it only there."""

ARMS = ("scratch", "default", "frozen", "naive")
"""Training from scratch, and three recipes of :data:`sb3_finetune.recipes.RECIPES` (the published sweep's arms)."""


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
    :param hyperparams: algorithm arguments over the defaults, as ``(name, value)`` pairs (``policy_kwargs`` as
        pairs too, so that the spec stays hashable)
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
    def steps(self) -> int:
        """The run's env steps: its ``budget``, or the scenario's."""
        return self.budget or SCENARIOS[self.scenario].budget

    @property
    def eval_interval(self) -> int:
        """Env steps between the run's evaluations: its ``eval_freq``, or a 20th of :attr:`steps`."""
        return self.eval_freq or max(self.steps // 20, 1)

    @property
    def recipe_fingerprint(self) -> str:
        """A short hash of the effective recipe (the arm's, with the overrides); ``""`` for scratch.

        Two specs with the same fingerprint fine-tune the same way, whatever overrides spelled it: a field that does
        nothing for the spec's algorithm or scenario is left out (:meth:`no_op_fields`).
        """
        if self.arm == "scratch":
            return ""
        return self.fingerprint_of(self.recipe_fields())

    def recipe_fields(self) -> dict[str, Any]:
        """The effective recipe's fields (the arm's, with the overrides, filled in for the algorithm)."""
        return get_recipe(self.arm, **dict(self.recipe_overrides)).for_algorithm(self.algo)[0].as_dict()

    def fingerprint_of(self, recipe: dict[str, Any], leave_out: Iterable[str] = ()) -> str:
        """The fingerprint of a recipe's fields in this spec's scenario and algorithm (see :attr:`recipe_fingerprint`).

        :param recipe: the fields (:meth:`Recipe.as_dict <sb3_finetune.recipes.Recipe.as_dict>`, or a stored
            record's ``recipe``, which may lack fields added since)
        :param leave_out: fields left out as well
        :return: the short hash
        """
        recipe = dict(recipe)
        for name, default in LATER_RECIPE_FIELDS.items():  # records made before they existed still match
            if recipe.get(name, default) == default:
                recipe.pop(name, None)
        for name in (*self.no_op_fields(recipe), *leave_out):
            recipe.pop(name, None)
        return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]

    def no_op_fields(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        """The recipe fields that change nothing in this run, so that runs differing only there still match.

        - SAC's actor has no ``tanh`` layer: the saturation escape (``escape_saturation``, ``escape_above``) is not
          added; only SAC's actor has a spread for ``distill_sac_std`` to set.
        - Where the scenario's env reports no success (its threshold is on return), or the recipe's
          ``gate_criterion`` is ``"return"``, and the recipe gives no ``gate_return``, the trust gate compares with a
          random probe, whose length ``gate_confidence`` and ``gate_margin`` do not set; without a ``trust_gate``
          there is no probe to set; ``gate_margin`` is the zone of ``gate_confidence``'s test, and without it there
          is none.
        - Without a ``trust_gate`` nothing stands the prior down: the fields of :data:`STAND_DOWN_ONLY` do nothing.
        - ``distill_random_probe`` adds the random probe's states to the distillation: nothing where there is no
          random probe (the env's success judges, a ``gate_return``, no ``trust_gate``) or no distillation;
          ``stand_down_distill_random_probe`` says whether it does on a stand-down: nothing without it.
        - ``entropy_start`` acts only on SAC with ``ent_coef="auto"`` in the run's arguments (it moves SB3's start;
          an ``"auto_<value>"`` is kept); ``critic_pretrain_entropy`` and ``entropy_floor`` on SAC whose coefficient
          SB3 tunes (``"auto"`` or ``"auto_<value>"``); ``entropy_decay`` and its window only on SAC with a fixed
          coefficient (the window's fields nothing without ``entropy_decay``).

        :param recipe: the recipe's fields (:meth:`Recipe.as_dict <sb3_finetune.recipes.Recipe.as_dict>`)
        :return: the names of the fields
        """
        fields: list[str] = []
        if self.algo == "sac":
            fields += ["escape_saturation", "escape_above"]
        else:
            fields += ["distill_sac_std"]
        on_return = SCENARIOS[self.scenario].measure == "mean_return" or recipe.get("gate_criterion") == "return"
        random_probe = on_return and recipe.get("gate_return") is None
        if not random_probe or recipe.get("trust_gate") is None or not recipe.get("actor_init", True):
            fields += ["distill_random_probe", "stand_down_distill_random_probe"]
        elif not recipe.get("distill_random_probe", False):
            fields += ["stand_down_distill_random_probe"]
        if random_probe or recipe.get("trust_gate") is None:
            fields += ["gate_confidence", "gate_margin"]
        elif recipe.get("gate_confidence") is None:
            fields += ["gate_margin"]
        if recipe.get("trust_gate") is None:
            fields += list(STAND_DOWN_ONLY)
        ent_coef = dict(self.hyperparams).get("ent_coef") if self.algo == "sac" else None  # the runs' default: 0.01
        tuned = str(ent_coef).startswith("auto")  # "auto" or "auto_<value>": SB3 learns it
        if ent_coef != "auto":  # moves SB3's own start only; a start given is kept
            fields += ["entropy_start"]
        if not tuned:
            fields += ["critic_pretrain_entropy", "entropy_floor"]
        if self.algo != "sac" or tuned:
            fields += ["entropy_decay", "entropy_decay_from", "entropy_decay_until"]
        elif recipe.get("entropy_decay") is None:
            fields += ["entropy_decay_from", "entropy_decay_until"]
        return tuple(fields)

    @property
    def key(self) -> str:
        """A unique name of the run (used to merge and resume sweeps).

        It carries :attr:`recipe_fingerprint`, so that records made before a recipe's defaults changed are not
        mistaken for runs of the new one.
        """
        extra = "".join(f",{k}={v}" for k, v in self.recipe_overrides + self.hyperparams)
        fingerprint = f"/{self.recipe_fingerprint}" if self.recipe_fingerprint else ""
        return f"{self.scenario}/{self.algo}/{self.arm}{extra}{fingerprint}/budget={self.budget}/seed={self.seed}"

    @property
    def identity(self) -> str:
        """What the run does, whatever spelled it.

        It is :attr:`key` with the arm and its overrides replaced by the recipe's fingerprint: ``arm="frontier"``
        and ``arm="default"`` with the frontier recipe's fields as overrides are one run, which
        :func:`sb3_finetune.sweep.run_sweep` runs once. See :func:`record_identity` for a stored record's.
        """
        return run_identity(self.scenario, self.algo, self.recipe_fingerprint, self.hyperparams, self.budget, self.seed)

    @property
    def trusted_identity(self) -> str | None:
        """What the run does where the trust gate trusts the prior: :attr:`identity` without :data:`STAND_DOWN_ONLY`.

        ``None`` for scratch. A stored run whose gate trusted the prior and whose :func:`record_trusted_identity` is
        this one is this run: the fields left out acted nowhere in it.
        """
        if self.arm == "scratch":
            return None
        fingerprint = self.fingerprint_of(self.recipe_fields(), STAND_DOWN_ONLY)
        return run_identity(self.scenario, self.algo, fingerprint, self.hyperparams, self.budget, self.seed)


def run_identity(scenario: str, algo: str, fingerprint: str, hyperparams: Any, budget: int | None, seed: int) -> str:
    """See :attr:`RunSpec.identity`.

    ``fingerprint`` is ``""`` for scratch; ``hyperparams`` are pairs, as tuples or as the lists a JSON record holds
    (both read the same).
    """
    extra = json.dumps([list(pair) for pair in hyperparams], default=str) if hyperparams else ""
    return f"{scenario}/{algo}/{fingerprint or 'scratch'}{extra}/budget={budget}/seed={seed}"


def record_identity(record: dict[str, Any]) -> str:
    """The :attr:`RunSpec.identity` of a stored record.

    Its fingerprint is the one its key was given when it ran, not today's: records made before a recipe's defaults
    changed keep what they ran.

    :param record: a record of :func:`run`
    """
    return _identity_with(record, "" if record["spec"]["arm"] == "scratch" else _key_fingerprint(record))


def _key_fingerprint(record: dict[str, Any]) -> str:
    """The recipe fingerprint in a stored (non-scratch) record's key: the recipe as it ran."""
    return record["key"].rsplit("/", 3)[1]


def _identity_with(record: dict[str, Any], fingerprint: str) -> str:
    """:func:`run_identity` of a stored record's spec, with ``fingerprint`` for its recipe."""
    spec = record["spec"]
    return run_identity(
        spec["scenario"], spec["algo"], fingerprint, spec.get("hyperparams") or (), spec["budget"], spec["seed"]
    )


def record_trusted_identity(record: dict[str, Any]) -> str | None:
    """The :attr:`RunSpec.trusted_identity` of a stored record whose trust gate trusted the prior (or had none).

    ``None`` for scratch, a record without its recipe or whose recipe is not the one its key's fingerprint names, a
    scenario no longer in :data:`SCENARIOS`, and a run whose gate stood the prior down (there the fields of
    :data:`STAND_DOWN_ONLY` acted).

    :param record: a record of :func:`run`
    """
    spec, gate, recipe = record["spec"], record.get("gate"), record.get("recipe")
    if spec["arm"] == "scratch" or recipe is None or spec["scenario"] not in SCENARIOS:
        return None
    if gate is not None and not gate["trusted"]:
        return None
    in_its_scenario = RunSpec(spec["scenario"], spec["algo"], "default", 0)
    if in_its_scenario.fingerprint_of(recipe) != _key_fingerprint(record):
        return None
    return _identity_with(record, in_its_scenario.fingerprint_of(recipe, STAND_DOWN_ONLY))


def pretrained_weights(scenario: Scenario, cache_dir: str | os.PathLike) -> Path:
    """The scenario's pretrained network, cached on disk.

    A nav scenario's is the behaviour clone of the expert on the source task; an external one's the behaviour clone
    of its controller's rollouts there (:func:`sb3_finetune.external.clone_controller`, [64, 64] ReLU).

    :param scenario: the scenario
    :param cache_dir: folder of the cache
    :return: path of the weights file
    """
    path = Path(cache_dir) / f"{scenario.name}-source.pt"
    if not path.exists():
        if scenario.controller is None:
            pretrain_expert(path, scenario.env_id, scenario.source, seed=0)
        else:
            controller = external.CONTROLLERS[scenario.controller](**scenario.controller_kwargs)
            external.clone_controller(path, scenario.env_id, scenario.source, controller, seed=0)
    return path


def curve_metrics(curve: list[dict[str, Any]], budget: int, scenario: Scenario | None = None) -> dict[str, Any]:
    """Transfer metrics of a learning curve (evaluations at increasing steps, the first at step 0).

    :param curve: points with ``step``, ``success_rate``, ``mean_return``, ``wall_s`` and ``expert_return_ratio``
    :param budget: the run's budget (steps to threshold are capped at it)
    :param scenario: what counts as solved and how points are scored (``None``: 90% success, as on nav)
    :return: the metrics; ``final_success`` and ``final_expert_return_ratio`` are ``None`` where the env reports no
        success or there is no expert
    """
    measure = "success_rate" if scenario is None else scenario.measure
    threshold = THRESHOLD if scenario is None else scenario.threshold
    steps = np.array([p["step"] for p in curve], dtype=float)
    measured = np.array([p[measure] for p in curve], dtype=float)
    score = np.array([p[measure] if scenario is None else scenario.score(p) for p in curve], dtype=float)
    solved = np.flatnonzero(measured >= threshold)
    early = score[steps <= EARLY_FRACTION * budget]
    area = float(np.trapezoid(score, steps) / (steps[-1] - steps[0])) if len(steps) > 1 else float(score[0])
    final, ratio = curve[-1].get("success_rate"), curve[-1].get("expert_return_ratio")
    return {
        "jumpstart": float(score[0]),
        "steps_to_threshold": float(steps[solved[0]]) if len(solved) else float(budget),
        "reached_threshold": bool(len(solved)),
        "wall_s_to_threshold": float(curve[solved[0]]["wall_s"]) if len(solved) else None,
        "area_under_curve": area,
        "final_score": float(score[-1]),
        "min_score_early": float(early.min()),
        "min_score": float(score.min()),
        "final_success": None if final is None else float(final),
        "final_return": None if curve[-1].get("mean_return") is None else float(curve[-1]["mean_return"]),
        "final_expert_return_ratio": None if ratio is None else float(ratio),
    }


def scenario_hyperparams(
    scenario: Scenario, algo: str, action_space: gym.spaces.Box, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The algorithm's keyword arguments for a scenario's runs: its own, then ``overrides``.

    :param scenario: the scenario
    :param algo: ``"td3"``, ``"ddpg"`` or ``"sac"``
    :param action_space: the target env's action space (for the scenario's Gaussian action noise, TD3 and DDPG)
    :param overrides: hyperparameters that replace the scenario's (``policy_kwargs`` a dict or ``(name, value)``
        pairs)
    :return: the keyword arguments
    """
    hyperparams = dict(scenario.hyperparams)
    noise_std = hyperparams.pop("noise_std", None)
    if noise_std is not None and algo in ("td3", "ddpg"):
        hyperparams["action_noise"] = gaussian_action_noise(action_space, noise_std)
    hyperparams.update(overrides or {})
    if "policy_kwargs" in hyperparams:  # a RunSpec holds it as (name, value) pairs, to stay hashable
        hyperparams["policy_kwargs"] = dict(hyperparams["policy_kwargs"])
    if scenario.her:
        hyperparams.setdefault("replay_buffer_class", HerReplayBuffer)
        hyperparams.setdefault("learning_starts", 1_000)
    return hyperparams


def run(spec: RunSpec, cache_dir: str | os.PathLike, threads: int = 1) -> dict[str, Any]:
    """Carry out one run and return its record (spec, curve, metrics, timing).

    :param spec: the run
    :param cache_dir: where pretrained networks are cached
    :param threads: torch threads for this run
    :return: a JSON-friendly record
    """
    th.set_num_threads(threads)
    scenario = SCENARIOS[spec.scenario]
    budget, eval_freq = spec.steps, spec.eval_interval
    external.require(scenario.env_id)
    weights = pretrained_weights(scenario, cache_dir)
    env = gym.make(scenario.env_id, **scenario.target)
    hyperparams = scenario_hyperparams(scenario, spec.algo, env.action_space, dict(spec.hyperparams))
    recipe = get_recipe("default" if spec.arm == "scratch" else spec.arm, **dict(spec.recipe_overrides))
    pretrained = None if spec.arm == "scratch" else str(weights)
    started = time.perf_counter()
    setup = make_finetune(spec.algo, env, pretrained, budget, recipe, hyperparams, seed=spec.seed)
    setup_s = time.perf_counter() - started
    expert = None if scenario.external else expert_policy(scenario.env_id, scenario.target)
    curve = LearningCurveCallback(scenario.env_id, scenario.target, eval_freq, spec.eval_episodes, expert=expert)
    setup.learn(budget, callback=curve)
    if curve.curve[-1]["step"] != setup.model.num_timesteps:
        curve._evaluate()
    total_s = time.perf_counter() - started
    for point in curve.curve:
        point["score"] = scenario.score(point)
    pretrained_eval = evaluate(
        prior_policy(load_prior(weights, env.action_space, env.observation_space)),
        scenario.env_id,
        scenario.target,
        spec.eval_episodes,
        curve.seed,
    )
    return {
        "key": spec.key,
        "spec": asdict(spec),
        "budget": budget,
        "recipe": None if setup.recipe is None else setup.recipe.as_dict(),  # as it ran: filled in for the algorithm
        "curve": curve.curve,
        "metrics": curve_metrics(curve.curve, budget, scenario),
        "pretrained_success_on_target": pretrained_eval.success_rate,
        "pretrained_return_on_target": pretrained_eval.mean_return,
        "pretrained_score_on_target": scenario.score(pretrained_eval.as_dict()),
        "gate": None if setup.gate is None else setup.gate.as_dict(),
        "decisions": list(setup.decisions),
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
