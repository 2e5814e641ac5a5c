"""Shared test set-up: no window, no sound, CPU only, one intra-op thread per process.

The tests' networks are tiny: a second thread per process does not make them faster, it only takes the core that
pytest-xdist's other worker (``-n auto`` in ``pyproject.toml``) runs on. Set before torch is imported, so the
command-line tests' subprocesses inherit it.
"""

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _tests_critic_pretraining(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default recipe pre-trains every algorithm's critic for 5,000 gradient steps (``CRITIC_PRETRAIN_STEPS``):
    half a minute of a CI core for every such test that trains past its warm-up. Tests train for hundreds of env
    steps, so here their figure is 20 steps (the same code runs); a test marked ``real_defaults`` sees the real
    figures."""
    if "real_defaults" in request.keywords:
        return
    from sb3_finetune import recipes

    for algo, steps in recipes.CRITIC_PRETRAIN_STEPS.items():
        if steps:
            monkeypatch.setitem(recipes.CRITIC_PRETRAIN_STEPS, algo, 20)
