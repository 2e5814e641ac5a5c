"""The recipe as one SB3 callback, for the RL Zoo's ``callback:`` hyperparameter entry (or any ``model.learn``).

The Zoo builds the model from its YAML file, with a plain SB3 policy; this callback then carries out the recipe on
it, as :func:`~sb3_finetune.make_finetune` does: before the first step the (untrained) policy is rebuilt with the
prior's layers as its frozen features (:class:`~sb3_finetune.PretrainedFeaturesExtractor`, its ``net_arch`` kept),
the model acts as the prior for the probe, the trust gate decides, the actor is distilled on the probe's states,
and during training the actor is held while the critic warms up, then pulled towards the prior. The saved model
records the network's shape, so ``rl_zoo3.enjoy`` and ``TD3.load`` read it without the weights file.

Example (``examples/rl_zoo/td3_pendulum_finetune.yml``)::

    Pendulum-v1:
      n_timesteps: 6000
      policy: 'MlpPolicy'
      learning_starts: 1000
      noise_type: 'normal'
      noise_std: 0.1
      callback:
        - sb3_finetune.zoo.FinetuneCallback:
            weights: "prior.pt"
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.adapter import pretrained_policy_kwargs
from sb3_finetune.callbacks import EntropyDecay, EntropyFloor, SaturationEscape
from sb3_finetune.decisions import say
from sb3_finetune.explore import FrontierExploration
from sb3_finetune.guard import CollapseGuard
from sb3_finetune.policies import FINETUNE_POLICIES
from sb3_finetune.prior import Prior, load_prior
from sb3_finetune.recipes import (
    HOLD_REHEARSAL_OFF,
    ActorUpdateHook,
    Recipe,
    actor_update_hook,
    algorithm_name,
    entropy_decay,
    entropy_floor,
    get_recipe,
    hold_rehearsal,
    normalised_features,
    run_warm_up,
    saturation_escape,
    started_entropy,
)
from sb3_finetune.rehearsal import HoldRehearsal
from sb3_finetune.warmup import ActAsPrior, GateDecision, reseed


class FinetuneCallback(BaseCallback):
    """Fine-tune a plain SB3 model from a prior with a recipe (see the module docstring).

    :param weights: the prior's weights (any source :func:`~sb3_finetune.load_prior` reads)
    :param recipe: a recipe name or :class:`~sb3_finetune.Recipe`
    :param action_units: ``"env"`` or ``"scaled"`` where the weights file does not say
    :param activation: the activation of a Linear stack read off a bare state dict
    :param verbose: 1 prints the trust gate's decision
    :param recipe_overrides: recipe fields to change (``bc_weight: 0.5`` in YAML)
    """

    def __init__(
        self,
        weights: str,
        recipe: str | Recipe = "default",
        action_units: str | None = None,
        activation: str | None = None,
        verbose: int = 0,
        **recipe_overrides: Any,
    ) -> None:
        super().__init__(verbose)
        self.weights, self.action_units, self.activation = weights, action_units, activation
        self.recipe = get_recipe(recipe, **recipe_overrides)
        if self.recipe.arbitrate:
            raise ValueError(
                "a recipe with arbitrate (ibrl) needs its own policy class, which the Zoo builds from its YAML before "
                "this callback runs: use sb3-finetune finetune (or make_finetune) for it"
            )
        self.prior: Prior | None = None
        self.hook: ActorUpdateHook | None = None
        self.guard: CollapseGuard | None = None
        self.explorer: FrontierExploration | None = None
        self.rehearsal: HoldRehearsal | None = None
        self.escape: SaturationEscape | None = None
        self.floor: EntropyFloor | None = None
        self.decay: EntropyDecay | None = None
        self.acting_as_prior: ActAsPrior | None = None
        self.gate: GateDecision | None = None
        self.decisions: list[str] = []
        """One sentence per decision the warm-up took (the hand-over's horizon), as on ``FinetuneSetup``."""

    def _init_callback(self) -> None:
        if self.prior is not None:
            return
        model = self.model
        self.prior = load_prior(
            self.weights, model.action_space, model.observation_space, self.action_units, self.activation
        ).to(model.device)
        algo = algorithm_name(model)
        rebuild = model.num_timesteps == 0 and "features_extractor_class" not in model.policy_kwargs
        normalised = getattr(model.policy, "critic_layer_norm", False)
        recipe, filled_in = self.recipe.for_algorithm(algo)
        if self.recipe.critic_layer_norm is None and recipe.critic_layer_norm and not normalised and not rebuild:
            # The algorithm's choice, not the user's: a policy that cannot be rebuilt keeps its own critic, and the
            # rest is filled in as without the norm.
            say(
                "critic_layer_norm: off, as this model has stepped or was built with its own features extractor, "
                "and the norm needs the untrained policy rebuilt (set critic_layer_norm=False to say so)",
                self.decisions,
            )
            recipe, filled_in = replace(self.recipe, critic_layer_norm=False).for_algorithm(algo)
        if recipe.hold_rehearsal and algo not in FINETUNE_POLICIES:
            raise ValueError(f"hold_rehearsal takes the actor step of td3, sac and ddpg, not {algo}: turn it off")
        self.recipe = recipe
        for sentence in filled_in:
            say(sentence, self.decisions)
        if recipe.critic_layer_norm and not normalised:
            if algo not in FINETUNE_POLICIES:
                raise ValueError(f"critic_layer_norm is for td3, sac and ddpg, not {algo}: turn it off")
            if not rebuild:
                raise ValueError(
                    "critic_layer_norm rebuilds the untrained policy, and this model has stepped or was built with its "
                    "own features extractor: use sb3-finetune finetune (or make_finetune), or turn it off"
                )
            model.policy_class = FINETUNE_POLICIES[algo]
            model.policy_kwargs = {**model.policy_kwargs, "critic_layer_norm": True}
        if rebuild:
            # Rebuild the (still untrained) policy with the prior's layers as its features, as make_finetune does.
            weights = self.prior.network if not isinstance(self.weights, str) else self.weights
            model.policy_kwargs = pretrained_policy_kwargs(
                weights,
                features_layer=recipe.features_layer,
                freeze=recipe.freeze,
                activation=self.prior.info.activation,
                input_keys=self.prior.info.input_keys,
                layer_norm=normalised_features(recipe, model.observation_space, self.prior, self.decisions),
                **model.policy_kwargs,
            )
            model._setup_model()
        if algo == "sac":  # after the rebuild, which builds SB3's coefficient afresh
            self._start_entropy(model)
        elif getattr(model, "ent_coef", None) == "auto" and recipe.entropy_start is not None:
            say(
                f"entropy_start: off, measured with SAC only; {algo.upper()}'s automatic entropy coefficient starts at "
                "SB3's 1.0 (set ent_coef to auto_<value> to choose the start)",
                self.decisions,
            )
        self.hook = actor_update_hook(recipe, self.prior, model.learning_starts, 0)
        self.hook.init_callback(model)
        if recipe.collapse_guard is not None:
            self.guard = CollapseGuard(
                self.hook,
                recipe.guard_episodes,
                recipe.guard_hold,
                recipe.guard_restores,
                self.decisions,
                recipe.guard_restore,
            )
            self.guard.init_callback(model)
        if recipe.frontier_explore is not None:
            # Its last step is set at training start, when the budget is known.
            self.explorer = FrontierExploration(
                recipe.frontier_explore,
                recipe.explore_episodes,
                0,
                model.seed,
                self.decisions,
                recipe.explore_hold,
                recipe.explore_noise,
            )
            self.explorer.init_callback(model)
            if self.guard is not None:
                self.guard.explorer = self.explorer
            self.hook.explorer = self.explorer
        if recipe.hold_rehearsal and model.num_timesteps > 0:
            say(
                "hold rehearsal: off, the recipe's warm-up, which arms it, does not run on a model that has stepped",
                self.decisions,
            )
            recipe = self.recipe = replace(recipe, **HOLD_REHEARSAL_OFF)
        elif recipe.hold_rehearsal:  # armed by the warm-up, where the gate trusts the prior
            self.rehearsal = hold_rehearsal(recipe, model.seed, self.decisions)
            self.rehearsal.init_callback(model)
        self.escape = saturation_escape(recipe, model, self.decisions)
        if self.escape is not None:
            self.escape.init_callback(model)
        self.floor = entropy_floor(recipe, model, self.decisions)
        if self.floor is not None:
            self.floor.init_callback(model)
        self.decay = entropy_decay(recipe, model, self.decisions)  # its window from the budget, at training start
        if self.decay is not None:
            self.decay.init_callback(model)
        if self.recipe.actor_init or self.recipe.pretrained_warmup or self.recipe.trust_gate is not None:
            self.acting_as_prior = ActAsPrior(model, self.prior)

    def _start_entropy(self, model: Any) -> None:
        """Start SAC's automatic entropy coefficient where the recipe says (``entropy_start``), as make_finetune does.

        On a model that has stepped it is left where it is, and a decision says so.
        """
        ent_coef, said = started_entropy(self.recipe, model.ent_coef)
        if ent_coef != model.ent_coef and model.num_timesteps > 0:
            said = (
                "ent_coef: auto, left where it is: entropy_start moves SB3's start of the coefficient, and this model "
                "has stepped (set ent_coef to auto_<value> when the Zoo builds the model to choose the start)"
            )
        elif ent_coef != model.ent_coef:  # the coefficient is built: start it here, as _setup_model would have
            model.ent_coef = ent_coef
            with th.no_grad():
                model.log_ent_coef.fill_(float(np.log(self.recipe.entropy_start)))
        if said:
            say(said, self.decisions)

    def _on_training_start(self) -> None:
        model, hook = self.model, self.hook
        assert hook is not None and self.prior is not None
        total = model._total_timesteps
        hook.bc_until = int(self.recipe.bc_fade * total)
        if self.explorer is not None:
            self.explorer.until = int(self.recipe.explore_until * total)
        if self.escape is not None:  # from the start, the distillation onto the prior included (as make_finetune's)
            self.escape.on_training_start(self.locals, self.globals)
        if self.floor is not None:  # from the start, the critic's pre-training included (as make_finetune's)
            self.floor.on_training_start(self.locals, self.globals)
        if self.decay is not None:
            self.decay.on_training_start(self.locals, self.globals)
        if model.num_timesteps == 0 and self.acting_as_prior is not None and self.acting_as_prior.attached:
            seed = model.seed if model.seed is not None else int(np.random.default_rng().integers(2**31 - 1))
            reseed(model, seed)  # so that a random probe can start from the same states
            callback = self.locals.get("callback", self)
            self.gate = run_warm_up(
                model,
                self.recipe,
                self.prior,
                self.acting_as_prior,
                [part for part in (hook, self.guard, self.explorer, self.rehearsal) if part is not None],
                callback,
                total,
                seed,
                model.learning_starts,
                decisions=self.decisions,
            )
        hook.on_training_start(self.locals, self.globals)
        for part in (self.explorer, self.rehearsal):
            if part is not None:
                part.on_training_start(self.locals, self.globals)

    def _on_step(self) -> bool:
        assert self.hook is not None
        for part in (self.guard, self.explorer, self.rehearsal, self.decay):
            if part is not None:
                part.update_locals(self.locals)
                part.on_step()
        return self.hook.on_step()

    def _on_training_end(self) -> None:
        assert self.hook is not None
        self.hook.on_training_end()
        for part in (self.explorer, self.rehearsal, self.escape, self.floor):
            if part is not None:
                part.on_training_end()
