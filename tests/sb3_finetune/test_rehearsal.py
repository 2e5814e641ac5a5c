import copy
import re
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

import nav_env  # noqa: F401
from sb3_finetune.guard import GuardFloor
from sb3_finetune.recipes import ActorUpdateHook, get_recipe, make_finetune
from sb3_finetune.rehearsal import HoldRehearsal, actor_copy


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hold_rehearsal": 1.5}, r"hold_rehearsal must be in \[0, 1\]"),
        ({"hold_rehearsal": -0.1}, r"hold_rehearsal must be in \[0, 1\]"),
        ({"hold_rehearsal": 0.5, "critic_warmup": 0}, "it needs critic_warmup > 0"),
        ({"hold_rehearsal": 0.5, "frontier_explore": 0.5}, "choose one"),
        ({"hold_rehearsal": 0.5, "rehearsal_restart": -1}, "rehearsal_restart must be >= 0"),
        ({"hold_rehearsal": 0.0, "rehearsal_restart": 100}, "it needs hold_rehearsal"),
        ({"hold_rehearsal": 0.5, "rehearsal_release": 0}, "rehearsal_release must be >= 1"),
        ({"hold_rehearsal": 0.0, "rehearsal_release": 3}, "rehearsal_release releases .* it needs hold_rehearsal"),
        ({"rehearsal_release": 3, "rehearsal_release_extend": -1}, "rehearsal_release_extend must be >= 0"),
        ({"hold_rehearsal": 0.0, "rehearsal_pull": True}, "rehearsal_pull pulls .* it needs hold_rehearsal"),
        ({"rehearsal_release": 3, "rehearsal_release_window": 0}, "rehearsal_release_window must be >= 1"),
        ({"rehearsal_release_window": 500}, "rehearsal_release_window is the rehearsal release's test: it needs"),
        (
            {"rehearsal_release": 3, "rehearsal_release_window": 500, "rehearsal_release_margin": 1.0},
            r"rehearsal_release_margin must be in \[0, 1\)",
        ),
        ({"rehearsal_release": 3, "rehearsal_release_margin": 0.1}, "it needs rehearsal_release_window"),
    ],
)
def test_bad_rehearsal_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("default", **overrides)


class Watch(BaseCallback):
    """The actor's weights at the first step of the rehearsal's window and at its release, the rehearsal actor's just
    before the release, the model's class at each step, and the rehearsed steps' observations and actions."""

    def __init__(self, rehearsal: HoldRehearsal) -> None:
        super().__init__()
        self.rehearsal = rehearsal
        self.actor_first = self.actor_release = self.rehearsal_actor = None
        self.classes: dict[int, type] = {}
        self.rehearsed: list[tuple[np.ndarray, np.ndarray]] = []

    def _on_step(self) -> bool:
        step, window = self.num_timesteps, (self.rehearsal.start, self.rehearsal.until)
        self.classes[step] = type(self.model)
        if window[1] <= window[0]:  # not armed yet (the warm-up)
            return True
        if step == window[0] + 1:
            self.actor_first = copy.deepcopy(self.model.policy.actor.state_dict())
        if step == window[1] - 1:
            self.rehearsal_actor = actor_copy(self.rehearsal.actor)
        if step == window[1]:
            self.actor_release = copy.deepcopy(self.model.policy.actor.state_dict())
        if window[0] < step < window[1] and self.rehearsal.rehearsing[0]:
            last = self.model.replay_buffer.pos - 1
            buffer = self.model.replay_buffer
            self.rehearsed.append((buffer.observations[last, 0].copy(), buffer.actions[last, 0].copy()))
        return True


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_the_rehearsal_learns_and_acts_while_the_actor_is_held_and_leaves_it_held(nav_bc_weights, algo):
    recipe = get_recipe("default", hold_rehearsal=1.0, critic_warmup=300, critic_pretrain_steps=50)
    hyperparams = {"learning_starts": 300, "action_noise": None}
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune(algo, env, nav_bc_weights, 900, recipe, hyperparams=hyperparams, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    watch = Watch(rehearsal)
    setup.learn(900, callback=watch)
    said = [s for s in setup.decisions if s.startswith("hold rehearsal")]
    assert setup.trusted and rehearsal.start >= 300 and rehearsal.until == rehearsal.start + 300
    assert said[0].startswith(
        f"hold rehearsal: from step {rehearsal.start} to the actor's release at {rehearsal.until}"
    )
    assert said[-1].startswith(f"hold rehearsal: ended at the actor's release (step {rehearsal.until})")
    # The actor stayed as it was held; the rehearsal actor moved away from it through its own gradient steps, one
    # for each of the actor's (every env step with SAC, every second with TD3).
    assert all(th.equal(watch.actor_first[k], watch.actor_release[k]) for k in watch.actor_first)
    moved = watch.rehearsal_actor.state_dict()
    assert any(not th.equal(watch.actor_first[k], moved[k]) for k in watch.actor_first)
    expected = 300 // (2 if algo == "td3" else 1)
    assert expected - 2 <= rehearsal.updates <= expected
    # Share 1: every episode begun in the window was the rehearsal actor's, and the buffer keeps its actions.
    assert rehearsal.rehearsed_episodes >= 1 and 0 < rehearsal.rehearsed_steps < 300
    assert len(watch.rehearsed) > 0
    if algo == "td3":  # no action noise: its own deterministic action, from the weights it had
        observation, action = watch.rehearsed[-1]
        with th.no_grad():
            own = watch.rehearsal_actor(th.as_tensor(observation[None])).numpy()[0]
            held = setup.model.policy.actor(th.as_tensor(observation[None])).numpy()[0]
        assert np.abs(action - own).max() < 0.05 and np.abs(action - held).max() > np.abs(action - own).max()
    # The model sampled through the rehearsal only in its window, and is its own class again after it.
    model_class = TD3 if algo == "td3" else SAC
    inside = {c for s, c in watch.classes.items() if rehearsal.start < s < rehearsal.until}
    assert len(inside) == 1 and next(iter(inside)) is not model_class and issubclass(next(iter(inside)), model_class)
    assert type(setup.model) is model_class and rehearsal.actor is None


def test_the_rehearsal_is_off_where_the_algorithm_does_not_hold_the_actor(nav_bc_weights):
    recipe = get_recipe("default", hold_rehearsal=0.5)  # TD3's default releases its actor at learning_starts
    setup = make_finetune("td3", gym.make("SimpleNavigation-v0"), nav_bc_weights, 600, recipe, seed=0)
    assert not any(isinstance(c, HoldRehearsal) for c in setup.callbacks)
    assert setup.recipe.hold_rehearsal == 0.0
    assert any(s.startswith("hold rehearsal: off, TD3's actor is not held (critic_warmup 0)") for s in setup.decisions)


def test_a_rehearsal_that_acts_in_no_episode_leaves_the_run_as_it_is_without_one(nav_bc_weights):
    """The rehearsal actor trains (drawing batches and SAC's actions) but never acts: the run's draws are untouched,
    so the model ends bit for bit as the recipe without a rehearsal leaves it."""
    ends = []
    for share in (0.0, 1e-12):
        recipe = get_recipe("default", hold_rehearsal=share, critic_warmup=300, critic_pretrain_steps=50)
        env = gym.make("SimpleNavigation-v0")
        setup = make_finetune("sac", env, nav_bc_weights, 800, recipe, hyperparams={"learning_starts": 300}, seed=0)
        setup.learn(800)
        rehearsals = [c for c in setup.callbacks if isinstance(c, HoldRehearsal)]
        if share:
            assert rehearsals[0].updates > 200 and rehearsals[0].rehearsed_episodes == 0
        ends.append(setup.model.policy.state_dict())
    assert ends[0].keys() == ends[1].keys()
    assert all(th.equal(ends[0][name], ends[1][name]) for name in ends[0])


def test_the_rehearsal_acts_in_pendulums_torque_units(pendulum_prior):
    """Off nav_env: SAC on Pendulum-v1 (torques in [-2, 2], a return-judged gate). The rehearsal actor's actions reach
    the env in its units and the buffer in [-1, 1], as the algorithm's own do."""
    recipe = get_recipe(
        "default",
        hold_rehearsal=1.0,
        critic_warmup=400,
        critic_pretrain_steps=20,
        distill_steps=100,
        gate_return=-1_500.0,
    )
    setup = make_finetune("sac", "Pendulum-v1", pendulum_prior, 1_600, recipe, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    taken: list[np.ndarray] = []

    class Actions(BaseCallback):
        def _on_step(self) -> bool:
            if rehearsal.active and rehearsal.rehearsing[0]:
                taken.append(np.array(self.locals["actions"][0]))
            return True

    setup.learn(1_600, callback=Actions())
    assert setup.trusted and rehearsal.rehearsed_steps > 0 and rehearsal.updates > 0
    actions = np.array(taken)
    assert 0 < len(actions) <= rehearsal.rehearsed_steps  # (this callback's window check lags the rehearsal's own)
    assert np.abs(actions).max() <= 2.0 and np.abs(actions).max() > 1.0  # torques, not the buffer's [-1, 1]
    buffer = setup.model.replay_buffer.actions[: setup.model.replay_buffer.pos]
    assert np.abs(buffer).max() <= 1.0
    assert type(setup.model) is SAC and rehearsal.actor is None


def test_the_rehearsal_copies_and_samples_an_actor_with_state_dependent_exploration(pendulum_prior):
    """SAC with gSDE keeps its exploration matrices from the last forward pass (not graph leaves, which deepcopy
    refuses): the rehearsal actor is copied with them detached, and draws a new matrix at each of its steps."""
    recipe = get_recipe("default", trust_gate=None, critic_warmup=300, critic_pretrain_steps=20, distill_steps=50)
    hyperparams = {"learning_starts": 200, "use_sde": True}
    setup = make_finetune("sac", "Pendulum-v1", pendulum_prior, 700, recipe, hyperparams=hyperparams, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    watch = Watch(rehearsal)
    setup.learn(700, callback=watch)
    assert rehearsal.updates > 0 and rehearsal.rehearsed_steps > 0
    assert all(th.equal(watch.actor_first[k], watch.actor_release[k]) for k in watch.actor_first)  # held
    moved = watch.rehearsal_actor.state_dict()
    assert any(not th.equal(watch.actor_first[k], moved[k]) for k in watch.actor_first)  # while the copy learned
    assert setup.model.num_timesteps == 700 and type(setup.model) is SAC and rehearsal.actor is None


def test_a_restarted_rehearsal_is_copied_again_from_the_held_actor(nav_bc_weights):
    """With rehearsal_restart the rehearsal actor starts again from the held actor (the prior) every so many env
    steps; TD3's default, which holds nothing, drops the restart with the rehearsal."""
    recipe = get_recipe(
        "default", hold_rehearsal=1.0, rehearsal_restart=100, critic_warmup=300, critic_pretrain_steps=20
    )
    hyperparams = {"learning_starts": 300, "action_noise": None}
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("td3", env, nav_bc_weights, 900, recipe, hyperparams=hyperparams, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    copies: list[th.nn.Module] = []

    class Copies(BaseCallback):
        def _on_step(self) -> bool:
            if rehearsal.actor is not None and (not copies or copies[-1] is not rehearsal.actor):
                copies.append(rehearsal.actor)
            return True

    setup.learn(900, callback=Copies())
    assert setup.trusted and rehearsal.restarts == 2 and len(copies) == 3  # copied at the start, 100 and 200 in
    assert any(s.endswith("copied again from the held actor 2 times") for s in setup.decisions)
    unheld, said = get_recipe("default", rehearsal_restart=100).for_algorithm("td3")
    assert (unheld.hold_rehearsal, unheld.rehearsal_restart) == (0.0, 0)
    assert said[-1] == "rehearsal restart: off, there is no hold rehearsal to restart"
    assert get_recipe("default", rehearsal_restart=100).for_algorithm("sac")[0].rehearsal_restart == 100


class CountedNoise(OrnsteinUhlenbeckActionNoise):
    """Ornstein-Uhlenbeck noise that notes which process (by ``id``) each draw came from."""

    draws: list[int] = []

    def __call__(self) -> np.ndarray:
        CountedNoise.draws.append(id(self))
        return super().__call__()


def test_the_rehearsal_draws_td3s_noise_from_its_own_process(nav_bc_weights):
    """With a stateful action noise (Ornstein-Uhlenbeck) the rehearsal actor's actions take theirs from a copy of the
    process: the model's own is advanced by the model's steps only, as many times as without a rehearsed episode."""
    model_draws = []
    for share in (1e-12, 1.0):
        CountedNoise.draws = []
        recipe = get_recipe("default", hold_rehearsal=share, critic_warmup=300, critic_pretrain_steps=20)
        noise = CountedNoise(np.zeros(2), 0.1 * np.ones(2))
        hyperparams = {"learning_starts": 300, "action_noise": noise}
        env = gym.make("SimpleNavigation-v0")
        setup = make_finetune("td3", env, nav_bc_weights, 700, recipe, hyperparams=hyperparams, seed=0)
        rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
        setup.learn(700)
        assert setup.trusted and setup.model.action_noise is noise
        own = [draw for draw in CountedNoise.draws if draw != id(noise)]
        assert len(own) == rehearsal.rehearsed_steps  # the copy's draws: one per rehearsed step
        assert (rehearsal.rehearsed_steps > 0) == (share == 1.0)
        model_draws.append(len(CountedNoise.draws) - len(own))
    assert model_draws[0] > 0 and model_draws[0] == model_draws[1]


class Release(BaseCallback):
    """Sets the rehearsal's mark (and its test's line) to ``figure`` once armed (the prior's mean return the
    rehearsal actor must reach or beat: -1e6 is beaten by any episodes, 1e6 by none), and keeps the rehearsal actor
    and its optimiser's state as they are at the release, and the actor's weights at the first step of the window."""

    def __init__(self, rehearsal: HoldRehearsal, figure: float) -> None:
        super().__init__()
        self.rehearsal, self.figure = rehearsal, figure
        self.actor_first = self.released = self.optimizer_state = None
        self.at_release: tuple[dict, list] | None = None
        """The actor's weights and its trained parameters' Adam state at the step of the release, as released."""
        rehearsal.on_end = self.keep

    def keep(self, actor: th.nn.Module) -> None:
        self.released = copy.deepcopy(actor.state_dict())
        self.optimizer_state = copy.deepcopy(self.rehearsal.optimizer.state_dict())

    def _on_step(self) -> bool:
        if self.rehearsal.mark is not None and self.actor_first is None:
            self.rehearsal.mark = self.rehearsal.line = GuardFloor("return", self.figure, self.figure)
            self.actor_first = copy.deepcopy(self.model.policy.actor.state_dict())
        if self.rehearsal.released_as_rehearsal and self.at_release is None:  # the rehearsal's step ran first
            actor = self.model.policy.actor
            trained = [p for p in actor.parameters() if p.requires_grad]
            adam = [copy.deepcopy(actor.optimizer.state[p]) for p in trained]
            self.at_release = copy.deepcopy(actor.state_dict()), adam
        return True


def released_sac(weights: str, total: int, **overrides) -> tuple:
    """A SAC fine-tuning of the nav prior with a rehearsed 200-step hold from step 300 and a release after 2
    episodes, and its :class:`HoldRehearsal`."""
    recipe = get_recipe(
        "default", hold_rehearsal=1.0, critic_warmup=200, critic_pretrain_steps=20, rehearsal_release=2, **overrides
    )
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("sac", env, weights, total, recipe, hyperparams={"learning_starts": 300}, seed=0)
    return setup, next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))


@pytest.mark.parametrize(("reached", "window"), [(True, None), (False, None), (True, 150)])
def test_the_release_waits_for_the_rehearsal_and_takes_its_actor(nav_bc_weights, reached, window):
    """With rehearsal_release the hold lasts until the rehearsal actor's last episodes reach the prior's figure (with
    rehearsal_release_window: its episodes in the window beat it by the test), then the actor is released as the
    rehearsal actor, weights and optimiser state; at most rehearsal_release_extend env steps past the critic warm-up
    (then as held)."""
    total = 1_200 if window is None else 1_500  # the gate's random probe takes 300 steps more
    setup, rehearsal = released_sac(
        nav_bc_weights,
        total,
        rehearsal_release_extend=300,
        rehearsal_release_window=window,
        **({} if window is None else {"gate_criterion": "return", "gate_max_steps": 300}),  # nav's prior always
        # succeeds: nothing to beat; scored by its return against the random probe's, a short one
    )
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    release = Release(rehearsal, -1e6 if reached else 1e6)
    setup.learn(total, callback=release)
    start = rehearsal.start
    said = [s for s in setup.decisions if s.startswith("hold rehearsal")]
    assert setup.trusted and rehearsal.hold_end == start + 200 and rehearsal.ended
    assert said[0].startswith(f"hold rehearsal: from step {start} to the critic warm-up's end at {start + 200}, ")
    if window is None:
        assert (
            f"from step {start + 200} the actor is released as the rehearsal actor once its last 2 episodes" in said[0]
        )
    else:
        assert re.search(
            f"from step {start + 200} the actor is released as the rehearsal actor once its episodes that ended in the "
            r"last 150 env steps \(its last 2 where they are fewer\) have a mean return above (-[0-9.]+) "
            r"\(the prior's \1 in the probe\) "
            "by a one-sided test at 0.05",
            said[0],
        )
        assert rehearsal.release_pvalue is not None and rehearsal.release_pvalue < 0.05
        assert "tested episodes" in said[-1] and ", one-sided p 0.000)" in said[-1]
    assert f"else as held at step {start + 500}" in said[0]
    actor = setup.model.policy.actor
    if reached:  # the first step past the hold's end where two of its episodes have ended
        assert rehearsal.released_as_rehearsal and start + 200 <= hook.hold_steps < start + 500
        assert "the actor released as the rehearsal actor" in said[-1]
        assert len(rehearsal.scores) >= 2
        # The actor was released as the rehearsal actor (which had moved off the held one): its weights, and its
        # trained parameters' Adam state.
        weights, adam = release.at_release
        assert any(not th.equal(release.actor_first[k], release.released[k]) for k in release.actor_first)
        assert all(th.equal(weights[k], release.released[k]) for k in weights)
        state = release.optimizer_state["state"]
        assert len(state) == len(adam) == len([p for p in actor.parameters() if p.requires_grad])
        for index, moments in enumerate(adam):
            assert th.equal(moments["exp_avg"], state[index]["exp_avg"]) and moments["step"] == state[index]["step"]
    else:
        assert rehearsal.released_as_rehearsal is False and hook.hold_steps == start + 500
        assert "the actor released as held" in said[-1]


def test_the_release_and_the_pull_are_off_without_a_rehearsal(nav_bc_weights):
    unheld, said = get_recipe("default", rehearsal_release=3, rehearsal_pull=True).for_algorithm("td3")
    assert (unheld.hold_rehearsal, unheld.rehearsal_release, unheld.rehearsal_pull) == (0.0, None, False)
    assert said[-2:] == [
        "rehearsal release: off, there is no hold rehearsal to release the actor as",
        "rehearsal pull: off, there is no hold rehearsal to pull",
    ]
    assert get_recipe("default", rehearsal_release=3).for_algorithm("sac")[0].rehearsal_release == 3


def test_the_rehearsal_pull_keeps_the_rehearsal_actor_near_the_prior(nav_bc_weights):
    """With rehearsal_pull the rehearsal actor's step adds the recipe's pull (here strong, and not yet faded in the
    hold), so at the release its actions are nearer the prior's than the same run's rehearsal actor's without it."""
    gaps = []
    for pull in (False, True):
        recipe = get_recipe(
            "default",
            hold_rehearsal=1.0,
            critic_warmup=300,
            critic_pretrain_steps=20,
            bc_weight=100.0,
            bc_fade=1.0,
            rehearsal_pull=pull,
        )
        env = gym.make("SimpleNavigation-v0")
        setup = make_finetune("sac", env, nav_bc_weights, 900, recipe, hyperparams={"learning_starts": 300}, seed=0)
        rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
        kept = {}
        rehearsal.on_end = lambda actor, kept=kept: kept.update(actor=actor_copy(actor))
        setup.learn(900)
        observations = th.as_tensor(setup.model.replay_buffer.observations[:600, 0])
        with th.no_grad():
            prior = setup.prior(observations)
            rehearsed = kept["actor"](observations, deterministic=True)
        gaps.append(float(((rehearsed - prior) ** 2).mean()))
        assert rehearsal.pull is pull and setup.recipe.rehearsal_pull is pull
    assert gaps[1] < 0.5 * gaps[0]


def test_without_a_trust_gate_the_release_does_not_wait_and_says_so(nav_bc_weights):
    """The rehearsal actor is scored against the prior's figure in the gate's probe: with no gate, no figure, so the
    actor is released as held at the critic warm-up's end, and a decision says why."""
    recipe = get_recipe(
        "default", hold_rehearsal=1.0, critic_warmup=200, critic_pretrain_steps=20, rehearsal_release=2, trust_gate=None
    )
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("sac", env, nav_bc_weights, 700, recipe, hyperparams={"learning_starts": 300}, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    setup.learn(700)
    assert rehearsal.mark is None and rehearsal.released_as_rehearsal is None and rehearsal.ended
    assert hook.hold_steps == rehearsal.until == rehearsal.start + 200
    said = [s for s in setup.decisions if s.startswith("rehearsal release: off")]
    assert said == [
        "rehearsal release: off, there is no trust gate whose probe it could be scored against; the actor is released "
        f"as held at step {rehearsal.start + 200}"
    ]


def scored(rehearsal: HoldRehearsal, episodes: list[tuple[int, float]], now: int) -> bool:
    """Whether ``rehearsal`` releases at env step ``now`` after these (end step, score) episodes."""
    rehearsal.scores = [score for _, score in episodes]
    rehearsal.scored_at = [at for at, _ in episodes]
    rehearsal.num_timesteps, rehearsal._tested = now, None  # the test's cache holds for a run's growing list only
    return rehearsal._rehearsal_scores_at_prior()


def armed(rehearsal: HoldRehearsal, mark: GuardFloor) -> str:
    """``rehearsal`` armed with ``mark`` for a hold from 1,000 to 2,000 env steps; what it says."""
    return rehearsal.arm(1_000, 2_000, SimpleNamespace(hold_steps=2_000), mark)


def test_the_windowed_release_test_is_not_passed_by_a_lucky_run():
    """Three successes in a row reach a prior's 0.78 (the mean rule releases) but do not beat it by the one-sided
    test; thirteen in the window do, and the window forgets the failures that ended before it. Returns: three near the
    threshold beat a prior at -272, a run with one fall among them does not."""
    mean_rule = HoldRehearsal(1.0, release_episodes=3)
    windowed = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    for rehearsal in (mean_rule, windowed):
        armed(rehearsal, GuardFloor("success", 0.78, 0.39))
    failing_then_three = [(500 + 50 * k, 0.0) for k in range(10)] + [(1_900, 1.0), (1_950, 1.0), (2_000, 1.0)]
    assert scored(mean_rule, failing_then_three, 2_000) and not scored(windowed, failing_then_three, 2_000)
    assert windowed.release_pvalue == pytest.approx(0.78**3)  # the window (1,000-2,000] holds the three successes
    failing = [(1_700 + 25 * k, 0.0) for k in range(10)]
    thirteen = [(2_000 + 50 * k, 1.0) for k in range(13)]
    assert not scored(windowed, failing + thirteen, 2_600)  # the failures still in the window
    assert not scored(windowed, failing + thirteen, 3_000)  # twelve successes alone: p = 0.78 ** 12 > 0.05
    assert scored(windowed, failing + thirteen, 2_999)  # the window (1,999-2,999] holds the 13 successes only
    assert not scored(windowed, thirteen[:2], 2_100)  # fewer than release_episodes in all
    assert not scored(windowed, thirteen, 1_900)  # before the hold's end
    armed(windowed, GuardFloor("return", -272.0, -700.0))
    assert scored(windowed, [(2_000, -150.0), (2_200, -170.0), (2_400, -160.0)], 2_400)
    assert not scored(windowed, [(2_000, -150.0), (2_200, -1_200.0), (2_400, -160.0), (2_600, -140.0)], 2_600)


def test_the_windowed_release_tests_against_the_prior_less_the_margin():
    """With release_margin the line is the mark's floor (the recipe draws it at 1 - margin): nine successes beat a
    line of 0.70 (0.7 ** 9 < 0.05), not the prior's 0.78; returns a little below the prior's beat its line."""
    windowed = HoldRehearsal(1.0, release_episodes=3, release_window=1_000, release_margin=0.1)
    said = armed(windowed, GuardFloor("success", 0.78, 0.70))
    assert "have a success rate above 0.70 (the prior's 0.78 in the probe less 0.1 of it) by a one-sided test" in said
    nine = [(1_600 + 50 * k, 1.0) for k in range(9)]
    assert scored(windowed, nine, 2_000) and windowed.release_pvalue == pytest.approx(0.7**9)
    plain = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    armed(plain, GuardFloor("success", 0.78, 0.70))
    assert not scored(plain, nine, 2_000)
    said = armed(windowed, GuardFloor("return", -300.0, -400.0))  # the random probe at -1,300
    assert "above -400.00 (the prior's -300.00 in the probe less 0.1 of its lead over the random probe's)" in said
    assert scored(windowed, [(1_400, -320.0), (1_600, -290.0), (1_800, -330.0), (2_000, -310.0)], 2_000)
    armed(plain, GuardFloor("return", -300.0, -400.0))
    assert not scored(plain, [(1_400, -320.0), (1_600, -290.0), (1_800, -330.0), (2_000, -310.0)], 2_000)
    perfect = HoldRehearsal(1.0, release_episodes=3, release_window=1_000, release_margin=0.1)
    assert "once its episodes" in armed(perfect, GuardFloor("success", 1.0, 0.9))  # 0.90 can be beaten: it waits


def test_the_windowed_release_does_not_wait_for_a_perfect_prior(nav_bc_weights):
    """Where the prior succeeded in every probe episode the rehearsal actor cannot beat it: the actor is released as
    held at the critic warm-up's end, and the decision says why."""
    setup, rehearsal = released_sac(nav_bc_weights, 600, rehearsal_release_window=150)
    setup.learn(600)
    said = [s for s in setup.decisions if s.startswith("hold rehearsal")]
    assert rehearsal.mark is None and rehearsal.until == rehearsal.hold_end == rehearsal.start + 200
    assert (
        f"the actor is released as held at step {rehearsal.until}: the rehearsal release tests the rehearsal actor's "
        "success rate against 1.00 (the prior's in the probe), which nothing beats"
    ) in said[0]


def test_the_windowed_release_tests_the_last_episodes_where_the_window_holds_fewer():
    """Episodes longer than a third of the window leave it fewer than release_episodes: the last release_episodes
    are tested instead, so the test is still made (it never was)."""
    windowed = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    armed(windowed, GuardFloor("return", -4.0, -500.0))
    long_episodes = [(2_000 + 999 * k, 90.0 + k) for k in range(3)]  # one in any window of 1,000 steps
    assert scored(windowed, long_episodes, 3_998) and windowed._first_scored() == 0
    assert windowed.release_pvalue is not None and windowed.release_pvalue < 0.05
    assert not scored(windowed, [(2_000, -8.0), *long_episodes[1:]], 3_998)  # the one that failed is among them


def test_the_windowed_release_is_not_waited_for_where_the_hold_ends_with_too_few_episodes():
    """Where the hold ends with fewer of the rehearsal actor's episodes finished than the test is made on (MountainCar's
    999 steps in a 1,000-step hold), the test is given up at the first step past the hold's end, not before it and
    not where enough have ended; without a window (the mean rule) it is waited for as before."""
    windowed = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    said = armed(windowed, GuardFloor("return", -4.0, -500.0))
    assert "(where fewer than 3 have ended by step 2000, it is released as held then)" in said
    windowed.scores, windowed.scored_at = [-8.0], [1_999]
    windowed.num_timesteps = 1_999
    assert windowed._give_up() is None and not windowed._judged  # before the hold's end: not judged yet
    windowed.num_timesteps = 2_000
    assert (
        windowed._give_up()
        == "the rehearsal actor finished 1 episode in the hold, fewer than the 3 the test is made on"
    )
    enough = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    armed(enough, GuardFloor("return", -4.0, -500.0))
    enough.scores, enough.scored_at, enough.num_timesteps = [-8.0, -7.0, -9.0], [1_200, 1_600, 2_000], 2_000
    assert enough._give_up() is None and enough._judged
    enough.scores, enough.scored_at = [-8.0], [2_000]  # judged once, at the hold's end: not again
    assert enough._give_up() is None
    mean_rule = HoldRehearsal(1.0, release_episodes=3)
    armed(mean_rule, GuardFloor("return", -4.0, -500.0))
    mean_rule.scores, mean_rule.scored_at, mean_rule.num_timesteps = [-8.0], [1_999], 2_000
    assert mean_rule._give_up() is None


def test_the_windowed_release_is_not_waited_for_where_its_episodes_could_not_pass_the_test():
    """A rate is beaten at 5% only by n successes with rate ** n < 0.05: where the window holds fewer at the hold's
    end (PointMaze's three 300-step episodes against 0.71: 0.71 ** 3 = 0.36), the test is given up then, whatever
    the episodes scored; with nine in it (0.71 ** 9 = 0.046) it is waited for, and returns are never given up so."""
    windowed = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    said = armed(windowed, GuardFloor("success", 0.71, 0.36))
    assert "(where fewer than 3 have ended by step 2000, or too few to beat it even if every one succeeded, it" in said
    three = [(1_200, 1.0), (1_500, 1.0), (1_800, 1.0)]
    windowed.scores, windowed.scored_at = [s for _, s in three], [at for at, _ in three]
    windowed.num_timesteps = 2_000
    assert windowed._give_up() == (
        "the rehearsal actor's 3 episodes in the window could not beat the prior's 0.71 by the test even if every one "
        "succeeded (its least p-value 0.710 ** 3 = 0.358, not below 0.05)"
    )
    nine = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    armed(nine, GuardFloor("success", 0.71, 0.36))
    nine.scores, nine.scored_at, nine.num_timesteps = [0.0] * 9, [1_100 + 100 * k for k in range(9)], 2_000
    assert nine._give_up() is None  # nine failures: it could have passed on them, so the test is waited for
    margin = HoldRehearsal(1.0, release_episodes=3, release_window=1_000, release_margin=0.5)
    armed(margin, GuardFloor("success", 0.71, 0.355))
    margin.scores, margin.scored_at, margin.num_timesteps = [0.0] * 3, [1_200, 1_500, 1_800], 2_000
    assert margin._give_up() is None  # its line 0.355: 0.355 ** 3 = 0.045 could pass
    returns = HoldRehearsal(1.0, release_episodes=3, release_window=1_000)
    armed(returns, GuardFloor("return", -4.0, -500.0))
    returns.scores, returns.scored_at, returns.num_timesteps = [-8.0] * 3, [1_200, 1_500, 1_800], 2_000
    assert returns._give_up() is None


def test_a_hold_with_too_few_rehearsed_episodes_releases_the_actor_as_held_at_its_end(nav_bc_weights):
    """A run whose hold ends before the windowed test has its episodes: the actor is released as held at the first
    step past the hold's end (not rehearsal_release_extend later), the rehearsal ends there, and the decision says
    why."""
    recipe = get_recipe(
        "default",
        hold_rehearsal=1.0,
        critic_warmup=200,
        critic_pretrain_steps=20,
        rehearsal_release=500,  # more of nav's episodes than a 200-step hold holds
        rehearsal_release_window=150,
        rehearsal_release_extend=300,
        gate_criterion="return",
        gate_max_steps=300,
    )
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("sac", env, nav_bc_weights, 900, recipe, hyperparams={"learning_starts": 300}, seed=0)
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    setup.learn(900)  # the hold is from 600 (the gate's probes and the warm-up) to 800
    said = [s for s in setup.decisions if s.startswith("hold rehearsal")]
    start = rehearsal.start
    assert setup.trusted and rehearsal.ended and rehearsal.released_as_rehearsal is False
    assert 0 < len(rehearsal.scores) < 500 and rehearsal.until == start + 500
    assert hook.hold_steps == start + 200  # released at the hold's end, not at start + 500
    assert f"(where fewer than 500 have ended by step {start + 200}, it is released as held then)" in said[0]
    assert said[-1].startswith(f"hold rehearsal: ended at the actor's release (step {start + 200}); ")
    finished = f"{len(rehearsal.scores)} episode{'' if len(rehearsal.scores) == 1 else 's'}"
    assert (
        rehearsal.given_up
        == f"the rehearsal actor finished {finished} in the hold, fewer than the 500 the test is made on"
    )
    assert said[-1].endswith(
        f"the actor released as held at the hold's end ({rehearsal.given_up}: the release waits only where the hold "
        "gives the test the episodes it needs)"
    )
