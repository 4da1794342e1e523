"""``amem memory``: named memories in a bank file, written and read with string keys.

    amem memory create NAME [--network kv-best]
    amem memory write NAME KEY=VALUE ...           # a key is any string (AppendableMemory.key_for)
    amem memory recall NAME KEY ... [--json]       # the value and its probability per key, or "not in memory"
    amem memory info NAME [--json]                 # network, capacity ("12 of 64 pairs"), writes, times, size
    amem memory list
    amem memory forget NAME KEY ...                # the pairs leave the log; the state is rebuilt without them
    amem memory export NAME [-o FILE]              # JSON lines: the network's identity, then every pair
    amem memory import FILE [--as NAME] [--network N] [--replace]
    amem memory rebuild NAME --network NETWORK     # replay the logged pairs through another network
    amem memory delete NAME

Every subcommand takes ``--bank FILE`` (or an SQLAlchemy URL); without it ``$AMEM_BANK``, then
``~/.local/share/appendable-memory/bank.sqlite`` (``$XDG_DATA_HOME`` if set). Only ``create`` and
``import`` make a bank where there is none. String keys are hashed in Unicode NFC (memories made
before keys were normalised keep hashing them as typed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings

from ..bank import BankError, CapacityWarning, MemoryBank, default_bank, shown


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
    a = actions.add_parser("forget", parents=[named], help="remove the pairs of these KEYs; the state is rebuilt from the rest")
    a.add_argument("keys", nargs="+", metavar="KEY")
    a.set_defaults(run=forget)
    a = actions.add_parser("export", parents=[named], help="write the memory as JSON lines (network identity, then every pair)")
    a.add_argument("-o", "--output", help="file to write (0600; default: standard output)")
    a.set_defaults(run=export)
    a = actions.add_parser("import", parents=[common], help="rebuild a memory from an exported file")
    a.add_argument("file", help="a file written by `amem memory export`")
    a.add_argument("--as", dest="as_name", metavar="NAME", help="the memory's name (default: the exported one)")
    a.add_argument("--network", help="replay the pairs through this network (default: the exported one, same weights)")
    a.add_argument("--replace", action="store_true", help="replace a memory of that name")
    a.set_defaults(run=import_memory)
    a = actions.add_parser("rebuild", parents=[named], help="replay the logged pairs through another network")
    a.add_argument("--network", required=True, help="the network to adopt")
    a.set_defaults(run=rebuild)
    a = actions.add_parser("delete", parents=[named], help="remove a memory and its log")
    a.set_defaults(run=delete)


def _bank(args, network: str | None = None, *, create: bool = False) -> MemoryBank:
    """The bank of ``--bank`` (refused when empty), ``$AMEM_BANK`` or the default file; only the
    commands that make memories create it."""
    if args.bank is not None and not args.bank.strip():
        raise BankError("--bank is empty: give a bank file or a database URL (or leave --bank out for the default)")
    return MemoryBank(args.bank or default_bank(), network=network, create=create)


VALUE = re.compile(r"[0-9]+")  # ASCII digits only: '+3', ' 3', '0_3' and other scripts' digits are refused


def _value(text: str, pair: str) -> int:
    if not VALUE.fullmatch(text):
        raise ValueError(f"a value is an integer class written in digits 0-9, got {shown(text)} in {shown(pair)}")
    return int(text)


def create(args) -> int:
    found = _bank(args, args.network, create=True).create(args.name, args.network)
    print(f"{shown(found['name'])}: created, written by {found['network']}, holds {_capacity(found)}")
    return 0


def write(args) -> int:
    texts, values = [], []
    for pair in args.pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key:
            raise ValueError(f"write takes KEY=VALUE pairs, got {shown(pair)}")
        values.append(_value(value, pair))
        texts.append(key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CapacityWarning)
        writes = _bank(args).append(args.name, texts, values)
    print(f"{shown(args.name)}: {len(texts)} pair(s) written, {writes} in all")
    for warning in caught:
        print(f"amem memory: warning: {warning.message}", file=sys.stderr)
    return 0


def recall(args) -> int:
    found = _bank(args).recall(args.name, args.keys)
    rows = [
        {"key": k, "known": bool(known), "value": int(v), "probability": float(p[v])}
        for k, v, p, known in zip(args.keys, found.values, found.probabilities, found.known)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            answer = f"{r['value']}\t{r['probability']:.3f}" if r["known"] else f"not in memory\t(the network would say {r['value']})"
            print(f"{shown(r['key'])}\t{answer}")
    return 0


def _capacity(found: dict) -> str:
    if found["capacity"] is None:
        return "an unmeasured number of pairs"
    return f"{found['capacity']} pairs at {found['capacity_accuracy']:.2f} item accuracy"


def info(args) -> int:
    found = _bank(args).info(args.name)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))  # noqa: E731
        held = f"{found['writes']} of {found['capacity']} pairs" if found["capacity"] is not None else f"{found['writes']} pairs"
        print(f"{shown(found['name'])}: {held} (network {found['network']}, {found['identity'][:12]}: holds {_capacity(found)}; "
              f"beyond: {found['beyond_capacity']}), created {stamp(found['created'])}, updated {stamp(found['updated'])}, "
              f"{found['state_bytes']} bytes of state + {found['log_bytes']} of log")
    return 0


def list_memories(args) -> int:
    for name in _bank(args).names():
        print(shown(name, 200)[1:-1])
    return 0


def forget(args) -> int:
    found = _bank(args).forget(args.name, args.keys)
    print(f"{shown(args.name)}: {len(set(args.keys))} key(s) forgotten, {found['writes']} pairs left")
    return 0


def export(args) -> int:
    bank = _bank(args)
    if args.output:
        path = bank.export(args.name, args.output)
        print(f"{shown(args.name)}: exported to {path}", file=sys.stderr)
    else:
        print("\n".join(bank.export_lines(args.name)))
    return 0


def import_memory(args) -> int:
    if not os.path.isfile(os.path.expanduser(args.file)):
        raise BankError(f"no file {args.file}: nothing was imported")
    found = _bank(args, create=True).import_file(args.file, name=args.as_name, network=args.network, replace=args.replace)
    print(f"{shown(found['name'])}: imported, {found['writes']} pairs replayed through {found['network']}")
    return 0


def rebuild(args) -> int:
    found = _bank(args).rebuild(args.name, args.network)
    print(f"{shown(args.name)}: {found['writes']} logged pairs replayed through {found['network']}")
    return 0


def delete(args) -> int:
    _bank(args).delete(args.name)
    print(f"{shown(args.name)}: deleted")
    return 0
