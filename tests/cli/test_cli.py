import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sb3_finetune.cli import load_hyperparams, main, parse_env_kwargs
from sb3_finetune.explore import EXPLORE_NOISES

ROOT = Path(__file__).resolve().parents[2]
NAV = "SimpleNavigation-v0"


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sb3_finetune.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    result = cli(
        "pretrain",
        "--expert",
        "--env",
        NAV,
        "--out",
        "agent.pt",
        "--samples",
        "4000",
        "--epochs",
        "15",
        "--safetensors",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder


def test_pretrain_writes_weights_and_reports_success(workdir):
    assert (workdir / "agent.pt").exists() and (workdir / "agent.safetensors").exists()


def test_finetune_evaluate_export_round_trip(workdir):
    result = cli(
        "finetune",
        "--algo",
        "td3",
        "--env",
        NAV,
        "--pretrained",
        "agent.pt",
        "--env-kwargs",
        "goal_position:(-0.5,-0.5)",
        "-n",
        "300",
        "--out",
        "model.zip",
        "--eval-episodes",
        "10",
        "--seed",
        "1",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert (workdir / "model.zip").exists()
    # The moved goal: the gate stands the prior down and layer-normalises its features, which the export keeps
    assert "NOT trusted" in result.stdout
    result = cli(
        "evaluate",
        "model.zip",
        "--env",
        NAV,
        "--env-kwargs",
        "goal_position:(-0.5,-0.5)",
        "--episodes",
        "10",
        "--json",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    keys = {"success_rate", "mean_return", "std_return", "mean_length", "episodes", "expert_return_ratio"}
    assert set(figures) == keys
    assert 0.0 <= figures["success_rate"] <= 1.0 and figures["mean_length"] > 0
    result = cli("export", "model.zip", "--out", "exported.safetensors", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "exported.safetensors").exists()
    from sb3_finetune.weights import read_metadata

    assert read_metadata(workdir / "exported.safetensors")["normalised_after"] == "actor.features_extractor.network.fc1"
    # The exported actor is a prior with the model's own actions: evaluate gives the same figures ...
    result = cli(
        "evaluate",
        "exported.safetensors",
        "--env",
        NAV,
        "--env-kwargs",
        "goal_position:(-0.5,-0.5)",
        "--episodes",
        "10",
        "--json",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == figures
    # ... and it is a prior for the next run, with the default recipe.
    result = cli(
        "finetune",
        "--algo",
        "sac",
        "--env",
        NAV,
        "--pretrained",
        "exported.safetensors",
        "-n",
        "350",
        "--out",
        "again.zip",
        "--eval-episodes",
        "5",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr


def test_evaluate_a_pretrained_network_directly(workdir):
    result = cli("evaluate", "agent.pt", "--env", NAV, "--episodes", "20", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["success_rate"] >= 0.9  # the behaviour-cloned expert on its own task


def test_finetune_from_scratch_with_zoo_hyperparams(workdir):
    result = cli(
        "finetune",
        "--algo",
        "sac",
        "--env",
        NAV,
        "--hyperparams",
        str(ROOT / "hyperparams" / "sac.yml"),
        "-n",
        "200",
        "--out",
        "scratch.zip",
        "--eval-episodes",
        "5",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "after 200 steps" in result.stdout


def test_a_her_model_resumes_evaluates_and_exports(tmp_path):
    """SB3 loads a model saved with ``HerReplayBuffer`` only with an env (as the RL Zoo's ``enjoy`` passes it):
    ``evaluate`` gives it the env, and the model and its exported actor score the same. Its checkpoint resumes (HER's
    info dicts stored without pickles), with two envs, and the command counts the transitions of both."""
    goal = "SimpleNavigationGoal-v0"
    (tmp_path / "her.yml").write_text(f"{goal}:\n  replay_buffer_class: HerReplayBuffer\n  learning_starts: 250\n")
    run = ("finetune", "--algo", "td3", "--env", goal, "-conf", "her.yml", "--n-envs", "2", "--out", "her.zip",
           "--eval-episodes", "2", "--save-freq", "300", "-f", "logs")  # fmt: skip
    result = cli(*run, "-n", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = cli(*run, "-n", "400", "--resume", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(step 300 of 400, 300 transitions in the replay buffer)" in result.stdout
    assert cli("export", "her.zip", "--out", "her_prior.pt", cwd=tmp_path).returncode == 0
    scores = [cli("evaluate", name, "--env", goal, "--episodes", "3", "--json", cwd=tmp_path) for name in
              ("her.zip", "her_prior.pt")]  # fmt: skip
    assert [score.returncode for score in scores] == [0, 0], [score.stderr for score in scores]
    figures = [json.loads(score.stdout.strip().splitlines()[-1]) for score in scores]
    assert figures[0] == figures[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["finetune", "--algo", "ppo", "--env", NAV, "-n", "10"], "invalid choice: 'ppo'"),
        (
            ["finetune", "--algo", "td3", "--env", NAV, "--pretrained", "missing.pt", "-n", "10"],
            "pretrained weights file not found: 'missing.pt'",
        ),
        (["finetune", "--algo", "td3", "--env", NAV], "-n/--n-timesteps"),
        (["finetune", "--algo", "td3", "-n", "10"], "--env"),
        (["finetune", "--algo", "td3", "--env", "Nope-v0", "-n", "10"], "unknown env 'Nope-v0'"),
        (["finetune", "--algo", "td3", "--env", "nope_package:Nope-v0", "-n", "10"], "cannot import 'nope_package'"),
        (["finetune", "--algo", "td3", "--env", NAV, "--gym-packages", "nope_package", "-n", "10"], "nope_package"),
        (["finetune", "--algo", "td3", "--env", NAV, "-n", "10", "--env-kwargs", "goal_position:(5, 5)"], "arena"),
        (["finetune", "--algo", "td3", "--env", NAV, "-n", "10", "--hyperparams", "missing.yml"], "not found"),
        (["finetune", "--algo", "td3", "--env", "Pendulum-v1", "-n", "10", "--pretrained", "agent.pt"], "observations"),
        (["evaluate", "missing.zip", "--env", NAV], "model file not found: 'missing.zip'"),
        (["evaluate", "agent.pt", "--env", NAV, "--episodes", "0"], "--episodes must be at least 1"),
        (["evaluate", "agent.pt"], "--env"),
        (["export", "agent.pt", "--out", "x.pt"], "not an SB3 model"),
        (["pretrain", "--expert", "--env", NAV], "--out"),
        (["pretrain", "--out", "x.pt"], "one of the arguments"),
        (["pretrain", "--expert", "--out", "x.pt"], "--env is required"),
        (["pretrain", "--expert", "--env", "Pendulum-v1", "--out", "x.pt"], "has none"),
        (["pretrain", "--dataset", "wide.npz", "--env", NAV, "--out", "never.pt"], "but SimpleNavigation-v0 has 2"),
        (["pretrain", "--dataset", "wide.npz", "--out", "x.pt", "--activation", "magic"], "unknown activation"),
        (["finetune", "--algo", "td3", "--env", NAV, "-n", "10", "--freeze", "maybe"], "--freeze"),
        (["finetune", "--algo", "td3", "--env", NAV, "-n", "10", "--resume", "-f", "empty"], "no checkpoint"),
        (["finetune", "--algo", "td3", "--env", "CartPole-v1", "-n", "10"], "CartPole-v1 has the action space Discr"),
        (["evaluate", "agent.pt", "--env", "CartPole-v1"], "need continuous actions, a Box with finite bounds"),
        (
            ["finetune", "--algo", "ddpg", "--env", NAV, "-n", "10", "--stand-down-distill-random-probe"],
            "distils on, which is off with ddpg and --recipe default: give --distill-random-probe too",
        ),
        (
            [
                *("finetune", "--algo", "td3", "--env", NAV, "-n", "10"),
                *("--no-distill-random-probe", "--stand-down-distill-random-probe"),
            ],
            "off with td3 and --no-distill-random-probe: give --distill-random-probe too",
        ),
    ],
)
def test_mistakes_get_one_line_and_a_nonzero_exit(workdir, args, message):
    np.savez(workdir / "wide.npz", observations=np.zeros((10, 5)), actions=np.zeros((10, 2)))
    result = cli(*args, cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sb3-finetune: error:") and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (workdir / "never.pt").exists()  # nothing written before the mistake is found


def test_env_kwargs_parsing():
    assert parse_env_kwargs(["goal_position:(-0.5, 0.5)", "max_step:0.05", "reward_type:sparse"]) == {
        "goal_position": (-0.5, 0.5),
        "max_step": 0.05,
        "reward_type": "sparse",
    }


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
@pytest.mark.parametrize("env_id", ["SimpleNavigation-v0", "SimpleNavigationGoal-v0"])
def test_shipped_zoo_files_parse(algo, env_id):
    params, steps = load_hyperparams(str(ROOT / "hyperparams" / f"{algo}.yml"), env_id)
    assert steps and steps >= 1000
    assert params["policy_kwargs"]["net_arch"] == [64, 64]


def test_console_script_is_installed():
    result = subprocess.run(["sb3-finetune", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "finetune" in result.stdout


def test_main_returns_status_in_process(capsys):
    assert main(["evaluate", "definitely-missing.zip", "--env", NAV]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(os.environ.get("CI_NO_ZOO") == "1", reason="RL Zoo check disabled")
def test_rl_zoo_trains_and_saves_with_the_shipped_hyperparams(tmp_path):
    if importlib.util.find_spec("rl_zoo3") is None:  # not imported here: it patches gymnasium's TimeLimit
        pytest.skip("rl_zoo3 is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_zoo3.train",
            "--algo",
            "td3",
            "--env",
            "SimpleNavigation-v0",
            "--gym-packages",
            "nav_env",
            "-conf",
            str(ROOT / "hyperparams" / "td3.yml"),
            "-n",
            "1100",
            "-f",
            str(tmp_path),
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.glob("td3/SimpleNavigation-v0_*/SimpleNavigation-v0.zip"))


def test_zoo_pendulum_td3_entry_sizes_its_noise_from_the_env():
    import importlib.util

    spec = importlib.util.find_spec("rl_zoo3")  # not imported: rl_zoo3 patches gymnasium's TimeLimit on import
    if spec is None or spec.origin is None:
        pytest.skip("rl_zoo3 is not installed")
    params, _ = load_hyperparams(str(Path(spec.origin).parent / "hyperparams" / "td3.yml"), "Pendulum-v1")
    assert params["action_noise"]._mu.shape == (1,)  # Pendulum's torque, not a hard-coded 2


def test_a_stood_down_run_prints_its_warm_up_decisions_and_resumes_stood_down(workdir):
    """The decisions taken during the warm-up (here the default standing a wrong prior down: its features normalised,
    training started at the probe's end) are printed too, not only logged; a checkpoint keeps the gate's decision, and
    ``--resume`` applies it again and says so (the warm-up does not run twice)."""
    common = ["finetune", "--algo", "td3", "--env", NAV, "--pretrained", "agent.pt", "--env-kwargs"]
    common += ["goal_position:(-0.5,-0.5)", "--critic-pretrain-steps", "20", "--save-freq", "300"]
    common += ["--log-folder", "resumed", "--out", "resumed.zip", "--eval-episodes", "5"]
    first = cli(*common, "-n", "900", "--eval-freq", "300", cwd=workdir)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    notes = [line for line in lines if line.startswith("note: ")]
    assert any(line.startswith("note: stand-down: the prior's") for line in notes)
    skipped = "note: trust gate: the prior stood down, training's first gradient step comes after the gate's probes"
    assert any(line.startswith(skipped) for line in notes)
    assert len(notes) == len(set(notes))  # each said once
    # and once only: the library's log of the same decisions is not printed again on stderr
    assert not [line for line in first.stderr.splitlines() if line.startswith("sb3_finetune: ")], first.stderr
    # said when taken: before the evaluations of training, not after the run
    said_at = next(i for i, line in enumerate(lines) if line.startswith(skipped))
    gates = [i for i, line in enumerate(lines) if line.startswith("trust gate (")]
    evaluations = [i for i, line in enumerate(lines) if line.startswith("step ")]
    assert len(gates) == 1 and said_at < gates[0] < evaluations[-1]
    (state_file,) = (workdir / "resumed" / "checkpoints").glob("step-900/state.json")
    gate = json.loads(state_file.read_text())["gate"]
    assert gate["trusted"] is False
    again = cli(*common, "-n", "1200", "--resume", cwd=workdir)
    assert again.returncode == 0, again.stderr
    notes = [line for line in again.stdout.splitlines() if line.startswith("note: ")]
    assert any(line.startswith("note: trust gate: the checkpoint's run stood the prior down") for line in notes)
    assert not any(line.startswith(skipped) for line in notes)  # the warm-up did not run again
    assert "wrote resumed.zip after 1200 steps" in again.stdout


def test_every_decision_the_library_logs_is_printed_by_the_finetune_command(workdir, capsys, caplog, monkeypatch):
    """The command keeps the library's log of its decisions off stderr (it prints them itself): nothing logged may
    then go unprinted. Checked on a stood-down run, which takes the most decisions, at warning level among them."""
    monkeypatch.chdir(workdir)
    args = ["finetune", "--algo", "td3", "--env", NAV, "--pretrained", "agent.pt", "--env-kwargs"]
    args += ["goal_position:(-0.5,-0.5)", "--critic-pretrain-steps", "20", "-n", "700", "--eval-freq", "0"]
    args += ["--eval-episodes", "3", "--out", "logged.zip", "--log-folder", "logged"]
    with caplog.at_level(logging.INFO, logger="sb3_finetune"):
        assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    logged = [record.getMessage().removeprefix("sb3_finetune: ") for record in caplog.records]
    assert any(record.levelno == logging.WARNING for record in caplog.records)  # a stand-down warns
    assert [sentence for sentence in logged if f"note: {sentence}" not in printed and sentence not in printed] == []
    assert not logging.getLogger("sb3_finetune").handlers  # the command's handler went with it


def test_a_resume_inside_sacs_hold_says_its_rehearsal_is_off():
    """The checkpoint holds no rehearsal actor: a run resumed before SAC's release goes on without it, and says so;
    one resumed after the release lost nothing, and nothing is said."""
    from sb3_finetune.recipes import get_recipe, resume_notes

    recipe, _ = get_recipe("default").for_algorithm("sac")  # rehearsed, held 1,000 env steps after learning_starts
    (note,) = resume_notes(recipe, 1_500, 2_000)
    assert note.startswith("hold rehearsal: off after --resume") and "held to step 2000" in note
    assert resume_notes(recipe, 2_000, 2_000) == []
    assert resume_notes(recipe, 1_500, 0) == []  # stood down: nothing is held
    unrehearsed, _ = get_recipe("default").for_algorithm("td3")
    assert resume_notes(unrehearsed, 1_500, 2_000) == []
    released, _ = get_recipe("default", rehearsal_release=3).for_algorithm("sac")  # held 2,000 to 4,000 at most
    said = [n.split(" (")[0] for n in resume_notes(released, 1_500, 2_000)]
    assert said == ["hold rehearsal: off after --resume", "rehearsal release: off after --resume"]
    (note,) = resume_notes(released, 3_000, 2_000)  # inside the extension: held no longer, and said
    assert note.endswith("the actor goes on as the checkpoint holds it, held to step 2000 at most")
    assert resume_notes(released, 4_000, 2_000) == []


def test_recipe_flags_reach_the_recipe():
    from sb3_finetune.cli import UsageError, _recipe_from_args, build_parser
    from sb3_finetune.recipes import get_recipe

    argv = ["finetune", "--env", NAV, "--algo", "td3", "--pretrained", "agent.pt"]
    plain = _recipe_from_args(build_parser().parse_args(argv))
    flagged = _recipe_from_args(build_parser().parse_args([*argv, "--warmup-handover", "--bc-q-scale"]))
    assert plain.warmup_handover is None and not plain.bc_q_scale  # the default leaves it to the algorithm
    assert flagged.warmup_handover and flagged.bc_q_scale
    on = _recipe_from_args(build_parser().parse_args([*argv, "--layer-norm"]))
    off = _recipe_from_args(build_parser().parse_args([*argv, "--no-layer-norm"]))
    assert on.layer_norm and not off.layer_norm
    assert plain.stand_down_layer_norm
    assert not _recipe_from_args(build_parser().parse_args([*argv, "--no-stand-down-layer-norm"])).stand_down_layer_norm
    flags = ["--bc-q-filter", "--bc-q-filter-conservative", "--critic-pretrain-steps", "7", "--no-warmup-handover"]
    filtered = _recipe_from_args(build_parser().parse_args([*argv, *flags]))
    assert filtered.bc_q_filter and filtered.bc_q_filter_conservative and filtered.critic_pretrain_steps == 7
    assert not filtered.warmup_handover
    assert plain.actor_ramp == 0
    assert _recipe_from_args(build_parser().parse_args([*argv, "--actor-ramp", "2000"])).actor_ramp == 2_000
    assert plain.hold_rehearsal is None  # the default recipe leaves it to the algorithm (HOLD_REHEARSAL)
    assert _recipe_from_args(build_parser().parse_args([*argv, "--hold-rehearsal", "0.5"])).hold_rehearsal == 0.5
    with pytest.raises(ValueError, match=r"hold_rehearsal must be in \[0, 1\]"):
        _recipe_from_args(build_parser().parse_args([*argv, "--hold-rehearsal", "2"]))
    assert plain.rehearsal_restart == 0
    assert _recipe_from_args(build_parser().parse_args([*argv, "--rehearsal-restart", "250"])).rehearsal_restart == 250
    assert plain.stand_down_warmup is None  # the default recipe leaves it to the algorithm (STAND_DOWN_WARMUP)
    assert _recipe_from_args(build_parser().parse_args([*argv, "--stand-down-warmup"])).stand_down_warmup is True
    assert _recipe_from_args(build_parser().parse_args([*argv, "--no-stand-down-warmup"])).stand_down_warmup is False
    with pytest.raises(ValueError, match="it needs pretrained_warmup and a trust_gate"):
        _recipe_from_args(build_parser().parse_args([*argv, "--stand-down-warmup", "--no-trust-gate"]))
    assert plain.stand_down_skip_warmup is True  # the default recipe's
    waiting = _recipe_from_args(build_parser().parse_args([*argv, "--no-stand-down-skip-warmup"]))
    assert waiting.stand_down_skip_warmup is False
    assert plain.distill_random_probe is None  # the default recipe leaves it to the algorithm (DISTILL_RANDOM_PROBE)
    on_the_prior = _recipe_from_args(build_parser().parse_args([*argv, "--no-distill-random-probe"]))
    assert on_the_prior.distill_random_probe is False
    frozen = _recipe_from_args(build_parser().parse_args([*argv, "--recipe", "frozen", "--distill-random-probe"]))
    assert frozen.distill_random_probe is True and not frozen.actor_init
    assert plain.stand_down_distill_random_probe is get_recipe("default").stand_down_distill_random_probe
    trusted_only = _recipe_from_args(build_parser().parse_args([*argv, "--no-stand-down-distill-random-probe"]))
    assert trusted_only.stand_down_distill_random_probe is False
    assert plain.entropy_start == 0.01 and plain.critic_pretrain_entropy is True  # the default recipe's
    assert _recipe_from_args(build_parser().parse_args([*argv, "--entropy-start", "1"])).entropy_start == 1.0
    held = _recipe_from_args(build_parser().parse_args([*argv, "--no-critic-pretrain-entropy"]))
    assert held.critic_pretrain_entropy is False
    assert _recipe_from_args(build_parser().parse_args([*argv, "--entropy-floor", "0.02"])).entropy_floor == 0.02
    floored = _recipe_from_args(build_parser().parse_args([*argv, "--recipe", "default", "--entropy-floor", "0.01"]))
    assert floored.entropy_floor == 0.01
    unfloored = _recipe_from_args(
        build_parser().parse_args([*argv, "--entropy-floor", "0.01", "--entropy-floor", "off"])
    )
    assert unfloored.entropy_floor is None
    for bad in ("0", "-0.1", "x"):  # refused by the parser, naming the flag (a usage error: one line, status 2)
        with pytest.raises(UsageError, match="argument --entropy-floor: expected a coefficient above 0 or 'off'"):
            build_parser().parse_args([*argv, "--entropy-floor", bad])
    assert plain.entropy_decay == 0.1  # the default recipe's (SAC with a fixed coefficient only)
    windowed = _recipe_from_args(build_parser().parse_args([*argv, "--entropy-decay-window", "0.25", "0.5"]))
    assert (windowed.entropy_decay, windowed.entropy_decay_from, windowed.entropy_decay_until) == (0.1, 0.25, 0.5)
    decayed = _recipe_from_args(
        build_parser().parse_args([*argv, "--entropy-decay", "0.1", "--entropy-decay-window", "0.25", "0.5"])
    )
    assert (decayed.entropy_decay, decayed.entropy_decay_from, decayed.entropy_decay_until) == (0.1, 0.25, 0.5)
    kept = _recipe_from_args(build_parser().parse_args([*argv, "--entropy-decay", "0.1", "--entropy-decay", "off"]))
    assert kept.entropy_decay is None
    for bad in ("0", "1.5", "x"):
        with pytest.raises(UsageError, match=r"argument --entropy-decay: expected a fraction in \(0, 1\] or 'off'"):
            build_parser().parse_args([*argv, "--entropy-decay", bad])
    with pytest.raises(ValueError, match="entropy_decay_from and entropy_decay_until"):
        _recipe_from_args(
            build_parser().parse_args([*argv, "--entropy-decay", "0.1", "--entropy-decay-window", "0.8", "0.5"])
        )
    for no_decay in (["--entropy-decay", "off"], ["--recipe", "frozen"]):
        with pytest.raises(UsageError, match="--entropy-decay-window is the window of the entropy decay: give"):
            _recipe_from_args(build_parser().parse_args([*argv, *no_decay, "--entropy-decay-window", "0.25", "0.5"]))
    assert (plain.rehearsal_release, plain.rehearsal_pull) == (None, False)  # options, off in the default recipe
    released = _recipe_from_args(
        build_parser().parse_args([*argv, "--rehearsal-release", "3", "--rehearsal-release-extend", "500"])
    )
    assert (released.rehearsal_release, released.rehearsal_release_extend) == (3, 500)
    assert _recipe_from_args(build_parser().parse_args([*argv, "--rehearsal-pull"])).rehearsal_pull
    with pytest.raises(UsageError, match="--rehearsal-release-extend is the longest wait of the rehearsal release"):
        _recipe_from_args(build_parser().parse_args([*argv, "--rehearsal-release-extend", "500"]))
    windowed = _recipe_from_args(
        build_parser().parse_args([*argv, "--rehearsal-release", "3", "--rehearsal-release-window", "1000"])
    )
    assert (windowed.rehearsal_release, windowed.rehearsal_release_window) == (3, 1_000)
    with pytest.raises(UsageError, match="--rehearsal-release-window is the test of the rehearsal release: give"):
        _recipe_from_args(build_parser().parse_args([*argv, "--rehearsal-release-window", "1000"]))
    margin = ["--rehearsal-release", "3", "--rehearsal-release-window", "1000", "--rehearsal-release-margin", "0.1"]
    assert _recipe_from_args(build_parser().parse_args([*argv, *margin])).rehearsal_release_margin == 0.1
    with pytest.raises(UsageError, match="--rehearsal-release-margin is the margin of the rehearsal release: give "):
        _recipe_from_args(build_parser().parse_args([*argv, *margin[:2], *margin[-2:]]))
    assert plain.critic_layer_norm is None  # the default recipe leaves it to the algorithm
    assert _recipe_from_args(build_parser().parse_args([*argv, "--no-critic-layer-norm"])).critic_layer_norm is False
    assert _recipe_from_args(build_parser().parse_args([*argv, "--critic-layer-norm"])).critic_layer_norm
    normed = _recipe_from_args(build_parser().parse_args([*argv, "--recipe", "ibrl", "--critic-layer-norm"]))
    assert normed.critic_layer_norm and normed.arbitrate
    frontier = _recipe_from_args(build_parser().parse_args([*argv, "--recipe", "frontier"]))
    assert frontier.warmup_handover and frontier.bc_q_filter_conservative and frontier.critic_pretrain_steps == 1_000
    with pytest.raises(ValueError, match="needs bc_q_filter=True"):
        _recipe_from_args(build_parser().parse_args([*argv, "--no-bc-q-filter", "--bc-q-filter-conservative"]))
    guard_flags = ["--collapse-guard", "0.4", "--guard-episodes", "6", "--guard-restore", "best"]
    guarded = _recipe_from_args(build_parser().parse_args([*argv, *guard_flags]))
    assert plain.collapse_guard is None and plain.guard_restore == "released"
    assert guarded.collapse_guard == 0.4 and guarded.guard_episodes == 6 and guarded.guard_restore == "best"
    with pytest.raises(ValueError, match="collapse_guard must be in"):
        _recipe_from_args(build_parser().parse_args([*argv, "--collapse-guard", "1.5"]))
    assert plain.frontier_explore is None
    assert _recipe_from_args(build_parser().parse_args([*argv, "--frontier-explore", "0.5"])).frontier_explore == 0.5
    assert plain.explore_hold == 1
    held = _recipe_from_args(build_parser().parse_args([*argv, "--frontier-explore", "0.5", "--explore-hold", "40"]))
    assert held.explore_hold == 40
    with pytest.raises(ValueError, match="explore_hold must be >= 1"):
        _recipe_from_args(build_parser().parse_args([*argv, "--explore-hold", "0"]))
    assert plain.explore_noise == "uniform"
    pink = _recipe_from_args(build_parser().parse_args([*argv, "--frontier-explore", "0.5", "--explore-noise", "pink"]))
    assert pink.explore_noise == "pink"
    for noise in EXPLORE_NOISES:  # the flag's choices are the library's
        assert build_parser().parse_args([*argv, "--explore-noise", noise]).explore_noise == noise
    assert plain.escape_saturation  # the default's
    assert not _recipe_from_args(build_parser().parse_args([*argv, "--no-escape-saturation"])).escape_saturation
    assert plain.escape_above == 0.0
    assert (plain.gate_confidence, plain.gate_margin) == (0.95, 0.2)  # the default's
    assert _recipe_from_args(build_parser().parse_args([*argv, "--gate-confidence", "0.9"])).gate_confidence == 0.9
    with pytest.raises(ValueError, match="gate_confidence must be in"):
        _recipe_from_args(build_parser().parse_args([*argv, "--gate-confidence", "1.5"]))
    zoned = _recipe_from_args(build_parser().parse_args([*argv, "--gate-confidence", "0.9", "--gate-margin", "0.1"]))
    assert (zoned.gate_confidence, zoned.gate_margin) == (0.9, 0.1)
    for off in (["off"], ["none"], ["OFF", "--gate-margin", "0"]):  # the first episodes decide: no test, no zone
        untested = _recipe_from_args(build_parser().parse_args([*argv, "--gate-confidence", *off]))
        assert (untested.gate_confidence, untested.gate_margin) == (None, 0.0)
    for flags, message in (
        (["--gate-confidence", "off", "--gate-margin", "0.1"], "which --gate-confidence off turns off"),
        (["--no-trust-gate", "--gate-confidence", "0.9"], "--no-trust-gate has none"),
        (["--no-trust-gate", "--gate-margin", "0.1"], "--no-trust-gate has none"),
        (["--no-trust-gate", "--gate-criterion", "return"], "--no-trust-gate has none"),
        (["--recipe", "frontier", "--gate-margin", "0.1"], "give --gate-confidence too ('frontier' has none)"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            _recipe_from_args(build_parser().parse_args([*argv, *flags]))
    assert _recipe_from_args(build_parser().parse_args([*argv, "--no-trust-gate"])).trust_gate is None
    assert (
        _recipe_from_args(build_parser().parse_args([*argv, "--gate-criterion", "return"])).gate_criterion == "return"
    )
    with pytest.raises(UsageError, match=re.escape("expected a level in (0.5, 1) or 'off', got 'high'")):
        build_parser().parse_args([*argv, "--gate-confidence", "high"])
    assert _recipe_from_args(build_parser().parse_args([*argv, "--escape-above", "0.95"])).escape_above == 0.95
    with pytest.raises(ValueError, match="it needs escape_saturation"):
        _recipe_from_args(build_parser().parse_args([*argv, "--no-escape-saturation", "--escape-above", "0.95"]))
    with pytest.raises(ValueError, match=r"explore_noise is .* it needs frontier_explore"):
        _recipe_from_args(build_parser().parse_args([*argv, "--explore-noise", "pink"]))
    with pytest.raises(ValueError, match="frontier_explore must be in"):
        _recipe_from_args(build_parser().parse_args([*argv, "--frontier-explore", "0"]))
    assert plain.bc_progress is None
    assert _recipe_from_args(build_parser().parse_args([*argv, "--bc-progress", "8"])).bc_progress == 8
    assert not plain.bc_progress_with_fade
    faded = _recipe_from_args(build_parser().parse_args([*argv, "--bc-progress", "8", "--bc-progress-with-fade"]))
    assert faded.bc_progress_with_fade
    with pytest.raises(ValueError, match="needs bc_progress"):
        _recipe_from_args(build_parser().parse_args([*argv, "--bc-progress-with-fade"]))
    with pytest.raises(ValueError, match="bc_progress must be >= 1"):
        _recipe_from_args(build_parser().parse_args([*argv, "--bc-progress", "0"]))


def test_the_parsers_choices_are_the_librarys():
    """The command line writes its choices out (``--help`` imports no torch); they must stay the library's."""
    from sb3_finetune import cli
    from sb3_finetune.recipes import ALGORITHMS, RECIPES
    from sb3_finetune.warmup import GATE_CRITERIA

    assert set(cli.RECIPE_NAMES) == set(RECIPES) and set(cli.ALGOS) == set(ALGORITHMS)
    assert cli.GATE_CRITERIA == GATE_CRITERIA


def test_the_console_script_imports_the_users_modules_from_the_working_directory(tmp_path):
    """``--env module:Id`` and the file's ``env_wrapper`` name modules of the user's own, beside them, as the RL Zoo's
    ``python -m rl_zoo3.train`` finds them: the console script, which lacks the working directory on its path,
    refused both as not importable. The file's ``callback`` runs there too (its other tests are on the nav env)."""
    (tmp_path / "my_robot.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('MyRobot-v0', entry_point='gymnasium.envs.classic_control:PendulumEnv', max_episode_steps=20)\n"
        "class HalfTorque(gym.ActionWrapper):\n"
        "    def action(self, action):\n"
        "        return 0.5 * action\n"
    )
    (tmp_path / "h.yml").write_text(
        "MyRobot-v0:\n  env_wrapper:\n    - my_robot.HalfTorque\n  callback:\n"
        "    - stable_baselines3.common.callbacks.CheckpointCallback:\n"
        "        save_freq: 30\n        save_path: saved\n"
    )
    command = ["sb3-finetune", "finetune", "--algo", "td3", "--env", "my_robot:MyRobot-v0", "-conf", "h.yml"]
    result = subprocess.run(
        [*command, "-n", "40", "--eval-episodes", "1", "--out", "m.zip"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.zip").exists()
    assert list((tmp_path / "saved").glob("rl_model_30_steps.zip"))  # the file's callback ran, on Pendulum's physics


def test_the_release_windows_help_says_the_tests_level(capsys):
    """The CLI says the level of the rehearsal release's test without importing it (the CLI starts light): the two
    must agree."""
    from sb3_finetune.cli import build_parser
    from sb3_finetune.explore import SIGNIFICANCE

    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--help"])
    assert f"one-sided test at {SIGNIFICANCE:g}" in " ".join(capsys.readouterr().out.split())
