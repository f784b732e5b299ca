import json

import pytest
from PIL import Image
from skimage import data

from continuum.cli import main
from continuum.splats.formats import read_splats


def test_face_reconstruct_writes_ply_and_spz(tmp_path, capsys):
    photo, ply, spz = tmp_path / "astronaut.png", tmp_path / "face.ply", tmp_path / "face.spz"
    Image.fromarray(data.astronaut()).save(photo)
    argv = ["face", "reconstruct", str(photo), "-o", str(ply), "--spz", str(spz)]
    assert main([*argv, "--steps", "3", "--gaussians", "3000", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["gaussians"] == 3000 and summary["faces_found"] == 1
    assert summary["psnr"] > 20 and summary["seconds"] > 0
    assert len(read_splats(ply)) == len(read_splats(spz)) == 3000


def test_face_reconstruct_reports_bad_photos(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main(["face", "reconstruct", str(broken), "-o", str(tmp_path / "x.ply"), "-q"]) == 1
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["face", "reconstruct", str(broken), "-o", str(tmp_path / "x.obj")]) == 1
    assert "--output must be a .ply file" in capsys.readouterr().err


def test_face_help_lists_reconstruct(capsys):
    with pytest.raises(SystemExit):
        main(["face", "--help"])
    assert "reconstruct" in capsys.readouterr().out


def test_face_reconstruct_adds_the_face_and_its_identity_to_a_world(tmp_path, capsys):
    from continuum.world import AssetStore, WorldStore, load_scene
    from continuum.world.store import ASSETS_DIR
    from tests.conftest import REPO

    root = tmp_path / "worlds"
    WorldStore.create(root, "w", load_scene(REPO / "scenes" / "hello")).close()
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    argv = ["face", "reconstruct", str(photo), "-o", str(tmp_path / "face.ply"), "-q"]
    argv += ["--steps", "3", "--gaussians", "2000", "--world", "w", "--root", str(root)]
    assert main([*argv, "--entity", "visitor", "--position", "0,1.6,-2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["world"] == "w" and summary["entity"] == "visitor"
    with WorldStore.open(root, "w", read_only=True) as store:
        state = store.state()
    visitor = state.entities["visitor"]
    assert visitor["transform"]["position"] == pytest.approx([0.0, 1.6, -2.0])
    assert visitor["components"]["splat"]["asset"] == summary["asset"]
    assert visitor["components"]["splat"]["count"] == 2000
    with AssetStore(root / ASSETS_DIR) as assets:
        assert summary["asset"] in assets, "the pack is in the worlds' shared asset store"
    assert state.identities["visitor"]["kind"] == "face"
    # The same id again, and a world that does not exist: clear errors, nothing written.
    assert main([*argv, "--entity", "visitor"]) == 1
    assert "has an entity 'visitor'; use --entity" in capsys.readouterr().err
    assert main([*argv[:-4], "--world", "nowhere", "--root", str(root)]) == 1
    assert "no world named 'nowhere'" in capsys.readouterr().err
