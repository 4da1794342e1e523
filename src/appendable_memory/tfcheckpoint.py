"""Reading the author's TensorFlow checkpoints without TensorFlow.

A TensorFlow checkpoint ``PREFIX`` is a *tensor bundle*: ``PREFIX.index``, a LevelDB-format
sorted table mapping each tensor name to a serialised ``BundleEntryProto`` (the empty name maps
to the ``BundleHeaderProto``), and ``PREFIX.data-SSSSS-of-NNNNN`` shards holding the raw tensor
bytes. Layout of the table file:

    [data block][trailer] ... [metaindex block][trailer][index block][trailer][footer: 48 bytes]

    block    entries (shared, unshared, value_length varints; key suffix; value), then
             restart offsets (uint32 each) and their count (uint32)
    trailer  1 byte compression (0 = none) + 4 bytes masked CRC32C of block and that byte
    footer   metaindex handle, index handle (varint offset, size), padding to 40 bytes,
             magic 0xdb4775248b80fb57 (little-endian uint64)

Every CRC (table blocks and tensor bytes) is checked, every offset is bounds-checked, and
anything unexpected is a :class:`CheckpointError` naming the file, never a crash or a silently
wrong tensor.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import crc32c
import numpy as np

from .checkpoint import CheckpointError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
# TensorFlow DataType enum -> NumPy dtype, for the numeric types a checkpoint of ours may meet
DTYPES = {
    1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
    9: np.int64, 10: np.bool_, 19: np.float16, 17: np.uint16, 22: np.uint32, 23: np.uint64,
}
DT_STRING = 7


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


class _Reader:
    """Bounds-checked reading of varints and bytes from one buffer; errors name ``source``."""

    def __init__(self, data: bytes, source: str, start: int = 0, end: int | None = None):
        self.data, self.source, self.pos = data, source, start
        self.end = len(data) if end is None else end

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.source} is malformed: {what}")

    def varint(self) -> int:
        result, shift = 0, 0
        while True:
            if self.pos >= self.end or shift > 63:
                raise self.fail("truncated or overlong varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise self.fail("a length runs past the end of its block")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def done(self) -> bool:
        return self.pos >= self.end


def _fields(message: bytes, source: str) -> list[tuple[int, int | bytes]]:
    """Decode a protobuf message into (field number, value) pairs; varint, fixed and bytes wire types."""
    r, out = _Reader(message, source), []
    while not r.done():
        key = r.varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, r.varint()))
        elif wire == 1:
            out.append((number, struct.unpack("<Q", r.take(8))[0]))
        elif wire == 2:
            out.append((number, r.take(r.varint())))
        elif wire == 5:
            out.append((number, struct.unpack("<I", r.take(4))[0]))
        else:
            raise r.fail(f"unsupported protobuf wire type {wire}")
    return out


@dataclass(frozen=True)
class BundleEntry:
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None


def _entry(value: bytes, source: str, name: str) -> BundleEntry:
    dtype, shape, shard, offset, size, crc = 0, [], 0, 0, 0, None
    for number, v in _fields(value, source):
        if number == 1:
            dtype = v
        elif number == 2:  # TensorShapeProto: dim (2) {size (1)}, unknown_rank (3)
            for dim_number, dim in _fields(v, source):
                if dim_number == 2:
                    sizes = [s for n, s in _fields(dim, source) if n == 1]
                    shape.append(sizes[0] if sizes else 0)
                elif dim_number == 3 and dim:
                    raise CheckpointError(f"{source}: {name} has unknown rank")
        elif number == 3:
            shard = v
        elif number == 4:
            offset = v
        elif number == 5:
            size = v
        elif number == 6:
            crc = v
        elif number == 7:
            raise CheckpointError(f"{source}: {name} is a partitioned variable, which is not supported")
    return BundleEntry(dtype, tuple(shape), shard, offset, size, crc)


def _read_block(data: bytes, offset: int, size: int, source: str) -> bytes:
    if offset + size + 5 > len(data):
        raise CheckpointError(f"{source} is malformed: a block runs past the end of the file (truncated?)")
    block = data[offset : offset + size]
    kind = data[offset + size]
    (masked,) = struct.unpack("<I", data[offset + size + 1 : offset + size + 5])
    if crc32c.crc32c(block + bytes([kind])) != _unmask(masked):
        raise CheckpointError(f"{source} is corrupt: a block fails its CRC32C check")
    if kind != 0:
        raise CheckpointError(f"{source}: compressed table blocks (type {kind}) are not supported")
    return block


def _block_entries(block: bytes, source: str) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointError(f"{source} is malformed: block too short")
    (restarts,) = struct.unpack("<I", block[-4:])
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise CheckpointError(f"{source} is malformed: bad restart count")
    r, entries, key = _Reader(block, source, 0, end), [], b""
    while not r.done():
        shared, unshared, value_length = r.varint(), r.varint(), r.varint()
        if shared > len(key):
            raise r.fail("a key shares more bytes than the previous key has")
        key = key[:shared] + r.take(unshared)
        entries.append((key, r.take(value_length)))
    return entries


def _handle(r: _Reader) -> tuple[int, int]:
    return r.varint(), r.varint()


def read_index(path: Path) -> tuple[int, dict[str, BundleEntry]]:
    """Parse ``PREFIX.index`` -> (number of data shards, {tensor name: entry})."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    if len(data) < FOOTER_SIZE:
        raise CheckpointError(f"{source} is malformed: shorter than a table footer (truncated?)")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack("<Q", footer[40:])[0] != TABLE_MAGIC:
        raise CheckpointError(f"{source} is not a TensorFlow checkpoint index (bad magic; truncated?)")
    r = _Reader(footer, source, 0, 40)
    _handle(r)  # metaindex: unused by tensor bundles
    index_offset, index_size = _handle(r)
    entries: dict[str, BundleEntry] = {}
    num_shards = None
    for _, handle in _block_entries(_read_block(data, index_offset, index_size, source), source):
        offset, size = _handle(_Reader(handle, source))
        for key, value in _block_entries(_read_block(data, offset, size, source), source):
            if key == b"":
                header = dict(_fields(value, source))
                num_shards = header.get(1, 1)
                if header.get(2, 0) != 0:
                    raise CheckpointError(f"{source}: big-endian bundles are not supported")
            else:
                name = key.decode("utf-8", errors="replace")
                entries[name] = _entry(value, source, name)
    if num_shards is None:
        raise CheckpointError(f"{source} is malformed: no bundle header")
    return num_shards, entries


def read_bundle(prefix: str | Path) -> dict[str, np.ndarray]:
    """All numeric tensors of the bundle at ``prefix`` (e.g. ``DIR/model-1``), CRC-checked."""
    prefix = Path(prefix)
    index = prefix.with_name(prefix.name + ".index")
    if not index.is_file():
        raise CheckpointError(f"no TensorFlow checkpoint index at {index}")
    num_shards, entries = read_index(index)
    shards: dict[int, bytes] = {}
    tensors = {}
    for name, e in entries.items():
        if e.dtype == DT_STRING:
            continue  # the object graph and other bookkeeping, not weights
        if e.dtype not in DTYPES:
            raise CheckpointError(f"{index}: {name} has unsupported dtype {e.dtype}")
        if not 0 <= e.shard < num_shards:
            raise CheckpointError(f"{index}: {name} names shard {e.shard} of {num_shards}")
        if e.shard not in shards:
            shard_path = prefix.with_name(f"{prefix.name}.data-{e.shard:05d}-of-{num_shards:05d}")
            try:
                shards[e.shard] = shard_path.read_bytes()
            except OSError as err:
                raise CheckpointError(f"cannot read data shard {shard_path}: {err}") from None
        data = shards[e.shard]
        dtype = np.dtype(DTYPES[e.dtype]).newbyteorder("<")
        expected = int(np.prod(e.shape, dtype=np.int64)) * dtype.itemsize
        if e.size != expected:
            raise CheckpointError(f"{index}: {name} claims {e.size} bytes for shape {list(e.shape)}, expected {expected}")
        if e.offset + e.size > len(data):
            raise CheckpointError(f"data shard {e.shard} of {prefix} is truncated: {name} runs past its end")
        raw = data[e.offset : e.offset + e.size]
        if e.crc is not None and crc32c.crc32c(raw) != _unmask(e.crc):
            raise CheckpointError(f"{prefix}: {name} fails its CRC32C check (corrupt data shard)")
        tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(e.shape).astype(dtype.newbyteorder("="))
    return tensors


def _checkpoint_prefix(directory: Path) -> Path:
    """The bundle prefix a TensorFlow ``checkpoint`` file names, else ``model-1``."""
    state = directory / "checkpoint"
    if state.is_file():
        for line in state.read_text(errors="replace").splitlines():
            if line.startswith("model_checkpoint_path:"):
                name = line.split(":", 1)[1].strip().strip('"')
                if name and "/" not in name and ".." not in name:
                    return directory / name
    return directory / "model-1"


def _layer_arrays(tensors: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """``model/w3/kernel/.ATTRIBUTES/VARIABLE_VALUE`` -> ``w3_kernel``; optimizer slots are skipped."""
    arrays = {}
    for name, value in tensors.items():
        parts = name.split("/")
        if len(parts) == 5 and parts[0] == "model" and parts[2] in ("kernel", "bias") and parts[3:] == [".ATTRIBUTES", "VARIABLE_VALUE"]:
            arrays[f"{parts[1]}_{parts[2]}"] = value
    if not arrays:
        raise CheckpointError(f"{source} holds no model/<layer>/kernel variables")
    return arrays


def read_author_checkpoint(directory: str | Path) -> dict[str, np.ndarray]:
    """An author's checkpoint directory (``E/``, ``D/``, ``middle.npy``) -> Keras-layout arrays
    ``w{i}_kernel``, ``w{i}_bias`` and ``memory``, as in ``shared/paper/weights/*.npz``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    arrays: dict[str, np.ndarray] = {}
    for part in ("E", "D"):
        if not (directory / part).is_dir():
            raise CheckpointError(f"{directory} lacks {part}/ (the author's {'Memorizer' if part == 'E' else 'Recaller'})")
        layers = _layer_arrays(read_bundle(_checkpoint_prefix(directory / part)), str(directory / part))
        clash = set(arrays) & set(layers)
        if clash:
            raise CheckpointError(f"{directory}: {', '.join(sorted(clash))} found in both E/ and D/")
        arrays.update(layers)
    middle = directory / "middle.npy"
    try:
        arrays["memory"] = np.load(middle, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"cannot read {middle}: {e}") from None
    return arrays
