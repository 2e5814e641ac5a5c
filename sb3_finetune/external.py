"""Transfer scenarios on standard envs nobody here wrote: the changed tasks, the controllers, and their priors.

Each scenario of :mod:`sb3_finetune.experiment` on these envs has a source task, a simple controller designed for
it, a prior made as a user would make one (behaviour cloning of that controller's rollouts on the source task,
:func:`clone_controller`), and a target task on which the prior is partly right.

Two envs get their physics as arguments, registered here (``gym.make`` after ``import sb3_finetune.external``):

- ``sb3_finetune/PendulumPhysics-v1``: Gymnasium's ``Pendulum-v1`` (200 steps) with the pole's ``mass`` and
  ``length`` as arguments beside ``g``. ``PendulumEnv`` reads ``self.m`` and ``self.l`` in every step, so setting
  them changes the dynamics and nothing else (observations, reward and bounds are as in ``Pendulum-v1``); and
  ``reversed_motor=True`` applies minus the action (a motor wired the other way round: a prior that is wrong).
- ``sb3_finetune/MountainCarPower-v0``: ``MountainCarContinuous-v0`` (999 steps) with the engine's ``power``
  (default 0.0015) as an argument; the force is ``power * action``.

PointMaze is Gymnasium-Robotics' own ``PointMaze_UMazeDense-v3``, with a ``maze_map`` argument for the source
(an open arena: the same 5 x 5 cells with no inner wall).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from torch import nn

from sb3_finetune.evaluation import Policy
from sb3_finetune.pretrain import pretrain, rollout_dataset

PENDULUM_ID = "sb3_finetune/PendulumPhysics-v1"
MOUNTAIN_CAR_ID = "sb3_finetune/MountainCarPower-v0"
POINT_MAZE_ID = "PointMaze_UMazeDense-v3"

OPEN_ARENA = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]
"""PointMaze's UMaze cells without its inner wall: the source task, where heading straight for the goal works."""


class ReversedMotorPendulum(PendulumEnv):
    """``PendulumEnv`` whose motor turns the other way (wired the other way round).

    The reward's torque cost is the same; observations and bounds are ``Pendulum-v1``'s.
    """

    def step(self, u: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """``PendulumEnv.step`` with minus the action as the torque."""
        return super().step(-np.asarray(u, dtype=np.float32))


def make_pendulum(
    render_mode: str | None = None,
    g: float = 10.0,
    mass: float = 1.0,
    length: float = 1.0,
    reversed_motor: bool = False,
) -> PendulumEnv:
    """``Pendulum-v1``'s env with another gravity, pole mass or pole length, or its motor reversed.

    :param render_mode: as ``PendulumEnv``'s
    :param g: gravity (``Pendulum-v1``: 10)
    :param mass: the pole's mass (``Pendulum-v1``: 1)
    :param length: the pole's length (``Pendulum-v1``: 1)
    :param reversed_motor: the torque applied is minus the action (:class:`ReversedMotorPendulum`)
    :return: the env (the time limit comes from the registration)
    """
    env = (ReversedMotorPendulum if reversed_motor else PendulumEnv)(render_mode=render_mode, g=g)
    env.m, env.l = float(mass), float(length)
    return env


def make_mountain_car(render_mode: str | None = None, power: float = 0.0015) -> Continuous_MountainCarEnv:
    """``MountainCarContinuous-v0``'s env with another engine power.

    :param render_mode: as ``Continuous_MountainCarEnv``'s
    :param power: force per unit of action (``MountainCarContinuous-v0``: 0.0015)
    :return: the env (the time limit comes from the registration)
    """
    env = Continuous_MountainCarEnv(render_mode=render_mode)
    env.power = float(power)
    return env


def register_envs() -> None:
    """Register the two ids above (safe to call twice; done on import)."""
    if PENDULUM_ID not in gym.registry:
        gym.register(PENDULUM_ID, entry_point=make_pendulum, max_episode_steps=200)
    if MOUNTAIN_CAR_ID not in gym.registry:
        gym.register(MOUNTAIN_CAR_ID, entry_point=make_mountain_car, max_episode_steps=999, reward_threshold=90.0)


register_envs()


def require(env_id: str) -> None:
    """Make ``env_id`` known to Gymnasium: Gymnasium-Robotics' ids are registered only when one is asked for.

    Importing ``gymnasium_robotics`` prints warnings about envs unrelated to ours, so it is not imported with this
    module (the demo and the nav scenarios never need it).

    :param env_id: an id of a scenario
    :raises ImportError: a PointMaze id without Gymnasium-Robotics installed, with what to install
    """
    if env_id in gym.registry or not env_id.startswith("PointMaze"):
        return
    try:
        import gymnasium_robotics
    except ImportError as exc:
        raise ImportError(
            f"{env_id} needs Gymnasium-Robotics: pip install gymnasium-robotics (it is in the test extra)"
        ) from exc
    gym.register_envs(gymnasium_robotics)


# ---------------------------------------------------------------------------------------------- controllers


def pendulum_swing_up(
    g: float = 10.0, mass: float = 1.0, length: float = 1.0, kp: float = 10.0, kd: float = 2.0
) -> Policy:
    """Energy pumping far from the top, a PD controller near it, designed for the given physics.

    Far from upright (``cos(theta) <= 0.85``) it pushes along the angular velocity while the pole's energy is below
    the upright's; near upright it applies ``-kp * theta - kd * theta_dot``. The torque is clipped to ``[-2, 2]``.

    :param g: the gravity it is designed for
    :param mass: the pole mass it is designed for
    :param length: the pole length it is designed for
    :param kp: proportional gain near the top
    :param kd: derivative gain near the top
    :return: a batch policy (torque in the env's units)
    """

    def act(obs: Any) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        cos, sin, velocity = obs[..., 0], obs[..., 1], obs[..., 2]
        angle = np.arctan2(sin, cos)
        energy = mass * length**2 / 6 * velocity**2 + mass * g * length / 2 * (cos - 1)  # 0 at rest upright
        pump = 2.0 * np.where(velocity >= 0, 1.0, -1.0) * np.clip(-energy, 0.0, None)
        hold = -kp * angle - kd * velocity
        return np.clip(np.where(cos > 0.85, hold, pump), -2.0, 2.0)[..., None].astype(np.float32)

    return act


def mountain_car_pump(scale: float = 0.2) -> Policy:
    """Push along the velocity with a fixed effort (right when still): ``scale * sign(velocity)``.

    Designed on ``MountainCarContinuous-v0`` as the most frugal effort of its kind that still reaches the flag from
    every start (0.2; measured in the README's benchmark notes), so it is short of effort on a weaker engine.

    :param scale: the effort, in ``[0, 1]``
    :return: a batch policy (force in the env's units)
    """

    def act(obs: Any) -> np.ndarray:
        velocity = np.asarray(obs, dtype=np.float64)[..., 1]
        return (scale * np.where(velocity >= 0, 1.0, -1.0))[..., None].astype(np.float32)

    return act


def point_maze_straight(kp: float = 10.0, kd: float = 1.0) -> Policy:
    """Head straight for the goal: ``kp * (goal - position) - kd * velocity``, clipped to ``[-1, 1]``.

    Right in an open arena; in the U-maze it runs into the inner wall whenever that stands between start and goal.

    :param kp: proportional gain
    :param kd: damping gain
    :return: a batch policy on PointMaze's Dict observations
    """

    def act(obs: Any) -> np.ndarray:
        state = np.asarray(obs["observation"], dtype=np.float64)
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        action = kp * (goal - state[..., :2]) - kd * state[..., 2:4]
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    return act


CONTROLLERS: dict[str, Callable[..., Policy]] = {
    "pendulum_swing_up": pendulum_swing_up,
    "mountain_car_pump": mountain_car_pump,
    "point_maze_straight": point_maze_straight,
}
"""The controllers the external scenarios clone, by name (scenarios are plain data)."""


def clone_controller(
    out: str | os.PathLike,
    env_id: str,
    env_kwargs: dict[str, Any] | None,
    controller: Policy,
    steps: int = 20_000,
    noise: float = 0.3,
    seed: int = 0,
    hidden: Sequence[int] = (64, 64),
    epochs: int = 30,
) -> nn.Module:
    """Behaviour-clone a controller from its rollouts on a task and write the network, as a user would.

    The controller acts with Gaussian noise (``noise`` times the action box's half-width) so that the states cover
    its neighbourhood, and every state is labelled with its clean action (DART, Laskey et al. 2017).

    :param out: weights file
    :param env_id: the source task's id
    :param env_kwargs: its arguments
    :param controller: the batch policy to clone
    :param steps: env steps of rollouts
    :param noise: acting noise, relative to the action box's half-width
    :param seed: seed of the rollouts and of the training
    :param hidden: hidden layer sizes
    :param epochs: passes over the data
    :return: the trained network
    """
    require(env_id)
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        dataset = rollout_dataset(controller, env, steps, seed=seed, noise=noise)
    finally:
        env.close()
    return pretrain(out, dataset, epochs, seed, hidden, "relu", source="controller")
