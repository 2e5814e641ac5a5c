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


@pytest.mark.real_defaults
def test_the_rl_zoo_callback_runs_the_default_recipe_on_tqc(pendulum_prior):
    """The default recipe leaves critic pre-training and the hand-over to the algorithm; an algorithm with no figure of
    its own gets neither (as every algorithm did before), and a decision says so."""
    from sb3_finetune.zoo import FinetuneCallback

    model = sb3_contrib.TQC("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, distill_steps=10)
    model.learn(400, callback=callback)
    assert model.num_timesteps == 400 and callback.recipe.critic_pretrain_steps == 0
    assert callback.recipe.warmup_handover is False
    for field in ("critic_pretrain_steps", "warmup_handover"):
        (said,) = [d for d in callback.decisions if d.startswith(f"{field}:")]
        assert "TQC's in the default recipe (no figure was measured for it" in said
    assert not [d for d in callback.decisions if d.startswith(("critic pre-training", "warm-up hand-over"))]
    # SB3's automatic entropy coefficient (TQC's default) keeps its start: entropy_start was measured with SAC only
    assert model.ent_coef == "auto"
    assert any(d.startswith("entropy_start: off, measured with SAC only") for d in callback.decisions)


def test_the_rl_zoo_callback_refuses_a_hold_rehearsal_on_tqc(pendulum_prior):
    """The rehearsal takes SAC's, TD3's or DDPG's actor step; TQC's critic gives quantiles, so it is refused before
    the policy is touched (the default leaves it off there, with no figure measured)."""
    from sb3_finetune.zoo import FinetuneCallback

    model = sb3_contrib.TQC("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs={"net_arch": [16]})
    policy = model.policy
    callback = FinetuneCallback(pendulum_prior, hold_rehearsal=1.0, critic_warmup=300)
    with pytest.raises(ValueError, match="hold_rehearsal takes the actor step of td3, sac and ddpg, not TQC"):
        callback.init_callback(model)
    assert model.policy is policy and callback.rehearsal is None
