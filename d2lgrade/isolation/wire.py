"""The wire format between the grading process and the submission's child process.

A message is one JSON header plus raw byte blobs (tensor and array storage). Values are
encoded as JSON with tagged objects (``{"$tensor": ...}``, ``{"$tuple": ...}``, ...).

Direction matters:
* parent -> child (trusted sender): anything the codec cannot express as data may be
  pickled (``$pickle``), e.g. a ``torch.nn.Module`` a grader passes as an input;
* child -> parent (untrusted sender): data only. The decoder never unpickles; objects that
  are not data stay in the child and travel as references (``$ref``) that the parent turns
  into remote handles.

Frames on a pipe: 8-byte big-endian header length, 8-byte body length, header, then the
body: the blobs, each padded to ``ALIGN`` bytes. Tensors travel without copies where
they can: a blob is a view of the tensor being sent, and a large tensor received is a view
of the body it was read into.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import struct
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch

#: Largest frame the parent accepts from the child (a returned tensor of 1 GiB is an attack,
#: not an answer).
MAX_FRAME_BYTES = 512 * 1024 * 1024

_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64,
    torch.complex128, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
    torch.bool)}


_JSON_SCALARS = {int, float, str, bool, type(None)}


def _plain_list(value: list, nested: bool = True) -> bool:
    """A list JSON can carry as it is: exact ints, strings, bools, None, finite floats, or
    (``nested``) a list of such lists (sentences of token ids)."""
    types = set(map(type, value))
    if types == {list} and nested:
        return all(_plain_list(v, False) for v in value)
    if not types <= _JSON_SCALARS:
        return False
    return float not in types or all(map(math.isfinite, (v for v in value if type(v) is float)))


class WireError(Exception):
    """A message that does not follow the format (from a broken or hostile child)."""


def follow_path(roots: dict, path: Any) -> Any:
    """The value at ``path`` (a list of keys and indexes) inside a call's arguments ``roots``
    (``{"args": [...], "kwargs": {...}}``); both sides use it for references to arguments."""
    if not isinstance(path, list) or not path:
        raise WireError(f"bad argument path {path!r:.100}")
    node: Any = roots
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            raise WireError(f"bad argument path {path!r:.100}") from None
    return node


class Encoder:
    """Turns a value into (JSON-able tree, blobs).

    ``make_ref(obj)`` is called for objects that are not data; it returns the JSON for a
    reference or raises. ``alias_of(tensor)`` may return a JSON alias for a tensor that is
    (a view of) a call argument, so that identity and memory sharing survive the trip.
    """

    def __init__(self, make_ref: Callable[[Any], dict] | None = None,
                 alias_of: Callable[[torch.Tensor], dict | None] | None = None,
                 allow_pickle: bool = False):
        self.blobs: list[bytes] = []
        self.make_ref = make_ref
        self.alias_of = alias_of
        self.allow_pickle = allow_pickle

    def _blob(self, data: bytes) -> int:
        self.blobs.append(data)
        return len(self.blobs) - 1

    def tensor(self, t: torch.Tensor) -> dict:
        if self.alias_of is not None:
            alias = self.alias_of(t)
            if alias is not None:
                return alias
        d = t.detach()
        if d.is_sparse or d.layout != torch.strided:
            d = d.to_dense()
        cpu = d.cpu().contiguous()
        # a view of the tensor's bytes (no copy; pack writes it before anything can change it)
        raw = memoryview(cpu.reshape(-1).view(torch.uint8).numpy()) if cpu.numel() else b""
        out = {"$tensor": self._blob(raw), "dtype": str(cpu.dtype).removeprefix("torch."),
               "shape": list(cpu.shape), "requires_grad": bool(t.requires_grad),
               "device": str(t.device)}
        if isinstance(t, torch.nn.Parameter):
            out["parameter"] = True
        if t.is_leaf and t.grad is not None:
            out["grad"] = self.tensor(t.grad)
        return out

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value if type(value) is int else int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(float(value))}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, torch.Size):
            return {"$size": list(value)}
        if isinstance(value, torch.dtype):
            return {"$dtype": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"$device": str(value)}
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            arr = np.ascontiguousarray(value)
            return {"$ndarray": self._blob(arr.tobytes()), "dtype": arr.dtype.str,
                    "shape": list(arr.shape)}
        if isinstance(value, np.generic) and value.dtype.kind in "biufc":
            return self.encode(value.item())
        if isinstance(value, list):
            if _plain_list(value):  # token ids, counts, words: no walk in Python
                return value        # pack serialises it before anything can change it
            return [self.encode(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return {"$tuple": [self.encode(v) for v in value]}
        if type(value) in (dict, OrderedDict):
            tag = "$dict" if type(value) is dict else "$odict"
            return {tag: [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if self.allow_pickle:
            return {"$pickle": self._blob(pickle.dumps(value))}
        if self.make_ref is not None:
            return self.make_ref(value)
        raise TypeError(f"cannot send a {type(value).__qualname__} over the wire")


class Decoder:
    """Turns (JSON tree, blobs) back into values.

    ``resolve_ref(json)`` handles ``$ref`` and ``$arg``/``$alias`` tags. Pickle is accepted
    only when ``allow_pickle`` is set, which the parent never does.
    """

    def __init__(self, blobs: list[bytes], resolve_ref: Callable[[dict], Any] | None = None,
                 allow_pickle: bool = False, pickled_blob: int | None = None):
        self.blobs = blobs
        self.resolve_ref = resolve_ref
        self.allow_pickle = allow_pickle
        self._pickled_blob = pickled_blob
        self._pickled: list | None = None

    def _blob(self, index: Any) -> bytes:
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise WireError(f"bad blob index {index!r}")
        return self.blobs[index]

    def tensor(self, node: dict) -> torch.Tensor:
        dtype = _DTYPES.get(node.get("dtype"))
        shape = node.get("shape")
        if dtype is None or not isinstance(shape, list) or not all(
                isinstance(s, int) and s >= 0 for s in shape):
            raise WireError(f"bad tensor header {node!r:.200}")
        raw = self._blob(node["$tensor"])
        numel = math.prod(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(raw) != numel * itemsize:
            raise WireError("tensor byte count does not match its shape")
        if numel:
            writable = isinstance(raw, memoryview) and not raw.readonly and len(raw) >= COPY_BELOW
            t = torch.frombuffer(raw if writable else bytearray(raw), dtype=torch.uint8)
            t = t.view(dtype).reshape(shape)
        else:
            t = torch.empty(shape, dtype=dtype)
        device = node.get("device", "cpu")
        if isinstance(device, str) and device.startswith("cuda") and torch.cuda.is_available():
            t = t.to(device)
        if node.get("parameter"):
            t = torch.nn.Parameter(t, requires_grad=bool(node.get("requires_grad")))
        elif node.get("requires_grad") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        if "grad" in node:
            t.grad = self.tensor(node["grad"])
        return t

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            if _plain_list(node):  # json.loads made it: ours to return as it is
                return node
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise WireError(f"unexpected node {node!r:.200}")
        if "$tensor" in node:
            return self.tensor(node)
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$dict" in node:
            return {self.decode(k): self.decode(v) for k, v in node["$dict"]}
        if "$odict" in node:
            return OrderedDict((self.decode(k), self.decode(v)) for k, v in node["$odict"])
        if "$float" in node:
            if node["$float"] not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(node["$float"])
        if "$size" in node:
            return torch.Size(int(s) for s in node["$size"])
        if "$dtype" in node:
            if node["$dtype"] not in _DTYPES:
                raise WireError("bad dtype")
            return _DTYPES[node["$dtype"]]
        if "$device" in node:
            return torch.device(str(node["$device"]))
        if "$ndarray" in node:
            dt = np.dtype(str(node["dtype"]))
            if dt.kind not in "biufc":
                raise WireError("bad ndarray dtype")
            arr = np.frombuffer(self._blob(node["$ndarray"]), dtype=dt)
            return arr.reshape([int(s) for s in node["shape"]]).copy()
        if "$pickle" in node or "$pickled" in node:
            if not self.allow_pickle:
                raise WireError("pickled data from the submission is refused")
            if "$pickle" in node:
                return pickle.loads(self._blob(node["$pickle"]))
            if self._pickled is None:
                # All of a message's pickled objects share one pickle, so objects that
                # refer to each other (a net and its optimizer) still do in the child.
                self._pickled = pickle.loads(self._blob(self._pickled_blob))
            return self._pickled[int(node["$pickled"])]
        if self.resolve_ref is not None and ("$ref" in node or "$arg" in node or "$alias" in node):
            return self.resolve_ref(node)
        raise WireError(f"unknown tag in {list(node)[:3]}")


#: Each blob starts at a multiple of this inside a frame's body, so a tensor decoded in place
#: (a view of the body, no copy) is aligned for every dtype.
ALIGN = 64
#: Smaller tensors are copied out of the body, so that keeping one does not keep a whole
#: frame alive.
COPY_BELOW = 1 << 16


def _nbytes(blob: Any) -> int:
    return blob.nbytes if isinstance(blob, memoryview) else len(blob)


def _padded(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def pack(header: dict, blobs: list) -> list:
    """One frame as a list of buffers (write them in order, e.g. ``os.writev``): the header
    lengths and JSON header (with the blob sizes), then the blobs, each padded to ``ALIGN``.
    Blobs may be views of live tensors: nothing is copied here."""
    sizes = [_nbytes(b) for b in blobs]
    header = dict(header, blob_sizes=sizes)
    head = json.dumps(header, allow_nan=False).encode()
    parts: list = [None]
    for blob, size in zip(blobs, sizes):
        if size:
            parts.append(blob)
        if _padded(size) > size:
            parts.append(bytes(_padded(size) - size))
    body_len = sum(_padded(s) for s in sizes)
    parts[0] = struct.pack(">QQ", len(head), body_len) + head
    return parts


def unpack_lengths(prefix: bytes) -> tuple[int, int]:
    head_len, body_len = struct.unpack(">QQ", prefix)
    if head_len + body_len > MAX_FRAME_BYTES:
        raise WireError(f"message of {head_len + body_len} bytes is over the "
                        f"{MAX_FRAME_BYTES} byte limit")
    return head_len, body_len


def unpack_body(head: bytes, body: bytes | bytearray) -> tuple[dict, list]:
    """The header and the blobs (views of ``body``: a writable body lets tensors be decoded
    in place)."""
    try:
        header = json.loads(bytes(head).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"unreadable header: {exc}") from None
    sizes = header.get("blob_sizes") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or any(not isinstance(s, int) or s < 0 for s in sizes) \
            or sum(_padded(s) for s in sizes) != len(body):
        raise WireError("blob sizes do not match the body")
    view, blobs, pos = memoryview(body), [], 0
    for s in sizes:
        blobs.append(view[pos:pos + s])
        pos += _padded(s)
    return header, blobs


def split(frame: Any) -> tuple[bytes, bytearray]:
    """(JSON header, writable body) of a whole frame (bytes, or the parts ``pack`` gives)."""
    if isinstance(frame, list):
        frame = b"".join(frame)
    head_len, body_len = unpack_lengths(frame[:16])
    return bytes(frame[16:16 + head_len]), bytearray(frame[16 + head_len:16 + head_len + body_len])


def unpack(frame: Any) -> tuple[dict, list]:
    return unpack_body(*split(frame))


def write_frame(fd: int, parts: list) -> None:
    """Write ``pack``'s parts to ``fd`` (blocking), resuming after partial writes."""
    views = [memoryview(p).cast("B") for p in parts if _nbytes(p)]
    i = 0
    while i < len(views):
        written = os.writev(fd, views[i:i + 512])
        while written:
            n = views[i].nbytes
            if written >= n:
                written -= n
                i += 1
            else:
                views[i] = views[i][written:]
                written = 0
