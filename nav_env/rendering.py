"""Drawing the arena with numpy only, and showing it in a window through the optional ``render`` extra."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.error import DependencyNotInstalled

from nav_env.dynamics import ARENA_HIGH, ARENA_LOW, NavigationRules

BACKGROUND = (245, 245, 240)
GRID = (225, 225, 218)
OBSTACLE = (90, 90, 96)
GOAL_AREA = (170, 220, 170)
GOAL_CENTRE = (30, 140, 60)
AGENT = (40, 90, 200)
AGENT_RADIUS = 0.04
"""Radius of the agent's disc in arena units (drawing only: the agent is a point)."""


class ArenaRenderer:
    """Rasterises the arena, the obstacles, the goal and the agent into a ``uint8`` frame of shape ``(size, size, 3)``.

    The static layer (background, grid, obstacles, goal) is cached per goal, so a frame costs one copy plus the
    agent's disc.

    :param rules: the task's rules (obstacles and goal radius are drawn)
    :param size: frame height and width in pixels
    """

    def __init__(self, rules: NavigationRules, size: int = 256) -> None:
        self.rules = rules
        self.size = size
        centres = (np.arange(size) + 0.5) / size * (ARENA_HIGH - ARENA_LOW) + ARENA_LOW
        self._xs = centres[None, :]
        self._ys = centres[::-1, None]  # row 0 is the top of the arena
        self._background = self._draw_background()
        self._static_goal: tuple[float, float] | None = None
        self._static: np.ndarray | None = None

    def _draw_background(self) -> np.ndarray:
        frame = np.empty((self.size, self.size, 3), dtype=np.uint8)
        frame[:] = BACKGROUND
        ticks = np.linspace(0, self.size - 1, 9).round().astype(int)
        frame[ticks, :] = GRID
        frame[:, ticks] = GRID
        for cx, cy, r in self.rules.obstacles:
            frame[self._disc(cx, cy, r)] = OBSTACLE
        return frame

    def _disc(self, cx: float, cy: float, radius: float) -> np.ndarray:
        return (self._xs - cx) ** 2 + (self._ys - cy) ** 2 <= radius * radius

    def frame(self, position: tuple[float, float], goal: tuple[float, float]) -> np.ndarray:
        """Draw one frame.

        :param position: the agent's position
        :param goal: the goal's position
        :return: a fresh ``uint8`` array of shape ``(size, size, 3)``
        """
        goal = (float(goal[0]), float(goal[1]))
        if self._static is None or self._static_goal != goal:
            static = self._background.copy()
            static[self._disc(*goal, self.rules.goal_radius)] = GOAL_AREA
            static[self._disc(*goal, 0.015)] = GOAL_CENTRE
            for cx, cy, r in self.rules.obstacles:  # obstacles stay on top of the goal area
                static[self._disc(cx, cy, r)] = OBSTACLE
            self._static, self._static_goal = static, goal
        frame = self._static.copy()
        frame[self._disc(float(position[0]), float(position[1]), AGENT_RADIUS)] = AGENT
        return frame


class HumanWindow:
    """A pygame window that shows frames at the env's ``render_fps`` (needs ``pip install "sb3-finetune[render]"``).

    :param size: window height and width in pixels
    :param fps: frames per second to show
    :param title: window caption
    """

    def __init__(self, size: int, fps: int, title: str = "SimpleNavigation") -> None:
        try:
            import pygame
        except ImportError as exc:
            raise DependencyNotInstalled(
                'pygame is not installed: human rendering needs `pip install "sb3-finetune[render]"`'
            ) from exc
        self._pygame: Any = pygame
        pygame.display.init()
        self._screen = pygame.display.set_mode((size, size))
        pygame.display.set_caption(title)
        self._clock = pygame.time.Clock()
        self._fps = fps

    def show(self, frame: np.ndarray) -> None:
        """Show one frame and wait for the next tick.

        :param frame: ``uint8`` array ``(H, W, 3)``
        """
        pygame = self._pygame
        pygame.event.pump()
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.blit(surface, (0, 0))
        pygame.display.flip()
        self._clock.tick(self._fps)

    def close(self) -> None:
        """Close the window."""
        self._pygame.display.quit()
