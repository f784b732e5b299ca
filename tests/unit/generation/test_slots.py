"""Slot requests: JSON params (and an input image) checked into typed requests."""

import numpy as np
import pytest

from continuum.errors import GenerationError
from continuum.generation import (
    ImageEdit,
    ImageToVideo,
    Motion,
    TextToImage,
    parse_request,
    takes_image,
)

IMAGE = np.zeros((16, 24, 3), np.uint8)


def test_defaults_and_values_are_read():
    r = parse_request("text_to_image", {"prompt": "a cat", "width": 64, "seed": 3})
    assert r == TextToImage(prompt="a cat", width=64, height=512, steps=20, seed=3)
    r = parse_request("image_edit", {"instruction": "invert", "image_guidance": 2}, IMAGE)
    assert isinstance(r, ImageEdit) and r.image_guidance == 2.0 and r.image.shape == (16, 24, 3)
    r = parse_request("image_to_video", {"frames": 3}, IMAGE)
    assert isinstance(r, ImageToVideo) and (r.frames, r.fps) == (3, 7)
    r = parse_request("motion", {"params": {"vy": 2, "gravity": 9.8}, "frames": 5})
    assert r == Motion(params={"vy": 2.0, "gravity": 9.8}, frames=5)
    r = parse_request("motion", {"scenario": "throw", "params": {"vx": 4}, "target": [2, 0, 1]})
    assert r.scenario == "throw" and r.params["vx"] == 4.0 and r.params["gravity"] == 9.81
    assert r.target == (2.0, 0.0, 1.0) and r.origin == (0.0, 0.0, 0.0)
    assert takes_image("image_edit") and takes_image("image_to_video")
    assert not takes_image("text_to_image") and not takes_image("motion")


@pytest.mark.parametrize(
    ("slot", "params", "image", "words"),
    [
        ("nope", {}, None, "unknown slot 'nope'"),
        ("text_to_image", [], None, "params must be an object"),
        ("text_to_image", {}, None, "text_to_image.prompt must be a non-empty string"),
        ("text_to_image", {"prompt": " "}, None, "prompt must be a non-empty string"),
        ("text_to_image", {"prompt": "x", "width": 30}, None, "width must be a multiple of 8"),
        ("text_to_image", {"prompt": "x", "height": 4096}, None, r"height must be an integer in"),
        ("text_to_image", {"prompt": "x", "steps": 0}, None, "steps must be an integer in 1..500"),
        ("text_to_image", {"prompt": "x", "steps": True}, None, "steps must be an integer"),
        ("text_to_image", {"prompt": "x", "guidance": 1e999}, None, "guidance must be a number"),
        ("text_to_image", {"prompt": "x", "seed": -1}, None, "seed must be an integer"),
        ("text_to_image", {"prompt": "x" * 5000}, None, "at most 4000 characters"),
        ("text_to_image", {"prompt": "x", "colour": 1}, None, r"unknown params \['colour'\]"),
        ("image_edit", {"instruction": "x"}, None, "needs an input image"),
        ("image_edit", {"instruction": "x"}, np.zeros((16, 16), np.uint8), "uint8 \\[H, W, 3\\]"),
        ("image_edit", {"instruction": "x"}, np.zeros((16, 16, 3), np.float32), "uint8"),
        ("image_edit", {"instruction": "x"}, np.zeros((4, 16, 3), np.uint8), "H and W in 8"),
        ("motion", {"params": {"vy": "fast"}}, None, "motion.params.vy must be a finite number"),
        ("motion", {"params": [1, 2]}, None, "params must be an object"),
        ("motion", {"scenario": "fly"}, None, "unknown scenario 'fly'; the scenarios are drop"),
        ("motion", {"scenario": "drop", "params": {"vx": 1}}, None, r"unknown parameter\(s\)"),
        ("motion", {"scenario": "drop", "params": {"height": 9}}, None, r"drop\.height must be"),
        ("motion", {"scenario": "drop", "target": [1, 2]}, None, r"motion\.target must be 3"),
        ("motion", {"scenario": "drop", "origin": [0, 0, "a"]}, None, r"motion\.origin must"),
        ("motion", {"target": [1, 2, 3]}, None, "target and origin need a scenario"),
    ],
)
def test_bad_params_are_named(slot, params, image, words):
    with pytest.raises(GenerationError, match=words):
        parse_request(slot, params, image)
