"""Why SAC gets ``ent_coef: 0.01`` on SimpleNavigation: SB3's automatic entropy coefficient against a fixed one.

SAC from scratch on ``SimpleNavigation-v0`` (the note's reward: minus the distance, no bonus for arriving), with
``ent_coef="auto"`` (SB3's default, starting at 1.0) and with ``ent_coef=0.01``, over seeds. Prints the success
curve of every run, and per setting the number of runs that reach 90% success, the median final success, and
the median of each run's lowest success after it first reached 90% (a low value means it unlearned: hovering).

Run: ``python benchmarks/sac_entropy.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from _args import run_script

from sb3_finetune.experiment import RunSpec
from sb3_finetune.sweep import run_sweep

SETTINGS = {"auto": (("ent_coef", "auto"),), "0.01": (("ent_coef", 0.01),)}


@dataclass
class Args:
    """Command-line arguments."""

    seeds: int = 3
    """seeds per setting"""
    budget: int = 8_000
    """env steps per run"""
    workers: int = 2
    """parallel runs"""
    results: str = "benchmarks/results/sac_entropy.jsonl"
    """JSON-lines results (resumable)"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks (unused by scratch runs, kept for the shared runner)"""
    quick: bool = False
    """one seed, a tiny budget"""


def main(args: Args) -> dict:
    if args.quick:
        args.seeds, args.budget = 1, 200
    specs = {
        (name, seed): RunSpec("same-task", "sac", "scratch", seed, args.budget, hyperparams=hyperparams)
        for name, hyperparams in SETTINGS.items()
        for seed in range(args.seeds)
    }
    records = run_sweep(specs.values(), args.results, args.cache, workers=args.workers)
    summary = {}
    for name in SETTINGS:
        reached, finals, after = 0, [], []
        for seed in range(args.seeds):
            curve = records[specs[(name, seed)].key]["curve"]
            success = [point["success_rate"] for point in curve]
            print(f"ent_coef={name:<5} seed {seed}: " + " ".join(f"{p['step']}:{p['success_rate']:.2f}" for p in curve))
            finals.append(success[-1])
            solved = [i for i, value in enumerate(success) if value >= 0.9]
            if solved:
                reached += 1
                after.append(min(success[solved[0] :]))
        summary[name] = {
            "runs": args.seeds,
            "runs_reaching_90": reached,
            "median_final_success": float(np.median(finals)),
            "median_lowest_success_after_reaching_90": float(np.median(after)) if after else None,
        }
    print(json.dumps(summary, indent=2))
    out = Path(args.results).with_suffix(".summary.json")
    report = {"command": "python " + " ".join(sys.argv), "args": asdict(args), "summary": summary}
    out.write_text(json.dumps(report, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    run_script(main, Args, __doc__)
