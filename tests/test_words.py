"""The repository speaks of the project, not of how it was made: no tracked file's text or path
uses the words kept out (built from pieces below, so that this file passes its own check), and
no text points at a numbered ticket. Measurements name their machine and date instead."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import REPO

# whole words, any case: the words for a working period and for a borrowed machine
KEPT_OUT = re.compile(r"\b(?:" + "ses" + r"sions?|" + "le" + r"nt)\b", re.IGNORECASE)
# a word for throwaway work, except in "from ..." (training from nothing)
THROWAWAY = re.compile(r"(?<!from )\b" + "scr" + r"atch\b", re.IGNORECASE)
# a ticket reference: the word and a number (with or without a hash sign), or a hash sign and a number alone in prose
TICKET = re.compile(r"\b" + "iss" + r"ues?\s*#?\s*\d+\b|(?:^|(?<=[\s(\[]))#\d+\b", re.IGNORECASE)
PATTERNS = (KEPT_OUT, THROWAWAY, TICKET)

BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".pdf", ".safetensors", ".npz", ".npy", ".gz", ".zip"}


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not in a git checkout, so there is no list of tracked files ({e})")
    return [p for p in out.stdout.decode("utf-8", "replace").split("\0") if p]


def offences(text: str) -> list[str]:
    return [m.group(0) for pattern in PATTERNS for m in pattern.finditer(text)]


def path_offences(path: str) -> list[str]:
    # a path's parts split at every non-alphanumeric character: "bench-x_y.json" -> bench, x, y, json
    return offences(" ".join(re.split(r"[^A-Za-z0-9#]+", path)))


def test_the_patterns_catch_what_they_should():
    join = "".join
    assert offences(join(["a ", "Ses", "sion of work"])) and offences(join(["two ", "ses", "sions"]))
    assert offences(join(["a ", "le", "nt machine"])) and not offences("a silent, lenticular lentil")
    assert offences(join(["a ", "scr", "atch run"])) and not offences(join(["trained from ", "scr", "atch"]))
    assert offences(join(["see ", "iss", "ue 14"])) and offences(join(["(", "iss", "ue #", "3)"]))
    assert offences(join(["fixed (#", "13)"])) and not offences(join(['color="#', '333"'])) and not offences(join(["x#", "1"]))
    assert path_offences(join(["bench-", "ses", "sion-1.json"])) and not path_offences("bench-zen5-2026-11-27.json")


def test_no_tracked_file_uses_the_words_kept_out():
    problems = []
    for path in tracked_files():
        problems += [f"{path}: path contains {word!r}" for word in path_offences(path)]
        file = REPO / path
        if not file.is_file() or file.suffix.lower() in BINARY_SUFFIXES:
            continue
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            problems += [f"{path}:{number}: {word!r} in: {line.strip()[:160]}" for word in offences(line)]
    assert not problems, "say the machine and the date, or what the work was, instead:\n" + "\n".join(problems)
