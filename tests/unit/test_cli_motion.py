import functools
import json

import pytest

from continuum.cli import main
from continuum.generation.physmotion import align, train
from continuum.generation.physmotion.model import ModelConfig


def test_motion_train_align_and_sample(tmp_path, capsys, monkeypatch):
    # A tiny model and alignment batch: the commands' plumbing is under test, not the sizes.
    tiny = ModelConfig(width=16, layers=1, heads=2)
    monkeypatch.setattr(train, "pretrain", functools.partial(train.pretrain, model_config=tiny))
    small = functools.partial(align.AlignConfig, groups=4, group_size=2, sample_steps=4)
    monkeypatch.setattr(align, "AlignConfig", small)
    model, aligned = tmp_path / "model", tmp_path / "aligned"
    assert main(["motion", "train", str(model), "--samples", "4", "--steps", "2", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["samples"] == 4 and (model / "physmotion.json").is_file()
    assert main(["motion", "align", str(model), str(aligned), "--steps", "1", "-q"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 1
    argv = ["motion", "sample", str(aligned), "--scenario", "throw", "--param", "vx=4"]
    assert main([*argv, "--frames", "5", "--target", "1,0.5,0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == ["x", "y", "z"] and len(out["values"]) == 5
    assert len(out["end_velocity"]) == 3 and out["fps"] == 30


def test_motion_sample_builtin_is_the_re_simulation(capsys):
    argv = ["motion", "sample", "builtin", "--scenario", "drop", "--param", "height=2"]
    assert main([*argv, "--frames", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["values"][0] == [0.0, 2.0, 0.0] and out["values"][2][1] < 2.0


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--scenario", "fly"], "unknown scenario 'fly'"),
        (["--scenario", "drop", "--param", "height=99"], "drop.height must be in"),
    ],
)
def test_motion_sample_reports_bad_requests(argv, words, capsys):
    assert main(["motion", "sample", "builtin", *argv]) == 1
    assert words in capsys.readouterr().err


def test_motion_sample_refuses_malformed_params(capsys):
    with pytest.raises(SystemExit):
        main(["motion", "sample", "builtin", "--scenario", "drop", "--param", "height"])
    assert "expected NAME=NUMBER" in capsys.readouterr().err
