import json

import numpy as np
import pytest

from continuum.errors import ProtocolError
from continuum.server.codec import DTYPES, Message, decode_message, encode_message, request_id
from continuum.server.protocol import Limits


def _frames(message: Message) -> list[bytes]:
    return [bytes(f) for f in encode_message(message)]


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_every_dtype_round_trips(dtype):
    array = (np.arange(24) % 100).astype(DTYPES[dtype]).reshape(2, 3, 4)
    back = decode_message(_frames(Message("echo", {"id": 1}, [array])))
    assert back.header["blobs"] == [{"dtype": dtype, "shape": [2, 3, 4]}]
    np.testing.assert_array_equal(back.blobs[0], array)
    assert back.blobs[0].dtype == DTYPES[dtype]


def test_big_endian_arrays_are_sent_little_endian():
    array = np.array([1.5, -2.0], dtype=">f4")
    frames = _frames(Message("echo", {"id": 1}, [array]))
    assert frames[2] == np.array([1.5, -2.0], dtype="<f4").tobytes()


def test_non_contiguous_blob_is_made_contiguous():
    array = np.arange(12, dtype="<f4").reshape(3, 4)[:, ::2]
    back = decode_message(_frames(Message("echo", {"id": 1}, [array])))
    np.testing.assert_array_equal(back.blobs[0], array)


def test_header_is_compact_and_sorted():
    frames = _frames(Message("ping", {"z": 1, "a": "é/x", "id": 2}))
    assert frames[1] == '{"a":"é/x","id":2,"z":1}'.encode()


def test_unsendable_dtype_is_refused():
    with pytest.raises(ProtocolError, match="not sendable") as info:
        encode_message(Message("echo", {}, [np.array([1 + 2j])]))
    assert info.value.code == "bad_blob"


@pytest.mark.parametrize(
    ("frames", "code", "words"),
    [
        ([b"ping"], "bad_message", "at least 2 frames"),
        ([b"Ping", b"{}"], "bad_message", "kind"),
        ([b"", b"{}"], "bad_message", "kind"),
        ([b"a" * 33, b"{}"], "bad_message", "kind"),
        ([b"ping", b"{not json"], "bad_message", "not valid JSON"),
        ([b"ping", b"\xff\xfe"], "bad_message", "not UTF-8"),
        ([b"ping", b"[1,2]"], "bad_message", "JSON object"),
        ([b"ping", b'{"x": NaN}'], "bad_message", "NaN"),
        ([b"ping", b"{}", b"x"], "bad_blob", "describes 0 blobs but 1"),
        ([b"ping", b'{"blobs": 3}'], "bad_blob", "list"),
        ([b"ping", b'{"blobs":[{"dtype":"f128","shape":[1]}]}', b"x"], "bad_blob", "dtype"),
        ([b"ping", b'{"blobs":[{"dtype":"u8","shape":[-1]}]}', b"x"], "bad_blob", "shape"),
        ([b"ping", b'{"blobs":[{"dtype":"u8","shape":[1.5]}]}', b"x"], "bad_blob", "shape"),
        (
            [b"ping", b'{"blobs":[{"dtype":"u8","shape":[1,1,1,1,1,1,1,1,1]}]}', b"x"],
            "bad_blob",
            "8",
        ),
        ([b"ping", b'{"blobs":[{"dtype":"f32","shape":[3]}]}', b"\0" * 8], "bad_blob", "needs 12"),
        ([b"ping", b'{"blobs":[{"dtype":"u8","shape":[4294967296]}]}', b"x"], "bad_blob", "shape"),
        (
            [b"ping", b'{"blobs":[{"dtype":"f64","shape":[100000,100000]}]}', b"x"],
            "bad_blob",
            "needs",
        ),
    ],
)
def test_malformed_messages_name_the_problem(frames, code, words):
    with pytest.raises(ProtocolError, match=words) as info:
        decode_message(frames)
    assert info.value.code == code


def test_limits_are_checked_before_decoding():
    limits = Limits(max_header_bytes=16, max_blobs=2, max_message_bytes=100)
    with pytest.raises(ProtocolError, match="header of 20 bytes") as info:
        decode_message([b"ping", b'{"a":"' + b"x" * 12 + b'"}'], limits)
    assert info.value.code == "too_large"
    with pytest.raises(ProtocolError, match="3 blob frames") as info:
        decode_message([b"ping", b"{}", b"", b"", b""], limits)
    assert info.value.code == "too_large"
    with pytest.raises(ProtocolError, match="exceeds 100") as info:
        decode_message([b"ping", b"{}", b"x" * 99], limits)
    assert info.value.code == "too_large"


def test_blobs_are_zero_copy_views():
    frame = bytearray(np.arange(4, dtype="<f4").tobytes())
    header = json.dumps({"blobs": [{"dtype": "f32", "shape": [4]}]}).encode()
    blob = decode_message([b"echo", header, memoryview(frame)]).blobs[0]
    frame[0:4] = np.float32(7).tobytes()
    assert blob[0] == 7


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b'{"id": 5, "x": {', None),
        (b'{"id": 5}', 5),
        (b'{"id": -1}', None),
        (b'{"id": true}', None),
    ],
)
def test_request_id_is_best_effort(header, expected):
    assert request_id([b"ping", header]) == expected
