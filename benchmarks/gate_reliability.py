"""How often does the trust gate stand a partly right prior down? The warm-up alone, over many seeds.

For each seed this builds the scenario's fine-tuning setup (its target env, its hyperparameters, the recipe with
``--overrides``) and runs the recipe's warm-up only (the prior's probe, the gate, distillation, the buffer filled to
``learning_starts``), with no training and no critic pre-training (it comes after the gate and does not move it;
``--overrides critic_pretrain_steps=N`` puts it back); it records the gate's decision, score, episodes and probe
steps. A prior that succeeds 76% of the time (PointMaze) and is judged on 3 episodes is stood down whenever 2 of them
fail: about one seed in seven, and each such seed then falls to scratch's level at the release (the collapses of the
PointMaze rows). ``--overrides gate_confidence=0.9`` probes until the episodes decide.

Run: ``python benchmarks/gate_reliability.py --scenario pointmaze-umaze --seeds 20 --overrides gate_confidence=0.9``.
Output: ``--out`` (JSON).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
from _args import UsageError, run_script
from actor_saturation import recipe_with

from sb3_finetune import external
from sb3_finetune.experiment import SCENARIOS, pretrained_weights, scenario_hyperparams
from sb3_finetune.recipes import make_finetune


@dataclass
class Args:
    """Command-line arguments."""

    scenario: str = "pointmaze-umaze"
    """scenario (see sb3_finetune.experiment.SCENARIOS)"""
    algo: str = "td3"
    """td3, ddpg or sac"""
    recipe: str = "default"
    """recipe"""
    overrides: str = ""
    """recipe fields to change, comma-separated name=value pairs with JSON values (gate_confidence=0.9)"""
    seeds: int = 20
    """seeds 0 .. seeds - 1"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results/gate_reliability.json"
    """JSON output"""


def main(args: Args) -> list[dict]:
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from {sorted(SCENARIOS)}")
    if args.recipe == "scratch":
        raise UsageError("--recipe scratch has no prior to gate")
    scenario = SCENARIOS[args.scenario]
    external.require(scenario.env_id)
    recipe = recipe_with(args.recipe, f"critic_pretrain_steps=0,{args.overrides}")  # the user's overrides win
    weights = str(pretrained_weights(scenario, args.cache))
    rows = []
    for seed in range(args.seeds):
        env = gym.make(scenario.env_id, **scenario.target)
        hyperparams = scenario_hyperparams(scenario, args.algo, env.action_space)
        setup = make_finetune(args.algo, env, weights, scenario.budget, recipe, hyperparams, seed=seed)
        gate = setup.warm_up(scenario.budget, tb_log_name="gate")  # the warm-up alone, no training
        assert gate is not None
        row = {"seed": seed, **{k: gate.as_dict()[k] for k in ("trusted", "score", "episodes", "prior_steps")}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    trusted = sum(row["trusted"] for row in rows)
    summary = {
        "trusted": trusted,
        "seeds": len(rows),
        "mean_episodes": sum(row["episodes"] for row in rows) / len(rows),
        "mean_prior_steps": sum(row["prior_steps"] for row in rows) / len(rows),
        "most_prior_steps": max(row["prior_steps"] for row in rows),
    }
    print(json.dumps(summary))
    Path(args.out).write_text(
        json.dumps(
            {"command": "python " + " ".join(sys.argv), "args": asdict(args), "summary": summary, "rows": rows},
            indent=2,
        )
        + "\n"
    )
    return rows


if __name__ == "__main__":
    run_script(main, Args, __doc__)
