import json
import random
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch as th

from sb3_finetune.checkpoint import list_checkpoints

TOTAL = 2_400
SAVE_FREQ = 300


# A second random moment only with -m slow (about 19 s): the default run stays under 10 minutes.
@pytest.mark.parametrize("round_seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_sigkill_at_a_random_moment_then_resume_finishes_the_run(tmp_path, round_seed):
    rng = random.Random(round_seed)
    command = [
        sys.executable,
        "-m",
        "sb3_finetune.cli",
        "finetune",
        "--algo",
        "td3",
        "--env",
        "SimpleNavigation-v0",
        "-n",
        str(TOTAL),
        "--save-freq",
        str(SAVE_FREQ),
        "-f",
        str(tmp_path / "logs"),
        "--out",
        str(tmp_path / "model.zip"),
        "--eval-episodes",
        "5",
        "--seed",
        "3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = tmp_path / "logs" / "checkpoints"
    deadline = time.time() + 300
    while not list_checkpoints(folder) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))  # a random moment, possibly in the middle of writing a checkpoint
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = list_checkpoints(folder)
    assert found, "no checkpoint was written before the kill"
    for _, path in found:  # every published checkpoint is complete and readable
        state = json.loads((path / "state.json").read_text())
        assert state["num_timesteps"] % SAVE_FREQ == 0
        with zipfile.ZipFile(path / "model.zip") as archive:
            assert archive.testzip() is None
    last_step = found[-1][0]

    result = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"(step {last_step} of {TOTAL}, {last_step} transitions in the replay buffer)" in result.stdout
    assert f"after {TOTAL} steps" in result.stdout
    from stable_baselines3 import TD3

    model = TD3.load(tmp_path / "model.zip", device="cpu")
    assert model.num_timesteps == TOTAL
    assert th.isfinite(th.nn.utils.parameters_to_vector(model.policy.parameters())).all()
