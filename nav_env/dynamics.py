"""The rules of SimpleNavigation, written once.

Every environment in :mod:`nav_env` moves its agent with :class:`NavigationRules`: the single environments call
:meth:`NavigationRules.step_one` (plain Python floats, the fast path for one agent) and the vector environments
call :meth:`NavigationRules.step_batch` (numpy over all copies at once). Both evaluate the same formulas in the
same order in float64, so they give bit-identical positions, rewards and terminations; ``tests/nav_env`` checks it.

One step, from position ``p`` with action ``a``:

1. ``a`` is clipped to ``[-1, 1]`` per coordinate; the intended move is ``m = a * max_step + drift``.
2. The target ``q = clip(p + m, -1, 1)``: the agent slides along the arena walls.
3. If the segment ``p -> q`` enters an obstacle, the agent stops where it first touches the obstacle's boundary.
4. The new position is rounded to float32, the precision of the observation, so the observation is the state.
5. ``distance`` is the Euclidean distance to the goal after the move; ``reward = -distance`` plus
   ``success_bonus`` on success; success (termination) is ``distance < goal_radius``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ARENA_LOW = -1.0
"""Lower bound of the arena on both axes."""
ARENA_HIGH = 1.0
"""Upper bound of the arena on both axes (``step_one`` spells both bounds as literals, for speed)."""

_MAX_START_DRAWS = 10_000
_FLOAT32_PAIR = struct.Struct("<2f")
_pack_float32_pair = _FLOAT32_PAIR.pack
_unpack_float32_pair = _FLOAT32_PAIR.unpack
_sqrt = math.sqrt


def round_to_float32(x: float, y: float) -> tuple[float, float]:
    """Round a point to the precision of the observations (float32), keeping Python floats.

    Positions and goals are kept float32-representable, so that an observation is the state exactly and a reward
    recomputed from observations (``compute_reward``, HER) equals the reward of the step.

    :param x: first coordinate
    :param y: second coordinate
    :return: the rounded ``(x, y)``
    """
    return _FLOAT32_PAIR.unpack(_FLOAT32_PAIR.pack(x, y))


def _finite_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise a ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


def as_point(name: str, value: object, *, in_arena: bool = True) -> tuple[float, float]:
    """Validate a 2-d point (a goal, a start position, a drift vector) and return it as two floats.

    :param name: name used in error messages
    :param value: anything with two real numbers (tuple, list, array)
    :param in_arena: also require the point to lie in the arena ``[-1, 1]^2``
    :return: the point as ``(x, y)``
    :raises ValueError: wrong shape, non-finite values, or a point outside the arena
    :raises TypeError: values that are not real numbers
    """
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged sequences and other oddities
        raise ValueError(f"{name} must be two numbers (x, y), got {value!r}") from exc
    if array.shape != (2,):
        raise ValueError(f"{name} must have shape (2,), got shape {array.shape} from {value!r}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    x, y = (float(v) for v in array)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{name} must be finite, got ({x}, {y})")
    if in_arena and not (ARENA_LOW <= x <= ARENA_HIGH and ARENA_LOW <= y <= ARENA_HIGH):
        raise ValueError(f"{name} ({x}, {y}) lies outside the arena [{ARENA_LOW}, {ARENA_HIGH}]^2")
    return x, y


def _as_obstacles(value: object) -> tuple[tuple[float, float, float], ...]:
    """Validate a sequence of ``(x, y, radius)`` circles."""
    if value is None:
        return ()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise TypeError(f"obstacles must be a sequence of (x, y, radius) circles, got {value!r}")
    circles = []
    for index, circle in enumerate(value):
        if isinstance(circle, np.ndarray):
            circle = circle.tolist()
        if not isinstance(circle, Sequence) or len(circle) != 3:
            raise ValueError(f"obstacles[{index}] must be (x, y, radius), got {circle!r}")
        x, y, radius = (_finite_float(f"obstacles[{index}]", v) for v in circle)
        if radius <= 0.0:
            raise ValueError(f"obstacles[{index}] radius must be positive, got {radius}")
        circles.append((x, y, radius))
    return tuple(circles)


@dataclass(frozen=True, slots=True)
class NavigationRules:
    """The physics and reward of a SimpleNavigation task, validated at construction.

    :param max_step: length of the move for an action of 1 on one axis (a move is ``action * max_step``)
    :param goal_radius: the episode succeeds (terminates) when the distance to the goal is below this
    :param success_bonus: added to the reward on the step that reaches the goal
    :param drift: constant displacement ``(dx, dy)`` added to every move, like wind
    :param obstacles: circles ``(x, y, radius)`` that the agent cannot enter
    """

    max_step: float = 0.1
    goal_radius: float = 0.1
    success_bonus: float = 0.0
    drift: tuple[float, float] = (0.0, 0.0)
    obstacles: tuple[tuple[float, float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        max_step = _finite_float("max_step", self.max_step)
        if max_step <= 0.0:
            raise ValueError(f"max_step must be positive, got {max_step}")
        goal_radius = _finite_float("goal_radius", self.goal_radius)
        if goal_radius <= 0.0:
            raise ValueError(f"goal_radius must be positive, got {goal_radius}")
        object.__setattr__(self, "max_step", max_step)
        object.__setattr__(self, "goal_radius", goal_radius)
        object.__setattr__(self, "success_bonus", _finite_float("success_bonus", self.success_bonus))
        object.__setattr__(self, "drift", as_point("drift", self.drift, in_arena=False))
        object.__setattr__(self, "obstacles", _as_obstacles(self.obstacles))

    # ------------------------------------------------------------------ queries

    def inside_obstacle(self, x: float, y: float) -> bool:
        """Whether the point ``(x, y)`` lies strictly inside an obstacle."""
        return any((x - cx) ** 2 + (y - cy) ** 2 < r * r for cx, cy, r in self.obstacles)

    def check_free(self, name: str, point: tuple[float, float]) -> None:
        """Raise a ``ValueError`` naming ``name`` if ``point`` lies inside an obstacle.

        :param name: name used in the error message
        :param point: the point ``(x, y)``
        """
        if self.inside_obstacle(*point):
            raise ValueError(f"{name} {point} lies inside an obstacle {self.obstacles}")

    def sample_free_points(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Draw ``count`` points uniformly from the arena outside the obstacles (rejection sampling).

        :param rng: the generator to draw from (an env's ``np_random``)
        :param count: number of points
        :return: float64 array of shape ``(count, 2)``, rounded to float32 precision
        """
        points = rng.uniform(ARENA_LOW, ARENA_HIGH, size=(count, 2)).astype(np.float32).astype(np.float64)
        if not self.obstacles:
            return points
        for _ in range(_MAX_START_DRAWS):
            bad = self._inside_obstacles_batch(points)
            if not bad.any():
                return points
            redraw = rng.uniform(ARENA_LOW, ARENA_HIGH, size=(int(bad.sum()), 2))
            points[bad] = redraw.astype(np.float32).astype(np.float64)
        raise RuntimeError("the obstacles cover (almost) the whole arena: could not draw a free position")

    def _inside_obstacles_batch(self, points: np.ndarray) -> np.ndarray:
        inside = np.zeros(len(points), dtype=bool)
        for cx, cy, r in self.obstacles:
            inside |= (points[:, 0] - cx) ** 2 + (points[:, 1] - cy) ** 2 < r * r
        return inside

    # ------------------------------------------------------------------ one agent

    def step_one(
        self, x: float, y: float, ax: float, ay: float, gx: float, gy: float
    ) -> tuple[float, float, float, float, bool]:
        """Advance one agent by one step, on Python floats.

        The action must already be finite; it is clipped here.

        :param x: position, first coordinate
        :param y: position, second coordinate
        :param ax: action, first coordinate
        :param ay: action, second coordinate
        :param gx: goal, first coordinate
        :param gy: goal, second coordinate
        :return: ``(new_x, new_y, distance, reward, success)``
        """
        # The hot path of every single env: literals instead of ARENA_LOW/ARENA_HIGH and module-level aliases
        # save global and attribute look-ups (each costs as much as an arithmetic operation here).
        ax = -1.0 if ax < -1.0 else (1.0 if ax > 1.0 else ax)
        ay = -1.0 if ay < -1.0 else (1.0 if ay > 1.0 else ay)
        h = self.max_step
        drift_x, drift_y = self.drift
        qx = x + (ax * h + drift_x)
        qy = y + (ay * h + drift_y)
        qx = -1.0 if qx < -1.0 else (1.0 if qx > 1.0 else qx)
        qy = -1.0 if qy < -1.0 else (1.0 if qy > 1.0 else qy)
        if self.obstacles:
            qx, qy = self._stop_at_obstacles_one(x, y, qx, qy)
        qx, qy = _unpack_float32_pair(_pack_float32_pair(qx, qy))
        dx = qx - gx
        dy = qy - gy
        distance = _sqrt(dx * dx + dy * dy)
        success = distance < self.goal_radius
        reward = -distance
        if success:
            reward = reward + self.success_bonus
        return qx, qy, distance, reward, success

    def _stop_at_obstacles_one(self, px: float, py: float, qx: float, qy: float) -> tuple[float, float]:
        dx = qx - px
        dy = qy - py
        a = dx * dx + dy * dy
        if a == 0.0:
            return qx, qy
        t_min = 1.0
        for cx, cy, r in self.obstacles:
            fx = px - cx
            fy = py - cy
            b = fx * dx + fy * dy
            if b >= 0.0:  # moving away from (or tangent to) the centre never enters the circle
                continue
            c = fx * fx + fy * fy - r * r
            if c <= 0.0:  # on (or, by rounding, just inside) the boundary and moving inwards
                t = 0.0
            else:
                disc = b * b - a * c
                if disc < 0.0:
                    continue
                t = (-b - math.sqrt(disc)) / a
            if t < t_min:
                t_min = t
        if t_min < 1.0:
            return px + t_min * dx, py + t_min * dy
        return qx, qy

    # ------------------------------------------------------------------ many agents

    def step_batch(
        self, positions: np.ndarray, actions: np.ndarray, goals: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance many agents by one step with numpy; the same formulas as :meth:`step_one`.

        :param positions: float64 array ``(n, 2)``
        :param actions: finite float array ``(n, 2)``; clipped here
        :param goals: float64 array ``(n, 2)`` or ``(2,)``
        :return: ``(new_positions, distances, rewards, successes)``
        """
        # float64 from here on, like the Python floats of step_one (a float32 action is widened exactly).
        moves = np.multiply(np.clip(actions, -1.0, 1.0), self.max_step, dtype=np.float64)
        if self.drift != (0.0, 0.0):
            moves += self.drift
        targets = np.add(positions, moves, out=moves)
        np.clip(targets, -1.0, 1.0, out=targets)
        if self.obstacles:
            targets = self._stop_at_obstacles_batch(positions, targets)
        targets = targets.astype(np.float32).astype(np.float64)
        offset = targets - goals
        offset *= offset
        distances = np.sqrt(offset[:, 0] + offset[:, 1])
        successes = distances < self.goal_radius
        rewards = -distances
        if self.success_bonus != 0.0:
            rewards[successes] += self.success_bonus
        return targets, distances, rewards, successes

    def _stop_at_obstacles_batch(self, positions: np.ndarray, targets: np.ndarray) -> np.ndarray:
        px, py = positions[:, 0], positions[:, 1]
        dx = targets[:, 0] - px
        dy = targets[:, 1] - py
        a = dx * dx + dy * dy
        t_min = np.ones_like(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            for cx, cy, r in self.obstacles:
                fx = px - cx
                fy = py - cy
                b = fx * dx + fy * dy
                c = fx * fx + fy * fy - r * r
                disc = b * b - a * c
                t_enter = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
                t = np.where(c <= 0.0, 0.0, np.where(disc < 0.0, np.inf, t_enter))
                t = np.where(b >= 0.0, np.inf, t)
                np.minimum(t_min, t, out=t_min)
        blocked = t_min < 1.0
        if blocked.any():
            stopped = positions[blocked] + t_min[blocked, None] * np.stack((dx[blocked], dy[blocked]), axis=1)
            targets[blocked] = stopped
        return targets

    # ------------------------------------------------------------------ rewards for relabelled goals

    def reward_from_distance(self, distances: np.ndarray | float, sparse: bool = False) -> np.ndarray | float:
        """Reward for given distances to the goal: the env's own reward, usable on batches (HER).

        :param distances: distance(s) to the goal after the move
        :param sparse: ``0`` on success and ``-1`` otherwise, instead of minus the distance
        :return: reward(s), float64
        """
        distances = np.asarray(distances, dtype=np.float64)
        success = distances < self.goal_radius
        rewards = success.astype(np.float64) - 1.0 if sparse else -distances
        rewards = np.where(success, rewards + self.success_bonus, rewards)
        return rewards if rewards.ndim else float(rewards)

    def goal_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, sparse: bool = False
    ) -> np.ndarray | float:
        """Reward for reaching ``achieved_goal`` when ``desired_goal`` was asked: a goal env's ``compute_reward``.

        :param achieved_goal: positions, shape ``(..., 2)``
        :param desired_goal: goals, shape ``(..., 2)``
        :param sparse: ``0`` on success and ``-1`` otherwise, instead of minus the distance
        :return: rewards of shape ``(...)`` (a float for a single pair)
        """
        achieved = np.asarray(achieved_goal, dtype=np.float64)
        desired = np.asarray(desired_goal, dtype=np.float64)
        dx = achieved[..., 0] - desired[..., 0]
        dy = achieved[..., 1] - desired[..., 1]
        return self.reward_from_distance(np.sqrt(dx * dx + dy * dy), sparse=sparse)
