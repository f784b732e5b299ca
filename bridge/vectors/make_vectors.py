"""Write the golden vectors of PROTOCOL.md section 9 from the Python reference codec.

python bridge/vectors/make_vectors.py          # check the files match (exit 1 if not)
python bridge/vectors/make_vectors.py --write  # rewrite them (a protocol change only)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from continuum.server import zmtp
from continuum.server.codec import Message, encode_message
from continuum.server.protocol import PROTOCOL_VERSION

HERE = Path(__file__).resolve().parent


def _frames(data: bytes) -> list[dict]:
    return [{"flags": f.flags, "body_hex": f.body.hex()} for f in zmtp.FrameDecoder().feed(data)]


def _message(name: str, about: str, message: Message) -> tuple[str, str, bytes, dict]:
    frames = encode_message(message)
    header = json.loads(bytes(frames[1]))
    expect = {
        "kind": message.kind,
        "header": header,
        "blobs_hex": [bytes(f).hex() for f in frames[2:]],
    }
    return name, about, zmtp.encode_multipart(bytes(f) for f in frames), {"message": expect}


def vectors() -> list[tuple[str, str, bytes, dict]]:
    """(name, description, octets, expectation) for every vector."""
    greeting = zmtp.greeting()
    out = [
        (
            "greeting_null",
            "64-octet ZMTP 3.1 greeting, NULL mechanism, as-server 0",
            greeting,
            {"greeting": {"major": 3, "minor": 1, "mechanism": "NULL", "as_server": False}},
        ),
        (
            "greeting_bad_signature",
            "a greeting whose last signature octet is not 7F (an HTTP client, say)",
            b"GET / HTTP/1.1\r\nHost: x\r\n" + greeting[26:],
            {"error": "bad_message", "layer": "greeting"},
        ),
    ]
    commands = [
        ("ready_dealer", "READY with Socket-Type DEALER", zmtp.ready("DEALER")),
        ("ready_sub", "READY with Socket-Type SUB", zmtp.ready("SUB")),
        (
            "ready_router",
            "READY with Socket-Type ROUTER and an empty Identity, as libzmq 4.3 sends it",
            zmtp.ready("ROUTER", Identity=b""),
        ),
        ("ready_pub", "READY with Socket-Type PUB", zmtp.ready("PUB")),
        ("subscribe_tick", "SUBSCRIBE to the topic 'tick'", zmtp.subscribe(b"tick")),
        ("subscribe_all", "SUBSCRIBE to the empty topic (everything)", zmtp.subscribe(b"")),
        ("ping", "PING with TTL 30 (3 s) and context 'ab'", zmtp.ping(30, b"ab")),
        ("pong", "PONG with context 'ab'", zmtp.encode_command("PONG", b"ab")),
    ]
    out += [(n, d, b, {"frames": _frames(b)}) for n, d, b in commands]
    frames = [
        (
            "frame_short_more",
            "short frame 'hello' with MORE",
            zmtp.encode_frame(b"hello", more=True),
        ),
        ("frame_empty", "empty short frame, last", zmtp.encode_frame(b"")),
        ("frame_short_255", "the largest short frame (255 octets)", zmtp.encode_frame(bytes(255))),
        (
            "frame_long_256",
            "the smallest long frame (256 octets, octet i = i)",
            zmtp.encode_frame(bytes(range(256))),
        ),
        (
            "frame_long_70000_more",
            "long frame of 70,000 octets (i mod 251) with MORE",
            zmtp.encode_frame(bytes(i % 251 for i in range(70000)), more=True),
        ),
    ]
    out += [(n, d, b, {"frames": _frames(b)}) for n, d, b in frames]
    out += [
        (
            "frame_oversized_length",
            "long frame announcing 2^40 octets: rejected before allocating",
            b"\x02" + (1 << 40).to_bytes(8, "big") + b"\x00" * 16,
            {"error": "too_large", "layer": "frame"},
        ),
        (
            "frame_reserved_flags",
            "frame whose flags use reserved bit 3",
            b"\x08\x01x",
            {"error": "bad_message", "layer": "frame"},
        ),
    ]
    out += [
        _message(
            "msg_hello",
            "hello request from an engine",
            Message(
                "hello",
                {"id": 1, "protocol": "1.0", "client": "continuum-godot 0.1.0", "capabilities": []},
            ),
        ),
        _message(
            "msg_welcome",
            "welcome reply",
            Message(
                "welcome",
                {
                    "re": 1,
                    "protocol": "1.0",
                    "server": "continuum 0.1.0",
                    "session": "9f2c4e1a",
                    "capabilities": ["echo", "fill", "hello", "ping", "subscribe", "world.get"],
                    "pub_port": 5571,
                    "tick_hz": 30.5,
                },
            ),
        ),
        _message("msg_ping", "ping request", Message("ping", {"id": 2})),
        _message(
            "msg_tick",
            "tick on the state stream",
            Message("tick", {"seq": 41, "t": 12.5, "hz": 60}),
        ),
        _message(
            "msg_error",
            "error answering request 7",
            Message(
                "error", {"re": 7, "code": "unknown_kind", "message": "no kind 'warp'; known: ping"}
            ),
        ),
        _message(
            "msg_echo_blobs",
            "echo with an f32 [2,3] blob, an i32 [4] blob and an empty u8 blob",
            Message(
                "echo",
                {"id": 3, "note": "blobs"},
                [
                    np.arange(6, dtype="<f4").reshape(2, 3) / 4,
                    np.array([-1, 0, 1, 2**31 - 1], dtype="<i4"),
                    np.zeros(0, dtype="u1"),
                ],
            ),
        ),
        _message(
            "msg_fill_long",
            "fill reply with a 1000-octet u8 blob (a long frame)",
            Message("fill", {"re": 4}, [(np.arange(1000) % 251).astype("u1")]),
        ),
    ]
    # A 40-octet asset in 16-octet chunks: chunk 2 is its last, octets 32..39.
    asset = bytes(i % 251 for i in range(40))
    asset_hash = hashlib.sha256(asset).hexdigest()
    out += [
        _message(
            "msg_asset_get",
            "asset.get request for chunks 0 and 2 of a 40-octet asset, credit 4",
            Message("asset.get", {"id": 8, "hash": asset_hash, "credit": 4, "chunks": [0, 2]}),
        ),
        _message(
            "msg_asset_chunk",
            "asset.chunk push (no re): chunk 2 of that asset in 16-octet chunks, the last",
            Message(
                "asset.chunk",
                {
                    "transfer": 1,
                    "hash": asset_hash,
                    "index": 2,
                    "offset": 32,
                    "sha256": hashlib.sha256(asset[32:]).hexdigest(),
                    "last": True,
                },
                [np.frombuffer(asset[32:], dtype="u1")],
            ),
        ),
    ]
    # Protocol 1.2: physics. Two bodies; the second turned 90 degrees about +Y (glTF axes).
    out += [
        _message(
            "msg_poses",
            "poses on the state stream: layout 3, two bodies, one f32 [2, 7] blob "
            "(x, y, z, qx, qy, qz, qw per body)",
            Message(
                "poses",
                {"seq": 41, "t": 12.5, "sim_time": 4.25, "step": 2125, "layout": 3},
                [
                    np.array(
                        [
                            [0.0, 0.5, -1.25, 0.0, 0.0, 0.0, 1.0],
                            [1.5, 0.25, 0.0, 0.0, 0.70710677, 0.0, 0.70710677],
                        ],
                        dtype="<f4",
                    )
                ],
            ),
        ),
        _message(
            "msg_physics_control",
            "physics.control request: teleport entity 'ball' to (0, 2.5, -1), at rest",
            Message(
                "physics.control",
                {
                    "id": 9,
                    "op": "teleport",
                    "entity": "ball",
                    "position": [0, 2.5, -1],
                    "rotation": [0, 0, 0, 1],
                },
            ),
        ),
    ]
    bad_blob = zmtp.encode_multipart(
        [b"echo", b'{"blobs":[{"dtype":"f32","shape":[3]}],"id":5}', b"\x00" * 8]
    )
    out.append(
        (
            "msg_bad_blob_length",
            "echo whose f32[3] descriptor needs 12 octets but the frame has 8",
            bad_blob,
            {"error": "bad_blob", "layer": "message"},
        )
    )
    return out


def main() -> int:
    write = "--write" in sys.argv[1:]
    index, stale = [], []
    for name, about, data, expect in vectors():
        path = HERE / f"{name}.bin"
        index.append({"name": name, "file": path.name, "about": about, **expect})
        if write:
            path.write_bytes(data)
        elif not path.exists() or path.read_bytes() != data:
            stale.append(path.name)
    text = json.dumps({"protocol": PROTOCOL_VERSION, "vectors": index}, indent=1) + "\n"
    if write:
        (HERE / "index.json").write_text(text)
    elif (HERE / "index.json").read_text() != text:
        stale.append("index.json")
    if stale:
        print("stale vectors (rerun with --write after a protocol change):", *stale)
        return 1
    print(f"{len(index)} vectors {'written' if write else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
