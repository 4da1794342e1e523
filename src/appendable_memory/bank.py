"""Many named memories that persist: an SQLite file by default, any SQLAlchemy database beyond one machine.

    bank = MemoryBank("facts.sqlite", network="kv-best")     # or "postgresql+psycopg://user@host/db"
    bank.create("alice")
    bank.append("alice", keys, values)                       # one transaction; the pairs are logged too
    values, probs = bank.recall("alice", queries)
    bank.info("alice")    # network, writes, created, updated, size
    bank.rebuild("alice", "kv-n8")                           # replay the log through another network

Tables: ``amem_bank`` (format and version), ``amem_networks`` (each network used: its name or
path and its identity, a hash of its weights), ``amem_memories`` (one row per memory: its network,
the state as float32 bytes with its shape, the number of pairs written, times) and ``amem_pairs``
(the log: every append's pairs, numbered per memory in the order written). An SQLite bank uses 16 KiB pages (a state of
1,280 bytes fills a 4 KiB page only twice) and ``synchronous = NORMAL``, WAL's usual setting: a
killed process never loses a committed append; a power cut may lose the last few, never the
file's consistency.

Appends never lose a write under concurrency. Each append is one transaction that takes the
write lock first, then reads the state, runs the Memorizer and stores the new state and the
pairs: on SQLite a ``BEGIN IMMEDIATE`` transaction (the database's single write lock is taken at
the start, so two appends cannot both read the old state; a plain ``BEGIN`` would take it only at
the first write and let one of them fail or overwrite the other) in WAL mode (readers go on while
one process writes, and a crash leaves the last committed state); on PostgreSQL the memory's row
is read with ``SELECT ... FOR UPDATE``, which makes a second append on the same memory wait.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import torch
from torch import Tensor

from .api import AppendableMemory, MemoryInputError, _array
from .checkpoint import CheckpointError

FORMAT = "appendable-memory-bank"
VERSION = 1
BUSY_TIMEOUT_S = 60  # how long an SQLite append waits for another process's transaction


class BankError(ValueError):
    """A bank that cannot be used as asked: missing memory, foreign file, another network."""


def default_bank() -> Path:
    """``$AMEM_BANK``, else ``$XDG_DATA_HOME/appendable-memory/bank.sqlite``
    (``~/.local/share/appendable-memory/bank.sqlite``)."""
    if os.environ.get("AMEM_BANK"):
        return Path(os.environ["AMEM_BANK"])
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "appendable-memory" / "bank.sqlite"


_META = sa.MetaData()
_BANK = sa.Table("amem_bank", _META, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
_NETWORKS = sa.Table(  # kept apart so that each memory's row stays small (bytes on disk per memory)
    "amem_networks", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("network", sa.Text, nullable=False),  # a shipped name or a checkpoint path
    sa.Column("identity", sa.String(64), nullable=False),  # api.network_identity
    sa.UniqueConstraint("network", "identity"),
)
_MEMORIES = sa.Table(
    "amem_memories", _META,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("network_id", sa.Integer, sa.ForeignKey("amem_networks.id"), nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),  # float32 bytes
    sa.Column("shape", sa.String(64), nullable=False),  # JSON list
    sa.Column("writes", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
_LOG = sa.Table(  # one row per append of a memory: its pairs, in the order written
    "amem_log", _META,
    sa.Column("memory", sa.String(255), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),  # the number of the append's first pair: 0, N1, N1 + N2, ...
    sa.Column("keys", sa.LargeBinary, nullable=False),  # float32 [N, K]
    sa.Column("values", sa.LargeBinary, nullable=False),  # int32 [N]
)


def _engine(url_or_path: str | Path) -> sa.Engine:
    text = str(url_or_path)
    if "://" in text:
        return sa.create_engine(text)
    path = Path(text)
    if path.is_dir():
        raise BankError(f"{path} is a directory, not a bank file")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against killed processes

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.pop("immediate", False) else "BEGIN")

    return engine


def _state_bytes(state: Tensor) -> tuple[bytes, str]:
    array = state.detach().to("cpu", torch.float32).contiguous().numpy()
    return array.tobytes(), json.dumps(list(array.shape))


def _state_of(row) -> Tensor:
    return torch.from_numpy(np.frombuffer(row.state, dtype="<f4").reshape(json.loads(row.shape)).copy())


class MemoryBank:
    """Named memories in one database (see the module docstring). ``network``: the network new
    memories use (a shipped name or a checkpoint directory); each memory records its own."""

    def __init__(self, url_or_path: str | Path, network: str | None = None, *, device: str = "cpu"):
        self.where, self.network, self.device = str(url_or_path), network, device
        self.engine = _engine(url_or_path)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._networks: dict[str, AppendableMemory] = {}
        self._open()

    def _open(self) -> None:
        try:
            with self.engine.connect() as c:
                tables = set(sa.inspect(c).get_table_names())
            if tables and _BANK.name not in tables:
                raise BankError(f"{self.where} is a database of something else (no {_BANK.name} table); it is left as it is")
            if self.sqlite:  # ours or new: WAL, a setting the file keeps (set outside any transaction)
                with self.engine.connect() as c:
                    if not tables:
                        c.connection.driver_connection.execute("PRAGMA page_size = 16384")  # before the first table
                    c.connection.driver_connection.execute("PRAGMA journal_mode = WAL")
            if not tables:
                with self._transaction(write=True) as c:
                    if not sa.inspect(c).has_table(_BANK.name):  # another process may have made it meanwhile
                        _META.create_all(c)
                        c.execute(_BANK.insert(), [{"key": "format", "value": FORMAT}, {"key": "version", "value": str(VERSION)}])
            with self.engine.connect() as c:
                meta = dict(c.execute(sa.select(_BANK.c.key, _BANK.c.value)).all())
        except sa.exc.DatabaseError as e:
            raise BankError(f"{self.where} is not a memory bank ({_reason(e)}); it is left as it is") from None
        if meta.get("format") != FORMAT:
            raise BankError(f"{self.where} is not a memory bank (its format is {meta.get('format')!r}); it is left as it is")
        if int(meta.get("version", 0)) > VERSION:
            raise BankError(f"{self.where} is a bank of version {meta['version']}; this library reads up to {VERSION}")

    def _transaction(self, *, write: bool = False):
        """A connection in one transaction; ``write``: take the write lock first (BEGIN IMMEDIATE on SQLite)."""
        return _Transaction(self.engine, immediate=write and self.sqlite)

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

    def _network_id(self, c, network: str, identity: str) -> int:
        """The id of (network, identity) in amem_networks, added where new."""
        find = sa.select(_NETWORKS.c.id).where(_NETWORKS.c.network == network, _NETWORKS.c.identity == identity)
        found = c.execute(find).scalar()
        if found is None:
            found = c.execute(_NETWORKS.insert().values(network=network, identity=identity)).inserted_primary_key[0]
        return found

    def _row(self, c, name: str, *, lock: bool = False):
        return self._rows(c, [name], lock=lock)[name]

    # --- the operations ---------------------------------------------------------------------------
    def create(self, name: str, network: str | None = None) -> dict:
        """A new, empty memory written by ``network`` (default: the bank's)."""
        self.create_many([name], network)
        return self.info(name)

    def create_many(self, names: list[str], network: str | None = None) -> None:
        """Several new, empty memories in one transaction (all or none)."""
        for name in names:
            if not isinstance(name, str) or not name or len(name) > 255:
                raise BankError(f"a memory's name is a string of 1 to 255 characters, got {name!r}")
        spec = network or self.network
        if spec is None:
            raise BankError("which network writes this memory? pass network= (to the bank or to create)")
        mem = self._memory_network(spec)
        state, shape = _state_bytes(mem.empty())
        now = time.time()
        try:
            with self._transaction(write=True) as c:
                network_id = self._network_id(c, spec, mem.identity)
                c.execute(_MEMORIES.insert(), [
                    dict(name=n, network_id=network_id, state=state, shape=shape, writes=0, created=now, updated=now) for n in names
                ])
        except sa.exc.IntegrityError:
            taken = sorted(set(names) & set(self.names())) or sorted({n for n in names if names.count(n) > 1})
            raise BankError(f"{self.where} already holds a memory named {taken[0]!r}" if taken else f"duplicate names in {names!r}") from None

    def _rows(self, c, names, *, lock: bool = False) -> dict:
        """The rows of memories ``names`` (locked for update where the database has row locks)."""
        rows = {}
        names = list(dict.fromkeys(names))
        for first in range(0, len(names), 500):  # bounded IN lists
            query = (sa.select(_MEMORIES, _NETWORKS.c.network, _NETWORKS.c.identity).join(_NETWORKS)
                     .where(_MEMORIES.c.name.in_(names[first : first + 500])))
            rows.update((r.name, r) for r in c.execute(query.with_for_update(of=_MEMORIES) if lock and not self.sqlite else query))
        missing = [n for n in names if n not in rows]
        if missing:
            known = [r.name for r in c.execute(sa.select(_MEMORIES.c.name).order_by(_MEMORIES.c.name).limit(20))]
            raise BankError(f"no memory named {missing[0]!r} in {self.where} (memories: {', '.join(known) or 'none'})")
        return rows

    def append(self, name: str, keys: Any, values: Any) -> int:
        """Write pairs (keys [N, K], values [N]) into memory ``name`` and log them, in one
        transaction. Returns the memory's number of writes after it."""
        return self.append_many({name: (keys, values)})[name]

    def append_many(self, pairs: dict[str, tuple[Any, Any]]) -> dict[str, int]:
        """Several memories' appends in one transaction (all or none), run through each network
        as one batch where their pair counts agree. -> writes per memory."""
        done: dict[str, int] = {}
        if not pairs:
            return done
        now = time.time()
        with self._transaction(write=True) as c:
            rows = self._rows(c, pairs, lock=True)
            updates, log = [], []
            for (spec, identity), names in _batches(rows, {n: keys for n, (keys, _) in pairs.items()}):
                mem = self._memory_network(spec, identity)
                states = torch.stack([_state_of(rows[n]) for n in names]).to(mem.device)
                keys = torch.stack([_array(pairs[n][0], "keys") for n in names])
                values = torch.stack([_array(pairs[n][1], "values") for n in names])
                new = mem.write(states, keys, values)
                key_rows, value_rows = keys.to("cpu", torch.float32).numpy(), values.to("cpu", torch.int32).numpy()
                for i, name in enumerate(names):
                    state, shape = _state_bytes(new[i])
                    first = rows[name].writes
                    done[name] = first + keys.shape[1]
                    updates.append({"n": name, "s": state, "h": shape, "w": done[name]})
                    if keys.shape[1]:
                        log.append({"memory": name, "seq": first, "keys": key_rows[i].tobytes(), "values": value_rows[i].tobytes()})
            c.execute(
                _MEMORIES.update().where(_MEMORIES.c.name == sa.bindparam("n"))
                .values(state=sa.bindparam("s"), shape=sa.bindparam("h"), writes=sa.bindparam("w"), updated=now),
                updates,
            )
            if log:
                c.execute(_LOG.insert(), log)
        return done

    def recall_many(self, queries: dict[str, Any]) -> dict[str, tuple[Tensor, Tensor]]:
        """Several memories' recalls, batched per network: name -> (values [Q], probabilities [Q, C])."""
        with self._transaction() as c:
            rows = self._rows(c, queries)
        out = {}
        for (spec, identity), names in _batches(rows, queries):
            mem = self._memory_network(spec, identity)
            states = torch.stack([_state_of(rows[n]) for n in names])
            values, probs = mem.recall(states, torch.stack([_array(queries[n], "queries") for n in names]))
            out.update({n: (values[i], probs[i]) for i, n in enumerate(names)})
        return out

    def network_of(self, name: str) -> AppendableMemory:
        """The network that writes memory ``name`` (for its key_for, key_size, classes)."""
        with self._transaction() as c:
            row = self._row(c, name)
        return self._memory_network(row.network, row.identity)

    def recall(self, name: str, queries: Any) -> tuple[Tensor, Tensor]:
        """(values [Q], probabilities [Q, C]) for queries [Q, K] from memory ``name``; writes nothing."""
        with self._transaction() as c:
            row = self._row(c, name)
        return self._memory_network(row.network, row.identity).recall(_state_of(row), queries)

    def state(self, name: str) -> Tensor:
        """Memory ``name``'s current state (for AppendableMemory.recall or save_state)."""
        with self._transaction() as c:
            return _state_of(self._row(c, name))

    def pairs(self, name: str) -> tuple[Tensor, Tensor]:
        """The logged pairs of memory ``name`` in the order written: (keys [N, K], values [N])."""
        with self._transaction() as c:
            row = self._row(c, name)
            return self._logged(c, name, self._memory_network(row.network, row.identity).key_size)

    def _logged(self, c, name: str, key_size: int) -> tuple[Tensor, Tensor]:
        logged = c.execute(sa.select(_LOG.c["keys"], _LOG.c["values"]).where(_LOG.c.memory == name).order_by(_LOG.c.seq)).all()
        keys = np.frombuffer(b"".join(r[0] for r in logged), dtype="<f4").reshape(-1, key_size)
        values = np.frombuffer(b"".join(r[1] for r in logged), dtype="<i4").astype(np.int64)
        return torch.from_numpy(keys.copy()), torch.from_numpy(values)

    def info(self, name: str) -> dict:
        """network, its identity, writes, created and updated (Unix times), size (bytes of the
        state and of the logged pairs)."""
        with self._transaction() as c:
            row = self._row(c, name)
            logged = c.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.length(_LOG.c["keys"]) + sa.func.length(_LOG.c["values"])), 0))
                               .where(_LOG.c.memory == name)).one()
        return {
            "name": row.name, "network": row.network, "identity": row.identity, "writes": row.writes,
            "created": row.created, "updated": row.updated, "state_bytes": len(row.state),
            "log_bytes": int(logged[1]) + 8 * int(logged[0]),  # keys and values, and a number per append
        }

    def names(self) -> list[str]:
        with self._transaction() as c:
            return [r.name for r in c.execute(sa.select(_MEMORIES.c.name).order_by(_MEMORIES.c.name))]

    def delete(self, name: str) -> None:
        with self._transaction(write=True) as c:
            self._row(c, name, lock=True)
            c.execute(_LOG.delete().where(_LOG.c.memory == name))
            c.execute(_MEMORIES.delete().where(_MEMORIES.c.name == name))

    def rebuild(self, name: str, network: str) -> dict:
        """Replay memory ``name``'s logged pairs, in order, through ``network`` from its empty
        memory: how a better network is adopted later. Writes and log are kept."""
        mem = self._memory_network(network)
        with self._transaction(write=True) as c:
            row = self._row(c, name, lock=True)
            keys, values = self._logged(c, name, mem.key_size)
            if keys.shape[0] != row.writes:
                raise BankError(f"memory {name!r} records {row.writes} writes but its log holds {keys.shape[0]} pairs; it cannot be rebuilt")
            state = mem.empty()
            for first in range(0, keys.shape[0], 1024):  # bounded batches; order kept
                state = mem.write(state, keys[first : first + 1024], values[first : first + 1024])
            data, shape = _state_bytes(state)
            c.execute(_MEMORIES.update().where(_MEMORIES.c.name == name).values(
                network_id=self._network_id(c, network, mem.identity), state=data, shape=shape, updated=time.time()
            ))
        return self.info(name)

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" for a sound file); "ok" on other databases."""
        if not self.sqlite:
            return "ok"
        with self.engine.connect() as c:
            return "; ".join(r[0] for r in c.exec_driver_sql("PRAGMA integrity_check"))

    def close(self) -> None:
        self.engine.dispose()


def _batches(rows: dict, inputs: dict[str, Any]):
    """Memories that can run through their network as one batch: same network, state shape and
    input shape. -> ((network, identity), names) pairs."""
    groups: dict[tuple, list[str]] = {}
    for name, row in rows.items():
        groups.setdefault((row.network, row.identity, row.shape, tuple(_array(inputs[name], "input").shape)), []).append(name)
    return [(key[:2], names) for key, names in groups.items()]


class _Transaction:
    def __init__(self, engine: sa.Engine, *, immediate: bool):
        self.engine, self.immediate = engine, immediate

    def __enter__(self):
        self.connection = self.engine.connect()
        if self.immediate:
            self.connection.info["immediate"] = True
        self.transaction = self.connection.begin()
        return self.connection

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        finally:
            self.connection.close()


def _reason(error: Exception) -> str:
    return str(getattr(error, "orig", error)).splitlines()[0]


__all__ = ["BankError", "MemoryBank", "MemoryInputError", "default_bank"]
