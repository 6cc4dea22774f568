"""The wire format: round trips, and a decoder that refuses what a hostile child might send."""
import math
import pickle

import numpy as np
import pytest
import torch

from d2lgrade.isolation import wire


def roundtrip(value, **enc_kwargs):
    enc = wire.Encoder(**enc_kwargs)
    frame = wire.pack({"ok": enc.encode(value)}, enc.blobs)
    header, blobs = wire.unpack(frame)
    return wire.Decoder(blobs).decode(header["ok"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                   torch.int64, torch.uint8, torch.bool])
def test_tensor_roundtrip_keeps_dtype_shape_and_bits(dtype):
    t = (torch.randn(3, 4) * 10).to(dtype)
    out = roundtrip(t)
    assert out.dtype == dtype and out.shape == t.shape and torch.equal(out, t)


def test_nested_values_roundtrip():
    value = {"a": [1, 2.5, float("inf"), None, True], ("k", 1): (torch.zeros(0, 3), "s"),
             "size": torch.Size([2, 3]), "dtype": torch.float16, "arr": np.arange(6).reshape(2, 3)}
    out = roundtrip(value)
    assert out["a"][:2] == [1, 2.5] and math.isinf(out["a"][2]) and out["a"][3:] == [None, True]
    assert out[("k", 1)][0].shape == (0, 3) and out[("k", 1)][1] == "s"
    assert out["size"] == torch.Size([2, 3]) and out["dtype"] is torch.float16
    assert np.array_equal(out["arr"], np.arange(6).reshape(2, 3))


def test_ordered_dicts_keep_their_type():
    from collections import OrderedDict
    out = roundtrip(OrderedDict([("b", 1), ("a", 2)]))
    assert type(out) is OrderedDict and list(out) == ["b", "a"]


def test_parameter_requires_grad_and_grad_travel():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    out = roundtrip(p)
    assert isinstance(out, torch.nn.Parameter) and out.requires_grad
    assert torch.equal(out.grad, p.grad)


def test_unknown_objects_need_a_reference():
    with pytest.raises(TypeError):
        roundtrip(object())
    enc = wire.Encoder(make_ref=lambda o: {"$ref": 7})
    assert enc.encode([object()]) == [{"$ref": 7}]


def test_decoder_refuses_pickle_from_the_child():
    blob = pickle.dumps({"x": 1})
    frame = wire.pack({"ok": {"$pickle": 0}}, [blob])
    header, blobs = wire.unpack(frame)
    with pytest.raises(wire.WireError, match="refused"):
        wire.Decoder(blobs).decode(header["ok"])


@pytest.mark.parametrize("node", [
    {"$tensor": 5, "dtype": "float32", "shape": [1]},            # no such blob
    {"$tensor": 0, "dtype": "object", "shape": [1]},             # unknown dtype
    {"$tensor": 0, "dtype": "float32", "shape": [1000]},         # bytes do not match shape
    {"$float": "__import__('os')"},
    {"$unknown": 1},
])
def test_decoder_rejects_malformed_nodes(node):
    frame = wire.pack({"ok": node}, [b"1234"])
    header, blobs = wire.unpack(frame)
    with pytest.raises(wire.WireError):
        wire.Decoder(blobs).decode(header["ok"])


def test_oversized_frames_are_refused():
    import struct
    with pytest.raises(wire.WireError, match="limit"):
        wire.unpack_lengths(struct.pack(">QQ", 10, wire.MAX_FRAME_BYTES))
