"""Fine-tuned against from scratch on your own env, over seeds, with the field's statistics (``sb3-finetune compare``).

The benchmarks of ``benchmarks/`` measure the recipe on scenarios of this project; this module asks the same question
of a user's env and prior: is fine-tuning this prior worth it here, and by how much? Each seed trains two arms with
the same algorithm, settings and budget: the prior fine-tuned with a recipe, and the same model from scratch
(``pretrained=None``). Both are evaluated on the same fixed episodes every ``eval_freq`` env steps (their
deterministic policy, as :class:`~sb3_finetune.evaluation.LearningCurveCallback` does), and the first evaluation at
the threshold is the run's time to it.

The statistics follow the benchmarks' (Agarwal et al. 2021): the IQM of the steps to the threshold (a run that never
reaches it capped at the budget) with a bootstrap interval, the ratio of the two arms' IQMs with its interval, a
Kaplan-Meier median for each arm that treats a run that never got there as censored at the budget (not as one that
got there at the budget), and the probability of improvement: that a fine-tuned run picked at random reaches the
threshold sooner than a scratch run (a run that never reaches it is later than any that does, and ties with another
such run), and that it ends higher.

Runs are stored one JSON line each in ``results`` and reused when the same comparison runs again, so a comparison
can be stopped and resumed, or given more seeds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sb3_finetune import stats
from sb3_finetune.checkpoint import append_record, read_records

ARMS = ("fine-tuned", "scratch")
MEASURES = ("success_rate", "mean_return")


@dataclass(frozen=True)
class Job:
    """One run of a comparison (picklable, for a worker process).

    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param env_id: the env id
    :param env_kwargs: its arguments
    :param pretrained: the prior's file (``None``: the scratch arm)
    :param budget: env steps
    :param seed: seed of the run
    :param recipe: the fine-tuned arm's recipe (a name or a :class:`~sb3_finetune.recipes.Recipe`)
    :param hyperparams: algorithm arguments, both arms
    :param eval_freq: env steps between evaluations
    :param eval_episodes: episodes per evaluation
    :param action_units: what the prior outputs, where its file does not say
    :param normalize: ``VecNormalize``'s arguments where both arms train under it (``None``: they do not)
    :param env_wrapper: the Gymnasium wrappers around every env of both arms, innermost first (the RL Zoo's
        ``env_wrapper``, as :func:`~sb3_finetune.wrappers.parse_env_wrapper` reads it)
    :param activation: the activation of a prior read off a state dict, where its file does not say
    :param imports: modules to import first (where the env ids are registered)
    """

    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    pretrained: str | None
    budget: int
    seed: int
    recipe: Any = "default"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_freq: int = 1_000
    eval_episodes: int = 20
    action_units: str | None = None
    activation: str | None = None
    imports: tuple[str, ...] = ()
    normalize: dict[str, Any] | None = None
    env_wrapper: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def arm(self) -> str:
        """``"fine-tuned"`` or ``"scratch"``."""
        return ARMS[0] if self.pretrained is not None else ARMS[1]

    def key(self, prior_digest: str | None, defaults: dict[str, Any]) -> str:
        """What the run is, whatever file path named the prior: its stored record is reused under this key.

        The library's defaults that the run takes are part of it (the recipe's fields as they act with the algorithm,
        and the algorithm's default arguments on this env), so that a comparison run again after they changed does
        not reuse runs made under the old ones.

        :param prior_digest: the prior file's SHA-1 (``None`` for scratch)
        :param defaults: the algorithm's default arguments on this env (``recipes.default_hyperparams``)
        """
        from sb3_finetune.recipes import get_recipe

        recipe = get_recipe(self.recipe).for_algorithm(self.algo)[0].as_dict() if self.pretrained else None
        what = {
            "algo": self.algo,
            "env_id": self.env_id,
            "env_kwargs": repr(sorted(self.env_kwargs.items())),
            "prior": prior_digest,
            "budget": self.budget,
            "seed": self.seed,
            "recipe": repr(recipe),
            "hyperparams": repr(sorted({**defaults, **self.hyperparams}.items())),
            "eval": (self.eval_freq, self.eval_episodes),
            "prior_reading": (self.action_units, self.activation),
        }
        if self.normalize is not None:  # absent otherwise: runs stored before it existed keep their key
            what["normalize"] = repr(sorted(self.normalize.items()))
        if self.env_wrapper:  # the same
            what["env_wrapper"] = repr([(name, sorted(kwargs.items())) for name, kwargs in self.env_wrapper])
        return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def run_job(job: Job) -> dict[str, Any]:
    """Train one arm for one seed: its learning curve, and what the recipe decided.

    The library's log is kept off the worker's stderr (a handler on the ``"sb3_finetune"`` logger): every decision
    is in the returned ``decisions``, and the trust gate's in ``gate``.

    :param job: the run
    :return: ``{"curve": [...], "gate": {...} or None, "decisions": [...]}``; the curve's evaluations as
        :class:`~sb3_finetune.evaluation.LearningCurveCallback` records them, the first at step 0, the last at the
        budget
    """
    import logging

    import torch as th

    from sb3_finetune.evaluation import LearningCurveCallback
    from sb3_finetune.recipes import make_finetune
    from sb3_finetune.wrappers import make_wrapped, training_env

    th.set_num_threads(1)  # runs go in parallel processes: one core each
    logging.getLogger("sb3_finetune").addHandler(logging.NullHandler())
    for module in job.imports:
        importlib.import_module(module)
    env = training_env(job.env_id, job.env_kwargs, job.env_wrapper, normalize=job.normalize, seed=job.seed)
    setup = make_finetune(
        job.algo,
        env,
        job.pretrained,
        job.budget,
        job.recipe,
        dict(job.hyperparams),
        seed=job.seed,
        action_units=job.action_units,
        activation=job.activation,
    )
    if job.env_wrapper:  # evaluated on a wrapped env of their own, from the same seeded starts
        eval_env: Any = make_wrapped(job.env_id, job.env_kwargs, job.env_wrapper)
        curve = LearningCurveCallback(eval_env, None, job.eval_freq, job.eval_episodes)
    else:
        curve = LearningCurveCallback(job.env_id, job.env_kwargs, job.eval_freq, job.eval_episodes)
    setup.learn(job.budget, callback=[curve])
    if curve.curve[-1]["step"] != setup.model.num_timesteps:
        curve._evaluate()
    gate = None if setup.gate is None else setup.gate.as_dict()
    return {"curve": curve.curve, "gate": gate, "decisions": list(setup.decisions)}


@dataclass
class ArmFigures:
    """One arm's figures over its runs.

    :param runs: number of runs
    :param reached: runs that reached the threshold
    :param steps_iqm: IQM of the steps to the threshold (capped at the budget) and its interval
    :param km_median: Kaplan-Meier median steps to the threshold and its interval (``None``: beyond the budget)
    :param final_iqm: IQM of the measure at the last evaluation and its interval
    :param wall_s_iqm: IQM of the runs' training time in seconds (their evaluations excluded), and its interval
    """

    runs: int
    reached: int
    steps_iqm: tuple[float, float, float]
    km_median: tuple[float | None, float | None, float | None]
    final_iqm: tuple[float, float, float]
    wall_s_iqm: tuple[float, float, float]


@dataclass
class Comparison:
    """What :func:`compare` measured.

    :param measure: ``"success_rate"`` or ``"mean_return"``
    :param threshold: the measure's value that counts as reached
    :param budget: env steps per run
    :param curves: each arm's learning curves, by seed
    :param arms: each arm's figures
    :param prior_score: the measure at step 0 of the fine-tuned runs (the model is the prior there), IQM
    :param steps_ratio: IQM steps to the threshold, fine-tuned over scratch, with its interval (``nan`` where
        scratch's IQM is 0)
    :param p_sooner: probability that a fine-tuned run reaches the threshold sooner than a scratch run
    :param p_higher: probability that a fine-tuned run ends higher than a scratch run
    :param wall_ratio: IQM training time of a run, fine-tuned over scratch, with its interval: what the recipe's
        warm-up, critic pre-training and pull cost in compute for the same env steps (the two arms ran on the same
        machine in the same comparison, but a noisy machine makes it a rough figure)
    :param wall_to_solved_ratio: the same for the training time to the threshold (a run that never reaches it counts
        its whole run): where env steps are cheap against gradient steps, a prior that saves env steps may still cost
        time
    :param gates: each fine-tuned run's trust gate decision (:meth:`GateDecision.as_dict
        <sb3_finetune.warmup.GateDecision.as_dict>`), by seed (``None`` without a gate)
    :param decisions: each fine-tuned run's decisions (:attr:`FinetuneSetup.decisions
        <sb3_finetune.recipes.FinetuneSetup.decisions>`), by seed
    """

    measure: str
    threshold: float
    budget: int
    curves: dict[str, dict[int, list[dict[str, Any]]]]
    arms: dict[str, ArmFigures]
    prior_score: float
    steps_ratio: tuple[float, float, float]
    p_sooner: float
    p_higher: float
    wall_ratio: tuple[float, float, float] = (float("nan"),) * 3
    wall_to_solved_ratio: tuple[float, float, float] = (float("nan"),) * 3
    gates: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    decisions: dict[int, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON)."""
        return asdict(self)

    def report(self, title: str) -> str:
        """The comparison as a small table, for a terminal.

        :param title: what was compared (the algorithm and the env, say)
        :return: the lines
        """
        success, seeds = self.measure == "success_rate", self.arms["scratch"].runs
        solved = f"{self.threshold:.0%} success" if success else f"return >= {self.threshold:g}"

        def value(number: float) -> str:
            return f"{number:.0%}" if success else f"{number:.1f}"

        def steps(number: float | None) -> str:
            return f">{self.budget}" if number is None else f"{number:.0f}"

        lines = [
            f"{title}: {seeds} seed{'s' if seeds != 1 else ''} per arm, {self.budget} env steps each; solved: {solved}",
            f"the prior alone (step 0 of the fine-tuned runs): {value(self.prior_score)} (IQM)",
            *self._gate_lines(),
            "",
            f"{'arm':<12}{'reached':>9}  {'steps to solved, IQM [95% CI]':<32}{'Kaplan-Meier median [95% CI]':<32}"
            f"final {'success' if success else 'return'}, IQM [95% CI]",
        ]
        for arm, figures in self.arms.items():
            iqm, low, high = figures.steps_iqm
            median, km_low, km_high = figures.km_median
            final, final_low, final_high = figures.final_iqm
            lines.append(
                f"{arm:<12}{f'{figures.reached}/{figures.runs}':>9}  {f'{iqm:.0f} [{low:.0f}, {high:.0f}]':<32}"
                f"{f'{steps(median)} [{steps(km_low)}, {steps(km_high)}]':<32}"
                f"{value(final)} [{value(final_low)}, {value(final_high)}]"
            )
        ratio, low, high = self.steps_ratio
        wall, wall_low, wall_high = self.wall_ratio
        solved_wall, solved_low, solved_high = self.wall_to_solved_ratio
        lines += [
            "",
            f"fine-tuned / scratch: IQM steps ratio {ratio:.2f} [{low:.2f}, {high:.2f}] (runs never solved count at "
            "the budget); P(a fine-tuned run is solved sooner) "
            f"{self.p_sooner:.2f}; P(it ends higher) {self.p_higher:.2f}",
            f"training time (evaluations excluded), fine-tuned / scratch, IQM ratio: to solved {solved_wall:.2f} "
            f"[{solved_low:.2f}, {solved_high:.2f}] (a run never solved counts its whole run); per run {wall:.2f} "
            f"[{wall_low:.2f}, {wall_high:.2f}] ({self.arms['fine-tuned'].wall_s_iqm[0]:.0f} s against "
            f"{self.arms['scratch'].wall_s_iqm[0]:.0f} s)",
        ]
        return "\n".join(lines)

    def _gate_lines(self) -> list[str]:
        judged = [gate for gate in self.gates.values() if gate is not None]
        if not judged:
            return []
        trusted = [seed for seed, gate in self.gates.items() if gate is not None and gate["trusted"]]
        line = f"trust gate ({judged[0]['criterion']}): trusted the prior in {len(trusted)} of {len(judged)} runs"
        if len(trusted) < len(judged):
            line += " (where it stood the prior down, the fine-tuned run is close to scratch with the prior's features)"
        return [line]


def plot_comparison(comparison: Comparison, path: str | Path, title: str) -> bool:
    """Every run's learning curve, by arm, with the threshold and the prior's level.

    :param comparison: what :func:`compare` measured
    :param path: the PNG to write
    :param title: the plot's title
    :return: ``False`` where matplotlib is not installed (nothing written)
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    for arm, colour in zip(ARMS, ("tab:blue", "tab:orange"), strict=True):
        for index, seed in enumerate(sorted(comparison.curves[arm])):
            curve = comparison.curves[arm][seed]
            axis.plot(
                [point["step"] for point in curve],
                [point[comparison.measure] for point in curve],
                color=colour,
                alpha=0.6,
                linewidth=1.2,
                label=f"{arm} ({len(comparison.curves[arm])} seeds)" if index == 0 else None,
            )
    axis.axhline(comparison.threshold, color="black", linewidth=0.8, linestyle=":", label="solved")
    axis.axhline(comparison.prior_score, color="grey", linewidth=2, linestyle=(0, (4, 3)), label="the prior alone")
    label = "success rate" if comparison.measure == "success_rate" else "mean return"
    axis.set(xlabel="env steps", ylabel=f"{label} (fixed evaluation episodes)", title=title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def steps_to_threshold(curve: Sequence[dict[str, Any]], measure: str, threshold: float) -> float | None:
    """The step of the first evaluation at or above ``threshold`` (``None``: never).

    :param curve: evaluations with ``step`` and ``measure``
    :param measure: ``"success_rate"`` or ``"mean_return"``
    :param threshold: the value that counts as reached
    """
    for point in curve:
        value = point.get(measure)
        if value is not None and value >= threshold:
            return float(point["step"])
    return None


def summarise(
    curves: dict[str, dict[int, list[dict[str, Any]]]], measure: str, threshold: float, budget: int
) -> Comparison:
    """The figures of a comparison's learning curves (see the module docstring).

    :param curves: ``{"fine-tuned": {seed: curve}, "scratch": {seed: curve}}``
    :param measure: ``"success_rate"`` or ``"mean_return"``
    :param threshold: the value that counts as reached
    :param budget: the runs' budget (where a run that never reaches the threshold is censored)
    :return: the comparison
    """
    arms: dict[str, ArmFigures] = {}
    capped: dict[str, np.ndarray] = {}
    later: dict[str, np.ndarray] = {}
    finals: dict[str, np.ndarray] = {}
    walls: dict[str, np.ndarray] = {}
    walls_to_solved: dict[str, np.ndarray] = {}
    for arm in ARMS:
        runs = [curves[arm][seed] for seed in sorted(curves[arm])]
        times = [steps_to_threshold(curve, measure, threshold) for curve in runs]
        reached = [time is not None for time in times]
        capped[arm] = np.array([budget if time is None else time for time in times], dtype=float)
        later[arm] = np.array([np.inf if time is None else time for time in times], dtype=float)
        finals[arm] = np.array([curve[-1][measure] for curve in runs], dtype=float)
        walls[arm] = np.array([curve[-1].get("wall_s", np.nan) for curve in runs], dtype=float)
        walls_to_solved[arm] = np.array(
            [_wall_at(curve, time) for curve, time in zip(runs, times, strict=True)], dtype=float
        )
        arms[arm] = ArmFigures(
            runs=len(runs),
            reached=sum(reached),
            steps_iqm=stats.iqm_interval([capped[arm]]),
            km_median=stats.kaplan_meier_median(capped[arm], reached),
            final_iqm=stats.iqm_interval([finals[arm]]),
            wall_s_iqm=stats.iqm_interval([walls[arm]]),
        )
    # sooner is better: negated times, a run that never got there (-inf) below any that did, two such runs tied
    p_sooner = stats.probability_of_improvement(-later["fine-tuned"], -later["scratch"])
    return Comparison(
        measure=measure,
        threshold=threshold,
        budget=budget,
        curves=curves,
        arms=arms,
        prior_score=stats.iqm([curve[0][measure] for curve in curves["fine-tuned"].values()]),
        steps_ratio=stats.iqm_ratio_interval(capped["fine-tuned"], capped["scratch"]),
        p_sooner=p_sooner,
        p_higher=stats.probability_of_improvement(finals["fine-tuned"], finals["scratch"]),
        wall_ratio=stats.iqm_ratio_interval(walls["fine-tuned"], walls["scratch"]),
        wall_to_solved_ratio=stats.iqm_ratio_interval(walls_to_solved["fine-tuned"], walls_to_solved["scratch"]),
    )


def _wall_at(curve: Sequence[dict[str, Any]], step: float | None) -> float:
    """The training time at the evaluation of ``step`` (``None``: the run's last)."""
    point = curve[-1] if step is None else next(point for point in curve if point["step"] == step)
    return float(point.get("wall_s", np.nan))


def _file_digest(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def compare(
    algo: str,
    env_id: str,
    pretrained: str,
    budget: int,
    seeds: Sequence[int],
    *,
    env_kwargs: dict[str, Any] | None = None,
    recipe: Any = "default",
    hyperparams: dict[str, Any] | None = None,
    normalize: dict[str, Any] | None = None,
    env_wrapper: tuple[tuple[str, dict[str, Any]], ...] = (),
    eval_freq: int | None = None,
    eval_episodes: int = 20,
    measure: str | None = None,
    threshold: float | None = None,
    action_units: str | None = None,
    activation: str | None = None,
    imports: Sequence[str] = (),
    workers: int = 1,
    results: str | Path | None = None,
    on_run: Any = None,
) -> Comparison:
    """Fine-tune ``pretrained`` and train from scratch on ``env_id`` for each seed, and compare (module docstring).

    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param env_id: a registered env id
    :param pretrained: the prior's weights file
    :param budget: env steps per run
    :param seeds: the seeds; each trains both arms
    :param env_kwargs: env arguments
    :param recipe: the fine-tuned arm's recipe
    :param hyperparams: algorithm arguments, both arms
    :param normalize: ``VecNormalize``'s arguments, where both arms train under it (the RL Zoo's ``normalize``;
        each model is evaluated with its own running statistics)
    :param env_wrapper: Gymnasium wrappers around every env of both arms, innermost first (the RL Zoo's
        ``env_wrapper``, as :func:`~sb3_finetune.wrappers.parse_env_wrapper` reads it)
    :param eval_freq: env steps between evaluations (``None``: a 20th of the budget)
    :param eval_episodes: episodes per evaluation (the same seeded episodes at every evaluation and in both arms)
    :param measure: ``"success_rate"`` or ``"mean_return"`` (``None``: success where the env reports it, as one
        episode of the prior shows, else return)
    :param threshold: the measure's value that counts as reached (``None``: 0.9 for success; needed for return)
    :param action_units: what the prior outputs, where its file does not say
    :param activation: the activation of a prior read off a state dict, where its file does not say
    :param imports: modules to import in each worker first, where the env id is registered (the module of the env's
        entry point is imported too)
    :param workers: runs in parallel (processes)
    :param results: a JSON-lines file of runs: those already there are reused, new ones appended as they end
    :param on_run: called with ``(job, curve, reused)`` as each run is done (for progress)
    :return: the comparison
    :raises ValueError: bad arguments, or a prior that does not fit the env (before any run)
    """
    import gymnasium as gym

    from sb3_finetune.evaluation import evaluate, prior_policy
    from sb3_finetune.prior import load_prior
    from sb3_finetune.recipes import default_hyperparams
    from sb3_finetune.wrappers import make_wrapped

    if measure is not None and measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if not seeds or budget < 1 or workers < 1 or eval_episodes < 1:
        raise ValueError("compare needs at least one seed, a budget, one worker and one evaluation episode")
    if not Path(pretrained).is_file():
        raise FileNotFoundError(f"pretrained weights file not found: '{pretrained}'")
    eval_freq = max(budget // 20, 1) if eval_freq is None else eval_freq
    kwargs = dict(env_kwargs or {})
    # Before any run: the prior loads on the env (or the error names why), and one of its episodes shows whether the
    # env reports success, which decides the measure where none was given.
    for module in imports:
        importlib.import_module(module)
    env = make_wrapped(env_id, kwargs, env_wrapper)
    # Workers start fresh (spawn): they import what registered the env id, as its entry point names it
    entry_point = gym.spec(env_id).entry_point
    if isinstance(entry_point, str):
        imports = (*imports, entry_point.partition(":")[0])
    prior = load_prior(pretrained, env.action_space, env.observation_space, action_units, activation)
    probe: Any = env if env_wrapper else env_id  # inside wrappers, the env just made (an id runs vectorised)
    reports_success = evaluate(prior_policy(prior), probe, kwargs if not env_wrapper else None, 1, 0).success_rate
    reports_success = reports_success is not None
    defaults = default_hyperparams(algo, env)
    env.close()
    if measure == "success_rate" and not reports_success:
        raise ValueError(f"{env_id} reports no success (info['is_success'] or info['success']): judge it on return")
    if measure is None:
        measure = "success_rate" if reports_success else "mean_return"
    if measure == "mean_return" and threshold is None:
        raise ValueError(
            f"{env_id} is judged on return here (it reports no success, or measure='mean_return'): give the return "
            "that counts as solved (threshold)"
        )
    threshold = 0.9 if threshold is None else threshold
    common = {"recipe": recipe, "hyperparams": dict(hyperparams or {}), "eval_freq": eval_freq}
    common |= {"eval_episodes": eval_episodes, "action_units": action_units, "activation": activation}
    common |= {"imports": tuple(imports), "normalize": None if normalize is None else dict(normalize)}
    common["env_wrapper"] = tuple(env_wrapper)
    arms = (pretrained, None)  # the fine-tuned arm's weights, and scratch
    jobs = [Job(algo, env_id, kwargs, weights, budget, seed, **common) for seed in seeds for weights in arms]
    digest = _file_digest(pretrained)
    stored = {} if results is None else read_records(results)
    runs: dict[str, dict[int, dict[str, Any]]] = {arm: {} for arm in ARMS}
    pending = []
    for job in jobs:
        key = job.key(digest if job.pretrained is not None else None, defaults)
        if key in stored:
            runs[job.arm][job.seed] = stored[key]
            if on_run is not None:
                on_run(job, stored[key]["curve"], True)
        else:
            pending.append((key, job))

    def done(key: str, job: Job, run: dict[str, Any]) -> None:
        runs[job.arm][job.seed] = run
        if results is not None:
            append_record(results, {"key": key, "arm": job.arm, "seed": job.seed, **run})
        if on_run is not None:
            on_run(job, run["curve"], False)

    if workers == 1:
        for key, job in pending:
            done(key, job, run_job(job))
    else:
        # spawn, whatever the platform's default: no copy of a parent's torch threads, and the same on Python 3.14,
        # whose Linux default is no longer fork
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job): (key, job) for key, job in pending}
            for future in as_completed(futures):  # each run stored as it ends: a stopped comparison resumes
                done(*futures[future], future.result())
    curves = {arm: {seed: run["curve"] for seed, run in by_seed.items()} for arm, by_seed in runs.items()}
    comparison = summarise(curves, measure, threshold, budget)
    comparison.gates = {seed: run["gate"] for seed, run in sorted(runs["fine-tuned"].items())}
    comparison.decisions = {seed: run["decisions"] for seed, run in sorted(runs["fine-tuned"].items())}
    return comparison
