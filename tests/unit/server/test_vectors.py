"""Every golden vector decodes to its expectation and re-encodes octet for octet."""

import json
import subprocess
import sys

import numpy as np
import pytest

from continuum.errors import ProtocolError
from continuum.server import zmtp
from continuum.server.codec import DTYPES, Message, decode_message, encode_message
from tests.conftest import REPO

VECTORS = REPO / "bridge" / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text())["vectors"]


def test_vector_files_match_the_reference():
    done = subprocess.run(
        [sys.executable, str(VECTORS / "make_vectors.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("vector", INDEX, ids=[v["name"] for v in INDEX])
def test_vector(vector):
    data = (VECTORS / vector["file"]).read_bytes()
    if "greeting" in vector:
        major, minor = zmtp.parse_greeting(data)
        assert (major, minor) == (vector["greeting"]["major"], vector["greeting"]["minor"])
        assert zmtp.greeting() == data
    elif "error" in vector:
        with pytest.raises(ProtocolError) as info:
            _decode_layer(vector["layer"], data)
        assert info.value.code == vector["error"]
    elif "frames" in vector:
        frames = zmtp.FrameDecoder().feed(data)
        assert [{"flags": f.flags, "body_hex": f.body.hex()} for f in frames] == vector["frames"]
        encoded = b"".join(
            zmtp.encode_frame(f.body, more=f.more, command=f.command) for f in frames
        )
        assert encoded == data
    else:
        expect = vector["message"]
        frames = zmtp.FrameDecoder().feed(data)
        message = decode_message([f.body for f in frames])
        assert message.kind == expect["kind"]
        assert message.header == expect["header"]
        assert [b.tobytes().hex() for b in message.blobs] == expect["blobs_hex"]
        blobs = [
            np.frombuffer(bytes.fromhex(h), DTYPES[d["dtype"]]).reshape(d["shape"])
            for h, d in zip(expect["blobs_hex"], expect["header"].get("blobs", []), strict=True)
        ]
        again = encode_message(Message(expect["kind"], expect["header"], blobs))
        assert zmtp.encode_multipart(bytes(f) for f in again) == data


def _decode_layer(layer: str, data: bytes) -> None:
    if layer == "greeting":
        zmtp.parse_greeting(data)
        return
    frames = zmtp.FrameDecoder().feed(data)
    if layer == "message":
        decode_message([f.body for f in frames])
