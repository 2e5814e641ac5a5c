"""Registration of the environment ids with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("SimpleNavigation-v0", "SimpleNavigationGoal-v0")
"""The ids that ``import nav_env`` registers."""

_SPECS = {
    "SimpleNavigation-v0": ("nav_env.envs:SimpleNavigationEnv", "nav_env.vector:SimpleNavigationVectorEnv"),
    "SimpleNavigationGoal-v0": (
        "nav_env.envs:SimpleNavigationGoalEnv",
        "nav_env.vector:SimpleNavigationGoalVectorEnv",
    ),
}
MAX_EPISODE_STEPS = 100
"""Episode length of every registered id, as in the design note."""


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS`; ids already registered are left as they are (safe to call twice)."""
    for env_id, (entry_point, vector_entry_point) in _SPECS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry_point,
            vector_entry_point=vector_entry_point,
            max_episode_steps=MAX_EPISODE_STEPS,
        )
