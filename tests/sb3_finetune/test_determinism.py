import gymnasium as gym
import pytest
import torch as th

import nav_env  # noqa: F401
from sb3_finetune.evaluation import evaluate, model_policy
from sb3_finetune.nav import expert_dataset
from sb3_finetune.pretrain import behaviour_clone
from sb3_finetune.recipes import make_finetune


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "agent.pt"
    th.save(behaviour_clone(expert_dataset(samples=3_000), epochs=5).state_dict(), path)
    return str(path)


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
@pytest.mark.parametrize("pretrained", [False, True])
def test_same_seed_same_evaluation_on_cpu(algo, pretrained, weights):
    def train():
        setup = make_finetune(
            algo,
            gym.make("SimpleNavigation-v0"),
            weights if pretrained else None,
            500,
            "default",
            hyperparams={"learning_starts": 200},
            seed=7,
        )
        setup.learn(500)
        return evaluate(model_policy(setup.model), "SimpleNavigation-v0", {}, 20, 0), setup.model

    (first, model_a), (second, model_b) = train(), train()
    assert first == second
    assert th.equal(
        th.nn.utils.parameters_to_vector(model_a.policy.parameters()),
        th.nn.utils.parameters_to_vector(model_b.policy.parameters()),
    )
