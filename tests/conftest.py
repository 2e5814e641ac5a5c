"""Shared test set-up: no window, no sound, CPU only, one intra-op thread per process.

The tests' networks are tiny: a second thread per process does not make them faster, it only takes the core that
pytest-xdist's other worker (``-n auto`` in ``pyproject.toml``) runs on. Set before torch is imported, so the
command-line tests' subprocesses inherit it.
"""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("OMP_NUM_THREADS", "1")
