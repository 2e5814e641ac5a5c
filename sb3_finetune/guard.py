"""The collapse guard: back to the prior when the released actor does clearly worse than the prior did.

A critic that has not learned yet can drag a released actor away from a prior that was mostly right: its success
falls early (the "collapse" of the benchmarks' ablations), and it may take thousands of env steps to come back. Holding
the actor for a fixed number of env steps (``critic_warmup``) prevents it where the critic needs them and costs
them where it does not. The guard acts on evidence instead, from the training episodes themselves (no evaluation
episodes, no extra env steps). It cannot stop a dip before a block of episodes has shown it; what it did on the
obstacle is in ``benchmarks/PARTLY_RIGHT.md`` ("Leaving the prior sooner"):

- from the actor's release (the end of the critic warm-up), every training episode that *starts* after it is
  scored as the trust gate scored the prior's probe: success where the env reports it, else whether its return
  reaches ``gate_return``, else its return;
- the scores are taken in blocks of ``episodes`` finished episodes; a block below ``fraction`` of the prior's
  figure (for returns: below the random probe's mean return plus ``fraction`` of the prior's lead over it) is a
  collapse;
- on a collapse the actor is put back as it was at its release (its weights, its target network, its optimiser's
  state), or with ``restore="best"`` as it was at the end of its best block so far, if one scored at least the
  prior's figure (ties go to the later block); it is held again for ``hold`` env steps while the critic goes on
  learning from what the fall taught it, and released; at most ``restores`` times, then the guard stands aside.

Training episodes carry the algorithm's exploration noise while the probe did not, so a block scores a little below
the prior even when nothing has gone wrong: ``fraction`` (0.5 by default) is a fall, not a wobble. The guard acts
only where the gate trusted the prior (there is nothing to go back to otherwise) and where the gate's figures allow a
comparison (not under the gate's per-step criterion, where no probe episode finished); each restore, and each case
where it cannot act, is logged and kept in the setup's ``decisions``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.decisions import say
from sb3_finetune.warmup import EpisodeTally, GateDecision, step_rewards

GUARD_RESTORES = ("released", "best")
"""What the guard puts the actor back to (see :class:`CollapseGuard`)."""


@dataclass(frozen=True)
class GuardFloor:
    """What a block of training episodes is scored by, and the score below which it is a collapse.

    :param criterion: ``"success"``, ``"return threshold"`` or ``"return"``
    :param prior: the prior's figure in the gate's probe (success rate, fraction reaching the threshold, mean return)
    :param floor: a block's mean score below this is a collapse
    :param gate_return: the return threshold (``"return threshold"`` only)
    """

    criterion: str
    prior: float
    floor: float
    gate_return: float | None = None

    def score(self, episode_return: float, success: bool | None) -> float:
        """One finished training episode's score under this criterion."""
        if self.criterion == "success":
            return float(bool(success))
        if self.criterion == "return threshold":
            assert self.gate_return is not None
            return float(episode_return >= self.gate_return)
        return float(episode_return)

    @property
    def measure(self) -> str:
        """What a mean of these scores is, in words ("success rate", "share of returns >= G", "mean return")."""
        if self.criterion == "success":
            return "success rate"
        if self.criterion == "return threshold":
            return f"share of returns >= {self.gate_return:g}"
        return "mean return"


class LearnerEpisodes:
    """The learner's own finished training episodes, one env step at a time, scored by a :class:`GuardFloor`.

    An episode is the learner's if it began after the actor's release (not while it was held) and was not handed
    over by frontier exploration (``explorer``, a :class:`~sb3_finetune.explore.FrontierExploration` or ``None``).
    """

    def __init__(self) -> None:
        self._tally: EpisodeTally | None = None
        self._counted = np.zeros(0, dtype=bool)  # per env: whether its current episode started after the release

    def step(self, callback: BaseCallback, held: bool, mark: GuardFloor, explorer: Any = None) -> list[float]:
        """The scores of the learner's episodes that ended at this env step.

        :param callback: the callback whose ``locals`` hold the step (``dones``, ``infos``, the rewards)
        :param held: whether the actor is held at this step
        :param mark: what the episodes are scored by
        :param explorer: frontier exploration, whose handed-over episodes are not the learner's
        :return: one score per such episode
        """
        dones = callback.locals["dones"]
        if self._tally is None:
            self._tally = EpisodeTally(len(dones))
            self._counted = np.zeros(len(dones), dtype=bool)
        if held:
            self._counted[:] = False  # an episode counts only if it starts after the release
        scores = []
        for index, episode_return, _, success in self._tally.step(
            step_rewards(callback), dones, callback.locals["infos"]
        ):
            if self._counted[index] and not (explorer is not None and explorer.handed_over[index]):
                scores.append(mark.score(episode_return, success))
            self._counted[index] = not held
        return scores


def guard_floor(gate: GateDecision, fraction: float, restore: str = "released") -> tuple[GuardFloor | None, str]:
    """The guard's criterion and floor from the trust gate's decision, and a sentence that says what was decided.

    :param gate: the gate's decision (trusted)
    :param fraction: the share of the prior's figure (or of its lead over the random probe) a block must keep
    :param restore: what a restore puts the actor back to (see :class:`CollapseGuard`), for the sentence
    :return: the floor (``None`` where the gate's figures allow no comparison), and the sentence
    """
    if gate.criterion == "success":
        floor = GuardFloor("success", gate.score, fraction * gate.score)
        what = f"{floor.measure} below {floor.floor:.2f} ({fraction:g} of the prior's {gate.score:.2f} in the probe)"
    elif gate.criterion == "return threshold":
        floor = GuardFloor("return threshold", gate.score, fraction * gate.score, gate.reference_mean_return)
        what = f"{floor.measure} below {floor.floor:.2f} ({fraction:g} of the prior's {gate.score:.2f} in the probe)"
    elif (
        gate.criterion == "random probe"
        and gate.prior_mean_return is not None
        and gate.reference_mean_return is not None
        and gate.prior_mean_return > gate.reference_mean_return
    ):
        lead = gate.prior_mean_return - gate.reference_mean_return
        floor = GuardFloor("return", gate.prior_mean_return, gate.reference_mean_return + fraction * lead)
        what = (
            f"mean return below {floor.floor:.2f} (the random probe's {gate.reference_mean_return:.2f} plus "
            f"{fraction:g} of the prior's lead, its mean return {gate.prior_mean_return:.2f})"
        )
    else:
        return None, (
            "collapse guard: off, the trust gate's figures give nothing to compare the learner with "
            f"(criterion {gate.criterion!r}, prior mean return {gate.prior_mean_return}, random probe's "
            f"{gate.reference_mean_return})"
        )
    back = "as it was released" if restore == "released" else "as it was after its best block (else as released)"
    return floor, f"collapse guard: a block of training episodes with {what} puts the actor back {back}"


class CollapseGuard(BaseCallback):
    """Puts the actor back as it was at its release when a block of training episodes scores below the floor.

    It does nothing until :meth:`arm` gives it a floor (the recipe's warm-up does, after the gate trusts the prior).

    :param hook: the callback that holds the actor (anything with a ``hold_steps`` attribute: env steps below which
        actor updates are undone); the guard raises it to hold the actor again
    :param episodes: finished training episodes per block
    :param hold: env steps the actor is held again after a restore
    :param restores: the most restores, after which the guard stands aside
    :param decisions: where each restore's sentence is added (the setup's ``decisions``)
    :param restore: ``"released"``: put the actor back as it was released; ``"best"``: as it was at the end of its
        best block, where one scored at least the prior's figure (else as released)
    """

    def __init__(
        self,
        hook: Any,
        episodes: int,
        hold: int,
        restores: int,
        decisions: list[str] | None = None,
        restore: str = "released",
    ) -> None:
        super().__init__()
        if restore not in GUARD_RESTORES:
            raise ValueError(f"restore must be one of {GUARD_RESTORES}, got {restore!r}")
        self.hook, self.episodes, self.hold, self.max_restores = hook, episodes, hold, restores
        self.restore = restore
        self.decisions = decisions if decisions is not None else []
        self.floor: GuardFloor | None = None
        self.restored_at: list[int] = []
        """The env steps at which the actor was put back."""
        self.blocks: list[tuple[int, float]] = []
        """``(env step, mean score)`` of every block scored."""
        self._snapshot: dict[str, Any] | None = None
        self._best: tuple[int, float, dict[str, Any]] | None = None  # (env step, block score, state)
        self._block: list[float] = []
        self._episodes = LearnerEpisodes()
        self.explorer: Any = None
        """A :class:`~sb3_finetune.explore.FrontierExploration` whose handed-over episodes are not scored."""

    def arm(self, floor: GuardFloor | None) -> None:
        """Start guarding against ``floor`` (``None``: stay off)."""
        self.floor = floor

    @property
    def active(self) -> bool:
        """Whether the guard still watches (armed, restores left)."""
        return self.floor is not None and len(self.restored_at) < self.max_restores

    def _networks(self) -> dict[str, Any]:
        model = self.model
        networks = {"actor": model.actor, "optimizer": model.actor.optimizer}
        if getattr(model, "actor_target", None) is not None:
            networks["actor_target"] = model.actor_target
        return networks

    def _on_step(self) -> bool:
        if not self.active:
            return True
        held = self.num_timesteps < self.hook.hold_steps
        if held:
            self._block = []
        elif self._snapshot is None:
            self._snapshot = self._state()
        assert self.floor is not None
        self._block.extend(self._episodes.step(self, held, self.floor, self.explorer))
        if len(self._block) >= self.episodes:
            self._judge()
        return True

    def _state(self) -> dict[str, Any]:
        return {name: copy.deepcopy(network.state_dict()) for name, network in self._networks().items()}

    def _judge(self) -> None:
        assert self.floor is not None
        score = float(np.mean(self._block))
        self._block = []
        self.blocks.append((self.num_timesteps, score))
        self.logger.record("finetune/guard_block_score", score)
        if score >= self.floor.floor:
            if self.restore == "best" and score >= (self._best[1] if self._best else self.floor.prior):
                self._best = (self.num_timesteps, score, self._state())
            return
        assert self._snapshot is not None
        state, where = self._snapshot, "as it was released"
        if self._best is not None:
            state, where = self._best[2], f"as it was at step {self._best[0]} (its best block, {self._best[1]:.2f})"
        for name, network in self._networks().items():
            network.load_state_dict(state[name])
        self.hook.hold_steps = self.num_timesteps + self.hold
        self.restored_at.append(self.num_timesteps)
        self.logger.record("finetune/guard_restores", len(self.restored_at))
        sentence = (
            f"collapse guard: at step {self.num_timesteps} the last {self.episodes} training episodes scored "
            f"{score:.2f} ({self.floor.criterion}), below the floor {self.floor.floor:.2f}: the actor is back {where} "
            f"and held for {self.hold} env steps (restore {len(self.restored_at)} of at most "
            f"{self.max_restores})"
        )
        say(sentence, self.decisions, warn=True)
