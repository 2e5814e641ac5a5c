import itertools
import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback

import nav_env  # noqa: F401
from sb3_finetune.explore import FrontierExploration, beats, exploration_mark
from sb3_finetune.guard import CollapseGuard
from sb3_finetune.recipes import get_recipe, make_finetune
from sb3_finetune.warmup import GateDecision


def test_mark_follows_the_gates_criterion():
    mark, said = exploration_mark(GateDecision(True, "success", 0.8, 0.5, 5, 300, -3.0))
    assert mark.criterion == "success" and mark.prior == pytest.approx(0.8)
    assert said == "success rate above the prior's 0.80 in the probe"
    # A prior that never failed in the probe has no frontier: nothing to explore from.
    mark, said = exploration_mark(GateDecision(True, "success", 1.0, 0.5, 5, 300, -3.0))
    assert mark is None and said == "the prior's success rate in the probe was 1.00 (no frontier to explore from)"

    threshold = GateDecision(True, "return threshold", 0.6, 0.5, 5, 300, -250.0, 0, -300.0, 5)
    mark, said = exploration_mark(threshold)
    assert mark.score(-299.0, None) == 1.0 and mark.score(-301.0, None) == 0.0
    assert said == "share of returns >= -300 above the prior's 0.60 in the probe"

    mark, _ = exploration_mark(GateDecision(True, "random probe", 0.8, 0.5, 5, 300, -200.0, 300, -1000.0, 5))
    assert mark.criterion == "return" and mark.prior == pytest.approx(-200.0)

    per_step = GateDecision(True, "random probe, per step", 1.0, 0.5, 0, 300, None, 300, None, 1)
    mark, said = exploration_mark(per_step)
    assert mark is None and said.startswith("the trust gate's figures give nothing to compare")


def test_a_block_beats_the_prior_by_a_one_sided_test():
    from sb3_finetune.guard import GuardFloor

    rate = GuardFloor("success", 0.78, 0.78)
    # 9 of 10 happens by chance one time in three at 0.78: not enough; 19 of 20 is (p = 0.046).
    assert beats([1.0] * 9 + [0.0], rate) == (False, pytest.approx(0.318, abs=0.001))
    assert beats([1.0] * 19 + [0.0], rate)[0] and not beats([1.0] * 18 + [0.0] * 2, rate)[0]
    returns = GuardFloor("return", -200.0, -200.0)
    assert beats([-150.0, -140.0, -160.0, -145.0], returns)[0]
    assert not beats([-150.0, -260.0, -160.0, -245.0], returns)[0]
    assert beats([-100.0] * 3, returns) == (True, 0.0) and beats([-300.0] * 3, returns) == (False, 1.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"frontier_explore": 0.0}, "frontier_explore must be in"),
        ({"frontier_explore": 1.5}, "frontier_explore must be in"),
        ({"frontier_explore": 0.5, "trust_gate": None}, "needs a trust_gate"),
        ({"explore_episodes": 0}, "explore_episodes must be >= 1"),
        ({"explore_until": 1.5}, "explore_until must be in"),
        ({"explore_hold": 0}, "explore_hold must be >= 1"),
        ({"explore_hold": 5, "frontier_explore": None}, "explore_hold holds .* it needs frontier_explore"),
        ({"explore_noise": "brown"}, "explore_noise must be one of"),
        ({"explore_noise": "pink", "frontier_explore": None}, "explore_noise is .* it needs frontier_explore"),
        ({"explore_noise": "pink", "explore_hold": 5, "frontier_explore": 0.5}, "pink noise is correlated in time"),
    ],
)
def test_bad_exploration_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("frontier", **overrides)


class ActionLog(BaseCallback):
    """The actions the rollout took; a checkpoint saved at ``save_at``, with the model's class at that step."""

    def __init__(self, save_to, save_at):
        super().__init__()
        self.taken, self.steps, self.save_to, self.save_at, self.class_then = [], [], save_to, save_at, None

    def _on_step(self):
        self.taken.append(np.array(self.locals["actions"]))
        self.steps.append(self.num_timesteps)
        if self.num_timesteps == self.save_at:
            self.model.save(self.save_to)
            self.class_then = type(self.model)
        return True


def test_exploration_hands_over_training_episodes_and_leaves_the_rest_alone(nav_bc_weights, tmp_path):
    """Where the prior fails at an obstacle's edge (7 episodes in 10), every training episode is handed over
    (share 1) until the end of the window; the model samples as SB3 does after it."""
    recipe = get_recipe("frontier", frontier_explore=1.0, explore_until=0.75, critic_pretrain_steps=50, explore_hold=2)
    env = gym.make("SimpleNavigation-v0", obstacles=[(0.3, 0.3, 0.2)])
    setup = make_finetune("td3", env, nav_bc_weights, 800, recipe, hyperparams={"learning_starts": 400}, seed=0)
    explorer = next(c for c in setup.callbacks if isinstance(c, FrontierExploration))
    log = ActionLog(tmp_path / "mid.zip", 500)
    setup.learn(800, callback=log)
    assert setup.trusted and explorer.mark is not None and explorer.mark.criterion == "success"
    assert explorer.random_actions > 0 and explorer.stopped_at == 600
    # While it explored, the model's class was a subclass of TD3's (its _sample_action asks the explorer); after, it
    # is TD3 again, and a checkpoint saved meanwhile holds nothing of the exploration and loads as any TD3 model.
    assert log.class_then is not TD3 and issubclass(log.class_then, TD3) and type(setup.model) is TD3
    with zipfile.ZipFile(tmp_path / "mid.zip") as archive:
        assert "_sample_action" not in json.loads(archive.read("data"))
    assert type(TD3.load(tmp_path / "mid.zip")) is TD3
    said = [s for s in setup.decisions if s.startswith("frontier exploration")]
    assert said[0].startswith(
        "frontier exploration: 1 of training episodes turn uniform random (each random action held for 2 steps) at a "
        "step drawn below"
    )
    assert said[-1].startswith("frontier exploration: stopped at step 600, its last step (600) came before a block")
    assert explorer.random_actions <= 200
    # The random actions fill the action box; the prior's, with TD3's noise, are those of a controller.
    taken = np.concatenate([a for a, s in zip(log.taken, log.steps, strict=True) if 400 < s <= 600])
    assert len(taken) == 200 and np.abs(taken).max() > 0.9


def test_exploration_stops_once_the_learner_beats_the_prior():
    from stable_baselines3 import TD3
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    explorer = FrontierExploration(share=0.5, episodes=4, until=10_000, seed=0)
    explorer.init_callback(model)
    explorer.on_training_start({}, {})  # the warm-up's start
    explorer.arm(20, GuardFloor("success", 0.3, 0.3))  # the gate trusts the prior

    def episode_end(step, success, handed_over=False):
        model.num_timesteps = step
        explorer.handed_over[:] = handed_over
        explorer.locals = {"dones": [True], "infos": [{"is_success": success}], "rewards": np.zeros(1)}
        explorer.on_step()

    episode_end(20, True)  # the rest of the warm-up, the prior acting: not scored
    episode_end(30, True)
    explorer.on_training_start({}, {})  # training: the model samples through the explorer from here on
    assert type(model) is not TD3 and isinstance(model, TD3)
    episode_end(50, True)  # running when training started (the warm-up's): not scored
    episode_end(100, True, handed_over=True)  # a handed-over episode is not the learner's: not scored
    for step, success in zip((200, 300, 400, 500), (True, True, True, False), strict=True):
        episode_end(step, success)
    assert explorer.blocks == [(500, 0.75)] and explorer.active  # 3 of 4 at 0.3: p = 0.084
    for step in (600, 700, 800, 900):
        episode_end(step, True)
    assert explorer.blocks[-1] == (900, 1.0) and explorer.stopped_at == 900 and not explorer.active
    assert type(model) is TD3  # the stop gives the model its own class back
    said = explorer.decisions[-1]
    assert said.startswith("frontier exploration: stopped at step 900, a block of the learner's own 4 episodes scored")
    assert "(one-sided p = 0.008)" in said


def test_held_random_actions_change_every_hold_steps_and_with_each_episode():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    model = TD3("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    explorer = FrontierExploration(share=1.0, episodes=50, until=10_000, seed=0, hold=3)
    explorer.init_callback(model)
    explorer.arm(1, GuardFloor("success", 0.3, 0.3))  # every episode handed over from its first step
    explorer.on_training_start({}, {})
    explorer._new[:] = True  # both envs start an episode with the next action
    taken, torques = [], []
    for step in range(7):
        actions, buffer_actions = explorer._replace(np.zeros((2, 1)), np.zeros((2, 1)))
        taken.append(buffer_actions[:, 0].copy())
        torques.append(actions[:, 0].copy())
        model.num_timesteps = step + 1
        explorer.locals = {"dones": np.array([False, step == 3]), "infos": [{}, {}], "rewards": np.zeros(2)}
        explorer.on_step()
    taken = np.array(taken)
    env0, env1 = taken[:, 0], taken[:, 1]
    assert len(set(env0[0:3])) == len(set(env0[3:6])) == 1 and len({env0[0], env0[3], env0[6]}) == 3
    assert len(set(env1[0:3])) == 1 and env1[3] != env1[2]  # env 1's episode ends after its fourth action (a new one)
    assert len(set(env1[4:7])) == 1 and env1[4] != env1[3]  # its next episode draws afresh at its first action
    assert np.allclose(np.array(torques), 2.0 * taken)  # in Pendulum's units
    assert explorer.random_actions == 14


def test_pink_random_actions_are_correlated_over_the_horizon_and_drawn_afresh_for_each_episode():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    model = TD3("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    with pytest.raises(ValueError, match="pink noise is correlated in time already"):
        FrontierExploration(share=1.0, episodes=50, until=10_000, hold=3, noise="pink")
    with pytest.raises(ValueError, match="noise must be one of"):
        FrontierExploration(share=1.0, episodes=50, until=10_000, noise="brown")
    explorer = FrontierExploration(share=1.0, episodes=1_000, until=10_000, seed=0, noise="pink")
    explorer.init_callback(model)
    explorer.arm(100, GuardFloor("success", 0.3, 0.3))  # series of 100 steps, the random actions begin below 100
    explorer.on_training_start({}, {})
    explorer._new[:] = True
    taken, torques, began, ended = [], [], [], []
    for step in range(1_200):
        actions, buffer_actions = explorer._replace(np.zeros((2, 1)), np.zeros((2, 1)))
        taken.append(buffer_actions[:, 0].copy())
        torques.append(actions[:, 0].copy())
        began.append(explorer._steps == explorer._at)
        model.num_timesteps = step + 1
        # env 0: episodes of 400 steps (a random part can outlast its series); env 1: of 150
        dones = np.array([(step + 1) % 400 == 0, (step + 1) % 150 == 0])
        ended.append(dones)
        explorer.locals = {"dones": dones, "infos": [{}, {}], "rewards": np.zeros(2)}
        explorer.on_step()
    taken, began, ended = np.array(taken), np.array(began), np.array(ended)
    assert np.allclose(np.array(torques), 2.0 * taken)  # in Pendulum's units
    random = np.zeros_like(began)  # from each episode's first random action to its last action
    for step, env in zip(*np.nonzero(began), strict=True):
        random[step : step + np.argmax(ended[step:, env]) + 1, env] = True
    assert explorer.random_actions == random.sum() and not taken[~random].any()
    values = taken[random]
    # Unit variance, clipped to the box: about a third at its bounds, none outside, none the series' zero fill.
    assert np.abs(values).max() == 1.0 and 0.2 < np.mean(np.abs(values) == 1.0) < 0.5 and (values != 0).all()
    # Pink, not white: successive actions are correlated (uniform draws: about 0).
    lag1 = [np.corrcoef(taken[random[:, e], e][:-1], taken[random[:, e], e][1:])[0, 1] for e in range(2)]
    assert min(lag1) > 0.3
    # Each episode starts a series of its own: env 1's eight episodes do not repeat one another.
    firsts = taken[began[:, 1], 1]
    assert len(firsts) == 8 and len(set(firsts.round(6))) == 8


def test_an_episode_handed_over_before_the_stop_stays_unscored_until_it_ends():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    model = TD3("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=3), policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    explorer = FrontierExploration(share=0.5, episodes=4, until=1_000, seed=0)
    explorer.init_callback(model)
    explorer.on_training_start({}, {})
    explorer.arm(20, GuardFloor("success", 0.3, 0.3))
    # Three handed-over episodes: env 0 past its hand-over step (random actions taken), env 1 not yet there,
    # env 2 ending at the stop's step.
    explorer.handed_over[:] = True
    explorer._steps[:] = [6, 2, 4]
    explorer._at[:] = [3, 10, 1]

    def step(at, dones):
        model.num_timesteps = at
        explorer.locals = {"dones": np.array(dones), "infos": [{}] * 3, "rewards": np.zeros(3)}
        explorer.on_step()
        return explorer.handed_over.tolist()

    assert step(1_000, [False, False, True]) == [True, False, True] and explorer.stopped_at == 1_000
    assert step(1_001, [False, False, False]) == [True, False, False]  # env 2's ended episode was read at its end
    assert step(1_002, [True, False, False]) == [True, False, False]  # env 0's episode ends: still flagged here
    assert step(1_003, [False, False, False]) == [False, False, False]  # and not after


def test_exploration_stays_off_when_the_gate_stands_the_prior_down(nav_bc_weights):
    recipe = get_recipe("default", frontier_explore=0.5)
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    setup = make_finetune("td3", env, nav_bc_weights, 600, recipe, hyperparams={"learning_starts": 400}, seed=0)
    explorer = next(c for c in setup.callbacks if isinstance(c, FrontierExploration))
    setup.learn(600)
    assert setup.trusted is False and explorer.mark is None and explorer.random_actions == 0
    assert "frontier exploration: off, the trust gate stood the prior down (no frontier to explore from)" in (
        setup.decisions
    )


def test_exploration_whose_window_ends_before_training_says_so(nav_bc_weights):
    recipe = get_recipe("default", frontier_explore=0.5, explore_until=0.5)  # until step 300, learning from 400
    env = gym.make("SimpleNavigation-v0", obstacles=[(0.3, 0.3, 0.2)])
    setup = make_finetune("td3", env, nav_bc_weights, 600, recipe, hyperparams={"learning_starts": 400}, seed=0)
    explorer = next(c for c in setup.callbacks if isinstance(c, FrontierExploration))
    setup.learn(600)
    assert setup.trusted and explorer.mark is None and explorer.random_actions == 0
    said = "frontier exploration: off, its window ends at step 300, before training's first gradient step (400)"
    assert any(sentence.startswith(said) for sentence in setup.decisions)


def test_guard_does_not_score_handed_over_episodes(nav_bc_weights):
    from types import SimpleNamespace

    from stable_baselines3 import TD3
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    recipe = get_recipe("frontier", frontier_explore=0.5, collapse_guard=0.5, critic_warmup=0)
    setup = make_finetune("td3", gym.make("SimpleNavigation-v0"), nav_bc_weights, 500, recipe, seed=0)
    guard = next(c for c in setup.callbacks if isinstance(c, CollapseGuard))
    assert guard.explorer is next(c for c in setup.callbacks if isinstance(c, FrontierExploration))

    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    guard = CollapseGuard(SimpleNamespace(hold_steps=0), episodes=1, hold=100, restores=1)
    guard.explorer = SimpleNamespace(handed_over=np.array([True]))
    guard.init_callback(model)
    guard.arm(GuardFloor("success", 0.8, 0.4))

    def episode_end(step):
        model.num_timesteps = step
        guard.locals = {"dones": [True], "infos": [{"is_success": False}], "rewards": np.zeros(1)}
        guard.on_step()

    episode_end(100)  # the first episode started before the release: never scored
    episode_end(200)  # a failed episode, but handed over to random actions: not the learner's
    assert guard.blocks == [] and guard.restored_at == []
    guard.explorer.handed_over[0] = False
    episode_end(300)  # the learner's own failure: a block below the floor, and a restore
    assert guard.blocks == [(300, 0.0)] and guard.restored_at == [300]


def test_exploration_on_pendulum_hands_over_in_env_units_and_scores_by_the_gates_threshold(pendulum_prior):
    # Pendulum reports no success: the learner's own episodes count by the --gate-return threshold, as the gate's
    # probe did; the actions taken stay in its torque box, [-2, 2].
    recipe = get_recipe(
        "default", frontier_explore=1.0, explore_until=1.0, distill_steps=100, gate_return=-1_500.0, explore_hold=5
    )
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_600, recipe, seed=0)
    explorer = next(c for c in setup.callbacks if isinstance(c, FrontierExploration))
    log = ActionLog(None, -1)
    setup.learn(1_600, callback=log)
    assert setup.trusted and setup.gate.criterion == "return threshold"
    assert explorer.mark.criterion == "return threshold" and explorer.mark.gate_return == -1_500.0
    assert explorer.random_actions > 0 and explorer.stopped_at == 1_600 and type(setup.model) is TD3
    taken = np.concatenate([a for a, s in zip(log.taken, log.steps, strict=True) if s > setup.model.learning_starts])
    assert len(taken) == 1_600 - setup.model.learning_starts and np.abs(taken).max() <= 2.0
    # Each random torque is held for 5 steps: runs of one value inside the box (TD3's own actions, noisy, repeat
    # only where clipped at +-2), none longer than the hold.
    torque = taken[:, 0]
    runs, length = [], 1
    for previous, current in itertools.pairwise(torque):
        if current == previous and abs(current) < 2.0:
            length += 1
        else:
            runs.append(length)
            length = 1
    assert max(runs) <= 5 and sum(run > 1 for run in runs) >= 20


def test_pink_exploration_on_pendulum_draws_series_as_long_as_the_probes_longest_episode(pendulum_prior):
    recipe = get_recipe(
        "default",
        frontier_explore=1.0,
        explore_until=1.0,
        distill_steps=100,
        gate_return=-1_500.0,
        explore_noise="pink",
    )
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_400, recipe, seed=0)
    explorer = next(c for c in setup.callbacks if isinstance(c, FrontierExploration))
    log = ActionLog(None, -1)
    setup.learn(1_400, callback=log)
    said = next(s for s in setup.decisions if s.startswith("frontier exploration: 1 of training episodes"))
    # Pendulum's episodes last 200 steps: the probe's longest, and so the length of each pink series.
    assert (
        "turn to pink noise (unit variance, clipped to the action box, over 200-step series) at a step drawn " in said
    )
    assert explorer.horizon == 200 and explorer._series.shape == (1, 1, 200)
    assert explorer.random_actions > 0 and type(setup.model) is TD3
    taken = np.concatenate([a for a, s in zip(log.taken, log.steps, strict=True) if s > setup.model.learning_starts])
    assert np.abs(taken).max() <= 2.0  # clipped to the box, in Pendulum's units
