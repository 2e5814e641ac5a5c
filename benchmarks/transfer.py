"""Fine-tuned against from scratch: every scenario x algorithm x arm over many seeds, with IQM and bootstrap CIs.

Scenarios (source task -> target task, ``sb3_finetune.experiment.SCENARIOS``): on ``nav_env``, same task, goal
moved, an obstacle, drift, and sparse reward on the goal env (HER); on standard envs nobody here wrote
(``sb3_finetune.external``), Pendulum-v1 with a heavier pole and stronger gravity, MountainCarContinuous-v0 with a
weaker engine, and PointMaze from an open arena to the U-maze. Arms: ``scratch``, the ``default`` recipe,
``frozen`` features and the ``naive`` transfer of the design note. Each run evaluates 50 fixed episodes 20 times.
A scenario's threshold is on success (nav, PointMaze) or on return (Pendulum, MountainCar).

The sweep is resumable and can run in parts: records are appended to ``--results`` (JSON lines) as runs finish,
finished runs are skipped, and files from several machines merge by concatenation, or are read side by side
(``--results a.jsonl,b.jsonl``: new runs go to the first). ``--backend ray`` sends each run to Ray (``--address``
for a cluster). ``--report-only`` rebuilds the tables and plots from the files.

Run: ``python benchmarks/transfer.py`` (the published sweep: the nav scenarios), ``--scenarios external`` for
the three standard envs, ``--quick`` for a smoke test.
Outputs: ``--results`` (every run), ``<out>/transfer_summary.csv``, ``<out>/transfer_table.md``,
``<out>/curves_<scenario>_<algo>.png``, and where partly right scenarios were run with scratch,
``<out>/profiles.png`` and ``<out>/profiles.csv`` (each algorithm's performance profile of steps to the threshold
over those scenarios: :func:`run_time_profiles`). The table opens with the goals, met or not, including
the wall-clock and training-cost goals when ``wallclock.py`` and ``train_overhead.py`` have left their results
in ``<out>``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _args import UsageError, results_files, run_script

from sb3_finetune.experiment import ARMS, SCENARIOS, RunSpec
from sb3_finetune.recipes import RECIPES
from sb3_finetune.stats import iqm, iqm_interval, run_time_profile
from sb3_finetune.sweep import load_all, match_records, run_sweep, summarise


@dataclass
class Args:
    """Command-line arguments."""

    scenarios: str = "same-task,goal-moved,obstacle,drift,sparse-goal"
    """scenarios to run: names, 'nav' (the five nav ones), 'external' (the three standard envs), or both
    ('wind', a right prior under a wind it never saw, and 'pendulum-reversed' run by name)"""
    algos: str = "td3,sac,ddpg"
    """algorithms to run"""
    arms: str = ",".join(ARMS)
    """arms to run: scratch and recipe names (the four of the published sweep by default; ibrl is another)"""
    seeds: int = 10
    """seeds per cell for TD3 and SAC"""
    ddpg_seeds: int = 5
    """seeds per cell for DDPG"""
    eval_episodes: int = 50
    """episodes per evaluation"""
    workers: int = 2
    """parallel runs (process backend)"""
    backend: str = "process"
    """'process' (local pool) or 'ray'"""
    address: str = ""
    """Ray cluster address ('' starts a local Ray)"""
    results: str = "benchmarks/results/transfer.jsonl"
    """JSON-lines file of every run (resumable, mergeable); several, comma-separated: new runs are appended to the
    first, and the runs stored in any of them count (each after the first must exist)"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results"
    """folder of the tables and plots"""
    report_only: bool = False
    """only rebuild tables and plots from --results"""
    stored: bool = False
    """with --report-only: use the stored runs of the planned cells whatever recipe version made them, the earliest
    of each cell and seed (by default only runs of the current recipes count)"""
    quick: bool = False
    """2 seeds, tiny budgets: a smoke test"""


NAV_SCENARIOS = ("same-task", "goal-moved", "obstacle", "drift", "sparse-goal")
EXTERNAL_SCENARIOS = tuple(
    name for name, scenario in SCENARIOS.items() if scenario.external and scenario.prior == "partly right"
)
GROUPS = {"nav": NAV_SCENARIOS, "external": EXTERNAL_SCENARIOS}


def scenario_names(text: str) -> list[str]:
    """Comma-separated scenario names and groups (``nav``, ``external``), expanded in order, each once."""
    names = [name for part in text.split(",") for name in GROUPS.get(part, (part,))]
    return list(dict.fromkeys(names))


def plan(args: Args) -> list[RunSpec]:
    budget = 200 if args.quick else None
    specs = []
    for scenario in scenario_names(args.scenarios):
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
        for algo in args.algos.split(","):
            seeds = args.ddpg_seeds if algo == "ddpg" else args.seeds
            for arm in args.arms.split(","):
                if arm != "scratch" and arm not in RECIPES:
                    raise UsageError(f"unknown arm {arm!r}; choose from scratch, {', '.join(RECIPES)}")
                for seed in range(seeds):
                    specs.append(RunSpec(scenario, algo, arm, seed, budget, eval_episodes=args.eval_episodes))
    return specs


def km_text(estimate: tuple[float | None, float | None, float | None], budget: int) -> str:
    """A Kaplan-Meier median with its interval; ``>budget`` where it lies beyond the budget (censored)."""
    median, low, high = estimate

    def show(value: float | None) -> str:
        return f">{budget}" if value is None else f"{value:.0f}"

    return f"{show(median)} [{show(low)}, {show(high)}]"


FAST_SCENARIOS = {name: 0.5 for name, scenario in SCENARIOS.items() if scenario.prior == "partly right"}
"""Where the prior is partly right: the default recipe should need at most this fraction of scratch's steps to the
threshold (IQM ratio, 95% interval's upper end below 1)."""
OBSTACLE_AIM = 0.2
"""The obstacle's aim beyond its first goal (0.5x)."""
NON_INFERIORITY = {name: 1.1 for name, scenario in SCENARIOS.items() if scenario.prior == "wrong"}
"""Where the prior is wrong: the default recipe is never worse than scratch when the ratio's 95% interval ends below
this margin (declared before the sweep that judges it)."""
RIGHT_PRIOR_SCENARIOS = tuple(name for name, scenario in SCENARIOS.items() if scenario.prior == "right")
"""Where the prior is right: the default recipe should stay at the threshold from step 0."""
CANDIDATE_ARMS = ("frontier", "ibrl")
"""Recipes other than the default whose goal lines are judged too, where they were run."""
JUDGED_ALGOS = ("td3", "sac")
"""The algorithms the goals are judged on; DDPG's rows are reported."""


def goals(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The goals, judged on the summary rows: ``(goal, figures, verdict)`` per line.

    They are judged for the default recipe, and for each candidate recipe (:data:`CANDIDATE_ARMS`) that was run.
    """
    cell = {(row["scenario"], row["algo"], row["arm"]): row for row in rows}
    algos = [algo for algo in ("td3", "sac", "ddpg") if any(key[1] == algo for key in cell)]
    arms = ["default", *(arm for arm in CANDIDATE_ARMS if any(key[2] == arm for key in cell))]
    lines = []

    def ratio(scenario: str, algo: str, arm: str) -> tuple[float, float, float] | None:
        row = cell.get((scenario, algo, arm))
        return row.get("steps_ratio_vs_scratch") if row else None

    def reported(algo: str) -> str:
        return "" if algo in JUDGED_ALGOS else " (reported only)"

    for scenario, most in FAST_SCENARIOS.items():
        for arm in arms:
            for algo in algos:
                r = ratio(scenario, algo, arm)
                if r is None:
                    continue
                row = cell[(scenario, algo, arm)]
                label = SCENARIOS[scenario].threshold_label()
                figures = f"{_fmt(r[0], r[1:])}; {row['reached_threshold']:.0%} of runs reached {label}"
                verdict = _verdict(r[0] <= most and r[2] < 1.0)
                if scenario == "obstacle":
                    aim = r[0] <= OBSTACLE_AIM and r[2] < 1.0
                    every = row["reached_threshold"] == 1.0
                    verdict += f"; every seed reached it: {'yes' if every else 'no'}; aim 0.2x: {_verdict(aim)}"
                goal = f"{scenario}, {algo.upper()}: {arm} <= {most:g}x scratch's steps to {label}"
                lines.append((goal, figures, verdict + reported(algo)))
    for scenario, margin in NON_INFERIORITY.items():
        for arm in arms:
            for algo in algos:
                r, naive = ratio(scenario, algo, arm), ratio(scenario, algo, "naive")
                if r is None:
                    continue
                figures = f"{arm} {_fmt(r[0], r[1:])}; naive {_fmt(naive[0], naive[1:]) if naive else '-'}"
                verdict = _verdict(r[2] < margin)
                if naive is not None:
                    verdict += "; naive worse" if naive[1] > 1.0 else "; naive not worse"
                goal = f"{scenario}, {algo.upper()}: {arm} not worse than scratch (ratio's CI upper end < {margin:g})"
                lines.append((goal, figures, verdict + reported(algo)))
    for scenario in RIGHT_PRIOR_SCENARIOS:
        for arm in arms:
            for algo in algos:
                row = cell.get((scenario, algo, arm))
                if row is None:
                    continue
                figures = (
                    f"jumpstart {_fmt(row['jumpstart'], row['jumpstart_ci'])}; {row['reached_threshold']:.0%} solved"
                )
                met = row["steps_to_threshold_ci"][1] == 0.0
                goal = f"{scenario}, {algo.upper()}: {arm} at {SCENARIOS[scenario].threshold_label()} from step 0"
                lines.append((goal, figures, _verdict(met) + reported(algo)))
    for scenario in dict.fromkeys(key[0] for key in cell):
        for arm in arms:
            chosen = [cell[(scenario, algo, arm)] for algo in algos if (scenario, algo, arm) in cell]
            if not chosen:
                continue
            figures = "; ".join(
                f"{row['algo'].upper()} {row['collapsed_runs']}/{row['runs']} collapsed" for row in chosen
            )
            if any(row.get("fell_runs") is not None for row in chosen):
                figures += "; over the whole run, below 0.9x the prior's score: " + ", ".join(
                    f"{row['algo'].upper()} {_fell(row)}" for row in chosen if row.get("fell_runs") is not None
                )
            met = all(not row["collapse"] for row in chosen)
            goal = f"{scenario}: {arm}, no collapse"
            if scenario == "obstacle":
                figures += "; return vs expert " + ", ".join(
                    f"{row['algo'].upper()} "
                    f"{_fmt(row['final_expert_return_ratio'], row['final_expert_return_ratio_ci'])}x"
                    for row in chosen
                )
                met = met and all(row["final_expert_return_ratio"] >= 0.98 for row in chosen)
                goal += " and final return >= 0.98x expert"
            lines.append((goal, figures, _verdict(met)))
    return lines


WALLCLOCK_SPEEDUP = 5.0
"""Goal: ``finetune`` reaches 90% on the note's task at least this many times faster than SB3-default SAC."""
OVERHEAD_GOALS = {"unfrozen_vs_plain": 0.95, "frozen_vs_plain": 1.0}
"""Goals of the adapter's training speed against plain SB3 (env steps per second, ratio at least)."""


def other_goals(folder: Path) -> list[tuple[str, str, str]]:
    """The goals measured by ``wallclock.py`` and ``train_overhead.py``, read from their result files.

    :param folder: where ``wallclock.json`` and ``train_overhead.json`` are (a missing file gives no line)
    :return: ``(goal, figures, verdict)`` per line, the figures naming the command that measured them
    """
    lines = []
    wallclock = folder / "wallclock.json"
    if wallclock.exists():
        report = json.loads(wallclock.read_text())
        for arm, row in report["summary"].items():
            if not isinstance(row, dict) or "speedup_vs_reference" not in row:
                continue
            speedup = row["speedup_vs_reference"]
            figures = (
                f"IQM speed-up {_fmt(speedup[0], speedup[1:])}x over {row['runs']} seeds "
                f"({row['reached']}/{row['runs']} reached 90%; `{report['command']}`)"
            )
            goal = f"wall-clock, {arm}: >= {WALLCLOCK_SPEEDUP:g}x faster to 90% than SB3-default SAC from scratch"
            lines.append((goal, figures, _verdict(speedup[0] >= WALLCLOCK_SPEEDUP)))
    overhead = folder / "train_overhead.json"
    if overhead.exists():
        report = json.loads(overhead.read_text())
        for algo, ratios in report["ratios"].items():
            figures = "; ".join(f"{name.replace('_', ' ')} {ratios[name]:.2f}x" for name in OVERHEAD_GOALS)
            goal = f"training cost, {algo.upper()}: " + ", ".join(
                f"{name.split('_')[0]} >= {floor:g}x plain SB3's steps/s" for name, floor in OVERHEAD_GOALS.items()
            )
            met = all(ratios[name] >= floor for name, floor in OVERHEAD_GOALS.items())
            lines.append((goal, f"{figures} (`{report['command']}`)", _verdict(met)))
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "not met"


def _fmt(value: Any, ci: Any = None, digits: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    if ci is not None:
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def _fell(row: dict[str, Any]) -> str:
    """A row's runs that fell below 0.9x the prior's score at any evaluation, and the lowest ratio of them all."""
    if row.get("fell_runs") is None:
        return "-"
    return f"{row['fell_runs']}/{row['runs']} ({row['lowest_ratio']:.2f})"


def markdown(
    rows: list[dict[str, Any]],
    command: str,
    run_commands: Sequence[str] = (),
    more_goals: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The goals' verdicts, then the full table, in Markdown, headed by the commands that produced them.

    :param rows: :func:`summarise`'s rows
    :param command: the command that made the table
    :param run_commands: the commands that made the runs (the sweep's parts), when not the same
    :param more_goals: goals measured by other scripts (:func:`other_goals`), appended to the verdicts
    """
    made = "".join(f"\n- `{c}`" for c in run_commands if c != command)
    lines = [
        f"Produced by `{command}`"
        + (f" from the runs made by:{made}\n\n" if made else ". ")
        + "IQM over seeds with 95% bootstrap intervals; steps ratio = IQM steps to the scenario's threshold "
        "(90% success on nav and PointMaze, a return on Pendulum and MountainCar) of the arm / of scratch, capped "
        "at the budget. Reached: the fraction of runs that reached the threshold; KM median steps: the Kaplan-Meier "
        "median time to it with its 95% interval, runs that never reached it censored at the budget (>budget where "
        "the median, or the interval's end, lies beyond it). Score: the success rate, or the return's place from "
        "the random policy's (0) to the best known (1). Collapsed runs: runs whose score fell below 0.9x the "
        "prior's at an evaluation in the first 20% of the budget (the goal's definition); the last column counts the "
        "runs below it at any evaluation of the whole run, with the lowest score of them all over the prior's.",
        "",
        "| goal | figures | verdict |",
        "|---|---|---|",
        *(f"| {goal} | {figures} | {verdict} |" for goal, figures, verdict in [*goals(rows), *more_goals]),
        "",
        "| scenario | threshold | algo | arm | runs | jumpstart | steps to threshold | reached | KM median steps "
        "| steps ratio vs scratch | AUC | P(AUC > scratch) | final score | return vs expert "
        "| min early score / start | collapsed runs | runs below 0.9x start over the run (lowest) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = row.get("steps_ratio_vs_scratch")
        start = row["pretrained_score"]
        early = row["min_score_early"] / start if row["arm"] != "scratch" and start > 0.5 else None
        collapse = f"{row['collapsed_runs']}/{row['runs']}" if row["arm"] != "scratch" and start > 0.5 else "-"
        lines.append(
            f"| {row['scenario']} | {row['threshold']} | {row['algo']} | {row['arm']} | {row['runs']} "
            f"| {_fmt(row['jumpstart'])} "
            f"| {_fmt(row['steps_to_threshold'], row['steps_to_threshold_ci'], 0)} "
            f"| {row['reached_threshold']:.0%} "
            f"| {km_text(row['km_median_steps'], row['budget']) if 'km_median_steps' in row else '-'} "
            f"| {_fmt(ratio[0], ratio[1:]) if ratio else '-'} | {_fmt(row['area_under_curve'])} "
            f"| {_fmt(row.get('p_improvement_auc'))} | {_fmt(row['final_score'])} "
            f"| {_fmt(row['final_expert_return_ratio'])} | {_fmt(early)} | {collapse} "
            f"| {_fell(row)} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(records: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], dict[str, list[list[dict]]]] = {}
    for record in records:
        spec = record["spec"]
        groups.setdefault((spec["scenario"], spec["algo"]), {}).setdefault(spec["arm"], []).append(record["curve"])
    written = []
    for (scenario, algo), arms in sorted(groups.items()):
        figure, axis = plt.subplots(figsize=(5.6, 3.2), dpi=100)
        for arm, curves in sorted(arms.items()):
            length = min(len(curve) for curve in curves)
            steps = np.array([point["step"] for point in curves[0][:length]])
            success = np.array([[point["score"] for point in curve[:length]] for curve in curves])
            centre = [iqm(column) for column in success.T]
            bands = [iqm_interval([column], resamples=500)[1:] for column in success.T]
            axis.plot(steps, centre, label=f"{arm} ({len(curves)})")
            axis.fill_between(steps, [b[0] for b in bands], [b[1] for b in bands], alpha=0.2)
        known = SCENARIOS.get(scenario)
        line = 0.9 if known is None else known.score({"success_rate": known.threshold, "mean_return": known.threshold})
        axis.axhline(line, color="black", linewidth=0.5, linestyle="--")
        label = "success" if known is None or known.measure == "success_rate" else "score (return, random = 0)"
        title = f"{scenario}, {algo.upper()}" + ("" if known is None else f" ({known.threshold_label()}: dashed)")
        lowest = min([0.0, *(float(np.min(line.get_ydata())) for line in axis.get_lines())])  # a return can score < 0
        axis.set(title=title, xlabel="env steps", ylabel=f"{label} (IQM, 95% CI)", ylim=(lowest - 0.03, 1.03))
        axis.legend(fontsize=7, loc="lower right")
        figure.tight_layout()
        path = out / f"curves_{scenario}_{algo}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written


ALGO_ORDER = ("td3", "sac", "ddpg")
"""The order of the algorithms in the figures: the measured two first, DDPG (reported) last."""

PROFILE_TAUS = np.linspace(0.0, 2.0, 81)
"""Where the run-time profiles are evaluated: env steps over scratch's IQM steps on the same scenario, 0 to 2."""


def run_time_profiles(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each algorithm's profile of steps to threshold over the partly right scenarios, fine-tuned and scratch.

    A run's time is its steps to the scenario's threshold over scratch's IQM steps there (capped at the budget, as in
    the ratio column: MountainCar's scratch, which never gets there, counts at its budget), ``inf`` where it never
    reached the threshold; :func:`~sb3_finetune.stats.run_time_profile` weighs every scenario the same.

    :param records: the runs (any scenarios and arms; those of partly right scenarios with a scratch arm count)
    :return: one row per algorithm, arm and tau: ``algo``, ``arm``, ``scenarios``, ``runs``, ``tau``, ``fraction``,
        ``low``, ``high``
    """
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for record in records:
        spec = record["spec"]
        known = SCENARIOS.get(spec["scenario"])
        if known is not None and known.prior == "partly right":
            cells.setdefault((spec["algo"], spec["scenario"]), {}).setdefault(spec["arm"], []).append(record)
    rows = []
    for algo in sorted({algo for algo, _ in cells}):
        scenarios = sorted(name for (owner, name), arms in cells.items() if owner == algo and "scratch" in arms)
        arms = sorted({arm for name in scenarios for arm in cells[algo, name]})
        for arm in arms:
            strata = []
            for name in scenarios:
                runs = cells[algo, name].get(arm)
                if not runs:
                    continue
                reference = iqm([run["metrics"]["steps_to_threshold"] for run in cells[algo, name]["scratch"]])
                strata.append(
                    [
                        run["metrics"]["steps_to_threshold"] / reference
                        if run["metrics"]["reached_threshold"]
                        else np.inf
                        for run in runs
                    ]
                )
            if len(strata) < len(scenarios):
                continue  # an arm measured on some of the scenarios only would be profiled over others
            fraction, low, high = run_time_profile(strata, PROFILE_TAUS)
            cell = {"algo": algo, "arm": arm, "scenarios": ",".join(scenarios), "runs": sum(map(len, strata))}
            for tau, share, lower, upper in zip(PROFILE_TAUS, fraction, low, high, strict=True):
                values = {
                    "fraction": round(float(share), 4),
                    "low": round(float(lower), 4),
                    "high": round(float(upper), 4),
                }
                rows.append({**cell, "tau": round(float(tau), 3), **values})
    return rows


def plot_profiles(rows: list[dict[str, Any]], out: Path) -> Path | None:
    """``<out>/profiles.png``: :func:`run_time_profiles`, one panel per algorithm (``None`` where there is none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = {algo: place for place, algo in enumerate(ALGO_ORDER)}
    algos = sorted({row["algo"] for row in rows}, key=lambda algo: (order.get(algo, len(order)), algo))
    if not algos:
        return None
    figure, axes = plt.subplots(1, len(algos), figsize=(3.6 * len(algos), 3.2), dpi=100, squeeze=False)
    for axis, algo in zip(axes[0], algos, strict=True):
        for arm in sorted({row["arm"] for row in rows if row["algo"] == algo}):
            mine = [row for row in rows if row["algo"] == algo and row["arm"] == arm]
            taus = [row["tau"] for row in mine]
            axis.step(taus, [row["fraction"] for row in mine], where="post", label=f"{arm} ({mine[0]['runs']} runs)")
            axis.fill_between(taus, [r["low"] for r in mine], [r["high"] for r in mine], step="post", alpha=0.2)
        for goal in (0.2, 0.5):
            axis.axvline(goal, color="black", linewidth=0.5, linestyle="--")
        count = len(next(row for row in rows if row["algo"] == algo)["scenarios"].split(","))
        axis.set(
            title=f"{algo.upper()}, {count} partly right scenarios",
            xlabel="env steps / scratch's IQM steps",
            ylabel="fraction of runs at the threshold",
            ylim=(-0.02, 1.02),
        )
        axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path = out / "profiles.png"
    figure.savefig(path)
    plt.close(figure)
    return path


def stored_records(stored: dict[str, dict[str, Any]], specs: list[RunSpec]) -> list[dict[str, Any]]:
    """The runs of the planned cells whatever recipe version made them (``--stored``), the earliest of each.

    A cell and seed is identified by scenario, algorithm, arm, seed and budget; where runs of several recipe versions
    exist for one, the first in the results files (the first file's first) counts, so a published table stays what it
    was when newer runs of the same cells are added.

    :param stored: the records of ``--results``, in file order (:func:`~sb3_finetune.sweep.load_all`)
    :param specs: the planned runs
    """
    cells = {(spec.scenario, spec.algo, spec.arm, spec.seed, spec.budget) for spec in specs}
    first: dict[tuple, dict[str, Any]] = {}
    for record in stored.values():
        cell = tuple(record["spec"][key] for key in ("scenario", "algo", "arm", "seed", "budget"))
        if cell in cells:
            first.setdefault(cell, record)
    return list(first.values())


def main(args: Args) -> list[dict[str, Any]]:
    if args.quick:
        args.seeds, args.ddpg_seeds, args.eval_episodes = 2, 1, 10
    specs = plan(args)
    results, *read_also = results_files(args.results)
    command = "python " + " ".join(sys.argv)
    # Every command that added runs for this table (its --out folder), so that the published table names all of them.
    log = Path(args.out) / f"{results.stem}.commands.txt"
    if not args.report_only:
        started = time.perf_counter()
        done = [0]

        def progress(record: dict[str, Any]) -> None:
            done[0] += 1
            print(
                f"[{done[0]}] {record['key']}: final score {record['metrics']['final_score']:.2f} "
                f"({record['total_s']:.0f}s)",
                flush=True,
            )

        log.parent.mkdir(parents=True, exist_ok=True)
        known = log.read_text().splitlines() if log.exists() else []
        if command not in known:
            with log.open("a") as stream:
                stream.write(command + "\n")
        run_sweep(
            specs, results, args.cache, args.workers, args.backend, args.address or None, progress, read_also=read_also
        )
        print(f"sweep finished in {time.perf_counter() - started:.0f}s")
    stored = load_all([results, *read_also])
    records = stored_records(stored, specs) if args.stored else list(match_records(specs, stored).values())
    rows = summarise(records)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "transfer_summary.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows, command, log.read_text().splitlines() if log.exists() else [], other_goals(out))
    (out / "transfer_table.md").write_text(table)
    plots = plot_curves(records, out)
    profiles = run_time_profiles(records)
    if profiles:
        with (out / "profiles.csv").open("w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(profiles[0]))
            writer.writeheader()
            writer.writerows(profiles)
        plots.append(plot_profiles(profiles, out))
        for row in profiles:
            if row["tau"] == 0.5:
                print(
                    f"{row['algo']} {row['arm']}: {row['fraction']:.2f} [{row['low']:.2f}, {row['high']:.2f}] of runs "
                    f"at the threshold within 0.5x scratch's IQM steps ({row['scenarios']}; {row['runs']} runs)"
                )
    print(table)
    # Runs of another recipe whose trust gate trusted the prior, taken for specs that differ only on a stand-down
    taken = sum("same_run_as" in record for record in records)
    print(
        f"{len(records)} runs ({taken} of them a trusted run of a recipe that differs only on a stand-down: "
        f"same_run_as); {sum(r['cpu_s'] for r in records) / 3600:.2f} CPU-hours; tables and {len(plots)} plots in {out}"
    )
    meta = {"command": command, "args": asdict(args), "same_run_as": taken}
    (out / "transfer_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    run_script(main, Args, __doc__)
