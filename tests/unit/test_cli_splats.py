import json
import math

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from continuum.cli import BENCHMARKS, main
from continuum.splats.camera import Camera
from continuum.splats.formats import read_splats
from continuum.splats.mesh import mesh_to_splats
from continuum.splats.render import render_splats


@pytest.fixture
def cube_mesh(tmp_path):
    cube = trimesh.creation.box()
    cube.unmerge_vertices()
    cube.visual.face_colors = np.tile([200, 40, 40, 255], (12, 1))
    path = tmp_path / "cube.glb"
    cube.export(path)
    return path


def test_help_lists_the_splats_commands(capsys):
    with pytest.raises(SystemExit):
        main(["splats", "--help"])
    out = capsys.readouterr().out
    for action in ("info", "convert", "render", "fit"):
        assert action in out
    assert "splats" in BENCHMARKS


def test_convert_a_mesh_then_between_formats_then_info(tmp_path, cube_mesh, capsys):
    ply, spz = tmp_path / "cube.ply", tmp_path / "cube.spz"
    assert main(["splats", "convert", str(cube_mesh), str(ply), "--count", "600"]) == 0
    assert main(["splats", "convert", str(ply), str(spz)]) == 0
    assert len(read_splats(spz)) == 600
    capsys.readouterr()
    assert main(["splats", "info", str(ply)]) == 0
    out = capsys.readouterr().out
    assert "600 Gaussians, SH degree 0" in out
    assert "bounds   min (-0.5, -0.5, -0.5)  max (0.5, 0.5, 0.5)" in out
    assert "opacity  min 0.99" in out


def test_render_frames_the_cloud_by_default(tmp_path, cube_mesh):
    ply, png = tmp_path / "cube.ply", tmp_path / "cube.png"
    assert main(["splats", "convert", str(cube_mesh), str(ply), "--count", "3000"]) == 0
    args = ["splats", "render", str(ply), "-o", str(png), "--width", "48", "--height", "32"]
    assert main([*args, "--backend", "cpu"]) == 0
    pixels = np.asarray(Image.open(png))
    assert pixels.shape == (32, 48, 3)
    covered = pixels.sum(axis=2) > 0
    assert covered[16, 24] and not covered[0, 0]  # the cube in the middle, black around it
    rows, cols = np.nonzero(covered)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < 31 and cols.max() < 47  # whole
    # An explicit camera looking away sees the background alone.
    away = ["--eye", "0,0,3", "--target", "0,0,6", "--background", "0,0,1", "--backend", "cpu"]
    assert main([*args, *away]) == 0
    assert (np.asarray(Image.open(png))[..., 2] == 255).all()


def test_fit_writes_a_cloud_from_a_cameras_file(tmp_path, capsys):
    cube = trimesh.creation.box()
    truth = mesh_to_splats(cube, count=800)
    entries = []
    for i, angle in enumerate(np.linspace(0, 2 * math.pi, 4, endpoint=False)):
        eye = (2.5 * math.sin(angle), 1.0, 2.5 * math.cos(angle))
        camera = Camera.look_at(eye, (0, 0, 0), fov_y_deg=50.0, width=24, height=24)
        with torch.no_grad():
            rgb = render_splats(truth, camera, backend="cpu").rgb.clamp(0, 1)
        Image.fromarray((rgb * 255).round().to(torch.uint8).numpy()).save(tmp_path / f"{i}.png")
        entries.append(
            {
                "image": f"{i}.png",
                "width": 24,
                "height": 24,
                "fx": camera.fx,
                "fy": camera.fy,
                "cx": camera.cx,
                "cy": camera.cy,
                "world_to_camera": camera.world_to_camera.tolist(),
            }
        )
    (tmp_path / "cameras.json").write_text(json.dumps({"cameras": entries}))
    out = tmp_path / "fit.ply"
    args = ["splats", "fit", str(tmp_path), "-o", str(out), "--steps", "5", "-q"]
    assert main([*args, "--sh-degree", "1", "--random-count", "200", "--backend", "cpu"]) == 0
    fitted = read_splats(out)
    assert fitted.sh_degree == 1 and len(fitted) > 0
    assert "5 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "{tmp}/missing.ply"], "cannot read {tmp}/missing.ply"),
        (["info", "{tmp}/junk.ply"], "junk.ply"),
        (["convert", "{tmp}/junk.ply", "{tmp}/out.xyz"], "extension must be one of"),
        (["convert", "{tmp}/junk.ply", "{tmp}/out.ply", "--count", "5"], "meshes"),
        (["convert", "{tmp}/bad.obj", "{tmp}/out.ply"], "holds no triangles"),
        (["render", "{tmp}/junk.ply", "-o", "{tmp}/x.png"], "junk.ply"),
        (["fit", "{tmp}", "-o", "{tmp}/out.ply"], "no cameras file"),
        (["fit", "{tmp}", "-o", "{tmp}/out.png"], "extension must be one of"),
    ],
)
def test_errors_are_one_clean_line(tmp_path, capsys, args, message):
    (tmp_path / "junk.ply").write_bytes(b"ply\nformat nonsense\n")
    (tmp_path / "bad.obj").write_text("# no faces\n")
    assert main(["splats", *(a.format(tmp=tmp_path) for a in args)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("continuum: error: ") and message.format(tmp=tmp_path) in err
    assert "Traceback" not in err


def test_render_rejects_a_camera_at_its_target(tmp_path, cube_mesh, capsys):
    ply = tmp_path / "cube.ply"
    assert main(["splats", "convert", str(cube_mesh), str(ply), "--count", "100"]) == 0
    args = ["splats", "render", str(ply), "-o", str(tmp_path / "x.png"), "--eye", "1,1,1"]
    assert main([*args, "--target", "1,1,1"]) == 1
    assert "eye != target" in capsys.readouterr().err
