import os
import pickle
import zipfile

import pytest
import torch as th
from conftest import clone_state, make_model, states_equal

from sb3_finetune import PretrainedWeightsError, SimpleNavigationAgent, load_pretrained, read_weights


class RunsCode:
    """Unpickling this creates a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_checkpoint(path, marker):
    state = SimpleNavigationAgent().state_dict()
    state["payload"] = RunsCode(str(marker))
    th.save(state, path)


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    weights, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    malicious_checkpoint(weights, marker)
    with pytest.raises(PretrainedWeightsError, match=r"refusing to load .*pickled objects"):
        make_model("sac", str(weights))
    assert not marker.exists()


def test_pickled_payload_via_load_pretrained_leaves_the_model_unchanged(tmp_path, agent_file):
    weights, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    malicious_checkpoint(weights, marker)
    model = make_model("td3", str(agent_file))
    before = clone_state(model.policy)
    with pytest.raises(PretrainedWeightsError, match=r"refusing"):
        load_pretrained(model, weights)
    assert not marker.exists()
    assert states_equal(before, clone_state(model.policy))


def test_pickled_payload_inside_an_sb3_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    inner = tmp_path / "policy.pth"
    malicious_checkpoint(inner, marker)
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(inner, "policy.pth")
    with pytest.raises(PretrainedWeightsError, match="refusing"):
        read_weights(archive)
    assert not marker.exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pt"):
        make_model("sac", str(tmp_path / "nowhere.pt"))


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (os.urandom(512), ".pt", "not a readable PyTorch checkpoint"),
        (b"", ".pt", "not a readable PyTorch checkpoint"),
        (b"\x00\x00\x00\x00garbage", ".safetensors", "not a valid safetensors file"),
        (b"hello", ".zip", "not a readable PyTorch checkpoint"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(PretrainedWeightsError, match=message):
        make_model("sac", str(path))


def test_truncated_checkpoint(tmp_path, agent_file):
    data = agent_file.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PretrainedWeightsError, match="truncated"):
        make_model("sac", str(truncated))


def test_zip_that_is_not_an_sb3_model(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(PretrainedWeightsError):
        make_model("sac", str(path))


def test_checkpoint_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "tensor.pt"
    th.save(th.zeros(3), path)
    with pytest.raises(PretrainedWeightsError, match="not a state dict"):
        make_model("sac", str(path))


def test_weights_that_do_not_fit_the_observation_space(tmp_path):
    path = tmp_path / "wide.pt"
    th.save(SimpleNavigationAgent(observation_dim=3).state_dict(), path)
    with pytest.raises(
        PretrainedWeightsError, match=r"layer 'fc1' takes 3 inputs but the observations have shape \(2,\)"
    ):
        make_model("sac", str(path))


def test_weights_that_do_not_fit_the_named_architecture(tmp_path):
    path = tmp_path / "narrow.pt"
    th.save(SimpleNavigationAgent(hidden_dim=32).state_dict(), path)
    with pytest.raises(
        PretrainedWeightsError,
        match=r"layer 'fc1' \(fc1.weight\): the network has shape \(64, 2\), the weights have \(32, 2\)",
    ):
        make_model("sac", str(path), architecture=SimpleNavigationAgent)


def test_missing_and_unexpected_keys_are_listed(agent):
    state = agent.state_dict()
    state["fc3.weight"] = state.pop("fc2.weight")
    with pytest.raises(
        PretrainedWeightsError, match=r"missing keys \['fc2.weight'\].*unexpected keys \['fc3.weight'\]"
    ):
        make_model("sac", state, architecture=SimpleNavigationAgent)


def test_state_dict_that_is_not_linear_layers_asks_for_the_architecture():
    state = {"conv.weight": th.zeros(4, 1, 3, 3), "conv.bias": th.zeros(4)}
    with pytest.raises(ValueError, match="architecture="):
        make_model("sac", state)


def test_failed_load_pretrained_changes_nothing(agent_file):
    model = make_model("td3", str(agent_file), freeze=True)
    before = clone_state(model.policy)
    bad = SimpleNavigationAgent(hidden_dim=16).state_dict()
    with pytest.raises(PretrainedWeightsError, match="shape"):
        load_pretrained(model, bad)
    with pytest.raises(FileNotFoundError):
        load_pretrained(model, "/nonexistent/agent.pt")
    assert states_equal(before, clone_state(model.policy))


def test_load_pretrained_on_a_model_without_the_extractor():
    import gymnasium as gym
    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", gym.make("SimpleNavigation-v0"), device="cpu")
    with pytest.raises(ValueError, match="PretrainedFeaturesExtractor"):
        load_pretrained(model, SimpleNavigationAgent().state_dict())


@pytest.mark.parametrize(("freeze", "message"), [(3, "freeze must be"), (-1, "freeze must be")])
def test_bad_freeze(agent_file, freeze, message):
    with pytest.raises(ValueError, match=message):
        make_model("sac", str(agent_file), freeze=freeze)


def test_bad_features_layer(agent_file):
    with pytest.raises(ValueError, match="features_layer must be between 1 and 1"):
        make_model("sac", str(agent_file), features_layer=2)


def test_refuses_pickle_protocol_files_outright(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(RunsCode(str(marker))))
    with pytest.raises(PretrainedWeightsError):
        read_weights(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", os.urandom(300), b"\xff\xff\xff\xff\xff\xff\xff\x7f{not json", b"PK\x03\x04 not really a zip"],
    ids=["empty", "random", "bad-safetensors-header", "fake-zip"],
)
@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".zip"])
def test_load_pretrained_with_any_broken_file_leaves_the_model_unchanged(agent_file, tmp_path, content, suffix):
    model = make_model("sac", str(agent_file), freeze=1)
    before = clone_state(model.policy)
    kwargs_before = dict(model.policy_kwargs["features_extractor_kwargs"])
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(content)
    with pytest.raises(PretrainedWeightsError):
        load_pretrained(model, path)
    assert states_equal(before, clone_state(model.policy))
    assert model.policy_kwargs["features_extractor_kwargs"] == kwargs_before
