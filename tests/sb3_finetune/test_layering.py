"""The library's core does not import nav_env; only the nav modules do."""

import subprocess
import sys

CORE = [
    "sb3_finetune",
    "sb3_finetune.weights",
    "sb3_finetune.extractor",
    "sb3_finetune.adapter",
    "sb3_finetune.prior",
    "sb3_finetune.recipes",
    "sb3_finetune.warmup",
    "sb3_finetune.callbacks",
    "sb3_finetune.checkpoint",
    "sb3_finetune.compare",
    "sb3_finetune.stats",
    "sb3_finetune.evaluation",
    "sb3_finetune.pretrain",
    "sb3_finetune.cli",
    "sb3_finetune.progress",
    "sb3_finetune.arbitration",
    "sb3_finetune.external",
]


def test_core_modules_do_not_import_nav_env():
    code = f"import sys, importlib; [importlib.import_module(m) for m in {CORE!r}]; print('nav_env' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_cli_on_another_env_does_not_import_nav_env(tmp_path):
    code = (
        "import sys; from sb3_finetune.cli import main; "
        "status = main(['finetune', '--algo', 'td3', '--env', 'Pendulum-v1', '-n', '1', '--pretrained', 'x.pt']); "
        "print(status, 'nav_env' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert result.stdout.strip().splitlines()[-1] == "2 False"


def test_the_demo_and_the_scenarios_do_not_import_gymnasium_robotics():
    # It prints warnings about envs unrelated to ours; only a PointMaze scenario asks for it (external.require).
    code = "import sys, sb3_finetune.demo, sb3_finetune.experiment; print('gymnasium_robotics' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False" and result.stderr == ""
