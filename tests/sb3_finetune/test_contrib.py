import gymnasium as gym
import pytest
from conftest import clone_state, states_equal

from sb3_finetune import PretrainedFeaturesExtractor, load_pretrained, pretrained_extractors

sb3_contrib = pytest.importorskip("sb3_contrib")


@pytest.mark.parametrize("algo_name", ["TQC", "CrossQ"])
@pytest.mark.parametrize("freeze", [False, True])
def test_contrib_algorithms_work_with_the_extractor(algo_name, freeze, agent, agent_file, tmp_path):
    algo = getattr(sb3_contrib, algo_name)
    model = algo(
        "MlpPolicy",
        gym.make("SimpleNavigation-v0"),
        policy_kwargs={
            "features_extractor_class": PretrainedFeaturesExtractor,
            "features_extractor_kwargs": {"weights": str(agent_file), "freeze": freeze},
            "net_arch": [32, 32],
        },
        learning_starts=50,
        batch_size=32,
        seed=0,
        device="cpu",
    )
    extractors = pretrained_extractors(model)
    for extractor in extractors.values():
        assert states_equal(clone_state(extractor.network), agent.state_dict())
    model.learn(150)
    if freeze:
        for extractor in extractors.values():
            assert states_equal(clone_state(extractor.network), agent.state_dict())
    load_pretrained(model, agent.state_dict())
    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip", device="cpu")
    obs = gym.make("SimpleNavigation-v0").observation_space.sample()
    assert (model.predict(obs, deterministic=True)[0] == loaded.predict(obs, deterministic=True)[0]).all()
