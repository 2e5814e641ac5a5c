import importlib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from _args import UsageError, field_docs, parse_args, run_script  # benchmarks/ is on sys.path (conftest.py)

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


def test_a_scripts_usage_mistake_is_one_line_and_exit_status_2(capsys):
    """As ``sb3-finetune`` and argparse: ``<script>: error: <message>`` on stderr, status 2, ``main`` never run."""
    ran = []

    def main(args: Example) -> None:
        if args.name != "a":
            raise UsageError(f"unknown name {args.name!r}")
        ran.append(args)

    run_script(main, Example, "Example.\n\nMore.", ["--steps", "3"])
    assert [args.steps for args in ran] == [3]
    with pytest.raises(SystemExit) as exited:
        run_script(main, Example, "Example.", ["--name", "b"])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.endswith(": error: unknown name 'b'\n") and stderr.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        run_script(main, Example, "Example.", ["--steps", "many"])  # argparse's own mistake: status 2 as well
    assert exited.value.code == 2 and len(ran) == 1


def test_the_sweep_scripts_report_an_unknown_arm_with_status_2(refuses):
    assert "error: unknown arm 'bogus'" in refuses("transfer", "--arms", "scratch,bogus", "--report-only")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_flag_has_a_line_of_help(script):
    module = importlib.import_module(script)
    docs = field_docs(module.Args)
    missing = [f.name for f in fields(module.Args) if not docs.get(f.name)]
    assert not missing, f"{script}.Args fields without help: {missing}"
