"""Fine-tune pretrained PyTorch networks with Stable-Baselines3's off-policy algorithms (DDPG, TD3, SAC).

The pieces:

- :class:`PretrainedFeaturesExtractor`: the pretrained network as an SB3 features extractor, in every network
  that owns one (actor, critic, and their targets), whole or partly frozen;
- :func:`load_pretrained`: put weights into an existing model, checked before anything changes;
- :func:`set_frozen_layers`, :class:`UnfreezeCallback`, :class:`PretrainedLearningRateCallback`: schedules;
- :func:`pretrained_policy_kwargs`, :func:`load_model`: models that save and load anywhere.
"""

from sb3_finetune.adapter import (
    load_model,
    load_pretrained,
    pretrained_extractors,
    pretrained_policy_kwargs,
    set_frozen_layers,
)
from sb3_finetune.callbacks import PretrainedLearningRateCallback, UnfreezeCallback
from sb3_finetune.extractor import PretrainedFeaturesExtractor
from sb3_finetune.networks import LinearStack, SimpleNavigationAgent, infer_linear_layers
from sb3_finetune.weights import PretrainedWeightsError, read_weights, save_weights

__all__ = [
    "LinearStack",
    "PretrainedFeaturesExtractor",
    "PretrainedLearningRateCallback",
    "PretrainedWeightsError",
    "SimpleNavigationAgent",
    "UnfreezeCallback",
    "infer_linear_layers",
    "load_model",
    "load_pretrained",
    "pretrained_extractors",
    "pretrained_policy_kwargs",
    "read_weights",
    "save_weights",
    "set_frozen_layers",
]
