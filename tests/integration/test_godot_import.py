"""The plugin's splat decoders and importer in a real headless Godot, against Python's readers.

Each real file of shared/data/splats (and a .splat and a version-3 .spz written from one) is
decoded by the GDScript decoder and compared section by section with the engine pack that
``pack_splats(read_splats(path))`` writes; then a copy of the Godot project imports good and
broken files with ``godot --import``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from continuum.godot import PROJECT_DIR, import_project, run_godot
from continuum.splats.formats import read_splats, write_splats
from continuum.splats.formats.spz import write_spz
from continuum.splats.pack import pack_splats
from tests.conftest import SPLAT_DATA

pytestmark = pytest.mark.godot
CHECK = "res://tests/integration/splat_decode_check.gd"
LOAD = "res://tests/integration/splat_load_check.gd"
REAL = [
    "ply/pc_short.ply",  # reference trainer order, normals, degree 3
    "ply/yashica-t4-top8192.ply",  # alphabetical property order, degree 3
    "ply/v3dg-donut-fused.ply",  # degree 0, no normals
    "spz/yashica-t4-top8192.spz",  # SPZ version 2
]
WRITTEN = ["written/yashica.splat", "written/yashica-v3.spz"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real files by name, and a .splat and an SPZ v3 written from the yashica PLY."""
    if not SPLAT_DATA.is_dir():
        pytest.skip(f"the real splat files are not at {SPLAT_DATA} (see its MANIFEST.md)")
    found = {name: SPLAT_DATA / name for name in REAL}
    written = tmp_path_factory.mktemp("written")
    cloud = read_splats(found["ply/yashica-t4-top8192.ply"])
    write_splats(cloud, written / "yashica.splat")
    write_spz(cloud, written / "yashica-v3.spz", version=3)
    found.update({name: written / Path(name).name for name in WRITTEN})
    return found


@pytest.mark.parametrize("name", REAL + WRITTEN)
def test_decoder_matches_the_python_pack(name: str, files: dict[str, Path], tmp_path: Path):
    """Counts and degree equal, float32 means within 1e-6, halves within one unit in the last
    place (Godot truncates where numpy rounds), the box within 1e-6 of its extent; the Python
    pack read by SplatCloud.from_pack and written by to_pack is the same octets."""
    source = files[name]
    pack = tmp_path / "python.cspk"
    pack.write_bytes(pack_splats(read_splats(source)))
    run = run_godot(
        ["--script", CHECK], user_args=[f"--file={source}", f"--pack={pack}"], timeout_s=120
    )
    results = run.results("CONTINUUM_RESULT")
    assert results, f"no result from the checker (exit {run.returncode}):\n{run.output[-3000:]}"
    result = results[-1]
    assert run.returncode == 0 and result["ok"], result
    assert result["count"][0] == result["count"][1] > 0
    assert result["sections"]["means"] <= 1e-6
    assert all(result["sections"][s] <= 1 for s in ("rotations", "scales", "colors", "sh"))
    assert result["roundtrip_identical"], "from_pack then to_pack changed the Python pack"
    assert "SCRIPT ERROR" not in run.output


def test_editor_imports_good_files_and_reports_broken_ones(files: dict[str, Path], tmp_path: Path):
    """`godot --import` on a copy of the project: the splat files become SplatCloud resources
    (options from a .import file honoured); a truncated PLY and a mesh PLY are reported with
    "[continuum]" and not imported, and Godot exits normally."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(".godot"))
    drop = project / "splat_files"
    drop.mkdir()
    for name in ("ply/pc_short.ply", "spz/yashica-t4-top8192.spz", "written/yashica.splat"):
        shutil.copy(files[name], drop / Path(name).name)
    real_ply = files["ply/pc_short.ply"].read_bytes()
    (drop / "broken.ply").write_bytes(real_ply[:20000])
    (drop / "mesh.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n"
        b"property float y\nproperty float z\nend_header\n" + bytes(12)
    )
    (drop / "options.ply").write_bytes(real_ply)
    (drop / "options.ply.import").write_text(
        '[remap]\n\nimporter="continuum.splat_cloud"\n\n[params]\n\nsh_degree=1\nmax_splats=10\n'
    )

    run = import_project(project)
    assert run.returncode == 0, run.output[-3000:]
    assert "[continuum] cannot import res://splat_files/broken.ply" in run.output, run.output
    assert "promises 100 splats" in run.output
    assert "[continuum] cannot import res://splat_files/mesh.ply" in run.output
    assert "holds no 3D Gaussian splats" in run.output and "Import As" in run.output
    assert "SCRIPT ERROR" not in run.output

    paths = [
        f"res://splat_files/{n}"
        for n in ("pc_short.ply", "yashica-t4-top8192.spz", "yashica.splat", "options.ply")
    ]
    load = run_godot(
        ["--script", LOAD],
        user_args=[*paths, "res://splat_files/broken.ply"],
        project=project,
        timeout_s=120,
    )
    results = load.results("CONTINUUM_RESULT")
    assert results, load.output[-3000:]
    loaded = results[-1]["loaded"]
    assert loaded[paths[0]] == {"count": 100, "sh_degree": 3, "valid": True, "images": 5}
    assert loaded[paths[1]] == {"count": 8192, "sh_degree": 3, "valid": True, "images": 5}
    assert loaded[paths[2]] == {"count": 8192, "sh_degree": 0, "valid": True, "images": 4}
    assert loaded[paths[3]] == {"count": 10, "sh_degree": 1, "valid": True, "images": 5}
    assert loaded["res://splat_files/broken.ply"] is None


def test_a_face_reconstructed_from_a_photo_imports_as_a_splat_cloud(tmp_path: Path):
    """`continuum face reconstruct` of scikit-image's astronaut writes a PLY and an SPZ that
    `godot --import` turns into SplatCloud resources with every Gaussian (the face an author
    places with a SplatInstance3D)."""
    import skimage.data
    from PIL import Image

    from continuum.cli import main

    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(".godot"))
    drop = project / "faces"
    drop.mkdir()
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    ply, spz = drop / "astronaut.ply", drop / "astronaut.spz"
    args = ["face", "reconstruct", str(photo), "-o", str(ply), "--spz", str(spz)]
    assert main([*args, "--steps", "5", "--gaussians", "3000", "-q"]) == 0
    count = len(read_splats(ply))
    assert count == len(read_splats(spz)) >= 3000

    run = import_project(project)
    assert run.returncode == 0 and "SCRIPT ERROR" not in run.output, run.output[-3000:]
    paths = ["res://faces/astronaut.ply", "res://faces/astronaut.spz"]
    load = run_godot(["--script", LOAD], user_args=paths, project=project, timeout_s=120)
    results = load.results("CONTINUUM_RESULT")
    assert results, load.output[-3000:]
    loaded = results[-1]["loaded"]
    for path in paths:
        assert loaded[path] is not None and loaded[path]["count"] == count, loaded
        assert loaded[path]["valid"], loaded
