"""Model specs and the bindings file."""

from pathlib import Path

import pytest

from continuum.errors import GenerationError
from continuum.generation import BUILTIN, ModelSpec, load_bindings, save_bindings


def test_specs_from_json_resolve_folders_and_check_fields(tmp_path):
    assert ModelSpec.from_json({"model": "builtin"}) == BUILTIN and BUILTIN.builtin
    spec = ModelSpec.from_json(
        {"model": "m/sd", "device": "cuda:1", "dtype": "float16"}, base=tmp_path
    )
    assert spec.path == tmp_path / "m" / "sd" and (spec.device, spec.dtype) == ("cuda:1", "float16")
    assert spec.to_json() == {
        "model": str(tmp_path / "m/sd"),
        "device": "cuda:1",
        "dtype": "float16",
    }
    for doc, words in [
        ("x", "must be an object"),
        ({"model": ""}, "model must be 'builtin' or a folder"),
        ({"model": "builtin", "gpu": 1}, r"unknown fields \['gpu'\]"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"dtype": "int8"}, "dtype must be one of float32, float16, bfloat16"),
    ]:
        with pytest.raises(GenerationError, match=words):
            ModelSpec.from_json(doc)


def test_bindings_round_trip_with_relative_folders(tmp_path):
    file = tmp_path / "conf" / "continuum.toml"
    file.parent.mkdir()
    assert load_bindings(file) == {}  # no file: nothing bound
    inside = ModelSpec(file.parent / "models" / 'sd turbo "q"', "cpu", "bfloat16")
    outside = ModelSpec(Path("/opt/models/ip2p"))
    save_bindings(file, {"text_to_image": inside, "image_edit": outside, "motion": BUILTIN})
    text = file.read_text()
    assert 'model = "models/sd turbo \\"q\\""' in text and "/opt/models/ip2p" in text
    assert load_bindings(file) == {
        "text_to_image": inside,
        "image_edit": outside,
        "motion": BUILTIN,
    }
    assert not list(file.parent.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[slots.text_to_image\nmodel = 1", "not a readable TOML file"),
        ("slots = 3", r"\[slots\] must be a table"),
        ('[slots.sound]\nmodel = "builtin"', r"\[slots.sound\]: unknown slot 'sound'"),
        ('[slots.motion]\nmodel = "builtin"\ndtype = "int4"', r"\[slots.motion\]: dtype"),
    ],
)
def test_bad_bindings_files_name_the_file_and_slot(tmp_path, text, words):
    file = tmp_path / "continuum.toml"
    file.write_text(text)
    with pytest.raises(GenerationError, match=words) as info:
        load_bindings(file)
    assert str(file) in str(info.value)
