"""The expert controller: what behaviour cloning imitates and what "optimal return" means in the benchmarks.

Without obstacles the expert is exactly optimal. Each step it moves to the point of the reachable square
``p + drift + max_step * [-1, 1]^2`` nearest to the goal, i.e. ``action = clip((goal - p - drift) / max_step,
-1, 1)``. Per coordinate this reaches, after every ``k`` steps, the point nearest to the goal among all points
reachable in ``k`` steps, so it minimises every term of the return (minus the sum of distances) at once and
arrives as early as possible. (Note that "full speed" with a box action is the diagonal: the expert moves
straight towards the goal only when the goal lies on a diagonal or an axis.)

With obstacles it follows a tangent-bug heuristic: greedy as above while that move and the straight line to the
goal are clear; otherwise head at full speed for the tangent point of the first blocking obstacle (inflated by
``clearance``) on the side that turns towards the goal, and circle the obstacle until the goal is in sight.
This reaches the goal around any set of disjoint circles that leave a corridor wider than ``2 * clearance``,
but it is not the shortest path in general (it ignores obstacles beyond the first, and its box-shaped
moves are not the taut string). With a drift of ``max_step`` or more on an axis, no controller can hold its
position on that axis and the goal may be unreachable.
"""

from __future__ import annotations

import math

import numpy as np

from nav_env.dynamics import NavigationRules

DEFAULT_CLEARANCE = 0.02
"""Distance the expert keeps from obstacles, in arena units."""


def optimal_action(
    position: np.ndarray,
    goal: np.ndarray | tuple[float, float],
    rules: NavigationRules | None = None,
    *,
    clearance: float = DEFAULT_CLEARANCE,
) -> np.ndarray:
    """The expert's action for one position or a batch of positions.

    :param position: agent position(s), shape ``(2,)`` or ``(n, 2)``
    :param goal: goal position(s), shape ``(2,)`` or ``(n, 2)``
    :param rules: the task's rules (``env.unwrapped.rules``); the seed's task when ``None``
    :param clearance: distance kept from obstacles (only used when there are obstacles)
    :return: float32 action(s) in ``[-1, 1]``, shape ``(2,)`` or ``(n, 2)`` like ``position``
    """
    rules = NavigationRules() if rules is None else rules
    positions = np.asarray(position, dtype=np.float64)
    single = positions.ndim == 1
    positions = np.atleast_2d(positions)
    goals = np.broadcast_to(np.asarray(goal, dtype=np.float64), positions.shape)
    if positions.shape[-1] != 2:
        raise ValueError(f"position must have shape (2,) or (n, 2), got {np.shape(position)}")

    drift = np.asarray(rules.drift)
    greedy = np.clip((goals - positions - drift) / rules.max_step, -1.0, 1.0)
    if rules.obstacles:
        for i in range(len(positions)):
            detour = _detour_action(positions[i], goals[i], greedy[i], rules, clearance)
            if detour is not None:
                greedy[i] = detour
    actions = greedy.astype(np.float32)
    return actions[0] if single else actions


def _segment_hits_circle(p: np.ndarray, q: np.ndarray, cx: float, cy: float, radius: float) -> float | None:
    """Parameter in ``[0, 1]`` where the segment ``p -> q`` first comes within ``radius`` of ``(cx, cy)``."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    fx, fy = p[0] - cx, p[1] - cy
    c = fx * fx + fy * fy - radius * radius
    if c <= 0.0:
        return 0.0
    a = dx * dx + dy * dy
    b = fx * dx + fy * dy
    if a == 0.0 or b >= 0.0:
        return None
    disc = b * b - a * c
    if disc < 0.0:
        return None
    t = (-b - math.sqrt(disc)) / a
    return t if t <= 1.0 else None


def _first_blocking(
    p: np.ndarray, q: np.ndarray, obstacles: tuple[tuple[float, float, float], ...], inflate: float
) -> tuple[float, float, float] | None:
    """The obstacle (inflated by ``inflate``) that the segment ``p -> q`` meets first, if any."""
    first, first_t = None, math.inf
    for cx, cy, r in obstacles:
        t = _segment_hits_circle(p, q, cx, cy, r + inflate)
        if t is not None and t < first_t:
            first, first_t = (cx, cy, r), t
    return first


def _around(p: np.ndarray, obstacle: tuple[float, float, float], heading: np.ndarray, clearance: float) -> np.ndarray:
    """Direction that passes ``obstacle`` (kept ``clearance`` away) on the side nearer to ``heading``."""
    cx, cy, r = obstacle
    radius = r + clearance
    rel = p - (cx, cy)
    rho = float(np.hypot(*rel))
    # Turn around the obstacle on the side of the heading: the sign of the cross product rel x heading.
    turn = 1.0 if rel[0] * heading[1] - rel[1] * heading[0] >= 0.0 else -1.0
    if rho > radius:  # head for the tangent point
        angle = math.atan2(rel[1], rel[0]) + turn * math.acos(radius / rho)
        return np.array([cx + radius * math.cos(angle), cy + radius * math.sin(angle)]) - p
    return np.array([-rel[1], rel[0]]) * turn  # within the clearance ring: circle the obstacle


def _detour_action(
    p: np.ndarray, g: np.ndarray, greedy: np.ndarray, rules: NavigationRules, clearance: float
) -> np.ndarray | None:
    """The action that avoids the obstacles in the way, or ``None`` when the greedy action is safe."""
    h = rules.max_step
    drift = np.asarray(rules.drift)
    obstacles = rules.obstacles
    blocker = _first_blocking(p, g, obstacles, 0.5 * clearance)
    if blocker is None:
        if _first_blocking(p, p + greedy * h + drift, obstacles, 0.0) is None:
            return None
        # A clear line of sight, but the greedy diagonal clips an obstacle: move along the line instead.
        direction, limit = g - p, float(np.hypot(*(g - p)))
    else:
        direction, limit = _around(p, blocker, g - p, clearance), math.inf
    action = _full_speed_along(direction, rules, limit)
    for _ in range(len(obstacles)):
        # The way around the first obstacle may run into another one: go around that one first.
        other = _first_blocking(p, p + action * h + drift, obstacles, 0.5 * clearance)
        if other is None:
            break
        direction = _around(p, other, direction, clearance)
        action = _full_speed_along(direction, rules, math.inf)
    return action


def _full_speed_along(direction: np.ndarray, rules: NavigationRules, limit: float) -> np.ndarray:
    """The action whose move (drift included) goes along ``direction`` as far as the action box allows."""
    norm = float(np.hypot(*direction))
    if norm == 0.0:
        return np.zeros(2)
    unit = direction / norm
    h = rules.max_step
    drift = rules.drift
    low, high = 0.0, limit
    for u, d in zip(unit, drift, strict=True):
        # need d - h <= s * u <= d + h
        if u > 0.0:
            low, high = max(low, (d - h) / u), min(high, (d + h) / u)
        elif u < 0.0:
            low, high = max(low, (d + h) / u), min(high, (d - h) / u)
        elif abs(d) > h:
            high = -math.inf
    speed = high if high >= low else h  # unreachable under this drift: best effort, clipped below
    return np.clip((unit * speed - np.asarray(drift)) / h, -1.0, 1.0)
