"""Native vector versions of the environments: numpy over all copies at once.

Built by ``gym.make_vec(env_id, num_envs=N, vectorization_mode="vector_entry_point")``. They use the same
:class:`~nav_env.dynamics.NavigationRules` as the single environments and autoreset in Gymnasium's ``NEXT_STEP``
mode: the step after an episode ends returns the reset observation with reward 0 and both flags ``False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from nav_env.dynamics import ARENA_HIGH, ARENA_LOW, NavigationRules, as_point, round_to_float32
from nav_env.envs import REWARD_TYPES, _check_options
from nav_env.rendering import ArenaRenderer


def _points_option(name: str, value: Any, num_envs: int, rules: NavigationRules) -> np.ndarray:
    """A point ``(2,)`` for every copy or one per copy ``(num_envs, 2)``, validated and rounded to float32."""
    array = np.asarray(value)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    if rows.ndim != 2 or rows.shape[0] not in (1, num_envs):
        raise ValueError(f"{name} must have shape (2,) or ({num_envs}, 2), got {array.shape}")
    points = []
    for index, row in enumerate(rows):
        point = round_to_float32(*as_point(f"{name}[{index}]", row))
        rules.check_free(f"{name}[{index}]", point)
        points.append(point)
    return np.broadcast_to(np.array(points, dtype=np.float64), (num_envs, 2)).copy()


def _distances(positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
    offset = positions - goals
    offset *= offset
    return np.sqrt(offset[:, 0] + offset[:, 1])


class _NavigationVectorBase(VectorEnv):
    """Batched moves, validation, autoreset and rendering shared by the two vector environments."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None,
        max_step: float,
        goal_radius: float,
        success_bonus: float,
        drift: tuple[float, float],
        obstacles: tuple[tuple[float, float, float], ...] | None,
        render_mode: str | None,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.rules = NavigationRules(
            max_step=max_step,
            goal_radius=goal_radius,
            success_bonus=success_bonus,
            drift=drift,
            obstacles=obstacles or (),
        )
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._position_space = spaces.Box(ARENA_LOW, ARENA_HIGH, shape=(2,), dtype=np.float32)
        self._positions: np.ndarray | None = None
        self._goals = np.zeros((self.num_envs, 2))
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._renderer: ArenaRenderer | None = None

    # ------------------------------------------------------------------ hooks for the subclasses

    def _observations(self) -> Any:
        raise NotImplementedError

    def _rewards(self, distances: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        return rewards

    def _new_goals(self, count: int) -> np.ndarray | None:
        """Goals for ``count`` copies that start a new episode, or ``None`` for a fixed goal."""
        return None

    # ------------------------------------------------------------------ API

    def _validate_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.dtype == np.bool_ or array.dtype.kind not in "iuf":
            raise TypeError(f"actions must hold real numbers, got dtype {array.dtype}")
        if array.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {array.shape}")
        finite = np.isfinite(array)
        if not finite.all():
            bad = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(f"actions must be finite; non-finite actions for env indices {bad[:10].tolist()}")
        return array

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Move every copy; copies that ended at the previous step are reset instead (``NEXT_STEP`` autoreset).

        :param actions: array of shape ``(num_envs, 2)``; clipped to ``[-1, 1]``
        :return: ``(observations, rewards, terminations, truncations, infos)``; ``infos`` holds ``is_success``
            and ``distance`` arrays with their ``_is_success``/``_distance`` masks; as in ``SyncVectorEnv``, a copy
            reset at this step has only its reset info (``distance``), so ``_is_success`` is False there (and the
            key is absent when every copy was reset)
        """
        if self._positions is None:
            raise ResetNeeded("call reset() before step(): the env has no positions yet")
        actions = self._validate_actions(actions)
        positions, distances, rewards, successes = self.rules.step_batch(self._positions, actions, self._goals)
        rewards = self._rewards(distances, rewards)
        np.add(self._steps, 1, out=self._steps)
        terminated = successes.copy()
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=bool)
        else:
            truncated = self._steps >= self.max_episode_steps

        restart = np.flatnonzero(self._prev_done)  # integer indices: cheaper than repeated boolean masks
        if restart.size:
            positions[restart] = self.rules.sample_free_points(self.np_random, restart.size)
            goals = self._new_goals(restart.size)
            if goals is not None:
                self._goals[restart] = goals
            distances[restart] = _distances(positions[restart], self._goals[restart])
            successes[restart] = False
            rewards[restart] = 0.0
            terminated[restart] = False
            truncated[restart] = False
            self._steps[restart] = 0

        self._positions = positions
        self._prev_done = terminated | truncated
        # As SyncVectorEnv of the single env: a copy reset at this step reports its reset info (distance only).
        stepped = np.ones(self.num_envs, dtype=bool)
        stepped[restart] = False
        infos: dict[str, Any] = {}
        if stepped.any():
            infos["is_success"], infos["_is_success"] = successes, stepped
        infos["distance"], infos["_distance"] = distances, np.ones(self.num_envs, dtype=bool)
        return self._observations(), rewards, terminated, truncated, infos

    def _reset_positions(self, seed: int | list[int] | None, options: dict[str, Any], allowed: tuple[str, ...]):
        if isinstance(seed, list):
            raise ValueError("this vector env draws all copies from one generator: pass one int seed, not a list")
        super().reset(seed=seed)
        options = _check_options(options, allowed)
        start = options.get("start_position")
        if start is None:
            self._positions = self.rules.sample_free_points(self.np_random, self.num_envs)
        else:
            self._positions = _points_option("options['start_position']", start, self.num_envs, self.rules)
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        return options

    def _reset_infos(self) -> dict[str, Any]:
        distances = _distances(self._positions, self._goals)
        return {"distance": distances, "_distance": np.ones(self.num_envs, dtype=bool)}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``uint8`` frame ``(256, 256, 3)`` per copy in ``"rgb_array"`` mode.

        :return: a tuple of frames, or ``None`` without a render mode
        """
        if self.render_mode is None:
            return None
        if self._positions is None:
            raise ResetNeeded("call reset() before render(): the env has no positions yet")
        if self._renderer is None:
            self._renderer = ArenaRenderer(self.rules)
        return tuple(self._renderer.frame(p, g) for p, g in zip(self._positions, self._goals, strict=True))


class SimpleNavigationVectorEnv(_NavigationVectorBase):
    """``num_envs`` copies of :class:`~nav_env.SimpleNavigationEnv` stepped together with numpy.

    Same arguments as the single env (see its docstring), plus:

    :param num_envs: number of copies
    :param max_episode_steps: truncate each copy after this many steps (``gym.make_vec`` passes the registered
        100); ``None`` for no limit
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 100,
        goal_position: tuple[float, float] = (0.5, 0.5),
        max_step: float = 0.1,
        goal_radius: float = 0.1,
        success_bonus: float = 0.0,
        drift: tuple[float, float] = (0.0, 0.0),
        obstacles: tuple[tuple[float, float, float], ...] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            num_envs, max_episode_steps, max_step, goal_radius, success_bonus, drift, obstacles, render_mode
        )
        goal = round_to_float32(*as_point("goal_position", goal_position))
        self.rules.check_free("goal_position", goal)
        self._goals[:] = goal
        self.single_observation_space = self._position_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def _observations(self) -> np.ndarray:
        return self._positions.astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every copy.

        :param seed: one seed for the shared generator
        :param options: ``{"start_position": (2,) or (num_envs, 2)}`` to fix the starts
        :return: ``(observations, infos)``
        """
        self._reset_positions(seed, options, ("start_position",))
        return self._observations(), self._reset_infos()


class SimpleNavigationGoalVectorEnv(_NavigationVectorBase):
    """``num_envs`` copies of :class:`~nav_env.SimpleNavigationGoalEnv` stepped together with numpy.

    Same arguments as the single env (see its docstring), plus:

    :param num_envs: number of copies
    :param max_episode_steps: truncate each copy after this many steps; ``None`` for no limit
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = 100,
        reward_type: str = "dense",
        max_step: float = 0.1,
        goal_radius: float = 0.1,
        success_bonus: float = 0.0,
        drift: tuple[float, float] = (0.0, 0.0),
        obstacles: tuple[tuple[float, float, float], ...] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            num_envs, max_episode_steps, max_step, goal_radius, success_bonus, drift, obstacles, render_mode
        )
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"reward_type must be one of {list(REWARD_TYPES)}, got {reward_type!r}")
        self.reward_type = reward_type
        self._sparse = reward_type == "sparse"
        self.single_observation_space = spaces.Dict(
            {
                "observation": self._position_space,
                "achieved_goal": self._position_space,
                "desired_goal": self._position_space,
            }
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def _observations(self) -> dict[str, np.ndarray]:
        positions = self._positions.astype(np.float32)
        return {
            "observation": positions,
            "achieved_goal": positions.copy(),
            "desired_goal": self._goals.astype(np.float32),
        }

    def _rewards(self, distances: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        return np.asarray(self.rules.reward_from_distance(distances, sparse=self._sparse), dtype=np.float64)

    def _new_goals(self, count: int) -> np.ndarray:
        return self.rules.sample_free_points(self.np_random, count)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy: new starts, then new goals.

        :param seed: one seed for the shared generator
        :param options: ``{"start_position": ..., "goal_position": ...}``, each ``(2,)`` or ``(num_envs, 2)``
        :return: ``(observations, infos)``
        """
        options = self._reset_positions(seed, options, ("start_position", "goal_position"))
        goal = options.get("goal_position")
        if goal is None:
            self._goals = self.rules.sample_free_points(self.np_random, self.num_envs)
        else:
            self._goals = _points_option("options['goal_position']", goal, self.num_envs, self.rules)
        return self._observations(), self._reset_infos()

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray | float:
        """The step reward for any achieved and desired goals, vectorised (for HER).

        :param achieved_goal: positions, shape ``(..., 2)``
        :param desired_goal: goals, shape ``(..., 2)``
        :param info: ignored (kept for the ``GoalEnv`` signature)
        :return: rewards of shape ``(...)``
        """
        return self.rules.goal_reward(achieved_goal, desired_goal, sparse=self._sparse)
