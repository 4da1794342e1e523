"""MemoryBank (bank.py): named memories that persist, on SQLite and on a real PostgreSQL server."""

import glob
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest
import torch
from conftest import REPO

from appendable_memory import AppendableMemory, BankError, MemoryBank

NETWORK = "kv-best"


@pytest.fixture(scope="module")
def kv_best():
    return AppendableMemory.from_pretrained(NETWORK)


def _keys(mem, texts):
    return torch.stack([mem.key_for(t) for t in texts])


def _replayed(bank, name, mem):
    keys, values = bank.pairs(name)
    return mem.write(mem.empty(), keys, values)


def _exercise(bank, kv_best):
    """What every backend must do: create, append, recall, info, list, rebuild, delete."""
    bank.create("alice")
    bank.create("bob", network="kv-n8")
    with pytest.raises(BankError, match="already holds a memory named 'alice'"):
        bank.create("alice")
    keys = _keys(kv_best, [f"fact {i}" for i in range(12)])
    values = torch.arange(12) % 10
    assert bank.append("alice", keys[:5], values[:5]) == 5
    assert bank.append("alice", keys[5:], values[5:]) == 12
    got, probs, known = bank.recall("alice", keys)
    assert torch.equal(got, values) and probs.shape == (12, 10) and known.all()
    info = bank.info("alice")
    assert info["writes"] == 12 and info["network"] == NETWORK and info["identity"] == kv_best.identity
    assert 320 * 4 < info["state_bytes"] < 320 * 4 + 400 and info["created"] <= info["updated"]  # the state and its header
    torch.testing.assert_close(bank.state("alice"), _replayed(bank, "alice", kv_best))
    assert bank.names() == ["alice", "bob"]
    rebuilt = bank.rebuild("alice", "kv-n8")
    assert rebuilt["network"] == "kv-n8" and rebuilt["writes"] == 12
    kv_n8 = AppendableMemory.from_pretrained("kv-n8")
    torch.testing.assert_close(bank.state("alice"), _replayed(bank, "alice", kv_n8))
    done = bank.append_many({"alice": (keys[:2], values[:2]), "bob": (keys[:2], values[:2])})
    assert done == {"alice": 14, "bob": 2}
    bank.delete("bob")
    assert bank.names() == ["alice"]
    with pytest.raises(BankError, match="no memory named 'bob'"):
        bank.recall("bob", keys)
    _exercise_store(bank)


def _exercise_store(bank):
    """String keys, forget, export and import, on every backend."""
    bank.create("carol", network="kv-n8")
    bank.append("carol", ["tea", "coffee", "water"], [1, 2, 3])
    assert bank.recall("carol", ["coffee", "milk"]).known.tolist() == [True, False]
    exported = bank.export_lines("carol")
    bank.forget("carol", ["coffee"])
    assert bank.info("carol")["writes"] == 2 and bank.recall("carol", ["coffee"]).known.tolist() == [False]
    bank.import_lines(exported, name="carol-again")
    assert bank.info("carol-again")["writes"] == 3
    bank.import_lines(exported, name="carol", replace=True)
    torch.testing.assert_close(bank.state("carol"), bank.state("carol-again"), rtol=0, atol=0)
    for name in ("carol", "carol-again"):
        bank.delete(name)


def test_sqlite_bank_does_everything(tmp_path, kv_best):
    bank = MemoryBank(tmp_path / "bank.sqlite", network=NETWORK)
    _exercise(bank, kv_best)
    assert bank.integrity() == "ok"
    again = MemoryBank(tmp_path / "bank.sqlite")  # reopened: everything is there
    assert again.info("alice")["writes"] == 14


def test_a_changed_network_is_refused_with_both_identities(tmp_path, kv_best):
    bank = MemoryBank(tmp_path / "bank.sqlite", network=NETWORK)
    bank.create("alice")
    with sqlite3.connect(tmp_path / "bank.sqlite") as db:
        db.execute("UPDATE amem_networks SET identity = 'f00d' || substr(identity, 5)")
    with pytest.raises(BankError, match="is now 4e8e93d5ff3e.*written by f00d93d5ff3e"):
        MemoryBank(tmp_path / "bank.sqlite").recall("alice", torch.zeros(1, 16))


@pytest.mark.parametrize("damage", ["text", "truncated", "foreign"])
def test_corrupt_or_foreign_files_are_refused_and_left_alone(tmp_path, damage):
    path = tmp_path / "bank.sqlite"
    if damage == "text":
        path.write_text("my notes, not a database\n" * 100)
    elif damage == "foreign":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE recipes (name TEXT)")
    else:
        bank = MemoryBank(path, network=NETWORK)
        for i in range(20):
            bank.create(f"m{i}")
        bank.close()
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = path.read_bytes()
    with pytest.raises(BankError, match="not a memory bank|database of something else|malformed"):
        MemoryBank(path, network=NETWORK).names()
    assert path.read_bytes() == before


APPEND_SCRIPT = """
import sys, torch
from appendable_memory import AppendableMemory, MemoryBank
bank_path, name, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
bank = MemoryBank(bank_path)
mem = bank.network_of(name)
for i in range(count):
    bank.append(name, mem.key_for(f"w{worker}-{i}").unsqueeze(0), torch.tensor([(worker + i) % 10]))
"""


def _concurrent_appends(where, processes=4, each=25):
    bank = MemoryBank(where, network=NETWORK)
    bank.create("shared")
    workers = [
        subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, str(where), "shared", str(w), str(each)], cwd=REPO)
        for w in range(processes)
    ]
    assert all(p.wait(timeout=300) == 0 for p in workers)
    return bank


@pytest.mark.parametrize("form", ["path", "url"])
def test_concurrent_appends_from_four_processes_lose_nothing(tmp_path, kv_best, form):
    path = tmp_path / "bank.sqlite"
    bank = _concurrent_appends(path if form == "path" else f"sqlite:///{path}")
    assert bank.info("shared")["writes"] == 100
    keys, values = bank.pairs("shared")
    assert keys.shape == (100, 16)
    torch.testing.assert_close(bank.state("shared"), _replayed(bank, "shared", kv_best))  # commit order = log order
    assert bank.integrity() == "ok"


def _append_until_killed(path, pipe):
    torch.set_num_threads(1)
    bank = MemoryBank(path)
    mem = bank.network_of("m")
    i = 0
    while True:
        writes = bank.append("m", mem.key_for(f"{os.getpid()}-{i}").unsqueeze(0), torch.tensor([i % 10]))
        pipe.send(writes)  # reported only after the commit
        i += 1


def test_a_bank_survives_twenty_kills_in_the_middle_of_appends(tmp_path):
    path = tmp_path / "bank.sqlite"
    MemoryBank(path, network=NETWORK).create("m")
    context = multiprocessing.get_context("fork")  # the child starts with the network already imported
    rng = random.Random(0)
    confirmed = 0
    for _ in range(20):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_append_until_killed, args=(path, send))
        child.start()
        for _ in range(rng.randint(1, 4)):
            if receive.poll(60):
                confirmed = max(confirmed, receive.recv())
        time.sleep(rng.random() * 0.01)  # land somewhere inside the next append
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        while receive.poll(0):
            confirmed = max(confirmed, receive.recv())
    bank = MemoryBank(path)
    assert bank.integrity() == "ok"
    writes = bank.info("m")["writes"]
    assert writes >= confirmed > 0 and bank.pairs("m")[0].shape[0] == writes
    mem = bank.network_of("m")
    # the stored state is the log's (within the rounding of the children's one thread against our two)
    torch.testing.assert_close(bank.state("m"), _replayed(bank, "m", mem), rtol=0, atol=1e-4)


def _server_binaries():
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
        if found is None:
            return None
        yield found


PG_PASSWORD = "amem-Secret-7q"  # the test server's password: no message may ever show it


def _skip_or_fail(reason: str) -> None:
    """Where the server binaries are installed the PostgreSQL tests must run: a failure to
    start is a failure, not a skip (AMEM_POSTGRES_OPTIONAL=1 allows the skip)."""
    if os.environ.get("AMEM_POSTGRES_OPTIONAL") == "1":
        pytest.skip(reason)
    pytest.fail(f"PostgreSQL server binaries are installed but {reason}")


@pytest.fixture(scope="module")
def postgres_server():
    """A PostgreSQL server of our own in a temporary directory, on a local socket, with a
    password, stopped afterwards. -> (URL with the password, socket directory)."""
    binaries = list(_server_binaries() or ())
    if len(binaries) != 2:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; `apt-get install postgresql` to run this test")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip_or_fail("psycopg is not installed (pip install 'appendable-memory[postgres]')")
    initdb, pg_ctl = binaries
    root = tempfile.mkdtemp(prefix="amem-pg-")
    run_as = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, socket_dir = os.path.join(root, "data"), root
    password_file = os.path.join(root, "password")
    with open(password_file, "w") as f:
        f.write(PG_PASSWORD + "\n")
    if run_as:
        shutil.chown(password_file, "postgres")
    try:
        subprocess.run([*run_as, initdb, "-D", data, "-A", "scram-sha-256", "--pwfile", password_file, "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run(
            [*run_as, pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"), "-o", f"-k {socket_dir} -c listen_addresses='' -F", "start"],
            check=True, capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError, LookupError) as e:
        shutil.rmtree(root, ignore_errors=True)
        _skip_or_fail(f"could not start a PostgreSQL server: {getattr(e, 'stderr', b'') or e}")
    try:
        yield f"postgresql+psycopg://postgres:{PG_PASSWORD}@/postgres?host={socket_dir}", socket_dir
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url(postgres_server):
    return postgres_server[0]


def test_postgresql_bank_does_everything(postgres_url, kv_best):
    bank = MemoryBank(postgres_url, network=NETWORK)
    _exercise(bank, kv_best)
    for name in bank.names():
        bank.delete(name)


def test_postgresql_concurrent_appends_lose_nothing(postgres_url, kv_best):
    bank = _concurrent_appends(postgres_url, processes=4, each=10)
    assert bank.info("shared")["writes"] == 40
    torch.testing.assert_close(bank.state("shared"), _replayed(bank, "shared", kv_best))
    bank.delete("shared")


def test_processes_that_open_a_new_bank_at_once_all_succeed(tmp_path):
    script = "import sys; from appendable_memory import MemoryBank; MemoryBank(sys.argv[1], network='kv-best').names()"
    path = str(tmp_path / "new.sqlite")
    openers = [subprocess.Popen([sys.executable, "-c", script, path], stderr=subprocess.PIPE) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in openers), [p.stderr.read() for p in openers]
    assert MemoryBank(path).integrity() == "ok"


def test_postgresql_messages_never_show_the_password(postgres_server, capsys):
    from appendable_memory.cli.main import main

    url, socket_dir = postgres_server
    wrong = url.replace(PG_PASSWORD, "Wrong-Pass-9z")
    refused = f"postgresql+psycopg://postgres:{PG_PASSWORD}@127.0.0.1:1/postgres"
    bank = MemoryBank(url, network=NETWORK)
    bank.create("pw-test")
    attempts = [
        (lambda: MemoryBank(wrong), "password authentication failed"),
        (lambda: MemoryBank(refused), "cannot open the bank"),
        (lambda: bank.recall("nobody", ["x"]), "no memory named 'nobody'"),
        (lambda: bank.create("pw-test"), "already holds a memory named 'pw-test'"),
        (lambda: bank.create("nul\x00name"), "control characters"),
    ]
    for attempt, message in attempts:
        with pytest.raises(BankError, match=message) as caught:
            attempt()
        text = str(caught.value)
        assert PG_PASSWORD not in text and "Wrong-Pass-9z" not in text and "\n" not in text, text
    for argv in (["memory", "info", "pw-test", "--json"], ["memory", "info", "nobody"], ["memory", "list"]):
        main([*argv, "--bank", url])
        out = capsys.readouterr()
        assert PG_PASSWORD not in out.out + out.err
    assert main(["memory", "list", "--bank", wrong]) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err and "Wrong-Pass-9z" not in err and "***" in err
    bank.delete("pw-test")
