"""Command-line parsing shared by the benchmark scripts: one flag per field of the script's ``Args`` dataclass.

A mistake in a script's arguments (a bad flag, an unknown scenario, a missing file to read) prints one line on stderr
and exits with status 2, as ``sb3-finetune`` and argparse do: the scripts raise
:class:`sb3_finetune.cli.UsageError` and :func:`run_script` reports it.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from sb3_finetune.cli import UsageError

T = TypeVar("T")


def field_docs(args_class: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (the convention of CleanRL's ``Args``).

    :param args_class: the dataclass
    :return: field name -> its docstring (fields without one are left out)
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(args_class)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = following.value.value.strip()
    return docs


def parse_args(args_class: type[T], description: str, argv: list[str] | None = None) -> T:
    """Build ``args_class`` from ``--field-name value`` flags (booleans are switches), defaults from the class.

    Each flag's help is the docstring under its field, followed by the default.

    :param args_class: a dataclass whose fields all have defaults
    :param description: the script's one-line description
    :param argv: arguments (``sys.argv[1:]`` when ``None``)
    :return: the filled dataclass
    """
    parser = argparse.ArgumentParser(description=description)
    docs = field_docs(args_class)
    for name, default in asdict(args_class()).items():
        flag = "--" + name.replace("_", "-")
        text = docs.get(name, "")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"{text} (default: {default!r})")
    return args_class(**vars(parser.parse_args(argv)))


def results_files(text: str) -> list[Path]:
    """A ``--results`` value: the file new runs are appended to, then files whose runs count but are only read.

    :param text: comma-separated paths
    :return: the paths, the one written to first
    :raises UsageError: where no file is named, or a file to read does not exist (the first may be new)
    """
    paths = [Path(part) for part in text.split(",") if part]
    if not paths:
        raise UsageError("--results names no file")
    missing = [str(path) for path in paths[1:] if not path.is_file()]
    if missing:
        raise UsageError(f"--results: no such file {', '.join(missing)} (only the first, written to, may be new)")
    return paths


def run_script(main: Callable[[T], object], args_class: type[T], doc: str, argv: list[str] | None = None) -> None:
    """A benchmark script's entry point: parse its flags, run ``main``, and report a usage mistake in one line.

    :param main: the script's ``main``, given the filled ``args_class``
    :param args_class: the script's ``Args`` dataclass
    :param doc: the script's docstring (its first line is the description in ``--help``)
    :param argv: arguments (``sys.argv[1:]`` when ``None``)
    :raises SystemExit: with status 2 on a mistake in the arguments (a :class:`UsageError`, or argparse's own), after
        one line ``<script>: error: <message>`` on stderr
    """
    try:
        main(parse_args(args_class, doc.splitlines()[0], argv))
    except UsageError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def write_summary(args: Any, rows: list[Any] | dict[str, Any], out: str) -> dict[str, Any]:
    """Write a script's summary (its arguments, command line, date and rows) to ``out`` as JSON.

    :param args: the script's ``Args``
    :param rows: its results
    :param out: the file
    :return: the summary
    """
    command = "python " + " ".join(sys.argv)
    summary = {"args": asdict(args), "command": command, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(summary, indent=1))
    return summary
