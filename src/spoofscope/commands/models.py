"""``spoofscope models``: list the registered models."""

from __future__ import annotations

import argparse

NAME = "models"
HELP = "list the registered models and their descriptions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="NAME", help="print the default config of one model")


def run(args: argparse.Namespace) -> int:
    import json

    from spoofscope.errors import SpoofscopeError
    from spoofscope.models import get_spec, list_models

    if args.config:
        try:
            spec = get_spec(args.config)
        except KeyError as exc:
            raise SpoofscopeError(exc.args[0]) from None
        import dataclasses

        print(json.dumps(dataclasses.asdict(spec.default_config()), indent=2))
        return 0
    for name in list_models():
        print(f"{name:14s} {get_spec(name).description}")
    return 0
