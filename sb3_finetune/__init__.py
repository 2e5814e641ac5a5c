"""Fine-tune pretrained PyTorch networks with Stable-Baselines3's off-policy algorithms (DDPG, TD3, SAC).

The pieces:

- :class:`PretrainedFeaturesExtractor`: the pretrained network as an SB3 features extractor, in every network
  that owns one (actor, critic, and their targets), whole or partly frozen;
- :func:`load_pretrained`: put weights into an existing model, checked before anything changes;
- :func:`set_frozen_layers`, :func:`set_layer_norm`, :class:`UnfreezeCallback`,
  :class:`PretrainedLearningRateCallback`: schedules;
- :class:`SaturationEscape`: a callback for any TD3 or DDPG model, letting an actor saturated at the action bound
  follow its critic inwards; :class:`EntropyFloor`: one for any SAC model with ``ent_coef="auto"``, holding the
  tuned entropy coefficient at or above a floor; :class:`EntropyDecay`: one for any SAC model with a fixed
  coefficient, lowering it over a window of the budget;
- :func:`pretrained_policy_kwargs`, :func:`load_model`: models that save and load anywhere;
- :func:`load_prior`, :class:`Prior`: a pretrained network as a policy on any env, its action units stated;
- :func:`finetune`, :func:`make_finetune`, :data:`RECIPES`: fine-tuning recipes on any Gymnasium env;
- :func:`evaluate`: seeded evaluation on any Gymnasium env or SB3 VecEnv;
- :mod:`sb3_finetune.arbitration`: the ``ibrl`` recipe's policies, acting with the better of the actor and the prior
  by the critic;
- :mod:`sb3_finetune.external`: the benchmark's tasks on standard envs (changed physics, controllers, their clones).

Only :mod:`sb3_finetune.nav`, :mod:`sb3_finetune.experiment` and :mod:`sb3_finetune.demo` know ``nav_env``.
"""

from sb3_finetune.adapter import (
    load_model,
    load_pretrained,
    pretrained_extractors,
    pretrained_policy_kwargs,
    set_frozen_layers,
    set_layer_norm,
)
from sb3_finetune.callbacks import (
    EntropyDecay,
    EntropyFloor,
    PretrainedLearningRateCallback,
    SaturationEscape,
    UnfreezeCallback,
)
from sb3_finetune.evaluation import evaluate, model_policy, prior_policy
from sb3_finetune.extractor import PretrainedFeaturesExtractor
from sb3_finetune.networks import LinearStack, SimpleNavigationAgent, infer_linear_layers
from sb3_finetune.prior import Prior, load_prior
from sb3_finetune.recipes import RECIPES, FinetuneSetup, Recipe, finetune, get_recipe, make_finetune
from sb3_finetune.weights import PretrainedWeightsError, read_metadata, read_weights, save_weights

__all__ = [
    "RECIPES",
    "EntropyDecay",
    "EntropyFloor",
    "FinetuneSetup",
    "LinearStack",
    "PretrainedFeaturesExtractor",
    "PretrainedLearningRateCallback",
    "PretrainedWeightsError",
    "Prior",
    "Recipe",
    "SaturationEscape",
    "SimpleNavigationAgent",
    "UnfreezeCallback",
    "evaluate",
    "finetune",
    "get_recipe",
    "infer_linear_layers",
    "load_model",
    "load_pretrained",
    "load_prior",
    "make_finetune",
    "model_policy",
    "pretrained_extractors",
    "pretrained_policy_kwargs",
    "prior_policy",
    "read_metadata",
    "read_weights",
    "save_weights",
    "set_frozen_layers",
    "set_layer_norm",
]
