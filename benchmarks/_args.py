"""Command-line parsing shared by the benchmark scripts: one flag per field of the script's ``Args`` dataclass."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TypeVar

T = TypeVar("T")


def parse_args(args_class: type[T], description: str, argv: list[str] | None = None) -> T:
    """Build ``args_class`` from ``--field-name value`` flags (booleans are switches), defaults from the class.

    :param args_class: a dataclass whose fields all have defaults
    :param description: the script's one-line description
    :param argv: arguments (``sys.argv[1:]`` when ``None``)
    :return: the filled dataclass
    """
    parser = argparse.ArgumentParser(description=description)
    for name, default in asdict(args_class()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return args_class(**vars(parser.parse_args(argv)))
