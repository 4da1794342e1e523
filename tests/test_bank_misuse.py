"""The bank under misuse and failure: what a careless user or a hostile file meets, and the store's
operations (forget, export and import). PostgreSQL's cases are in test_bank.py, beside its server."""

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import unicodedata
import warnings

import pytest
import torch

from appendable_memory import AppendableMemory, BankError, MemoryBank
from appendable_memory import bank as bank_module
from appendable_memory.bank import CapacityWarning
from appendable_memory.checkpoint import NETWORKS_DIR
from appendable_memory.cli.main import main

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _cli(argv, capsys):
    """(exit code, stdout, stderr) of ``amem ARGV``."""
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def bank(tmp_path):
    made = MemoryBank(tmp_path / "bank.sqlite", network="kv-best")
    made.create("facts")
    return made


# --- no confident wrong answers -------------------------------------------------------------------
def test_a_key_never_written_is_reported_as_unknown(bank, tmp_path, capsys):
    bank.append("facts", ["alice", "bob"], [3, 7])
    found = bank.recall("facts", ["alice", "carol"])
    assert found.known.tolist() == [True, False] and int(found.values[0]) == 3
    assert found.probabilities[1].max() > 0.5  # the network alone would answer confidently: the log is what knows
    code, out, _ = _cli(["memory", "recall", "facts", "alice", "carol", "--bank", str(tmp_path / "bank.sqlite")], capsys)
    assert code == 0 and "not in memory" in out.splitlines()[1] and "not in memory" not in out.splitlines()[0]
    code, out, _ = _cli(["memory", "recall", "facts", "carol", "--json", "--bank", str(tmp_path / "bank.sqlite")], capsys)
    assert json.loads(out)[0]["known"] is False


def test_the_api_says_which_queries_were_written():
    mem = AppendableMemory.from_pretrained("kv-n8")
    written = torch.stack([mem.key_for(t) for t in ["a", "b"]])
    assert mem.known(torch.stack([mem.key_for("b"), mem.key_for("c")]), written).tolist() == [True, False]


def test_canonically_equal_strings_are_one_key(bank):
    bank.append("facts", [NFD], [4])
    found = bank.recall("facts", [NFC])
    assert found.known.tolist() == [True] and found.values.tolist() == [4]
    assert json.loads(bank.export_lines("facts")[1])["key"] == NFD  # the text is kept as typed


def _as_version_1(path):
    """Rewrite a bank file as version 1 stored it: no key forms, no texts or times in the log."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE amem_memories DROP COLUMN key_form")
        db.execute("ALTER TABLE amem_log DROP COLUMN texts")
        db.execute("ALTER TABLE amem_log DROP COLUMN time")
        db.execute("UPDATE amem_bank SET value = '1' WHERE key = 'version'")
        db.commit()


def test_memories_written_before_normalisation_answer_as_they_did(tmp_path):
    path = tmp_path / "bank.sqlite"
    old = MemoryBank(path, network="kv-best")
    old.create("old")
    mem = old.network_of("old")
    old.append("old", torch.stack([mem.key_for(NFD, form=None), mem.key_for("tea", form=None)]), [4, 6])  # keys as version 1 made them
    old.close()
    _as_version_1(path)
    bank = MemoryBank(path)  # upgraded on opening
    assert bank.info("old")["key_form"] is None
    found = bank.recall("old", [NFD, NFC, "tea"])
    assert found.known.tolist() == [True, False, True] and found.values[[0, 2]].tolist() == [4, 6]
    bank.create("new", network="kv-best")
    bank.append("new", [NFD], [4])
    assert bank.recall("new", [NFC]).known.tolist() == [True]


def test_banks_with_raw_states_still_load_and_move_to_the_saved_state_format(tmp_path):
    path = tmp_path / "bank.sqlite"
    bank = MemoryBank(path, network="kv-best")
    bank.create("facts")
    bank.append("facts", ["tea"], [2])
    state = bank.state("facts")
    with contextlib.closing(sqlite3.connect(path)) as db:  # the row as banks stored states before
        db.execute("UPDATE amem_memories SET state = ?, shape = ?", (state.numpy().tobytes(), json.dumps(list(state.shape))))
        db.commit()
    _as_version_1(path)
    old = MemoryBank(path)
    assert torch.equal(old.state("facts"), state) and old.recall("facts", ["tea"]).values.tolist() == [2]
    old.append("facts", ["milk"], [5])
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT shape FROM amem_memories").fetchone()[0] == "appendable-memory-state"
    mem = old.network_of("facts")
    saved = mem.save_state(old.state("facts"), tmp_path / "facts.safetensors")
    assert torch.equal(mem.load_state(saved), old.state("facts"))


def test_writes_past_the_capacity_warn_and_info_shows_it(bank, tmp_path, capsys):
    assert bank.info("facts")["capacity"] == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error", CapacityWarning)
        bank.append("facts", [f"k{i}" for i in range(64)], [i % 10 for i in range(64)])
    with pytest.warns(CapacityWarning, match="65 pairs, more than kv-best holds .64.: the oldest pairs fall out"):
        bank.append("facts", ["one more"], [1])
    where = ["--bank", str(tmp_path / "bank.sqlite")]
    code, out, _ = _cli(["memory", "info", "facts", *where], capsys)
    assert code == 0 and "65 of 64 pairs" in out
    bank.create("learned", network="kv-n8")
    code, _, err = _cli(["memory", "write", "learned", *[f"k{i}={i % 10}" for i in range(9)], *where], capsys)
    assert code == 0 and "warning" in err and "expected item accuracy falls to 0.86 at 9 pairs" in err


# --- private files --------------------------------------------------------------------------------
def test_bank_files_and_folders_are_private(tmp_path):
    path = tmp_path / "new" / "deeper" / "bank.sqlite"
    bank = MemoryBank(path, network="kv-best")
    bank.create("facts")
    bank.append("facts", ["a"], [1])
    files = sorted(path.parent.iterdir())
    assert {p.name for p in files} >= {"bank.sqlite", "bank.sqlite-wal", "bank.sqlite-shm"}
    assert all(_mode(p) == 0o600 for p in files), {p.name: oct(_mode(p)) for p in files}
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "deeper") == 0o700
    out = bank.export("facts", tmp_path / "facts.jsonl")
    assert _mode(out) == 0o600
    mem = bank.network_of("facts")
    assert _mode(mem.save_state(bank.state("facts"), tmp_path / "state.safetensors")) == 0o600


def test_an_existing_bank_keeps_the_mode_its_owner_set(tmp_path):
    path = tmp_path / "bank.sqlite"
    MemoryBank(path, network="kv-best").create("facts")
    os.chmod(path, 0o640)
    MemoryBank(path).append("facts", ["a"], [1])
    assert _mode(path) == 0o640


# --- one SQLite path, clear refusals --------------------------------------------------------------
@pytest.mark.parametrize(
    "where, message",
    [
        ("sqlite://", "in-memory SQLite bank would end with the process"),
        ("sqlite:///:memory:", "in-memory SQLite bank would end with the process"),
        ("nosuchdb://user:pw@host/db", "unknown database scheme 'nosuchdb'"),
        ("mysql://user:hunter2@host/db", r"not installed \(pip install"),
        ("", "empty string"),
    ],
)
def test_unusable_bank_locations_are_refused_in_one_line(where, message):
    with pytest.raises(BankError, match=message) as caught:
        MemoryBank(where, network="kv-best")
    assert "\n" not in str(caught.value) and "hunter2" not in str(caught.value) and "pw@" not in str(caught.value)


def test_a_sqlite_url_is_the_same_bank_as_its_path(tmp_path):
    path = tmp_path / "bank.sqlite"
    MemoryBank(f"sqlite:///{path}", network="kv-best").create("facts")
    bank = MemoryBank(path)
    assert bank.names() == ["facts"] and _mode(path) == 0o600


def test_a_locked_bank_waits_then_fails_in_one_line_changing_nothing(bank, tmp_path, monkeypatch):
    monkeypatch.setattr(bank_module, "BUSY_TIMEOUT_S", 0.2)
    locked = MemoryBank(tmp_path / "bank.sqlite")  # new connections: the short wait
    holder = sqlite3.connect(tmp_path / "bank.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BankError, match="locked.*nothing was changed"):
            locked.append("facts", ["a"], [1])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.info("facts")["writes"] == 0
    assert locked.append("facts", ["a"], [1]) == 1


def test_a_full_disk_fails_in_one_line_changing_nothing(bank, tmp_path):
    bank.append("facts", ["a"], [1])
    full = MemoryBank(tmp_path / "bank.sqlite", network="kv-best")
    pages = full.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()

    @bank_module.sa.event.listens_for(full.engine, "connect")
    def _cap(dbapi_connection, _record):  # the file may not grow: SQLite's "database or disk is full"
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    full.engine.dispose()
    with pytest.raises(BankError, match="full.*nothing was changed"):
        for i in range(50):
            full.create_many([f"m{i}-{j}" for j in range(200)])
    assert MemoryBank(tmp_path / "bank.sqlite").info("facts")["writes"] == 1


# --- read-only storage ----------------------------------------------------------------------------
@contextlib.contextmanager
def _read_only(path):
    """``path`` made unwritable, for root too (the immutable attribute), then made writable again."""
    if os.geteuid() != 0:
        mode = _mode(path)
        os.chmod(path, mode & ~0o222)
        try:
            yield
        finally:
            os.chmod(path, mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root where the immutable attribute (chattr +i) is not available: nothing is read-only to root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _closed_bank(tmp_path):
    """A bank with one memory of one pair, closed: no -wal or -shm file left."""
    bank = MemoryBank(tmp_path / "bank.sqlite", network="kv-best")
    bank.create("facts")
    bank.append("facts", ["alice"], [3])
    bank.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.sqlite"]
    return tmp_path / "bank.sqlite"


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_bank_can_be_read_and_refuses_writes_in_one_line(tmp_path, what, capsys):
    path = _closed_bank(tmp_path)
    before = path.read_bytes()
    with _read_only(path if what == "file" else tmp_path):
        bank = MemoryBank(path, network="kv-best")
        assert bank.read_only and bank.recall("facts", ["alice"]).values.tolist() == [3]
        for write in (lambda: bank.append("facts", ["bob"], [1]), lambda: bank.forget("facts", ["alice"]),
                      lambda: bank.rebuild("facts", "kv-n8"), lambda: bank.delete("facts"), lambda: bank.create("other")):
            with pytest.raises(BankError, match="read-only.*nothing was changed"):
                write()
        code, _, err = _cli(["memory", "write", "facts", "bob=1", "--bank", str(path)], capsys)
        assert code == 1 and "read-only" in err and len(err.splitlines()) == 1
        bank.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.sqlite"]  # nothing left behind
    assert path.read_bytes() == before
    assert MemoryBank(path).append("facts", ["bob"], [1]) == 2  # mode fixed: writes work again


def test_storage_that_refuses_a_write_mid_transaction_is_one_line(tmp_path, monkeypatch):
    """SQLite's own "attempt to write a readonly database", reached past the up-front check."""
    path = _closed_bank(tmp_path)
    real = bank_module._sqlite_engine
    monkeypatch.setattr(bank_module, "_sqlite_engine", lambda p, read_only: real(p, read_only=True))
    bank = MemoryBank(path)
    assert not bank.read_only
    with pytest.raises(BankError, match="read-only.*nothing was changed"):
        bank.append("facts", ["bob"], [1])


# --- no quiet surprises ---------------------------------------------------------------------------
def test_read_commands_never_create_a_bank(tmp_path, capsys):
    missing = tmp_path / "typo" / "bank.sqlite"
    for argv in (["memory", "list"], ["memory", "recall", "facts", "alice"], ["memory", "info", "facts"]):
        code, _, err = _cli([*argv, "--bank", str(missing)], capsys)
        assert code == 1 and f"no bank at {missing}" in err
    assert not (tmp_path / "typo").exists()
    code, _, err = _cli(["memory", "list", "--bank", ""], capsys)
    assert code == 1 and "--bank is empty" in err


def test_a_tilde_means_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["memory", "create", "facts", "--bank", "~/banks/b.sqlite"]) == 0
    assert (tmp_path / "home" / "banks" / "b.sqlite").is_file() and not (tmp_path / "~").exists()


def test_names_are_normalised_checked_and_printed_escaped(bank, tmp_path, capsys):
    bank.create(NFD)
    with pytest.raises(BankError, match="already holds a memory named 'café'"):
        bank.create(NFC)
    assert bank.info(NFC)["name"] == NFC
    for bad, message in (("a\nb", "control characters"), ("nul\x00", "control characters"), ("x" * 10_000, "at most 255")):
        with pytest.raises(BankError, match=message) as caught:
            bank.create(bad)
        assert len(str(caught.value)) < 300 and "\n" not in str(caught.value) and "\x00" not in str(caught.value)
    with pytest.raises(BankError, match=r"at most 255 characters, got 'yyyy.*\(5000 characters\)") as caught:
        bank.info("y" * 5000)
    assert len(str(caught.value)) < 400
    with contextlib.closing(sqlite3.connect(tmp_path / "bank.sqlite")) as db:  # a name from an older or hostile writer
        db.execute("UPDATE amem_memories SET name = ? WHERE name = 'facts'", ("evil\x1b[31m\nfake line",))
        db.commit()
    code, out, _ = _cli(["memory", "list", "--bank", str(tmp_path / "bank.sqlite")], capsys)
    assert code == 0 and "\x1b" not in out and "\\x1b[31m\\nfake line" in out and len(out.splitlines()) == 2


@pytest.mark.parametrize("value", ["+3", " 3", "0_3", "\u0663", "3.0", "-1"])
def test_values_are_ascii_digits_only(bank, tmp_path, capsys, value):
    code, _, err = _cli(["memory", "write", "facts", f"alice={value}", "--bank", str(tmp_path / "bank.sqlite")], capsys)
    assert code == 1 and "digits 0-9" in err and bank.info("facts")["writes"] == 0


def test_a_network_given_by_path_is_stored_absolute(tmp_path, monkeypatch, capsys):
    shutil.copytree(NETWORKS_DIR / "kv-n8", tmp_path / "mynet")
    monkeypatch.chdir(tmp_path)
    assert main(["memory", "create", "facts", "--network", "./mynet", "--bank", "bank.sqlite"]) == 0
    monkeypatch.chdir(tmp_path.parent)
    bank = MemoryBank(tmp_path / "bank.sqlite")
    assert bank.info("facts")["network"] == str(tmp_path / "mynet")
    assert bank.append("facts", ["a"], [1]) == 1


# --- batches and shapes ---------------------------------------------------------------------------
def test_append_many_takes_different_counts_and_refuses_mismatched_values(bank):
    bank.create("other")
    assert bank.append_many({"facts": (["a", "b"], [1, 2]), "other": (["c"], [3])}) == {"facts": 2, "other": 1}
    with pytest.raises(BankError, match="2 keys need 2 values"):
        bank.append_many({"facts": (["d", "e"], [1]), "other": (["f"], [3])})
    assert bank.info("facts")["writes"] == 2 and bank.info("other")["writes"] == 1


def test_a_single_key_vector_gets_a_message_about_the_key(bank):
    key = bank.network_of("facts").key_for("a")
    with pytest.raises(BankError, match=r"one key is \[\[...\]\]"):
        bank.append("facts", key, [1])
    with pytest.raises(BankError, match="single string"):
        bank.recall("facts", "alice")


# --- forget, export, import -----------------------------------------------------------------------
@pytest.mark.parametrize("network", ["kv-best", "kv-n8"])  # designed addressing, learned write
def test_forget_leaves_the_memory_as_if_the_pair_was_never_written(tmp_path, network):
    bank = MemoryBank(tmp_path / "bank.sqlite", network=network)
    trials, n = 150, 6
    names = [f"m{i}" for i in range(trials)]
    bank.create_many(names)
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(10, (trials, n), generator=gen)
    keys = {name: [f"{name}-{j}" for j in range(n)] for name in names}
    bank.append_many({name: (keys[name], values[i]) for i, name in enumerate(names)})
    same_as_old = 0
    for i, name in enumerate(names):
        bank.forget(name, [keys[name][0]])
        without = MemoryBank(tmp_path / "without.sqlite", network=network)
        without.create(name)
        without.append(name, keys[name][1:], values[i, 1:])
        assert torch.equal(bank.state(name), without.state(name))  # every other key recalled exactly as without it
        found = bank.recall(name, [keys[name][0]])
        assert not found.known[0]
        same_as_old += int(found.values[0] == values[i, 0])
    assert same_as_old / trials < 0.1 + 3 * (0.09 / trials) ** 0.5  # chance (1 in 10) plus three standard errors


def test_forgetting_an_unknown_key_changes_nothing(bank):
    bank.append("facts", ["a", "b"], [1, 2])
    state = bank.state("facts")
    with pytest.raises(BankError, match="'zzz' is not in memory 'facts'; nothing was forgotten"):
        bank.forget("facts", ["a", "zzz"])
    assert torch.equal(bank.state("facts"), state) and bank.info("facts")["writes"] == 2


def test_forgotten_pairs_are_not_left_in_the_file(tmp_path):
    bank = MemoryBank(tmp_path / "bank.sqlite", network="kv-best")
    bank.create("facts")
    secret = "my-bank-pin-is-8841"
    bank.append("facts", [secret, "other"], [1, 2])
    bank.forget("facts", [secret])
    bank.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in raw


def test_export_and_import_round_trip_from_the_command_line(bank, tmp_path, capsys):
    where = ["--bank", str(tmp_path / "bank.sqlite")]
    bank.append("facts", ["tea", NFD], [1, 2])
    bank.append("facts", torch.stack([bank.network_of("facts").key_for("as a vector")]), [3])
    out = tmp_path / "facts.jsonl"
    assert main(["memory", "export", "facts", "-o", str(out), *where]) == 0
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["identity"] == bank.info("facts")["identity"] and json.loads(lines[2])["key"] == NFD
    assert "key_vector" in json.loads(lines[3])
    code, _, err = _cli(["memory", "import", str(out), *where], capsys)
    assert code == 1 and "already holds a memory named 'facts'" in err
    assert main(["memory", "import", str(out), "--as", "copy", *where]) == 0
    assert torch.equal(bank.state("copy"), bank.state("facts"))
    other = tmp_path / "other.sqlite"
    assert main(["memory", "import", str(out), "--network", "kv-n8", "--bank", str(other)]) == 0
    assert MemoryBank(other).recall("facts", ["tea"]).known.tolist() == [True]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda lines: lines[:-1], "holds 2 pairs but its header says 3"),
        (lambda lines: [lines[0], lines[1][:-5], *lines[2:]], "line 2: not JSON"),
        (lambda lines: ['{"format": "something-else"}', *lines[1:]], "not an exported memory"),
        (lambda lines: [lines[0].replace('"version": 1', '"version": 9'), *lines[1:]], "version 9"),
        (lambda lines: [lines[0], lines[1].replace('"value": 1', '"value": "one"'), *lines[2:]], "must be an integer"),
        (lambda lines: [lines[0], lines[1].replace('"value": 1', '"value": 99'), *lines[2:]], r"values must lie in 0\.\.9"),
        (lambda lines: ["not json at all", *lines[1:]], "not an exported memory"),
    ],
)
def test_a_damaged_or_foreign_export_changes_nothing(bank, tmp_path, damage, message):
    bank.append("facts", ["a", "b", "c"], [1, 2, 3])
    lines = damage(bank.export_lines("facts"))
    before = bank.state("facts")
    with pytest.raises(BankError, match=message) as caught:
        bank.import_lines(lines, name="facts", replace=True)
    assert "\n" not in str(caught.value)
    assert bank.names() == ["facts"] and torch.equal(bank.state("facts"), before) and bank.info("facts")["writes"] == 3
