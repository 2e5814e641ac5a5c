"""The single-agent environments: ``SimpleNavigation-v0`` and its goal-conditioned sibling."""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from nav_env.dynamics import ARENA_HIGH, ARENA_LOW, NavigationRules, as_point, round_to_float32
from nav_env.rendering import ArenaRenderer, HumanWindow

_INF = math.inf
_EMPTY = np.empty
_FLOAT32 = np.float32
RENDER_MODES = ["human", "rgb_array"]
RENDER_FPS = 30
REWARD_TYPES = ("dense", "sparse")


def parse_action(action: Any) -> tuple[float, float]:
    """Return a finite 2-d action as two floats (not yet clipped), or raise an error that names the problem.

    :param action: the action passed to ``step``
    :return: ``(ax, ay)``
    :raises ValueError: wrong shape, NaN or infinite values
    :raises TypeError: values that are not real numbers
    """
    if type(action) is np.ndarray and action.shape == (2,) and action.dtype.kind == "f":
        ax, ay = action.tolist()
    else:
        try:
            array = np.asarray(action)
        except Exception as exc:  # ragged sequences and other oddities
            raise ValueError(f"action must be 2 numbers, got {action!r}") from exc
        if array.dtype == np.bool_ or array.dtype.kind not in "iuf":
            raise TypeError(f"action must hold real numbers, got dtype {array.dtype} from {action!r}")
        if array.shape != (2,):
            raise ValueError(f"action must have shape (2,), got shape {array.shape}")
        ax, ay = (float(v) for v in array.tolist())
    if not (-_INF < ax < _INF and -_INF < ay < _INF):
        raise ValueError(f"action must be finite, got {action!r}")
    return ax, ay


def _check_options(options: dict[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    if options is None:
        return {}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; this env accepts {list(allowed)}")
    return options


class _NavigationBase(gym.Env):
    """Rules, rendering and closing shared by the two single-agent environments."""

    metadata = {"render_modes": RENDER_MODES, "render_fps": RENDER_FPS}

    def __init__(
        self,
        max_step: float,
        goal_radius: float,
        success_bonus: float,
        drift: tuple[float, float],
        obstacles: tuple[tuple[float, float, float], ...] | None,
        render_mode: str | None,
    ) -> None:
        self.rules = NavigationRules(
            max_step=max_step,
            goal_radius=goal_radius,
            success_bonus=success_bonus,
            drift=drift,
            obstacles=obstacles or (),
        )
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._position_space = spaces.Box(ARENA_LOW, ARENA_HIGH, shape=(2,), dtype=np.float32)
        self._x: float | None = None
        self._y = 0.0
        self._gx = 0.0
        self._gy = 0.0
        self._renderer: ArenaRenderer | None = None
        self._window: HumanWindow | None = None

    @property
    def position(self) -> np.ndarray:
        """The agent's position (a copy)."""
        if self._x is None:
            raise ResetNeeded("the env has no position before the first call to reset()")
        return np.array((self._x, self._y), dtype=np.float32)

    @property
    def goal(self) -> np.ndarray:
        """The current goal (a copy)."""
        return np.array((self._gx, self._gy), dtype=np.float32)

    def _start(self, options: dict[str, Any]) -> None:
        start = options.get("start_position")
        if start is None:
            self._x, self._y = self.rules.sample_free_points(self.np_random, 1)[0].tolist()
        else:
            point = round_to_float32(*as_point("options['start_position']", start))
            self.rules.check_free("options['start_position']", point)
            self._x, self._y = point

    def _distance(self) -> float:
        dx = self._x - self._gx
        dy = self._y - self._gy
        return math.sqrt(dx * dx + dy * dy)

    def _check_reset(self) -> None:
        if self._x is None:
            raise ResetNeeded("call reset() before step(): the env has no position yet")

    def render(self) -> np.ndarray | None:
        """Render the current state: an RGB frame for ``"rgb_array"``, a window for ``"human"``.

        :return: a ``uint8`` array ``(256, 256, 3)`` in ``"rgb_array"`` mode, else ``None``
        """
        if self.render_mode is None:
            gym.logger.warn(
                "You are calling render method without specifying any render mode. "
                'Pass render_mode="rgb_array" or "human" when making the env.'
            )
            return None
        if self._renderer is None:
            self._renderer = ArenaRenderer(self.rules)
        # Before the first reset there is no agent to draw.
        position = (math.nan, math.nan) if self._x is None else (self._x, self._y)
        frame = self._renderer.frame(position, (self._gx, self._gy))
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(self._renderer.size, self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        """Close the window of ``"human"`` rendering, if any; safe to call twice."""
        if self._window is not None:
            self._window.close()
            self._window = None


class SimpleNavigationEnv(_NavigationBase):
    """A point agent moves to a fixed goal in the square arena ``[-1, 1]^2``.

    ## Description

    A point agent moves in the square arena ``[-1, 1]^2`` towards a fixed goal. This is the 2-D navigation task of
    the design note the project grew from (a pretrained 2-64-2 network is fine-tuned on it with off-policy RL),
    given bounded actions, seeding and the Gymnasium API. Variants for transfer experiments move the goal, change
    the step size, add a constant drift (wind) or circular obstacles.

    ## Action Space

    The action is a `ndarray` with shape `(2,)`: the displacement, in units of `max_step`.
    Finite actions outside `[-1, 1]` are clipped; NaN, infinite or wrongly shaped actions raise `ValueError`.

    | Num | Action                  | Min  | Max |
    |-----|-------------------------|------|-----|
    | 0   | move along x / max_step | -1.0 | 1.0 |
    | 1   | move along y / max_step | -1.0 | 1.0 |

    ## Observation Space

    The observation is a `ndarray` with shape `(2,)`: the agent's position (float32; the state is kept at that
    precision, so the observation is the state).

    | Num | Observation | Min  | Max |
    |-----|-------------|------|-----|
    | 0   | x           | -1.0 | 1.0 |
    | 1   | y           | -1.0 | 1.0 |

    ## Rewards

    *r = -‖position - goal‖* after the move, plus `success_bonus` on the step that reaches the goal. The default
    (no bonus) is the note's reward; the optimal return from a start at distance *d* is about *-d²/(2·0.14)*.

    ## Starting State

    The position is drawn uniformly from `[-1, 1]^2` (outside obstacles) with `self.np_random`.
    `reset(options={"start_position": (x, y)})` fixes it, e.g. for evaluation.

    ## Episode End

    1. Termination: the distance to the goal is below `goal_radius`.
    2. Truncation: 100 steps (the registration's `max_episode_steps`).

    One step: the action is clipped to `[-1, 1]`; the move is `action * max_step + drift`; the position is
    clipped to the arena (the agent slides along the walls) and stops on the boundary of the first obstacle the
    move would enter. `info` holds `is_success` (bool) and `distance` (to the goal, after the move).

    ## Arguments

    ```python
    import gymnasium as gym
    import nav_env

    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, 0.5), obstacles=[(0.0, 0.0, 0.3)])
    ```

    | Parameter       | Type                      | Default      | Description                                      |
    |-----------------|---------------------------|--------------|--------------------------------------------------|
    | `goal_position` | `tuple[float, float]`     | `(0.5, 0.5)` | goal, inside the arena and outside obstacles     |
    | `max_step`      | `float`                   | `0.1`        | length of a unit move on one axis (> 0)          |
    | `goal_radius`   | `float`                   | `0.1`        | success when closer than this to the goal (> 0)  |
    | `success_bonus` | `float`                   | `0.0`        | added to the reward on reaching the goal         |
    | `drift`         | `tuple[float, float]`     | `(0.0, 0.0)` | constant displacement added to every move        |
    | `obstacles`     | `list[(x, y, radius)]`    | `()`         | circles the agent cannot enter                   |
    | `render_mode`   | `str` or `None`       | `None`       | `"rgb_array"` or `"human"` (needs `[render]`)    |

    A bad value (a goal outside the arena or inside an obstacle, a non-finite number, a non-positive step or
    radius) raises `ValueError` at construction.

    ## Version History

    * v0: Initial version.
    """

    def __init__(
        self,
        goal_position: tuple[float, float] = (0.5, 0.5),
        max_step: float = 0.1,
        goal_radius: float = 0.1,
        success_bonus: float = 0.0,
        drift: tuple[float, float] = (0.0, 0.0),
        obstacles: tuple[tuple[float, float, float], ...] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(max_step, goal_radius, success_bonus, drift, obstacles, render_mode)
        goal = round_to_float32(*as_point("goal_position", goal_position))
        self.rules.check_free("goal_position", goal)
        self._gx, self._gy = goal
        self.observation_space = self._position_space

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Move the agent by ``action * max_step + drift``; see the class docstring.

        :param action: array of shape ``(2,)``; clipped to ``[-1, 1]``
        :return: ``(observation, reward, terminated, truncated, info)``
        """
        x = self._x
        if x is None:
            self._check_reset()
        # Fast path for a float array of shape (2,); anything else goes through parse_action's checks.
        try:
            ax, ay = action.tolist()
        except Exception:
            ax = ay = None
        if not (ax.__class__ is float and ay.__class__ is float and -_INF < ax < _INF and -_INF < ay < _INF):
            ax, ay = parse_action(action)
        x, y, distance, reward, success = self.rules.step_one(x, self._y, ax, ay, self._gx, self._gy)
        self._x = x
        self._y = y
        observation = _EMPTY(2, _FLOAT32)
        observation[0] = x
        observation[1] = y
        if self.render_mode == "human":
            self.render()
        return observation, reward, success, False, {"is_success": success, "distance": distance}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Draw a new start position (or take ``options["start_position"]``).

        :param seed: seed for ``self.np_random``
        :param options: ``{"start_position": (x, y)}`` to fix the start
        :return: ``(observation, info)``; ``info`` holds ``distance``
        """
        super().reset(seed=seed)
        self._start(_check_options(options, ("start_position",)))
        if self.render_mode == "human":
            self.render()
        return np.array((self._x, self._y), dtype=np.float32), {"distance": self._distance()}


class SimpleNavigationGoalEnv(_NavigationBase):
    """A point agent moves to a goal that is drawn every episode and observed (a ``GoalEnv`` for HER).

    ## Description

    The goal-conditioned sibling of `SimpleNavigation-v0`: the same arena and moves, but a new goal is drawn every
    episode and the observation says where it is, in the `GoalEnv` layout that hindsight experience replay (SB3's
    `HerReplayBuffer`) needs. With `reward_type="sparse"` exploration from scratch is hard, which makes it the
    benchmark for transfer from a pretrained policy.

    ## Action Space

    As `SimpleNavigation-v0`: a `ndarray` with shape `(2,)` in `[-1, 1]`, the move in units of `max_step`.

    | Num | Action                  | Min  | Max |
    |-----|-------------------------|------|-----|
    | 0   | move along x / max_step | -1.0 | 1.0 |
    | 1   | move along y / max_step | -1.0 | 1.0 |

    ## Observation Space

    A `Dict` of three float32 arrays of shape `(2,)`, each in `[-1, 1]^2`:

    | Key             | Meaning                                         | Min  | Max |
    |-----------------|-------------------------------------------------|------|-----|
    | `observation`   | the agent's position (x, y)                     | -1.0 | 1.0 |
    | `achieved_goal` | the agent's position (x, y)                     | -1.0 | 1.0 |
    | `desired_goal`  | the goal (x, y)                                 | -1.0 | 1.0 |

    ## Rewards

    `compute_reward(achieved_goal, desired_goal, info)` is the reward of every step and works on batches:
    `"dense"` (default): minus the distance; `"sparse"`: `0` on success, `-1` otherwise. `success_bonus` is added
    on success in both.

    ## Starting State

    The position and then the goal are drawn uniformly from `[-1, 1]^2` (outside obstacles).
    `reset(options={"start_position": ..., "goal_position": ...})` fixes either.

    ## Episode End

    1. Termination: the distance to the goal is below `goal_radius`. (With HER's `"future"` or `"final"` goal
       selection a relabelled goal is reached exactly when the original episode ended, so termination stays
       consistent with the relabelled rewards.)
    2. Truncation: 100 steps (the registration's `max_episode_steps`).

    ## Arguments

    | Parameter       | Type                   | Default      | Description                                  |
    |-----------------|------------------------|--------------|----------------------------------------------|
    | `reward_type`   | `str`                  | `"dense"`    | `"dense"` or `"sparse"`                      |
    | `max_step`      | `float`                | `0.1`        | length of a unit move on one axis (> 0)      |
    | `goal_radius`   | `float`                | `0.1`        | success when closer than this (> 0)          |
    | `success_bonus` | `float`                | `0.0`        | added to the reward on reaching the goal     |
    | `drift`         | `tuple[float, float]`  | `(0.0, 0.0)` | constant displacement added to every move    |
    | `obstacles`     | `list[(x, y, radius)]` | `()`         | circles the agent cannot enter               |
    | `render_mode`   | `str` or `None`    | `None`       | `"rgb_array"` or `"human"` (needs `[render]`)|

    ## Version History

    * v0: Initial version.
    """

    def __init__(
        self,
        reward_type: str = "dense",
        max_step: float = 0.1,
        goal_radius: float = 0.1,
        success_bonus: float = 0.0,
        drift: tuple[float, float] = (0.0, 0.0),
        obstacles: tuple[tuple[float, float, float], ...] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(max_step, goal_radius, success_bonus, drift, obstacles, render_mode)
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"reward_type must be one of {list(REWARD_TYPES)}, got {reward_type!r}")
        self.reward_type = reward_type
        self._sparse = reward_type == "sparse"
        self.observation_space = spaces.Dict(
            {
                "observation": self._position_space,
                "achieved_goal": self._position_space,
                "desired_goal": self._position_space,
            }
        )

    def _observation(self) -> dict[str, np.ndarray]:
        position = np.array((self._x, self._y), dtype=np.float32)
        return {
            "observation": position,
            "achieved_goal": position.copy(),
            "desired_goal": np.array((self._gx, self._gy), dtype=np.float32),
        }

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Move the agent by ``action * max_step + drift``; see the class docstring.

        :param action: array of shape ``(2,)``; clipped to ``[-1, 1]``
        :return: ``(observation, reward, terminated, truncated, info)``
        """
        self._check_reset()
        ax, ay = parse_action(action)
        x, y, distance, _, success = self.rules.step_one(self._x, self._y, ax, ay, self._gx, self._gy)
        self._x = x
        self._y = y
        reward = self.rules.reward_from_distance(distance, sparse=self._sparse)
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, success, False, {"is_success": success, "distance": distance}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict]:
        """Draw a new start position and goal (or take them from ``options``).

        :param seed: seed for ``self.np_random``
        :param options: ``{"start_position": (x, y), "goal_position": (x, y)}``, either key optional
        :return: ``(observation, info)``; ``info`` holds ``distance``
        """
        super().reset(seed=seed)
        options = _check_options(options, ("start_position", "goal_position"))
        self._start(options)
        goal = options.get("goal_position")
        if goal is None:
            self._gx, self._gy = self.rules.sample_free_points(self.np_random, 1)[0].tolist()
        else:
            point = round_to_float32(*as_point("options['goal_position']", goal))
            self.rules.check_free("options['goal_position']", point)
            self._gx, self._gy = point
        if self.render_mode == "human":
            self.render()
        return self._observation(), {"distance": self._distance()}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray | float:
        """The step reward for any achieved and desired goals; vectorised over leading dimensions (for HER).

        :param achieved_goal: positions, shape ``(..., 2)``
        :param desired_goal: goals, shape ``(..., 2)``
        :param info: ignored (kept for the ``GoalEnv`` signature)
        :return: rewards of shape ``(...)`` (a float for a single pair)
        """
        return self.rules.goal_reward(achieved_goal, desired_goal, sparse=self._sparse)
