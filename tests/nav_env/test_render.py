import builtins
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import DependencyNotInstalled

from nav_env.registration import ENV_IDS
from nav_env.rendering import AGENT, GOAL_AREA, OBSTACLE


def pixel(frame, x, y):
    """The colour of the pixel at arena coordinates (x, y)."""
    size = frame.shape[0]
    col = int((x + 1.0) / 2.0 * size)
    row = int((1.0 - y) / 2.0 * size)
    return tuple(frame[min(row, size - 1), min(col, size - 1)])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_frame_shows_agent_goal_and_obstacles(env_id):
    env = gym.make(env_id, render_mode="rgb_array", obstacles=[(-0.5, -0.5, 0.2)])
    options = {"start_position": (-0.6, 0.6)}
    if env_id == "SimpleNavigationGoal-v0":
        options["goal_position"] = (0.5, 0.5)
    env.reset(seed=0, options=options)
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    assert pixel(frame, -0.6, 0.6) == AGENT
    assert pixel(frame, 0.55, 0.45) == GOAL_AREA
    assert pixel(frame, -0.5, -0.5) == OBSTACLE
    env.step(np.array([1.0, 0.0], dtype=np.float32))
    moved = env.render()
    assert pixel(moved, -0.5, 0.6) == AGENT
    assert pixel(moved, -0.6, 0.6) != AGENT
    assert frame is not moved


def test_human_mode_opens_a_window(monkeypatch):
    pytest.importorskip("pygame")
    env = gym.make("SimpleNavigation-v0", render_mode="human")
    env.reset(seed=0)
    assert env.unwrapped._window is not None
    assert env.render() is None
    env.close()
    env.close()  # closing twice is fine
    assert env.unwrapped._window is None


def test_human_mode_without_pygame_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pygame(name, *args, **kwargs):
        if name == "pygame" or name.startswith("pygame."):
            raise ImportError("No module named 'pygame'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "pygame", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pygame)
    env = gym.make("SimpleNavigation-v0", render_mode="human")
    with pytest.raises(DependencyNotInstalled, match=r"sb3-finetune\[render\]"):
        env.reset(seed=0)


def test_render_without_mode_warns_and_returns_none():
    env = gym.make("SimpleNavigation-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_record_video_writes_a_file(env_id, tmp_path):
    pytest.importorskip("moviepy")
    env = gym.wrappers.RecordVideo(
        gym.make(env_id, render_mode="rgb_array"), video_folder=str(tmp_path), episode_trigger=lambda _: True
    )
    env.reset(seed=0)
    for _ in range(10):
        env.step(env.action_space.sample())
    env.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 0
