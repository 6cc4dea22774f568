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


def test_plain_lists_take_the_fast_path_and_others_do_not():
    sentences = [[1, 2, 3], [4, 5]] * 50
    assert roundtrip(sentences) == sentences
    assert roundtrip(["a", 1, 2.5, None, True]) == ["a", 1, 2.5, None, True]
    # a non-finite float or a tensor inside a list still gets its tagged form
    out = roundtrip([[1.0, float("nan")], [torch.ones(2)]])
    assert math.isnan(out[0][1]) and torch.equal(out[1][0], torch.ones(2))
    assert roundtrip([(1, 2), [3]]) == [(1, 2), [3]]


def test_decoder_fast_path_still_sees_tags_in_lists():
    frame = wire.pack({"ok": [[1, 2], [{"$float": "inf"}]]}, [])
    header, blobs = wire.unpack(frame)
    assert wire.Decoder(blobs).decode(header["ok"]) == [[1, 2], [math.inf]]
    with pytest.raises(wire.WireError):
        wire.Decoder(blobs).decode([[1], [{"$nope": 1}]])


def test_blobs_are_aligned_and_large_tensors_decode_in_place():
    big = torch.randn(300, 300, dtype=torch.float64)         # over COPY_BELOW
    enc = wire.Encoder()
    tree = enc.encode([torch.ones(3, dtype=torch.uint8), big, torch.arange(5)])
    head, body = wire.split(wire.pack({"ok": tree}, enc.blobs))
    header, blobs = wire.unpack_body(head, body)
    out = wire.Decoder(blobs).decode(header["ok"])
    assert torch.equal(out[1], big) and torch.equal(out[2], torch.arange(5))
    start = np.frombuffer(body, dtype=np.uint8).ctypes.data
    ptr = out[1].data_ptr()
    assert start <= ptr < start + len(body), "a large tensor is a view of the frame's body"
    assert ptr % 16 == 0 and (ptr - start) % wire.ALIGN == 0
    small = out[2].data_ptr()
    assert not start <= small < start + len(body), "a small tensor owns its memory"
    out[1].add_(1)  # writable, and the sender's tensor is not touched
    assert torch.equal(out[1], big + 1)


def test_write_frame_writes_every_part_through_a_pipe():
    import os
    import threading
    enc = wire.Encoder()
    value = [torch.randn(500, 500), list(range(1000)), torch.zeros(0)]
    parts = wire.pack({"ok": enc.encode(value)}, enc.blobs)
    r, w = os.pipe()
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 1 << 16), b"")))
    reader.start()
    wire.write_frame(w, parts)
    os.close(w)
    reader.join()
    os.close(r)
    header, blobs = wire.unpack(b"".join(chunks))
    out = wire.Decoder(blobs).decode(header["ok"])
    assert torch.equal(out[0], value[0]) and out[1] == value[1] and out[2].shape == (0,)
