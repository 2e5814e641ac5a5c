"""Is a TD3/DDPG actor stuck in tanh saturation? Train one arm of a scenario for some steps and look at its actor.

A deterministic actor whose pre-tanh outputs are large gives the same action everywhere and almost no gradient, so
TD3 cannot move it (the moved goal's stuck seeds, see the README). For each seed this trains the arm on the
scenario's target for ``--steps`` env steps (its budget fractions taken from the scenario's budget), evaluates it,
then feeds ``--states`` states to the actor: drawn uniformly from the observation box where it is finite, else from
the replay buffer. It reports the mean ``|pre-tanh|``, the fraction of states whose every action coordinate is
beyond ``--level`` in magnitude, and the mean action.

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
from _args import parse_args

from sb3_finetune.evaluation import evaluate, model_policy
from sb3_finetune.experiment import SCENARIOS, pretrained_weights
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


def look(model: object, states: th.Tensor, level: float) -> dict:
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
    }


def recipe_with(name: str, overrides: str) -> Recipe:
    """The recipe ``name`` (``scratch``: the default's settings, unused) with ``name=value`` overrides (JSON values)."""
    changes = {}
    for pair in filter(None, overrides.split(",")):
        field_name, _, value = pair.partition("=")
        try:
            changes[field_name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f"--overrides: {pair!r} is not name=value with a JSON value (true, 0.5, null)") from None
    try:
        return get_recipe("default" if name == "scratch" else name, **changes)
    except ValueError as error:
        raise SystemExit(f"--recipe/--overrides: {error}") from None


def main(args: Args) -> list[dict]:
    if args.scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    if args.algo not in ("td3", "ddpg"):
        raise SystemExit("--algo must be td3 or ddpg (an actor that ends in tanh)")
    scenario = SCENARIOS[args.scenario]
    if scenario.external or scenario.her:
        raise SystemExit(f"{args.scenario}: this script looks at the nav scenarios with Box observations")
    recipe = recipe_with(args.recipe, args.overrides)
    weights = None if args.recipe == "scratch" else str(pretrained_weights(scenario, args.cache))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        env = gym.make(scenario.env_id, **scenario.target)
        setup = make_finetune(args.algo, env, weights, scenario.budget, recipe, seed=seed)
        setup.learn(args.steps)
        space = env.observation_space
        generator = np.random.default_rng(seed)
        states = th.as_tensor(generator.uniform(space.low, space.high, (args.states, *space.shape)), dtype=th.float32)
        figures = evaluate(model_policy(setup.model), scenario.env_id, scenario.target, args.eval_episodes, 10_000)
        row = {
            "seed": seed,
            "success_rate": figures.success_rate,
            "gate_trusted": setup.trusted,
            **look(setup.model, states, args.level),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    Path(args.out).write_text(
        json.dumps({"command": "python " + " ".join(sys.argv), "args": asdict(args), "rows": rows}, indent=2) + "\n"
    )
    return rows


if __name__ == "__main__":
    main(parse_args(Args, __doc__.splitlines()[0]))
