import pytest

from continuum.errors import ProtocolError
from continuum.server import zmtp


def test_greeting_layout():
    g = zmtp.greeting()
    assert len(g) == 64 and g[0] == 0xFF and g[9] == 0x7F and g[10:12] == b"\x03\x01"
    assert g[12:16] == b"NULL" and set(g[16:]) == {0}
    assert zmtp.parse_greeting(g) == (3, 1)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda g: g[:63], "64 octets"),
        (lambda g: b"\x00" + g[1:], "signature"),
        (lambda g: g[:10] + b"\x02" + g[11:], "major version 3"),
        (lambda g: g[:12] + b"PLAIN".ljust(20, b"\0") + g[32:], "mechanism NULL"),
    ],
)
def test_bad_greetings(mutate, words):
    with pytest.raises(ProtocolError, match=words):
        zmtp.parse_greeting(mutate(zmtp.greeting()))


@pytest.mark.parametrize("size", [0, 1, 255, 256, 70000])
def test_frames_round_trip_byte_by_byte(size):
    body = bytes(i % 251 for i in range(size))
    wire = zmtp.encode_frame(body, more=True) + zmtp.encode_frame(b"end")
    assert wire[0] == (zmtp.MORE | (zmtp.LONG if size > 255 else 0))
    decoder, frames = zmtp.FrameDecoder(), []
    for i in range(len(wire)):
        frames += decoder.feed(wire[i : i + 1])
    assert frames == [zmtp.Frame(zmtp.MORE, body), zmtp.Frame(0, b"end")]


def test_short_size_in_long_form_is_accepted():
    wire = b"\x02" + (3).to_bytes(8, "big") + b"abc"
    assert zmtp.FrameDecoder().feed(wire) == [zmtp.Frame(0, b"abc")]


def test_oversized_frame_is_refused_before_its_body_arrives():
    decoder = zmtp.FrameDecoder(max_frame_bytes=1000)
    with pytest.raises(ProtocolError, match="1001 octets") as info:
        decoder.feed(b"\x02" + (1001).to_bytes(8, "big"))
    assert info.value.code == "too_large"


def test_reserved_flags_are_refused():
    with pytest.raises(ProtocolError, match="reserved"):
        zmtp.FrameDecoder().feed(b"\x10\x00")


def test_ready_properties_round_trip():
    frame = zmtp.FrameDecoder().feed(zmtp.ready("DEALER", Identity=b""))[0]
    assert frame.command
    name, data = zmtp.split_command(frame.body)
    assert name == "READY"
    assert zmtp.parse_properties(data) == {"Socket-Type": b"DEALER", "Identity": b""}


@pytest.mark.parametrize(
    "data", [b"\x0bSocket-Type\x00\x00", b"\x0bSocket-Type\x00\x00\x00\x09ROUTER"]
)
def test_truncated_properties_are_refused(data):
    with pytest.raises(ProtocolError, match="runs past"):
        zmtp.parse_properties(data)


def test_multipart_sets_more_on_all_but_last():
    frames = zmtp.FrameDecoder().feed(zmtp.encode_multipart([b"a", b"b", b"c"]))
    assert [f.more for f in frames] == [True, True, False]
