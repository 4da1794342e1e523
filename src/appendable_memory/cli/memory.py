"""``amem memory``: named memories in a bank file, written and read with string keys.

    amem memory create NAME [--network kv-best]
    amem memory write NAME KEY=VALUE ...           # a key is any string (AppendableMemory.key_for)
    amem memory recall NAME KEY ... [--json]       # the value and its probability per key
    amem memory info NAME [--json]
    amem memory list
    amem memory rebuild NAME --network NETWORK     # replay the logged pairs through another network
    amem memory delete NAME

Every subcommand takes ``--bank FILE`` (or an SQLAlchemy URL); without it ``$AMEM_BANK``, then
``~/.local/share/appendable-memory/bank.sqlite`` (``$XDG_DATA_HOME`` if set).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ..bank import MemoryBank, default_bank


def add_parser(sub) -> None:
    p = sub.add_parser("memory", help="named memories in a bank: create, write, recall", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bank", help="bank file or SQLAlchemy URL (default: $AMEM_BANK, then ~/.local/share/appendable-memory/bank.sqlite)")
    named = argparse.ArgumentParser(add_help=False, parents=[common])
    named.add_argument("name", help="the memory's name")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")

    a = actions.add_parser("create", parents=[named], help="a new, empty memory")
    a.add_argument("--network", default="kv-best", help="the network that writes it (default: kv-best)")
    a.set_defaults(run=create)
    a = actions.add_parser("write", parents=[named], help="append KEY=VALUE pairs (VALUE: an integer class)")
    a.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    a.set_defaults(run=write)
    a = actions.add_parser("recall", parents=[named, as_json], help="the value recalled for each KEY")
    a.add_argument("keys", nargs="+", metavar="KEY")
    a.set_defaults(run=recall)
    a = actions.add_parser("info", parents=[named, as_json], help="network, writes, times, size")
    a.set_defaults(run=info)
    a = actions.add_parser("list", parents=[common], help="the bank's memories")
    a.set_defaults(run=list_memories)
    a = actions.add_parser("rebuild", parents=[named], help="replay the logged pairs through another network")
    a.add_argument("--network", required=True, help="the network to adopt")
    a.set_defaults(run=rebuild)
    a = actions.add_parser("delete", parents=[named], help="remove a memory and its log")
    a.set_defaults(run=delete)


def _bank(args, network: str | None = None) -> MemoryBank:
    return MemoryBank(args.bank or default_bank(), network=network)


def _keys(bank: MemoryBank, name: str, texts: list[str]) -> torch.Tensor:
    mem = bank.network_of(name)
    return torch.stack([mem.key_for(t) for t in texts])


def create(args) -> int:
    print(json.dumps(_bank(args, args.network).create(args.name, args.network)))
    return 0


def write(args) -> int:
    texts, values = [], []
    for pair in args.pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key:
            raise ValueError(f"write takes KEY=VALUE pairs, got {pair!r}")
        try:
            values.append(int(value))
        except ValueError:
            raise ValueError(f"a value is an integer class, got {value!r} in {pair!r}") from None
        texts.append(key)
    bank = _bank(args)
    writes = bank.append(args.name, _keys(bank, args.name, texts), torch.tensor(values))
    print(f"{args.name}: {len(texts)} pair(s) written, {writes} in all")
    return 0


def recall(args) -> int:
    bank = _bank(args)
    values, probs = bank.recall(args.name, _keys(bank, args.name, args.keys))
    rows = [{"key": k, "value": int(v), "probability": float(p[v])} for k, v, p in zip(args.keys, values, probs)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['key']}\t{r['value']}\t{r['probability']:.3f}")
    return 0


def info(args) -> int:
    found = _bank(args).info(args.name)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))  # noqa: E731
        print(f"{found['name']}: network {found['network']} ({found['identity'][:12]}), {found['writes']} writes, "
              f"created {stamp(found['created'])}, updated {stamp(found['updated'])}, "
              f"{found['state_bytes']} bytes of state + {found['log_bytes']} of log")
    return 0


def list_memories(args) -> int:
    for name in _bank(args).names():
        print(name)
    return 0


def rebuild(args) -> int:
    found = _bank(args).rebuild(args.name, args.network)
    print(f"{args.name}: {found['writes']} logged pairs replayed through {found['network']}")
    return 0


def delete(args) -> int:
    _bank(args).delete(args.name)
    print(f"{args.name}: deleted")
    return 0
