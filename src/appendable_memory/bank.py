"""Many named memories that persist: an SQLite file by default, any SQLAlchemy database beyond one machine.

    bank = MemoryBank("facts.sqlite", network="kv-best")     # or "postgresql+psycopg://user@host/db"
    bank.create("alice")
    bank.append("alice", ["lives in Paris", "likes tea"], [3, 7])   # string keys, or key vectors [N, K]
    found = bank.recall("alice", ["likes tea", "never written"])
    found.values, found.probabilities, found.known           # known: was that key ever written here?
    bank.info("alice")    # network, capacity, writes, created, updated, size
    bank.forget("alice", ["likes tea"])                      # the pair leaves log and state
    bank.export("alice", "alice.jsonl"); bank.import_file("alice.jsonl", name="alice2")
    bank.rebuild("alice", "kv-n8")                           # replay the log through another network

Tables: ``amem_bank`` (format and version), ``amem_networks`` (each network used: its name or
absolute path and its identity, a hash of its weights), ``amem_memories`` (one row per memory: its
network, the state in the one saved-state format of ``AppendableMemory.save_state`` (safetensors
bytes carrying the network's identity), the number of pairs written, the Unicode form
its string keys are hashed in, times) and ``amem_log`` (every append's pairs, numbered per memory
in the order written, with their string keys where they came from strings, and the append's
time). An SQLite bank uses 16 KiB pages (a state of 1,280 bytes fills a 4 KiB page only twice),
``synchronous = NORMAL`` (WAL's usual setting: a killed process never loses a committed append; a
power cut may lose the last few, never the file's consistency) and ``secure_delete`` (a forgotten
pair's bytes are overwritten, not left in free pages).

Appends never lose a write under concurrency. Each append is one transaction that takes the
write lock first, then reads the state, runs the Memorizer and stores the new state and the
pairs: on SQLite a ``BEGIN IMMEDIATE`` transaction (the database's single write lock is taken at
the start, so two appends cannot both read the old state) in WAL mode (readers go on while one
process writes); on PostgreSQL the memory's row is read with ``SELECT ... FOR UPDATE``. An SQLite
bank given as a path or as a ``sqlite:///`` URL is opened the same way.

What the bank promises and what it does not is in docs/bank.md: files 0600 and directories 0700
where it creates them, passwords never shown, every database error one line with nothing changed;
the key hash is public (file permissions are the protection, not the hash).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa
import torch
from torch import Tensor

from .api import KEY_FORM, STATE_FORMAT, AppendableMemory, MemoryInputError, as_tensor
from .checkpoint import CheckpointError, atomic_write_bytes, resolve_checkpoint, shipped_networks

FORMAT = "appendable-memory-bank"
VERSION = 2  # 2: string keys and times in the log, a key form per memory
EXPORT_FORMAT = "appendable-memory-export"
EXPORT_VERSION = 1
BUSY_TIMEOUT_S = 60  # how long an SQLite append waits for another process's transaction
SHOWN_NAME = 60  # characters of a name shown in a message


class BankError(ValueError):
    """A bank that cannot be used as asked: missing memory, foreign file, another network,
    storage that refuses a write. The message is one line; nothing was changed."""


class CapacityWarning(UserWarning):
    """A memory holds more pairs than its network's measured capacity."""


class Recalled(NamedTuple):
    """What a recall gives per query: values [Q], probabilities [Q, C] (softmax of the read) and
    known [Q] (whether that key was ever written to the memory, from its log)."""

    values: Tensor
    probabilities: Tensor
    known: Tensor


def default_bank() -> Path:
    """``$AMEM_BANK``, else ``$XDG_DATA_HOME/appendable-memory/bank.sqlite``
    (``~/.local/share/appendable-memory/bank.sqlite``)."""
    if os.environ.get("AMEM_BANK"):
        return Path(os.environ["AMEM_BANK"]).expanduser()
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "appendable-memory" / "bank.sqlite"


def shown(text: str, limit: int = SHOWN_NAME) -> str:
    """A name as messages print it: control characters escaped (no fake lines, no terminal
    codes), long names cut with their length said."""
    escaped = "".join(ch if unicodedata.category(ch)[0] != "C" else ascii(ch)[1:-1] for ch in text)
    if len(escaped) > limit:
        escaped = f"{escaped[:limit]}... ({len(text)} characters)"
    return f"'{escaped}'"


def memory_name(name: Any) -> str:
    """A memory's name as stored: NFC (names that look the same are the same), 1 to 255
    characters, no control characters."""
    if not isinstance(name, str) or not name:
        raise BankError(f"a memory's name is a non-empty string, got {name!r}"[:200])
    name = unicodedata.normalize(KEY_FORM, name)
    if len(name) > 255:
        raise BankError(f"a memory's name has at most 255 characters, got {shown(name)}")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise BankError(f"a memory's name cannot hold control characters (newline, NUL, escape), got {shown(name)}")
    return name


_META = sa.MetaData()
_BANK = sa.Table("amem_bank", _META, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
_NETWORKS = sa.Table(  # kept apart so that each memory's row stays small (bytes on disk per memory)
    "amem_networks", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("network", sa.Text, nullable=False),  # a shipped name or an absolute checkpoint path
    sa.Column("identity", sa.String(64), nullable=False),  # api.network_identity
    sa.UniqueConstraint("network", "identity"),
)
_MEMORIES = sa.Table(
    "amem_memories", _META,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("network_id", sa.Integer, sa.ForeignKey("amem_networks.id"), nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),  # AppendableMemory.state_bytes (before: raw float32 bytes)
    sa.Column("shape", sa.String(64), nullable=False),  # STATE_FORMAT (before: the raw state's JSON shape)
    sa.Column("writes", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("key_form", sa.String(8), nullable=True),  # string keys' Unicode form; NULL: as typed (version 1)
)
_LOG = sa.Table(  # one row per append of a memory: its pairs, in the order written
    "amem_log", _META,
    sa.Column("memory", sa.String(255), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),  # the number of the append's first pair: 0, N1, N1 + N2, ...
    sa.Column("keys", sa.LargeBinary, nullable=False),  # float32 [N, K]
    sa.Column("values", sa.LargeBinary, nullable=False),  # int32 [N]
    sa.Column("texts", sa.Text, nullable=True),  # JSON [N]: each string key, or null for a key given as a vector
    sa.Column("time", sa.Float, nullable=True),  # when appended (NULL in banks of version 1)
)
_ADDED_IN_2 = {_MEMORIES: ["key_form"], _LOG: ["texts", "time"]}


# --- where the bank is ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Location:
    url: sa.engine.URL | None  # a server database
    path: Path | None  # an SQLite file

    @property
    def shown(self) -> str:
        return str(self.path) if self.path is not None else self.url.render_as_string(hide_password=True)


def _locate(where: str | Path) -> _Location:
    text = str(where)
    if not text.strip():
        raise BankError("the bank is an empty string: give a file path or a database URL")
    if "://" not in text:
        return _Location(None, Path(text).expanduser().absolute())
    try:
        url = sa.engine.make_url(text)
    except sa.exc.ArgumentError:
        raise BankError(f"cannot read the bank URL {_hidden(text)!r}") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or url.database.startswith("file::memory:"):
            raise BankError("an in-memory SQLite bank would end with the process and keep nothing: give a file path")
        return _Location(None, Path(url.database).expanduser().absolute())
    return _Location(url, None)


def _hidden(text: str) -> str:
    """A URL-like text with anything between '://user:' and '@' replaced."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def _make_private_dirs(path: Path) -> None:
    """Create the missing folders above ``path``, each 0700 (the user's data lies there)."""
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask


def _new_private_file(path: Path) -> None:
    """An empty 0600 file where none is, so SQLite (which gives its -wal and -shm files the main
    file's mode) never creates a bank readable by others. A file already there keeps its mode."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
    except FileExistsError:
        pass


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _sqlite_engine(path: Path, *, read_only: bool) -> sa.Engine:
    if read_only:  # no WAL switch, no files created: a bank that cannot be written can still be read
        engine = sa.create_engine("sqlite://", creator=lambda: _sqlite_connect(path))
    else:
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        if not read_only:
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against killed processes
            dbapi_connection.execute("PRAGMA secure_delete = ON")  # forgotten pairs are overwritten on disk

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.pop("immediate", False) else "BEGIN")

    return engine


def _sqlite_connect(path: Path):
    """A read-only connection that leaves no file behind: immutable where no -wal file exists (the
    main file holds every committed write), else read-only beside the existing -wal and -shm."""
    wal = path.with_name(path.name + "-wal").exists()
    uri = f"file:{path.as_posix()}?mode=ro" + ("" if wal else "&immutable=1")
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)


def _server_engine(location: _Location) -> sa.Engine:
    backend = location.url.get_backend_name()
    try:
        return sa.create_engine(location.url)
    except sa.exc.NoSuchModuleError:
        raise BankError(f"unknown database scheme {location.url.drivername!r}: a bank is an SQLite file or a "
                        "postgresql+psycopg:// URL") from None
    except ImportError as e:
        install = "pip install 'appendable-memory[postgres]'" if backend == "postgresql" else f"pip install the package that provides {e.name or e}"
        raise BankError(f"the driver for {location.url.drivername!r} is not installed ({install}); "
                        "banks are tested on SQLite and PostgreSQL") from None


# --- state bytes ----------------------------------------------------------------------------------
def _state_bytes(mem: AppendableMemory, state: Tensor) -> tuple[bytes, str]:
    """(the ``state`` column, the ``shape`` column) of a state: the one saved-state format
    (AppendableMemory.state_bytes, with the network's identity), marked so in ``shape``."""
    return mem.state_bytes(state), STATE_FORMAT


def _state_of(row, mem: AppendableMemory) -> Tensor:
    """A row's state: the saved-state format, or the raw float32 bytes and JSON shape that
    banks wrote before it (still read; rewritten in the new format at the memory's next write)."""
    if row.shape == STATE_FORMAT:
        return mem.state_from_bytes(row.state, f"memory {shown(row.name)}").cpu()
    return torch.from_numpy(np.frombuffer(row.state, dtype="<f4").reshape(json.loads(row.shape)).copy())


@dataclass
class _Pairs:
    """A memory's logged pairs in order: keys [N, K] float32, values [N], texts (str or None) and
    times (the append's, or None), one per pair; groups: the pair counts of the appends, in order
    (a replay writes each group in one call, as it was appended, so it gives the same floats)."""

    keys: Tensor
    values: Tensor
    texts: list[str | None]
    times: list[float | None]
    groups: list[int]

    def __len__(self) -> int:
        return self.keys.shape[0]

    def keep(self, mask: Tensor) -> _Pairs:
        chosen = mask.nonzero().flatten().tolist()
        group_of = [g for g, n in enumerate(self.groups) for _ in range(n)]
        kept = [group_of[i] for i in chosen]
        groups = [kept.count(g) for g in dict.fromkeys(kept)]
        return _Pairs(self.keys[mask], self.values[mask], [self.texts[i] for i in chosen], [self.times[i] for i in chosen], groups)

    def spans(self):
        """(first, last) of each append, in order."""
        first = 0
        for n in self.groups:
            yield first, first + n
            first += n


class MemoryBank:
    """Named memories in one database (see the module docstring). ``network``: the network new
    memories use (a shipped name or a checkpoint directory); each memory records its own.
    ``create``: make the bank where there is none (False: a missing bank is an error, which is
    what every read wants: a typo in a path does not make an empty bank)."""

    def __init__(self, url_or_path: str | Path, network: str | None = None, *, device: str = "cpu", create: bool = True):
        self.location = _locate(url_or_path)
        self.where, self.network, self.device = self.location.shown, network, device
        self.sqlite = self.location.path is not None
        self.read_only = False
        if self.sqlite:
            path = self.location.path
            if path.is_dir():
                raise BankError(f"{path} is a directory, not a bank file")
            if not path.exists():
                if not create:
                    raise BankError(f"no bank at {path} (`amem memory create` makes one)")
                _make_private_dirs(path)
                _new_private_file(path)
            self.read_only = not _writable(path)
            self.engine = _sqlite_engine(path, read_only=self.read_only)
        else:
            self.engine = _server_engine(self.location)
        self._networks: dict[str, AppendableMemory] = {}
        self._open(create)

    def _open(self, create: bool) -> None:
        try:
            with self.engine.connect() as c:
                tables = set(sa.inspect(c).get_table_names())
            if tables and _BANK.name not in tables:
                raise BankError(f"{self.where} is a database of something else (no {_BANK.name} table); it is left as it is")
            if not tables and (self.read_only or not create):
                raise BankError(f"{self.where} holds no memory bank" + (" and cannot be written" if self.read_only else ""))
            if self.sqlite and not self.read_only:
                self._switch_to_wal(new=not tables)
            if not tables:
                with self._transaction(write=True) as c:
                    if not sa.inspect(c).has_table(_BANK.name):  # another process may have made it meanwhile
                        _META.create_all(c)
                        c.execute(_BANK.insert(), [{"key": "format", "value": FORMAT}, {"key": "version", "value": str(VERSION)}])
            with self.engine.connect() as c:
                meta = dict(c.execute(sa.select(_BANK.c.key, _BANK.c.value)).all())
        except sa.exc.OperationalError as e:
            raise BankError(f"cannot open the bank {self.where}: {_reason(e)}") from None
        except sa.exc.DatabaseError as e:
            raise BankError(f"{self.where} is not a memory bank ({_reason(e)}); it is left as it is") from None
        if meta.get("format") != FORMAT:
            raise BankError(f"{self.where} is not a memory bank (its format is {meta.get('format')!r}); it is left as it is")
        version = int(meta.get("version", 0))
        if version > VERSION:
            raise BankError(f"{self.where} is a bank of version {version}; this library reads up to {VERSION}")
        if version < VERSION:
            self._upgrade(version)

    def _switch_to_wal(self, *, new: bool) -> None:
        """WAL, a setting the file keeps (set outside any transaction). Another process creating
        the same new bank may hold the lock this needs: wait for it, as a transaction would."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self.engine.connect() as c:
                    if new:
                        c.connection.driver_connection.execute("PRAGMA page_size = 16384")  # before the first table
                    c.connection.driver_connection.execute("PRAGMA journal_mode = WAL")
                return
            except sa.exc.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _upgrade(self, version: int) -> None:
        """Version 1 -> 2: add the columns of string keys, times and key forms. Existing memories
        keep a NULL key form, so their string keys are hashed as before and recall as they did."""
        if self.read_only:
            raise BankError(f"{self.where} is a bank of version {version}; open it once where it can be written, to upgrade it")
        with self._transaction(write=True) as c:
            current = int(c.execute(sa.select(_BANK.c.value).where(_BANK.c.key == "version")).scalar())
            if current >= VERSION:  # another process upgraded it meanwhile
                return
            for table, columns in _ADDED_IN_2.items():
                have = {col["name"] for col in sa.inspect(c).get_columns(table.name)}
                for column in columns:
                    if column not in have:
                        kind = table.c[column].type.compile(dialect=c.dialect)
                        c.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column}" {kind}')
            c.execute(_BANK.update().where(_BANK.c.key == "version").values(value=str(VERSION)))

    def _transaction(self, *, write: bool = False):
        """A connection in one transaction; ``write``: take the write lock first (BEGIN IMMEDIATE
        on SQLite). Database errors come out as one-line BankErrors, the transaction rolled back."""
        if write and self.read_only:
            raise BankError(f"{self.where} is read-only (file or folder permissions); nothing was changed")
        return _Transaction(self, immediate=write and self.sqlite)

    def _memory_network(self, spec: str, identity: str | None = None) -> AppendableMemory:
        if spec not in self._networks:
            try:
                self._networks[spec] = AppendableMemory.from_pretrained(spec, device=self.device)
            except CheckpointError as e:
                raise BankError(f"cannot load network {spec!r}: {e}") from None
        mem = self._networks[spec]
        if identity is not None and mem.identity != identity:
            raise BankError(
                f"network {spec!r} is now {mem.identity[:12]}, but this bank's memories were written by "
                f"{identity[:12]}: the weights changed, so the stored states mean nothing to it (rebuild them)"
            )
        return mem

    @staticmethod
    def _stored_spec(spec: str) -> str:
        """A shipped name as it is; a checkpoint directory as its absolute path, so the memory
        opens from any working directory."""
        if spec in shipped_networks() and not Path(spec).exists():
            return spec
        return str(resolve_checkpoint(Path(spec).expanduser()).absolute())

    def _network_id(self, c, network: str, identity: str) -> int:
        """The id of (network, identity) in amem_networks, added where new."""
        find = sa.select(_NETWORKS.c.id).where(_NETWORKS.c.network == network, _NETWORKS.c.identity == identity)
        found = c.execute(find).scalar()
        if found is None:
            found = c.execute(_NETWORKS.insert().values(network=network, identity=identity)).inserted_primary_key[0]
        return found

    def _row(self, c, name: str, *, lock: bool = False):
        return self._rows(c, [name], lock=lock)[memory_name(name)]

    def _rows(self, c, names, *, lock: bool = False) -> dict:
        """The rows of memories ``names`` (locked for update where the database has row locks)."""
        rows = {}
        names = list(dict.fromkeys(memory_name(n) for n in names))
        for first in range(0, len(names), 500):  # bounded IN lists
            query = (sa.select(_MEMORIES, _NETWORKS.c.network, _NETWORKS.c.identity).join(_NETWORKS)
                     .where(_MEMORIES.c.name.in_(names[first : first + 500])))
            rows.update((r.name, r) for r in c.execute(query.with_for_update(of=_MEMORIES) if lock and not self.sqlite else query))
        missing = [n for n in names if n not in rows]
        if missing:
            known = [shown(r.name, 30) for r in c.execute(sa.select(_MEMORIES.c.name).order_by(_MEMORIES.c.name).limit(20))]
            raise BankError(f"no memory named {shown(missing[0])} in {self.where} (memories: {', '.join(known) or 'none'})")
        return rows

    # --- keys -------------------------------------------------------------------------------------
    def _keys(self, mem: AppendableMemory, key_form: str | None, keys: Any, what: str) -> tuple[Tensor, list[str | None]]:
        """Keys given as strings (hashed in the memory's key form) or as vectors [N, K] ->
        (vectors [N, K] float32 on the CPU, texts)."""
        if isinstance(keys, str):
            raise BankError(f"{what} are a list of strings or an array [N, {mem.key_size}], got the single string {shown(keys)}")
        if isinstance(keys, (list, tuple)) and keys and all(isinstance(k, str) for k in keys):
            return torch.stack([mem.key_for(k, form=key_form).cpu() for k in keys]), list(keys)
        vectors = as_tensor(keys, what)
        if vectors.dim() == 1 and vectors.shape[0] == mem.key_size:
            raise BankError(f"{what} must be [N, {mem.key_size}]: one key is [[...]] (a batch of one), got [{mem.key_size}]")
        if vectors.dim() != 2 or vectors.shape[-1] != mem.key_size:
            raise BankError(f"{what} must be a list of strings or [N, {mem.key_size}], got {list(vectors.shape)}")
        return vectors.to("cpu", torch.float32), [None] * vectors.shape[0]  # values: AppendableMemory checks them

    # --- the operations ---------------------------------------------------------------------------
    def create(self, name: str, network: str | None = None) -> dict:
        """A new, empty memory written by ``network`` (default: the bank's)."""
        self.create_many([name], network)
        return self.info(name)

    def create_many(self, names: list[str], network: str | None = None) -> None:
        """Several new, empty memories in one transaction (all or none)."""
        names = [memory_name(n) for n in names]
        if len(set(names)) != len(names):
            raise BankError(f"duplicate names: {shown(next(n for n in names if names.count(n) > 1))}")
        spec = network or self.network
        if spec is None:
            raise BankError("which network writes this memory? pass network= (to the bank or to create)")
        mem = self._memory_network(spec)
        stored = self._stored_spec(spec)
        state, shape = _state_bytes(mem, mem.empty())
        now = time.time()
        try:
            with self._transaction(write=True) as c:
                network_id = self._network_id(c, stored, mem.identity)
                c.execute(_MEMORIES.insert(), [
                    dict(name=n, network_id=network_id, state=state, shape=shape, writes=0, created=now, updated=now, key_form=KEY_FORM)
                    for n in names
                ])
        except _Duplicate:
            taken = sorted(set(names) & set(self.names()))
            raise BankError(f"{self.where} already holds a memory named {shown(taken[0]) if taken else '(one of these)'}") from None

    def append(self, name: str, keys: Any, values: Any) -> int:
        """Write pairs (keys: strings or [N, K]; values [N]) into memory ``name`` and log them, in
        one transaction. Returns the memory's number of writes after it; warns (CapacityWarning)
        when that is more than the network holds."""
        return self.append_many({name: (keys, values)})[name]

    def append_many(self, pairs: dict[str, tuple[Any, Any]]) -> dict[str, int]:
        """Several memories' appends in one transaction (all or none), run through each network
        as one batch where their pair counts agree. -> writes per memory."""
        done: dict[str, int] = {}
        if not pairs:
            return done
        now = time.time()
        pairs = {memory_name(n): p for n, p in pairs.items()}
        over = []
        with self._transaction(write=True) as c:
            rows = self._rows(c, pairs, lock=True)
            prepared = {}
            for name, (keys, values) in pairs.items():
                mem = self._memory_network(rows[name].network, rows[name].identity)
                vectors, texts = self._keys(mem, rows[name].key_form, keys, f"keys of {shown(name)}")
                values = as_tensor(values, f"values of {shown(name)}")
                if values.dim() != 1 or values.shape[0] != vectors.shape[0]:
                    raise BankError(f"memory {shown(name)}: {vectors.shape[0]} keys need {vectors.shape[0]} values, got {list(values.shape)}")
                prepared[name] = (vectors, values, texts)
            updates, log = [], []
            for (spec, identity), names in _batches(rows, {n: prepared[n][0].shape for n in prepared}):
                mem = self._memory_network(spec, identity)
                states = torch.stack([_state_of(rows[n], mem) for n in names]).to(mem.device)
                keys = torch.stack([prepared[n][0] for n in names])
                values = torch.stack([prepared[n][1] for n in names])
                try:
                    new = mem.write(states, keys, values)
                except MemoryInputError as e:
                    raise BankError(f"memory {shown(names[0]) if len(names) == 1 else 'batch'}: {e}; nothing was written") from None
                value_rows = values.to("cpu", torch.int32).numpy()
                capacity = mem.capacity
                for i, name in enumerate(names):
                    state, shape = _state_bytes(mem, new[i])
                    first = rows[name].writes
                    done[name] = first + keys.shape[1]
                    updates.append({"n": name, "s": state, "h": shape, "w": done[name]})
                    texts = prepared[name][2]
                    if keys.shape[1]:
                        log.append({"memory": name, "seq": first, "keys": keys[i].numpy().tobytes(), "values": value_rows[i].tobytes(),
                                    "texts": json.dumps(texts) if any(t is not None for t in texts) else None, "time": now})
                    if capacity.pairs is not None and first <= capacity.pairs < done[name]:
                        over.append(f"memory {shown(name)} now holds {done[name]} pairs, more than {mem.name} holds "
                                    f"({capacity.pairs}): {capacity.beyond}")
            c.execute(
                _MEMORIES.update().where(_MEMORIES.c.name == sa.bindparam("n"))
                .values(state=sa.bindparam("s"), shape=sa.bindparam("h"), writes=sa.bindparam("w"), updated=now),
                updates,
            )
            if log:
                c.execute(_LOG.insert(), log)
        for message in over:
            warnings.warn(CapacityWarning(message), stacklevel=3)
        return done

    def recall_many(self, queries: dict[str, Any]) -> dict[str, Recalled]:
        """Several memories' recalls, batched per network: name -> :class:`Recalled`."""
        queries = {memory_name(n): q for n, q in queries.items()}
        with self._transaction() as c:
            rows = self._rows(c, queries)
            vectors = {n: self._keys(self._memory_network(rows[n].network, rows[n].identity), rows[n].key_form, q, "queries")[0]
                       for n, q in queries.items()}
            logged = {n: self._logged(c, n, vectors[n].shape[-1]).keys for n in queries}
        out = {}
        for (spec, identity), names in _batches(rows, {n: vectors[n].shape for n in queries}):
            mem = self._memory_network(spec, identity)
            states = torch.stack([_state_of(rows[n], mem) for n in names])
            values, probs = mem.recall(states, torch.stack([vectors[n] for n in names]))
            out.update({n: Recalled(values[i], probs[i], mem.known(vectors[n], logged[n])) for i, n in enumerate(names)})
        return out

    def network_of(self, name: str) -> AppendableMemory:
        """The network that writes memory ``name`` (for its key_for, key_size, classes)."""
        with self._transaction() as c:
            row = self._row(c, name)
        return self._memory_network(row.network, row.identity)

    def recall(self, name: str, queries: Any) -> Recalled:
        """The value of each query (strings, or keys [Q, K]) in memory ``name``: :class:`Recalled`
        (values, probabilities, known). Writes nothing."""
        return self.recall_many({name: queries})[memory_name(name)]

    def key_vectors(self, name: str, texts: list[str]) -> Tensor:
        """The keys [N, K] memory ``name`` gives these strings (in its recorded key form)."""
        with self._transaction() as c:
            row = self._row(c, name)
        return self._keys(self._memory_network(row.network, row.identity), row.key_form, list(texts), "keys")[0]

    def state(self, name: str) -> Tensor:
        """Memory ``name``'s current state (for AppendableMemory.recall or save_state)."""
        with self._transaction() as c:
            row = self._row(c, name)
        return _state_of(row, self._memory_network(row.network, row.identity))

    def pairs(self, name: str) -> tuple[Tensor, Tensor]:
        """The logged pairs of memory ``name`` in the order written: (keys [N, K], values [N])."""
        with self._transaction() as c:
            row = self._row(c, name)
            logged = self._logged(c, row.name, self._memory_network(row.network, row.identity).key_size)
        return logged.keys, logged.values

    def _logged(self, c, name: str, key_size: int) -> _Pairs:
        rows = c.execute(sa.select(_LOG.c["keys"], _LOG.c["values"], _LOG.c.texts, _LOG.c.time)
                         .where(_LOG.c.memory == name).order_by(_LOG.c.seq)).all()
        keys = np.frombuffer(b"".join(r[0] for r in rows), dtype="<f4").reshape(-1, key_size)
        values = np.frombuffer(b"".join(r[1] for r in rows), dtype="<i4").astype(np.int64)
        texts, times, groups = [], [], []
        for r in rows:
            n = len(r[1]) // 4
            texts += json.loads(r.texts) if r.texts else [None] * n
            times += [r.time] * n
            groups.append(n)
        return _Pairs(torch.from_numpy(keys.copy()), torch.from_numpy(values), texts, times, groups)

    def info(self, name: str) -> dict:
        """network, its identity, capacity (what it holds; api.Capacity), writes, key form,
        created and updated (Unix times), size (bytes of the state and of the logged pairs)."""
        with self._transaction() as c:
            row = self._row(c, name)
            logged = c.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.length(_LOG.c["keys"]) + sa.func.length(_LOG.c["values"])), 0))
                               .where(_LOG.c.memory == row.name)).one()
        capacity = self._memory_network(row.network, row.identity).capacity
        return {
            "name": row.name, "network": row.network, "identity": row.identity, "writes": row.writes,
            "capacity": capacity.pairs, "capacity_accuracy": capacity.accuracy, "beyond_capacity": capacity.beyond,
            "key_form": row.key_form, "created": row.created, "updated": row.updated, "state_bytes": len(row.state),
            "log_bytes": int(logged[1]) + 8 * int(logged[0]),  # keys and values, and a number per append
        }

    def names(self) -> list[str]:
        with self._transaction() as c:
            return [r.name for r in c.execute(sa.select(_MEMORIES.c.name).order_by(_MEMORIES.c.name))]

    def delete(self, name: str) -> None:
        with self._transaction(write=True) as c:
            row = self._row(c, name, lock=True)
            c.execute(_LOG.delete().where(_LOG.c.memory == row.name))
            c.execute(_MEMORIES.delete().where(_MEMORIES.c.name == row.name))

    def _replace_log(self, c, name: str, pairs: _Pairs) -> None:
        """The memory's log becomes ``pairs``: one row per append."""
        c.execute(_LOG.delete().where(_LOG.c.memory == name))
        rows = []
        for first, last in pairs.spans():
            texts = pairs.texts[first:last]
            rows.append({"memory": name, "seq": first, "keys": pairs.keys[first:last].numpy().astype("<f4").tobytes(),
                         "values": pairs.values[first:last].numpy().astype("<i4").tobytes(),
                         "texts": json.dumps(texts) if any(t is not None for t in texts) else None, "time": pairs.times[first]})
        if rows:
            c.execute(_LOG.insert(), rows)

    @staticmethod
    def _replayed(mem: AppendableMemory, pairs: _Pairs) -> Tensor:
        """The state of an empty memory after ``pairs``, in order: what the log says it holds."""
        state = mem.empty()
        for first, last in pairs.spans():  # each append as it was made: the same floats
            state = mem.write(state, pairs.keys[first:last], pairs.values[first:last])
        return state

    def forget(self, name: str, keys: Any) -> dict:
        """Remove every logged pair with one of ``keys`` (strings or [N, K]) from memory ``name``
        and rebuild its state from the rest of the log, in one transaction. The pairs are deleted,
        not marked: a forgotten fact must not stay readable in the file. A key that was never
        written is an error, and nothing changes. -> info."""
        with self._transaction(write=True) as c:
            row = self._row(c, name, lock=True)
            mem = self._memory_network(row.network, row.identity)
            vectors, texts = self._keys(mem, row.key_form, keys, "keys to forget")
            logged = self._logged(c, row.name, mem.key_size)
            found = mem.known(vectors, logged.keys)
            if not found.all():
                i = int((~found).nonzero()[0])
                what = shown(texts[i]) if texts[i] is not None else f"key {i}"
                raise BankError(f"{what} is not in memory {shown(row.name)}; nothing was forgotten")
            gone = mem.known(logged.keys, vectors)
            kept = logged.keep(~gone)
            self._replace_log(c, row.name, kept)
            data, shape = _state_bytes(mem, self._replayed(mem, kept))
            c.execute(_MEMORIES.update().where(_MEMORIES.c.name == row.name).values(
                state=data, shape=shape, writes=len(kept), updated=time.time()))
        return self.info(name)

    def rebuild(self, name: str, network: str) -> dict:
        """Replay memory ``name``'s logged pairs, in order, through ``network`` from its empty
        memory: how a better network is adopted later. Writes and log are kept; string keys are
        hashed again for the new network's key size."""
        mem = self._memory_network(network)
        stored = self._stored_spec(network)
        with self._transaction(write=True) as c:
            row = self._row(c, name, lock=True)
            old = self._memory_network(row.network, row.identity)
            logged = self._logged(c, row.name, old.key_size)
            if len(logged) != row.writes:
                raise BankError(f"memory {shown(row.name)} records {row.writes} writes but its log holds {len(logged)} pairs; it cannot be rebuilt")
            if mem.key_size != old.key_size:
                if any(t is None for t in logged.texts):
                    raise BankError(f"{network!r} takes keys of {mem.key_size} floats and memory {shown(row.name)} holds key vectors of {old.key_size}")
                logged.keys = torch.stack([mem.key_for(t, form=row.key_form).cpu() for t in logged.texts]) if len(logged) else torch.empty(0, mem.key_size)
                self._replace_log(c, row.name, logged)
            data, shape = _state_bytes(mem, self._replayed(mem, logged))
            c.execute(_MEMORIES.update().where(_MEMORIES.c.name == row.name).values(
                network_id=self._network_id(c, stored, mem.identity), state=data, shape=shape, updated=time.time()
            ))
        return self.info(name)

    # --- export and import ------------------------------------------------------------------------
    def export_lines(self, name: str) -> list[str]:
        """Memory ``name`` as JSON lines: a header (format, version, the network's name and
        identity, the key form), then each pair in order: its string key (or key vector), value,
        time, and the number of the append it came in (a replay writes each append at once)."""
        with self._transaction() as c:
            row = self._row(c, name)
            mem = self._memory_network(row.network, row.identity)
            logged = self._logged(c, row.name, mem.key_size)
        header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "name": row.name, "network": row.network,
                  "identity": row.identity, "key_form": row.key_form, "key_size": mem.key_size, "classes": mem.classes,
                  "pairs": len(logged), "created": row.created}
        lines = [json.dumps(header, ensure_ascii=False)]
        append = [g for g, n in enumerate(logged.groups) for _ in range(n)]
        for key, value, text, when, group in zip(logged.keys, logged.values.tolist(), logged.texts, logged.times, append):
            pair = {"key": text} if text is not None else {"key_vector": [float(x) for x in key]}
            lines.append(json.dumps({**pair, "value": value, "time": when, "append": group}, ensure_ascii=False))
        return lines

    def export(self, name: str, path: str | Path) -> Path:
        """:meth:`export_lines` written to ``path`` atomically, private (0600)."""
        path = Path(path).expanduser()
        atomic_write_bytes(path, ("\n".join(self.export_lines(name)) + "\n").encode("utf-8"), private=True)
        return path

    def import_lines(self, lines: list[str], *, name: str | None = None, network: str | None = None,
                     replace: bool = False, source: str = "the file") -> dict:
        """A memory rebuilt from exported JSON lines: the pairs replayed, in order, through the
        header's network (or ``network``), under the header's name (or ``name``). An existing
        name is refused unless ``replace``. A damaged or foreign file changes nothing."""
        header, pairs = _read_export(lines, source)
        name = memory_name(name or header["name"])
        spec = network or header["network"]
        mem = self._memory_network(spec)
        if network is None and mem.identity != header["identity"]:
            raise BankError(f"{source} was written by network {header['network']!r} ({header['identity'][:12]}), which is now "
                            f"{mem.identity[:12]}; pass a network to rebuild it through")
        key_form = header["key_form"]
        keys = []
        for i, (text, vector) in enumerate(pairs["keys"]):
            if text is not None:
                keys.append(mem.key_for(text, form=key_form).cpu())
            elif len(vector) != mem.key_size:
                raise BankError(f"{source}: pair {i + 1} has a key of {len(vector)} floats; {spec!r} takes {mem.key_size}")
            else:
                keys.append(torch.tensor(vector, dtype=torch.float32))
        groups = [pairs["appends"].count(g) for g in dict.fromkeys(pairs["appends"])]
        logged = _Pairs(torch.stack(keys) if keys else torch.empty(0, mem.key_size), torch.tensor(pairs["values"], dtype=torch.int64),
                        [t for t, _ in pairs["keys"]], pairs["times"], groups)
        if len(logged) and (logged.values.min() < 0 or logged.values.max() >= mem.classes):
            raise BankError(f"{source}: values must lie in 0..{mem.classes - 1} for {spec!r}")
        state, shape = _state_bytes(mem, self._replayed(mem, logged))
        stored = self._stored_spec(spec)
        now = time.time()
        with self._transaction(write=True) as c:
            exists = c.execute(sa.select(_MEMORIES.c.name).where(_MEMORIES.c.name == name)).scalar() is not None
            if exists and not replace:
                raise BankError(f"{self.where} already holds a memory named {shown(name)} (replace it with --replace)")
            if exists:
                c.execute(_LOG.delete().where(_LOG.c.memory == name))
                c.execute(_MEMORIES.delete().where(_MEMORIES.c.name == name))
            c.execute(_MEMORIES.insert().values(
                name=name, network_id=self._network_id(c, stored, mem.identity), state=state, shape=shape, writes=len(logged),
                created=header.get("created") or now, updated=now, key_form=key_form))
            self._replace_log(c, name, logged)
        return self.info(name)

    def import_file(self, path: str | Path, **kwargs) -> dict:
        """:meth:`import_lines` of a file written by :meth:`export`."""
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BankError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        return self.import_lines(text.splitlines(), source=str(path), **kwargs)

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" for a sound file); "ok" on other databases."""
        if not self.sqlite:
            return "ok"
        with self.engine.connect() as c:
            return "; ".join(r[0] for r in c.exec_driver_sql("PRAGMA integrity_check"))

    def close(self) -> None:
        self.engine.dispose()


def _read_export(lines: list[str], source: str) -> tuple[dict, dict]:
    """Check an export's lines: (header, {"keys": [(text, vector)], "values", "times", "appends"}: one per pair)."""
    lines = [line for line in lines if line.strip()]
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise BankError(f"{source} is not an exported memory (no {EXPORT_FORMAT} header on its first line)")
    if header.get("version") != EXPORT_VERSION:
        raise BankError(f"{source} is an export of version {header.get('version')!r}; this library reads version {EXPORT_VERSION}")
    for field, kind in (("name", str), ("network", str), ("identity", str), ("pairs", int)):
        if not isinstance(header.get(field), kind):
            raise BankError(f"{source}: the header's {field!r} is missing or not a {kind.__name__}")
    if header.get("key_form") not in (None, KEY_FORM):
        raise BankError(f"{source}: unknown key form {header.get('key_form')!r}")
    out = {"keys": [], "values": [], "times": [], "appends": []}
    for number, line in enumerate(lines[1:], start=2):
        try:
            pair = json.loads(line)
        except json.JSONDecodeError as e:
            raise BankError(f"{source}, line {number}: not JSON ({e.msg}); nothing was imported") from None
        text, vector, value = pair.get("key") if isinstance(pair, dict) else None, None, None
        if isinstance(pair, dict):
            vector, value = pair.get("key_vector"), pair.get("value")
        ok_vector = isinstance(vector, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
        if not ((isinstance(text, str) and vector is None) or (text is None and ok_vector)):
            raise BankError(f"{source}, line {number}: a pair needs a string \"key\" or a list of numbers \"key_vector\"; nothing was imported")
        if not isinstance(value, int) or isinstance(value, bool):
            raise BankError(f"{source}, line {number}: \"value\" must be an integer; nothing was imported")
        when, append = pair.get("time"), pair.get("append", 0)
        if not isinstance(append, int) or isinstance(append, bool) or append < (out["appends"][-1] if out["appends"] else 0):
            raise BankError(f"{source}, line {number}: \"append\" must be a whole number, not below the previous line's; nothing was imported")
        out["appends"].append(append)
        out["keys"].append((text, vector))
        out["values"].append(value)
        out["times"].append(float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else None)
    if len(out["values"]) != header["pairs"]:
        raise BankError(f"{source} holds {len(out['values'])} pairs but its header says {header['pairs']}: truncated or damaged; nothing was imported")
    return header, out


def _batches(rows: dict, shapes: dict[str, tuple]):
    """Memories that can run through their network as one batch: same network, state shape and
    key shape. -> ((network, identity), names) pairs."""
    groups: dict[tuple, list[str]] = {}
    for name, shape in shapes.items():
        row = rows[name]
        state_shape = (row.shape, len(row.state))  # equal for states of one shape, in either format
        groups.setdefault((row.network, row.identity, state_shape, tuple(shape)), []).append(name)
    return [(key[:2], names) for key, names in groups.items()]


class _Duplicate(BankError):
    """A unique constraint refused an insert: a name already taken (by another process meanwhile)."""

    def __init__(self):
        super().__init__("a memory of that name was made meanwhile; nothing was changed")


class _Transaction:
    def __init__(self, bank: MemoryBank, *, immediate: bool):
        self.bank, self.immediate = bank, immediate

    def __enter__(self):
        try:
            self.connection = self.bank.engine.connect()
            if self.immediate:
                self.connection.info["immediate"] = True
            self.transaction = self.connection.begin()
        except sa.exc.SQLAlchemyError as e:
            self._close()
            raise _bank_error(self.bank, e) from None
        return self.connection

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        except sa.exc.SQLAlchemyError as e:
            if kind is None:
                raise _bank_error(self.bank, e) from None
        finally:
            self._close()
        if isinstance(value, sa.exc.IntegrityError):
            raise _Duplicate() from None
        if isinstance(value, sa.exc.SQLAlchemyError):
            raise _bank_error(self.bank, value) from None
        return False

    def _close(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            try:
                connection.close()
            except sa.exc.SQLAlchemyError:
                pass


def _bank_error(bank: MemoryBank, error: Exception) -> BankError:
    reason = _reason(error)
    if "readonly" in reason.replace(" ", "").lower() or "read-only" in reason.lower():
        return BankError(f"{bank.where} is read-only (file or folder permissions): {reason}; nothing was changed")
    return BankError(f"the bank {bank.where} failed: {reason}; nothing was changed")


def _reason(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return _hidden(text[0] if text else type(error).__name__)[:300]


__all__ = ["BankError", "CapacityWarning", "MemoryBank", "MemoryInputError", "Recalled", "default_bank", "memory_name", "shown"]
