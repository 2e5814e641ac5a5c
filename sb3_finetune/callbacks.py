"""Fine-tuning schedules as SB3 callbacks: unfreezing, a slower pretrained part, an actor's way out of saturation."""

from __future__ import annotations

import math
from typing import Any

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn
from torch.utils.hooks import RemovableHandle

from sb3_finetune.adapter import pretrained_extractors, set_frozen_layers
from sb3_finetune.decisions import say


class UnfreezeCallback(BaseCallback):
    """Unfreeze the pretrained layers at a step, all at once or gradually (last layer first).

    With ``interval=None`` every frozen layer is unfrozen once ``num_timesteps`` reaches ``start``. Otherwise
    the last frozen layer is unfrozen at ``start``, the one before it at ``start + interval``, and so on
    (ULMFiT's gradual unfreezing). The model records the state, so saving and loading keeps it.

    :param start: env step at which unfreezing begins
    :param interval: env steps between two layers; ``None`` unfreezes everything at ``start``
    :param verbose: 1 prints each change
    """

    def __init__(self, start: int, interval: int | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        if interval is not None and interval < 1:
            raise ValueError(f"interval must be a positive number of steps or None, got {interval}")
        self.start = start
        self.interval = interval

    def _target_frozen(self, frozen_at_start: int) -> int:
        if self.num_timesteps < self.start:
            return frozen_at_start
        if self.interval is None:
            return 0
        released = 1 + (self.num_timesteps - self.start) // self.interval
        return max(frozen_at_start - released, 0)

    def _init_callback(self) -> None:
        self._frozen_at_start = next(iter(pretrained_extractors(self.model).values())).frozen_layers

    def _on_step(self) -> bool:
        extractor = next(iter(pretrained_extractors(self.model).values()))
        target = self._target_frozen(self._frozen_at_start)
        if target < extractor.frozen_layers:
            set_frozen_layers(self.model, target)
            if self.verbose:
                print(f"step {self.num_timesteps}: {target} of {extractor.num_layers} pretrained layers frozen")
        return True


class OptimizerStepHookCallback(BaseCallback):
    """Base for callbacks that act around ``optimizer.step()`` inside SB3's ``train()``.

    SB3's ``train()`` offers no callback between the gradient computation and the update, so subclasses hook the
    optimizers instead: :meth:`_pre_step` runs after the loss's ``backward()`` and before the update,
    :meth:`_post_step` right after it. The hooks live from the start of training to its end.

    :param networks: the policy's networks whose optimizers are hooked (``"actor"``, ``"critic"``)
    :param verbose: verbosity
    """

    def __init__(self, networks: tuple[str, ...], verbose: int = 0) -> None:
        super().__init__(verbose)
        self.networks = networks
        self._handles: list[RemovableHandle] = []

    def _pre_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        """Called before each update of a hooked optimizer."""

    def _post_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        """Called after each update of a hooked optimizer."""

    def _on_training_start(self) -> None:
        for network in self.networks:
            optimizer = getattr(getattr(self.model.policy, network, None), "optimizer", None)
            if optimizer is not None:
                self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
                self._handles.append(optimizer.register_step_post_hook(self._post_step))

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class PretrainedLearningRateCallback(OptimizerStepHookCallback):
    """Train the pretrained layers at ``lr_scale`` times the learning rate of the rest of the network.

    SB3 sets every parameter group of every optimizer to the schedule's learning rate at the start of each
    ``train()``, so a separate param group does not keep its own rate. Instead this callback hooks the actor's
    and the critic's optimizers: after each ``step()`` the pretrained parameters are moved back to
    ``old + lr_scale * (new - old)``. For SGD and Adam(W) that is exactly a learning rate of
    ``lr_scale * lr`` for them (Adam's moment estimates do not depend on the learning rate). Layers unfrozen later
    are picked up as they join the optimizers. The hooks are removed when training ends.

    :param lr_scale: factor on the learning rate of the pretrained layers (``0.1``: ten times slower)
    :param verbose: verbosity
    """

    def __init__(self, lr_scale: float, verbose: int = 0) -> None:
        super().__init__(("actor", "critic"), verbose)
        if lr_scale < 0.0:
            raise ValueError(f"lr_scale must be >= 0, got {lr_scale}")
        self.lr_scale = float(lr_scale)
        self._before: dict[int, th.Tensor] = {}

    def _pretrained_ids(self) -> set[int]:
        return {id(p) for extractor in pretrained_extractors(self.model).values() for p in extractor.parameters()}

    def _pre_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        pretrained = self._pretrained_ids()
        self._before = {
            id(p): p.detach().clone()
            for group in optimizer.param_groups
            for p in group["params"]
            if id(p) in pretrained
        }

    def _post_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        with th.no_grad():
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    before = self._before.get(id(parameter))
                    if before is not None:
                        parameter.copy_(before.lerp_(parameter, self.lr_scale))
        self._before = {}


class _TanhInwardGradient(th.autograd.Function):
    """``tanh`` whose backward lets a gradient that moves the output towards 0 through undamped.

    Only where the output lies beyond ``above`` (in absolute value); elsewhere the backward is ``tanh``'s own.
    """

    @staticmethod
    def forward(ctx: Any, inputs: th.Tensor, above: float) -> th.Tensor:
        outputs = th.tanh(inputs)
        ctx.save_for_backward(outputs)
        ctx.above = above
        return outputs

    @staticmethod
    def backward(ctx: Any, grad: th.Tensor) -> tuple[th.Tensor, None]:
        (outputs,) = ctx.saved_tensors
        # Gradient descent moves the output by -grad: towards 0 (inwards) where grad and the output share a sign.
        inward = (grad * outputs > 0) & (outputs.abs() > ctx.above)
        return th.where(inward, grad, grad * (1.0 - outputs * outputs)), None


def actor_tanh(model: BaseAlgorithm) -> nn.Tanh | None:
    """The ``Tanh`` that bounds a deterministic actor's action (TD3, DDPG: ``actor.mu``'s last layer), else ``None``.

    :param model: the model
    :return: the layer, or ``None`` where the actor has none of its own (SAC squashes inside its distribution)
    """
    mu = getattr(getattr(model, "actor", None), "mu", None)
    if isinstance(mu, nn.Sequential) and len(mu) > 0 and isinstance(mu[-1], nn.Tanh):
        return mu[-1]
    return None


class SaturationEscape(BaseCallback):
    """Lets a deterministic actor whose ``tanh`` has saturated come back from the action box's bound.

    A TD3 or DDPG actor distilled onto a prior that acts at the bound (full throttle towards the goal) has
    pre-activations far past ``tanh``'s knee; its policy gradient is damped by ``1 - tanh^2`` (below 1e-4 at a
    pre-activation of 5), so where the critic comes to prefer another action (round an obstacle) the actor cannot
    follow: it stays the prior there for good. From the start of training (the recipe's distillation onto the
    prior included) to its end, this callback gives the actor's output ``tanh`` a backward that passes a gradient
    moving the action inwards (towards the middle of the box) undamped, as if the layer were the identity; a
    gradient pushing outwards keeps ``tanh``'s damping, so the actions stay in the box and saturate as before. The
    forward pass is unchanged; the hook is removed at the end of training, so a saved or exported model holds
    nothing of it. The idea is that of Hausknecht & Stone's (2016) inverted gradients for bounded actions, kept to
    ``tanh``'s own output. SAC's actor has no ``tanh`` layer of its own (it squashes a Gaussian, whose entropy term
    already keeps its mean off the bounds).

    With ``above`` > 0 only an action beyond ``above`` (a fraction of the box's half-width, per dimension) gets the
    undamped gradient: the escape brings a deeply saturated actor back to ``tanh``'s knee, where the plain gradient
    takes over. That bounds the escape's one-sidedness: where the critic's gradient at the bound is noisy but
    prefers the bound on average, the plain escape lets the inward half through and damps the outward half, so it
    drifts the actions inwards, off a bound that is right; with ``above`` that drift stops at ``above``.

    :param above: the action's magnitude (in ``tanh``'s units, ``[0, 1)``) beyond which an inward gradient passes
        undamped (0: wherever it moves the action inwards)
    :param verbose: verbosity
    """

    def __init__(self, above: float = 0.0, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not 0.0 <= above < 1.0:
            raise ValueError(f"above must be in [0, 1), got {above}")
        self.above = above
        self._handle: RemovableHandle | None = None

    def _on_training_start(self) -> None:
        layer = actor_tanh(self.model)
        if layer is not None and self._handle is None:
            self._handle = layer.register_forward_hook(
                lambda _, inputs, __: _TanhInwardGradient.apply(inputs[0], self.above)
            )

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def entropy_coefficient(model: BaseAlgorithm) -> str | None:
    """How a model's entropy coefficient is set.

    :param model: the model
    :return: ``"tuned"`` (SAC's ``ent_coef="auto"`` or ``"auto_<value>"``, learned by SB3's own optimizer),
        ``"fixed"`` (a number), or ``None`` (it has none: not SAC)
    """
    if getattr(model, "ent_coef", None) is None:
        return None
    return "tuned" if getattr(model, "ent_coef_optimizer", None) is not None else "fixed"


class EntropyFloor(BaseCallback):
    """Hold SAC's automatic entropy coefficient at or above ``floor`` while SB3 tunes it.

    SB3 moves ``log_ent_coef`` towards its entropy target with its own optimizer, one update per gradient step; after
    each update this callback sets it back to ``log(floor)`` where the update took it lower (a projected step: the
    coefficient is SB3's wherever that is above the floor); a start below the floor (``"auto_<value>"``) is raised to
    it when training starts. The hook lives from the start of training to its end. After each update the fraction
    held so far goes to SB3's logger as ``train/ent_coef_floored``, beside SB3's own ``train/ent_coef``; at the end the
    callback says in how many of the updates so far it held the coefficient (one sentence, kept on ``decisions`` in
    place of its earlier one, as a warm-up and ``learn`` are two trainings of one run). A model without an automatic
    coefficient (a fixed ``ent_coef``, or not SAC) is left alone.

    :param floor: the lowest coefficient, above 0
    :param decisions: where the sentence at the end of training is kept (and it is logged)
    :param verbose: verbosity
    """

    def __init__(self, floor: float, decisions: list[str] | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not floor > 0:
            raise ValueError(f"floor must be above 0, got {floor}")
        self.floor = float(floor)
        self._log_floor = math.log(self.floor)
        self.decisions = decisions
        self.updates = 0
        self.held = 0
        self._handle: RemovableHandle | None = None
        self._said: str | None = None

    def _raise(self) -> bool:
        """Set the coefficient to the floor where it is below it; whether it was."""
        with th.no_grad():  # one scalar read per update, as SB3's own train() reads the coefficient for its logger
            below = self.model.log_ent_coef.detach().item() < self._log_floor
            if below:
                self.model.log_ent_coef.fill_(self._log_floor)
        return below

    def _hold(self, *_: object) -> None:
        self.updates += 1
        self.held += self._raise()
        self.logger.record("train/ent_coef_floored", self.held / self.updates)

    def _on_training_start(self) -> None:
        optimizer = getattr(self.model, "ent_coef_optimizer", None)
        if optimizer is not None and self._handle is None:
            self._raise()
            self._handle = optimizer.register_step_post_hook(self._hold)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self._handle is None:
            return
        self._handle.remove()
        self._handle = None
        if not self.updates:
            return
        coefficient = float(th.exp(self.model.log_ent_coef.detach()))
        if self.decisions is not None and self._said in self.decisions:
            self.decisions.remove(self._said)
        self._said = say(
            f"entropy floor: SB3's tuning would have taken the entropy coefficient below {self.floor:g} in "
            f"{self.held} of its {self.updates} updates, and it was held at {self.floor:g} there (it ends at "
            f"{coefficient:.3g})",
            self.decisions,
        )


class EntropyDecay(BaseCallback):
    """Lower SAC's fixed entropy coefficient linearly over a window of the budget, and keep it there.

    SAC acts by ``tanh`` of a Gaussian; its entropy term's ``tanh`` correction grows without limit at the action bound
    while the critic's gradient through ``tanh`` vanishes there, so the mean of the policy it learns stays short of
    the bound by an amount that grows with the coefficient. Where the best actions are at the bound, lowering the
    coefficient once exploring has done its work brings the deterministic action closer to them. From ``start`` of the
    budget to ``until`` the coefficient goes linearly from the model's own (``ent_coef``) to ``factor`` times it, and
    stays there; SB3 logs it as ``train/ent_coef``. It is written into SB3's ``ent_coef_tensor``, the coefficient in
    use, which a saved model carries; the model's ``ent_coef`` is not changed, so a callback built again for a resumed
    run (``budget`` given, ``reset_num_timesteps=False``) starts the schedule from the same coefficient and takes it up
    at the model's step. A model whose coefficient SB3 tunes (``"auto"``), or that is not SAC, is left alone.

    :param factor: the fraction of the coefficient it ends at, in (0, 1]
    :param start: fraction of the budget at which it starts falling
    :param until: fraction of the budget at which it is down to ``factor`` of itself
    :param budget: the run's env steps (``None``: the ``total_timesteps`` of the training it starts in)
    :param decisions: where the sentence at the start of training is kept (and it is logged)
    :param verbose: verbosity
    """

    def __init__(
        self,
        factor: float,
        start: float = 0.5,
        until: float = 0.75,
        budget: int | None = None,
        decisions: list[str] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        if not 0.0 <= start < until <= 1.0:
            raise ValueError(f"start and until must satisfy 0 <= start < until <= 1, got {start} and {until}")
        self.factor, self.start, self.until, self.budget = float(factor), start, until, budget
        self.decisions = decisions
        self.coefficient: float | None = None
        self._base: float | None = None
        self._window: tuple[int, int] = (0, 0)

    def _on_training_start(self) -> None:
        if entropy_coefficient(self.model) != "fixed":
            return
        if self._base is None:
            budget = self.budget or self.model._total_timesteps
            self._base = float(self.model.ent_coef)
            self._window = (int(self.start * budget), max(int(self.until * budget), int(self.start * budget) + 1))
            say(
                f"entropy decay: SAC's fixed entropy coefficient {self._base:g} falls linearly to "
                f"{self._base * self.factor:.3g} ({self.factor:g} of it) from env step {self._window[0]:,} to "
                f"{self._window[1]:,} of {budget:,}, and stays there",
                self.decisions,
            )
        self._set()

    def _set(self) -> None:
        assert self._base is not None
        first, last = self._window
        done = min(max((self.num_timesteps - first) / (last - first), 0.0), 1.0)
        coefficient = self._base * (1.0 - done * (1.0 - self.factor))
        if coefficient != self.coefficient:
            self.coefficient = coefficient
            with th.no_grad():
                self.model.ent_coef_tensor.fill_(coefficient)

    def _on_step(self) -> bool:
        if self._base is not None:
            self._set()
        return True
