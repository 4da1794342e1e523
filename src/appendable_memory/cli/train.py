"""``amem train``: train a Memorizer-Recaller with probabilized data (the paper's protocol by default).

Every TrainConfig field is a flag (``--batch-size 1024``), and so is every field of the network
(``--memorizer slots --memory-size 256``) and of each memorizer's options (``--key-features 3``,
for the memorizers that have it). ``--config FILE.json`` supplies values from a file (unknown keys
are refused) and flags given on the command line override it; ``--recipe`` starts from a named
recipe's values (train/config.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path

from ..config import ConfigError
from ..evaluate import evaluate, format_table
from ..memorizers import MEMORIZERS
from ..model import NetworkConfig, nest_network
from ..train import RECIPES, TrainConfig, Trainer, recipe_config


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _flag_type(annotation):
    """argparse type and choices for a TrainConfig field annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return str, typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType")):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _optional(inner), None
    return annotation, None


def _flags() -> dict[str, tuple[object, str]]:
    """Every settable value: name -> (type annotation, help). The run's own fields, the network's,
    and the union of the memorizers' options (each saying which memorizers take it)."""
    flags = {}
    for cls, skip in ((TrainConfig, "network"), (NetworkConfig, "options")):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name != skip:
                flags[f.name] = (hints[f.name], f"{f.metadata.get('help', '')} (default: {f.default})")
    for name, memorizer in MEMORIZERS.items():
        hints = typing.get_type_hints(memorizer.Options)
        for f in dataclasses.fields(memorizer.Options):
            users = [n for n, m in MEMORIZERS.items() if f.name in m.Options.__dataclass_fields__]
            flags.setdefault(f.name, (hints[f.name], f"{', '.join(users)}: {f.metadata.get('help', '')} (default: {f.default})"))
    return flags


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (annotation, help_text) in _flags().items():
        kind, choices = _flag_type(annotation)
        if name == "memorizer":
            choices = tuple(MEMORIZERS)
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, choices=choices, help=help_text,
                       default=argparse.SUPPRESS)  # absent flags leave the file's or the default value
    p.add_argument("--recipe", choices=tuple(RECIPES), default=argparse.SUPPRESS,
                   help="start from this recipe's values (default: paper); --config and the flags given here apply on top")
    p.add_argument("--config", type=Path, help="JSON file of TrainConfig values")
    p.add_argument("--run-dir", type=Path, help="run directory (default: runs/<task>-n<items>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir (without it, such a run is never touched)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--test-samples", type=int, default=8192, help="samples of the final recall table")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict = {}
    if args.config is not None:
        try:
            values = json.loads(args.config.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{args.config} is not valid JSON: {e}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{args.config} must hold a JSON object")
    names = set(_flags()) | {"recipe"}
    values.update({k: v for k, v in vars(args).items() if k in names})
    recipe = values.pop("recipe", "paper")
    return recipe_config(recipe, **nest_network(values, str(args.config or "flags")))


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    run_dir = args.run_dir or Path("runs") / f"{config.task}-n{config.items}-seed{config.seed}"
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run in --run-dir and --overwrite replaces it: give one")
    trainer = Trainer(config, run_dir, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    summary = trainer.run()
    print(f"stopped ({summary['stop_reason']}) at step {summary['step']} after {summary['seconds']:.1f} s; checkpoint: {summary['checkpoint']}")
    starts = [config.test_start] + (["fresh"] if config.test_start != "fresh" else [])
    saved = trainer.memory[0] if config.memory_start == "carried" else None
    results = [
        evaluate(trainer.tested, config.task, config.items, start=s, saved_memory=saved, samples=args.test_samples, seed=0)
        for s in starts
    ]
    print("held-out recall (fresh test data):")
    print(format_table(results))
    return 0
