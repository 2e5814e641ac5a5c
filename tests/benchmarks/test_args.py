import importlib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from _args import field_docs, parse_args  # benchmarks/ is on sys.path (conftest.py)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_"))


@dataclass
class Example:
    """Arguments."""

    steps: int = 10
    """how many steps"""
    name: str = "a"
    verbose: bool = False
    """say more"""


def test_field_docs_reads_the_docstring_under_each_field():
    assert field_docs(Example) == {"steps": "how many steps", "verbose": "say more"}


def test_parse_args_fills_types_defaults_and_switches():
    args = parse_args(Example, "d", ["--steps", "3", "--verbose"])
    assert (args.steps, args.name, args.verbose) == (3, "a", True)
    with pytest.raises(SystemExit):
        parse_args(Example, "d", ["--steps", "many"])


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_flag_has_a_line_of_help(script):
    module = importlib.import_module(script)
    docs = field_docs(module.Args)
    missing = [f.name for f in fields(module.Args) if not docs.get(f.name)]
    assert not missing, f"{script}.Args fields without help: {missing}"
