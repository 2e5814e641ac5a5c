"""A long fine-tuning run's memory stays bounded: the replay buffer's size caps it.

Fine-tunes TD3 with the default recipe on ``SimpleNavigation-v0`` with a small replay buffer (``--buffer-size``)
for many more steps than the buffer holds, sampling the process's resident memory (``VmRSS``) as it goes.
Reports the memory when the buffer first fills and at the end; bounded means the growth after the buffer is full
stays small (allocator noise), however long the run.

Run: ``python benchmarks/memory_bound.py`` (``--quick`` for a smoke test). Linux only (reads ``/proc``).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import torch as th
from _args import run_script
from stable_baselines3.common.callbacks import BaseCallback

import nav_env  # noqa: F401
from sb3_finetune.nav import pretrain_expert
from sb3_finetune.recipes import make_finetune


@dataclass
class Args:
    """Command-line arguments."""

    steps: int = 30_000
    """env steps of the run"""
    buffer_size: int = 5_000
    """replay buffer capacity"""
    sample_every: int = 1_000
    """env steps between memory samples"""
    out: str = "benchmarks/results/memory_bound.json"
    """where to write the figures"""
    quick: bool = False
    """a tiny run"""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class MemorySampler(BaseCallback):
    """Record resident memory and replay buffer size every `every` env steps."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every, self.samples = every, []

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            self.samples.append(
                {"step": self.num_timesteps, "rss_mib": rss_mib(), "buffer": self.model.replay_buffer.size()}
            )
        return True


def main(args: Args) -> dict:
    if args.quick:
        args.steps, args.buffer_size, args.sample_every = 1_500, 500, 250
    th.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "agent.pt"
        pretrain_expert(weights, samples=5_000, epochs=10)
        setup = make_finetune(
            "td3",
            gym.make("SimpleNavigation-v0"),
            str(weights),
            args.steps,
            "default",
            hyperparams={"buffer_size": args.buffer_size, "learning_starts": min(1_000, args.buffer_size)},
            seed=0,
        )
        sampler = MemorySampler(args.sample_every)
        setup.learn(args.steps, callback=sampler)
    full = [s for s in sampler.samples if s["buffer"] >= args.buffer_size]
    at_full = full[0]["rss_mib"] if full else None
    at_end = sampler.samples[-1]["rss_mib"]
    result = {
        "command": "python " + " ".join(sys.argv),
        "args": asdict(args),
        "rss_mib_when_buffer_full": at_full,
        "rss_mib_at_end": at_end,
        "growth_after_full_mib": None if at_full is None else at_end - at_full,
        "steps_after_full": None if not full else args.steps - full[0]["step"],
        "samples": sampler.samples,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run_script(main, Args, __doc__)
