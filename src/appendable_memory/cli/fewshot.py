"""``amem fewshot``: new classes of real data (handwritten digits; wine and breast-cancer
measurements) learned from a few examples written into a memory (no parameter update), beside
scikit-learn's baselines on the same episodes and keys, each tuned as a practitioner would
(appendable_memory.fewshot).

Deployment protocol (the default): each dataset is split once (seeded, stratified by class) into
an encoder part, a validation part and a test part; the label-free key encoder is fitted on the
encoder part only, the baselines' hyperparameters (logistic regression's and the linear SVM's C,
k-NN's k) are chosen per cell by accuracy on validation episodes, and the rows are measured on
test episodes: no example of a measured episode is seen by the encoder or the tuning.
``--protocol transductive``: the encoder fitted on every example, the tested ones included.

    amem fewshot --ways 10 --shots 5                                  # fewshot-best beside the tuned baselines
    amem fewshot --network fewshot-best --ways 10 --shots 5 --json
    amem fewshot --network fewshot-best --classes novel --ways 5      # only the digits 5-9 (held out from meta-training)
"""

from __future__ import annotations

import argparse
import json

from ..api import AppendableMemory
from ..realdata import DATASETS, NOVEL_CLASSES, PROTOCOLS, protocol_keys
from ..fewshot import BASELINES, VALIDATION_EPISODES, evaluate_fewshot, stream_fewshot

DEFAULT_NETWORK = "fewshot-best"


def add_parser(sub) -> None:
    p = sub.add_parser("fewshot", help="few-shot learning of real digit classes after deployment", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", action="append", default=[], help=f"a network to measure (repeat for more; a shipped name or a checkpoint; default: {DEFAULT_NETWORK})")
    p.add_argument("--dataset", choices=tuple(DATASETS), default="digits", help="real data bundled with scikit-learn: handwritten digits (10 classes), wine (3), breast-cancer (2) (default: digits)")
    p.add_argument("--ways", type=int, default=5, help="classes per episode (default: 5)")
    p.add_argument("--shots", type=int, default=5, help="examples written per class (default: 5)")
    p.add_argument("--queries", type=int, default=5, help="other examples asked per class (default: 5)")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes (default: 1000)")
    p.add_argument("--validation-episodes", type=int, default=VALIDATION_EPISODES, help=f"episodes of the validation part that tune each baseline (default: {VALIDATION_EPISODES})")
    p.add_argument("--protocol", choices=PROTOCOLS, default="deployment", help="deployment: the encoder fitted on its own part of the data only; transductive: on every example, the tested ones included (default: deployment)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes (default: 0)")
    p.add_argument("--classes", default="all", help="classes to draw episodes from: all, novel (digits 5-9, never in meta-training's base classes) or a comma list (default: all)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--stream", action="store_true", help="classes arrive one at a time (every class of the dataset, --shots each); rows per method and arrival")
    p.add_argument("--json", action="store_true", help="a JSON list: one object per method")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.validation_episodes < 1:
        raise ValueError(f"--validation-episodes must be >= 1, got {args.validation_episodes}")
    classes = _classes(args.classes)
    if args.classes == "novel" and args.dataset != "digits":
        raise ValueError("--classes novel names the digits held out from meta-training; give --dataset digits")
    networks = {name: AppendableMemory.from_pretrained(name, device=args.device) for name in args.network or [DEFAULT_NETWORK]}
    sizes = ", ".join(f"{part} {n}" for part, n in protocol_keys(args.dataset, protocol=args.protocol)[2].sizes().items())
    encoder = "the encoder part only" if args.protocol == "deployment" else "every example, the tested ones included"
    protocol = f"{args.protocol} protocol: split {sizes} examples; encoder fitted on {encoder}"
    if args.stream:
        if classes is not None:
            raise ValueError("--stream writes every class of the dataset; --classes does not apply")
        rows = stream_fewshot(networks, args.shots, episodes=args.episodes, queries=args.queries, seed=args.seed, dataset=args.dataset,
                              protocol=args.protocol)
        title = (f"{args.dataset}, classes arriving one at a time, {args.shots} shots each, {args.episodes} test episodes: "
                 f"accuracy on every class so far / on the first\n{protocol}")
        line = lambda r: f"  {r.method:<28} after {r.arrived:>2}: {r.accuracy:.3f} / {r.first_class:.3f}" + (  # noqa: E731
            "" if r.together is None else f"   (first class, every class written at once: {r.together:.3f})")
    else:
        rows = evaluate_fewshot(networks, args.ways, args.shots, episodes=args.episodes, queries=args.queries, seed=args.seed,
                                baselines=BASELINES, classes=classes, dataset=args.dataset, protocol=args.protocol,
                                validation_episodes=args.validation_episodes)
        drawn_from = "" if classes is None else f" (classes {','.join(map(str, classes))})"
        title = (f"{args.dataset}{drawn_from}, {args.ways}-way {args.shots}-shot, {args.episodes} test episodes, {args.queries} queries per class\n"
                 f"{protocol}; baselines tuned on {args.validation_episodes} validation episodes")
        title += "\n  method                       accuracy [95% interval]   chosen (validation accuracy)"
        line = lambda r: f"  {r.method:<28} {r.accuracy:.3f}  [{r.ci[0]:.3f}, {r.ci[1]:.3f}]" + (  # noqa: E731
            "" if r.hyperparameters is None else
            "   " + ", ".join(f"{k}={v:g}" for k, v in r.hyperparameters.items()) + f" ({r.validation_accuracy:.3f})")
    print(json.dumps([r.as_dict() for r in rows], indent=2) if args.json else "\n".join([title, *map(line, rows)]))
    return 0


def _classes(text: str) -> tuple[int, ...] | None:
    if text == "all":
        return None
    if text == "novel":
        return NOVEL_CLASSES  # of the digits
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise ValueError(f"--classes takes all, novel or a comma list of class numbers, got {text!r}") from None
