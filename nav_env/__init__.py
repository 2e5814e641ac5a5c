"""SimpleNavigation: a 2-D point-navigation task family for Gymnasium.

``import nav_env`` registers ``SimpleNavigation-v0`` and ``SimpleNavigationGoal-v0`` (single envs and native vector
envs for ``gym.make_vec``). ``gym.make("nav_env:SimpleNavigation-v0")`` imports the package for you.
"""

from nav_env.dynamics import ARENA_HIGH, ARENA_LOW, NavigationRules
from nav_env.envs import SimpleNavigationEnv, SimpleNavigationGoalEnv
from nav_env.expert import optimal_action
from nav_env.registration import ENV_IDS, register_envs
from nav_env.vector import SimpleNavigationGoalVectorEnv, SimpleNavigationVectorEnv

__all__ = [
    "ARENA_HIGH",
    "ARENA_LOW",
    "ENV_IDS",
    "NavigationRules",
    "SimpleNavigationEnv",
    "SimpleNavigationGoalEnv",
    "SimpleNavigationGoalVectorEnv",
    "SimpleNavigationVectorEnv",
    "optimal_action",
    "register_envs",
]

register_envs()
