"""Running many experiment runs: a local process pool or Ray, resumable, results merged in one JSON-lines file.

:func:`summarise` turns runs into one row per scenario x algorithm x arm (IQM with stratified-bootstrap intervals,
the fraction reaching the threshold, the Kaplan-Meier median, the steps ratio against scratch, P(improvement) and
collapse), for ``benchmarks/transfer.py`` and ``benchmarks/recipe_ablation.py`` alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sb3_finetune.checkpoint import append_record, read_records
from sb3_finetune.experiment import (
    SCENARIOS,
    RunSpec,
    curve_metrics,
    record_identity,
    record_trusted_identity,
    run,
)
from sb3_finetune.stats import iqm, iqm_interval, iqm_ratio_interval, kaplan_meier_median, probability_of_improvement


def rescore(record: dict[str, Any]) -> dict[str, Any]:
    """A record's scores and metrics computed again from its curve, by its scenario's definition of today.

    Metrics are derived from the curve, so this is the one place they come from when records are read: records made
    before scores existed (nav, where success is the score) get today's names, and a threshold or return range
    changed after runs were made (declared in ``SCENARIOS``) applies to them too. Records of unknown scenarios, or
    without a curve, are left as they are.

    :param record: a record of :func:`sb3_finetune.experiment.run`
    :return: the record with ``score`` in its curve points, its ``metrics`` and ``pretrained_score_on_target``
    """
    scenario = SCENARIOS.get(record["spec"]["scenario"])
    if scenario is None or not record.get("curve"):
        return record
    curve = [{**point, "score": scenario.score(point)} for point in record["curve"]]
    pretrained = {
        "success_rate": record.get("pretrained_success_on_target"),
        "mean_return": record.get("pretrained_return_on_target"),
    }
    return {
        **record,
        "curve": curve,
        "metrics": curve_metrics(curve, record.get("budget") or scenario.budget, scenario),
        "pretrained_score_on_target": scenario.score(pretrained),
    }


def load_results(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The records already in a results file, by run key (a torn last line, from a killed sweep, is skipped).

    Each record's metrics are computed from its curve as today's scenario defines them (:func:`rescore`).

    :param path: JSON-lines file
    :return: ``{key: record}``
    """
    return {key: rescore(record) for key, record in read_records(path).items()}


def load_all(paths: Iterable[str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """The records of several results files, merged by run key (see :func:`load_results`).

    A key names one run, recipe fingerprint included, so two files holding it hold the same run; the first file's
    record counts.

    :param paths: JSON-lines files, in order of precedence (a missing one holds nothing)
    :return: ``{key: record}``
    """
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        for key, record in load_results(path).items():
            merged.setdefault(key, record)
    return merged


def match_records(specs: Iterable[RunSpec], records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The record of each spec that has one: by its key, its :attr:`~RunSpec.identity` or its trusted identity.

    A record found by identity is the same run spelled another way (``arm="frontier"`` for ``arm="default"`` with
    the frontier recipe's overrides, or the other way round); it comes back under the spec's key and with the spec's
    spelling (``key`` and ``spec``), so that tables group it as the caller named it. Its curve and figures are the
    stored run's.

    A record found by trusted identity is a run whose trust gate trusted the prior, of a recipe that differs from the
    spec's only in fields that act where the gate stands the prior down
    (:data:`~sb3_finetune.experiment.STAND_DOWN_ONLY`): the spec's run would be the same, step for step. It comes
    back the same way, with ``same_run_as``: the stored record's key.

    :param specs: the runs wanted
    :param records: stored records by key (:func:`load_results`)
    :return: ``{spec.key: record}`` for the specs that have one
    """
    by_identity = {record_identity(record): record for record in records.values() if "spec" in record}
    trusted: dict[str, dict[str, Any]] = {}
    for record in records.values():
        if "spec" in record and (identity := record_trusted_identity(record)) is not None:
            trusted.setdefault(identity, record)
    found: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec.key in records:
            found[spec.key] = records[spec.key]
        elif spec.identity in by_identity:
            found[spec.key] = {**by_identity[spec.identity], "key": spec.key, "spec": asdict(spec)}
        elif (identity := spec.trusted_identity) in trusted:
            record = trusted[identity]
            found[spec.key] = {**record, "key": spec.key, "spec": asdict(spec), "same_run_as": record["key"]}
    return found


def run_sweep(
    specs: Iterable[RunSpec],
    results: str | os.PathLike,
    cache_dir: str | os.PathLike,
    workers: int | None = None,
    backend: str = "process",
    address: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    read_also: Iterable[str | os.PathLike] = (),
) -> dict[str, dict[str, Any]]:
    """Run every spec that is not yet in ``results`` (or in ``read_also``), appending each record as it finishes.

    A sweep can be stopped at any time and started again: finished runs are kept and skipped. Several sweeps
    (parts of a grid, other machines) write the same kind of file; concatenating the files merges them. A run is
    found under any spelling of its recipe (:func:`match_records`), and specs that spell one run twice run it once.

    :param specs: the runs
    :param results: JSON-lines file of records
    :param cache_dir: folder of the pretrained networks
    :param workers: parallel runs (``None``: all cores)
    :param backend: ``"process"`` (a local process pool) or ``"ray"`` (each run a Ray task)
    :param address: Ray cluster address (``None`` starts or joins a local one)
    :param on_result: called with each new record
    :param read_also: more results files whose runs count as done (read, never written; ``results`` comes first
        where both hold a run)
    :return: every record in the files after the sweep, by key, and each spec's record under its own key
    """
    results = Path(results)
    results.parent.mkdir(parents=True, exist_ok=True)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    specs = list(dict.fromkeys(specs))
    done = load_all([results, *read_also])
    found = match_records(specs, done)
    todo: list[RunSpec] = []
    planned = {spec.identity for spec in specs if spec.key in found}
    for spec in specs:
        if spec.identity not in planned:  # not stored under any spelling, nor already planned under another
            planned.add(spec.identity)
            todo.append(spec)
    if todo:
        # Pretrain each scenario's network once, before the workers race for it.
        from sb3_finetune.experiment import SCENARIOS, pretrained_weights

        for name in sorted({spec.scenario for spec in todo}):
            pretrained_weights(SCENARIOS[name], cache_dir)
    if backend == "process":
        records = _run_processes(todo, str(cache_dir), workers or os.cpu_count() or 1)
    elif backend == "ray":
        records = _run_ray(todo, str(cache_dir), address)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose 'process' or 'ray'")
    for record in records:
        append_record(results, record)
        done[record["key"]] = record
        if on_result is not None:
            on_result(record)
    done.update(match_records(specs, done))
    return done


def _run_processes(specs: list[RunSpec], cache_dir: str, workers: int) -> Iterable[dict[str, Any]]:
    if not specs:
        return
    if workers == 1:
        for spec in specs:
            yield run(spec, cache_dir)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, spec, cache_dir) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


def _run_ray(specs: list[RunSpec], cache_dir: str, address: str | None) -> Iterable[dict[str, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError('the Ray backend needs Ray: pip install "sb3-finetune[ray]"') from exc
    if not specs:
        return
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    remote_run = ray.remote(num_cpus=1)(run)
    pending = [remote_run.remote(spec, cache_dir) for spec in specs]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


# ---------------------------------------------------------------------------------------------- summaries


FALL = 0.9
"""A score below this share of the pretrained policy's score on the target is a fall (:func:`collapsed`)."""


def collapsed(record: dict[str, Any]) -> bool:
    """Whether a run lost the pretrained skill (the recipes issue's definition, on the score).

    Where the pretrained policy's score on the target (its success rate, or its return's place between the random
    policy's and the best known) is above 0.5, the run's score during the first 20% of its budget must never drop
    below 0.9x that figure.
    """
    start = record["pretrained_score_on_target"]
    return bool(start > 0.5 and record["metrics"]["min_score_early"] < FALL * start)


def lowest_ratio(record: dict[str, Any]) -> float | None:
    """A run's lowest score at any of its evaluations, over the pretrained policy's score on the target.

    :func:`collapsed` looks at the first 20% of the budget only; a fall later in the run (where a recipe holds the
    actor past that point, say) shows here.

    :param record: a run's record (its ``metrics["min_score"]``, from :func:`~sb3_finetune.experiment.curve_metrics`)
    :return: the ratio, or ``None`` where the pretrained policy's score is 0.5 or below (no skill to keep)
    """
    start = record["pretrained_score_on_target"]
    return record["metrics"]["min_score"] / start if start > 0.5 else None


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario x algorithm x arm: IQM and 95% CIs of the metrics, and the goals' verdicts.

    A metric that is ``None`` in a cell's runs (success where the env reports none, the expert's ratio where there is
    no expert) is ``None`` in its row.
    """
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in records:
        spec = record["spec"]
        cells.setdefault((spec["scenario"], spec["algo"], spec["arm"]), []).append(record)
    rows = []
    for (scenario, algo, arm), runs in sorted(cells.items()):
        metric = {key: [run["metrics"].get(key) for run in runs] for key in runs[0]["metrics"]}
        steps = metric["steps_to_threshold"]
        row: dict[str, Any] = {
            "scenario": scenario,
            "algo": algo,
            "arm": arm,
            "threshold": SCENARIOS[scenario].threshold_label() if scenario in SCENARIOS else "",
            "runs": len(runs),
            "reached_threshold": float(np.mean(metric["reached_threshold"])),
            "pretrained_score": float(np.mean([run["pretrained_score_on_target"] for run in runs])),
            "cpu_hours": float(sum(run["cpu_s"] for run in runs) / 3600),
            "budget": int(runs[0].get("budget") or max(metric["steps_to_threshold"])),
        }
        for key in (
            "jumpstart",
            "steps_to_threshold",
            "area_under_curve",
            "final_score",
            "min_score_early",
            "final_expert_return_ratio",
        ):
            values = metric.get(key, [None])
            if any(value is None for value in values):
                row[key], row[f"{key}_ci"] = None, None
                continue
            point, low, high = iqm_interval([values])
            row[key] = point
            row[f"{key}_ci"] = (low, high)
        # Censoring-aware: a run that never reached the threshold is censored at the budget, not counted as
        # reaching it there.
        row["km_median_steps"] = kaplan_meier_median(steps, metric["reached_threshold"])
        walls = [w for w in metric["wall_s_to_threshold"] if w is not None]
        row["wall_s_to_threshold"] = iqm(walls) if walls else None
        scratch = cells.get((scenario, algo, "scratch"))
        if scratch and arm != "scratch":
            scratch_steps = [run["metrics"]["steps_to_threshold"] for run in scratch]
            ratio, low, high = iqm_ratio_interval(steps, scratch_steps)
            row["steps_ratio_vs_scratch"] = (ratio, low, high)
            auc = [run["metrics"]["area_under_curve"] for run in scratch]
            row["p_improvement_auc"] = probability_of_improvement(metric["area_under_curve"], auc)
        row["collapsed_runs"] = sum(collapsed(run) for run in runs) if arm != "scratch" else 0
        row["collapse"] = row["collapsed_runs"] > 0
        lowest = [ratio for run in runs if (ratio := lowest_ratio(run)) is not None] if arm != "scratch" else []
        # Over the whole run: the runs below 0.9x the prior's score at any evaluation, and the lowest of them all.
        row["fell_runs"] = sum(ratio < FALL for ratio in lowest) if lowest else None
        row["lowest_ratio"] = min(lowest) if lowest else None
        rows.append(row)
    return rows
