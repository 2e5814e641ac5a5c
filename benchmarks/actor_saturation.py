"""Is a TD3/DDPG actor stuck in tanh saturation? Train one arm of a scenario for some steps and look at its actor.

A deterministic actor whose pre-tanh outputs are large gives the same action everywhere and almost no gradient, so TD3
cannot move it (the moved goal's stuck seeds, see ``benchmarks/PARTLY_RIGHT.md``). For each seed this trains the arm on
the scenario's target for ``--steps`` env steps (its budget fractions taken from the scenario's budget, its
hyperparameters the scenario's), evaluates it, and at each of the ``--at`` steps (and at the end) feeds ``--states``
states to the actor: drawn uniformly from the observation box where it is finite, else from the replay buffer
(PointMaze's Dict observations). It reports the mean ``|pre-tanh|``, the fraction of states whose every action
coordinate is beyond ``--level`` in magnitude, the mean action and its mean magnitude.

Run: ``python benchmarks/actor_saturation.py --scenario goal-moved --seeds 0,1,2,3,4``. Output: ``--out`` (JSON).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from _args import UsageError, run_script
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune import external
from sb3_finetune.evaluation import evaluate, model_policy
from sb3_finetune.experiment import SCENARIOS, pretrained_weights, scenario_hyperparams
from sb3_finetune.recipes import Recipe, get_recipe, make_finetune


@dataclass
class Args:
    """Command-line arguments."""

    scenario: str = "goal-moved"
    """scenario (see sb3_finetune.experiment.SCENARIOS)"""
    algo: str = "td3"
    """td3 or ddpg (a deterministic actor)"""
    recipe: str = "default"
    """recipe, or scratch"""
    overrides: str = ""
    """recipe fields to change, comma-separated name=value pairs with JSON values (layer_norm=true)"""
    seeds: str = "0,1,2,3,4"
    """comma-separated seeds"""
    steps: int = 3_000
    """env steps of training before the actor is looked at"""
    at: str = ""
    """comma-separated env steps at which the actor is looked at during training as well"""
    states: int = 500
    """states fed to the actor"""
    level: float = 0.99
    """|action| beyond which a coordinate counts as saturated"""
    eval_episodes: int = 50
    """episodes of the evaluation after training"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results/actor_saturation.json"
    """JSON output"""


def look(model: object, states: th.Tensor | dict[str, th.Tensor], level: float) -> dict:
    """Pre-tanh magnitude, saturation and mean action of a TD3/DDPG actor on ``states``."""
    actor = model.policy.actor  # type: ignore[attr-defined]
    with th.no_grad():
        features = actor.extract_features(states, actor.features_extractor)
        pre_tanh = actor.mu[:-1](features)
        actions = th.tanh(pre_tanh)
    return {
        "mean_abs_pre_tanh": float(pre_tanh.abs().mean()),
        "saturated_fraction": float((actions.abs() > level).all(dim=1).float().mean()),
        "mean_action": [float(v) for v in actions.mean(dim=0)],
        "mean_abs_action": float(actions.abs().mean()),
    }


def sample_states(model: object, space: gym.Space, count: int, generator: np.random.Generator) -> object:
    """``count`` states: uniform in a finite Box, else drawn from the model's replay buffer."""
    if isinstance(space, gym.spaces.Box) and np.isfinite(space.low).all() and np.isfinite(space.high).all():
        return th.as_tensor(generator.uniform(space.low, space.high, (count, *space.shape)), dtype=th.float32)
    buffer = model.replay_buffer  # type: ignore[attr-defined]
    rows = generator.integers(0, buffer.size(), count)
    stored = buffer.observations
    observations = {k: v[rows, 0] for k, v in stored.items()} if isinstance(stored, dict) else stored[rows, 0]
    return model.policy.obs_to_tensor(observations)[0]  # type: ignore[attr-defined]


class Looks(BaseCallback):
    """Looks at the actor at the given env steps."""

    def __init__(self, steps: list[int], space: gym.Space, count: int, level: float, seed: int) -> None:
        super().__init__()
        self.steps, self.space, self.count, self.level = set(steps), space, count, level
        self.generator = np.random.default_rng(seed)
        self.rows: list[dict] = []

    def _on_step(self) -> bool:
        if self.num_timesteps in self.steps:
            states = sample_states(self.model, self.space, self.count, self.generator)
            self.rows.append({"step": self.num_timesteps, **look(self.model, states, self.level)})
        return True


def recipe_with(name: str, overrides: str) -> Recipe:
    """The recipe ``name`` (``scratch``: the default's settings, unused) with ``name=value`` overrides (JSON values)."""
    changes = {}
    for pair in filter(None, overrides.split(",")):
        field_name, _, value = pair.partition("=")
        try:
            changes[field_name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(f"--overrides: {pair!r} is not name=value with a JSON value (true, 0.5, null)") from None
    try:
        return get_recipe("default" if name == "scratch" else name, **changes)
    except ValueError as error:
        raise UsageError(f"--recipe/--overrides: {error}") from None


def main(args: Args) -> list[dict]:
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    if args.algo not in ("td3", "ddpg"):
        raise UsageError("--algo must be td3 or ddpg (an actor that ends in tanh)")
    scenario = SCENARIOS[args.scenario]
    if scenario.her:
        raise UsageError(f"{args.scenario}: a HER scenario's actor sees goals the buffer relabels; not looked at here")
    external.require(scenario.env_id)
    recipe = recipe_with(args.recipe, args.overrides)
    weights = None if args.recipe == "scratch" else str(pretrained_weights(scenario, args.cache))
    during = sorted(int(s) for s in args.at.split(",") if s and int(s) < args.steps)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        env = gym.make(scenario.env_id, **scenario.target)
        hyperparams = scenario_hyperparams(scenario, args.algo, env.action_space)
        setup = make_finetune(args.algo, env, weights, scenario.budget, recipe, hyperparams, seed=seed)
        looks = Looks(during, env.observation_space, args.states, args.level, seed)
        setup.learn(args.steps, callback=looks)
        states = sample_states(setup.model, env.observation_space, args.states, np.random.default_rng(seed))
        figures = evaluate(model_policy(setup.model), scenario.env_id, scenario.target, args.eval_episodes, 10_000)
        row = {
            "seed": seed,
            "success_rate": figures.success_rate,
            "mean_return": figures.mean_return,
            "gate_trusted": setup.trusted,
            **look(setup.model, states, args.level),
            "during": looks.rows,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    Path(args.out).write_text(
        json.dumps({"command": "python " + " ".join(sys.argv), "args": asdict(args), "rows": rows}, indent=2) + "\n"
    )
    return rows


if __name__ == "__main__":
    run_script(main, Args, __doc__)
