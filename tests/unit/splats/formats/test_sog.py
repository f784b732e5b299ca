import io
import json
import math
import random
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial import cKDTree

from continuum.errors import SplatFormatError
from continuum.splats import SplatCloud
from continuum.splats.formats import detect_format
from continuum.splats.formats.ply import read_ply
from continuum.splats.formats.sog import read_sog

_FILES = {
    "means": ["means_l.webp", "means_u.webp"],
    "quats": ["quats.webp"],
    "scales": ["scales.webp"],
    "sh0": ["sh0.webp"],
    "shN": ["shN_centroids.webp", "shN_labels.webp"],
}


def _webp(pixels: np.ndarray, width: int) -> bytes:
    """Lossless WebP of RGBA rows ``width`` wide, padded with zero pixels  # [M, 4] uint8"""
    rows = -(-len(pixels) // width)
    image = np.zeros((rows * width, 4), dtype=np.uint8)
    image[: len(pixels)] = pixels
    out = io.BytesIO()
    # exact: keep the RGB of transparent pixels, which encoders may otherwise drop
    Image.fromarray(image.reshape(rows, width, 4), "RGBA").save(
        out, "WEBP", lossless=True, exact=True
    )
    return out.getvalue()


def _sog(
    count: int = 10, bands: int = 1, seed: int = 0, changes: dict | None = None
) -> tuple[bytes, dict]:
    """A small bundled SOG of random bytes, and the bytes (pixels) it holds; ``changes``
    replace top-level meta.json entries."""
    rng = np.random.default_rng(seed)
    coeffs = (bands + 1) ** 2 - 1
    palette = 70  # two palette rows
    pixels = {name: rng.integers(0, 256, size=(count, 4), dtype=np.uint8) for name in _FILES}
    pixels["quats"][:, 3] = rng.integers(252, 256, size=count)
    labels = rng.integers(0, palette, size=count)
    pixels["labels"] = np.stack([labels & 255, labels >> 8, labels * 0, labels * 0 + 255], 1)
    pixels["centroids"] = rng.integers(0, 256, size=(palette * coeffs, 4), dtype=np.uint8)
    meta = {
        "version": 2,
        "count": count,
        "means": {"mins": [-1.0, 0.0, 0.5], "maxs": [2.0, 0.0, 1.5], "files": _FILES["means"]},
        "scales": {"codebook": list(np.linspace(-12, 1, 256)), "files": _FILES["scales"]},
        "quats": {"files": _FILES["quats"]},
        "sh0": {"codebook": list(np.linspace(-2, 3, 256)), "files": _FILES["sh0"]},
    }
    if bands:
        codebook = list(np.linspace(-1, 1, 256))
        meta["shN"] = {
            "count": palette,
            "bands": bands,
            "codebook": codebook,
            "files": _FILES["shN"],
        }
    meta |= changes or {}
    width = 4
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        bundle.writestr("meta.json", json.dumps(meta))
        low, high = pixels["means"].copy(), rng.integers(0, 256, size=(count, 4), dtype=np.uint8)
        pixels["means_high"] = high
        for name, data in [("means_l.webp", low), ("means_u.webp", high)]:
            bundle.writestr(name, _webp(data, width))
        for name in ("quats", "scales", "sh0"):
            bundle.writestr(f"{name}.webp", _webp(pixels[name], width))
        bundle.writestr("shN_labels.webp", _webp(pixels["labels"], width))
        if bands:
            bundle.writestr("shN_centroids.webp", _webp(pixels["centroids"], 64 * coeffs))
    return out.getvalue(), pixels | {"meta": meta}


def test_a_generated_file_decodes_as_the_specification_says(tmp_path):
    data, px = _sog(count=10, bands=2)
    (tmp_path / "g.sog").write_bytes(data)
    cloud = read_sog(tmp_path / "g.sog")
    assert (len(cloud), cloud.sh_degree) == (10, 2)
    meta = px["meta"]
    for i in range(10):
        for axis in range(3):
            u = int(px["means"][i, axis]) + 256 * int(px["means_high"][i, axis])
            lo, hi = meta["means"]["mins"][axis], meta["means"]["maxs"][axis]
            v = lo + ((hi - lo) or 1) * u / 65535
            expected = math.copysign(math.expm1(abs(v)), v)
            assert cloud.means[i, axis].item() == pytest.approx(expected, rel=1e-6, abs=1e-7)
        r, g, b, tag = (int(x) for x in px["quats"][i])
        quat = [(x / 255 * 2 - 1) / math.sqrt(2) for x in (r, g, b)]
        quat.insert(tag - 252, math.sqrt(max(0.0, 1 - sum(x * x for x in quat))))
        assert cloud.quats[i].tolist() == pytest.approx(quat, abs=1e-6)
        scales = [meta["scales"]["codebook"][x] for x in px["scales"][i, :3]]
        assert cloud.log_scales[i].tolist() == pytest.approx(scales, rel=1e-6)
        dc = [meta["sh0"]["codebook"][x] for x in px["sh0"][i, :3]]
        assert cloud.sh[i, 0].tolist() == pytest.approx(dc, rel=1e-6)
        alpha = min(max(px["sh0"][i, 3] / 255, 0.25 / 255), 254.75 / 255)
        assert cloud.opacity_logits[i].item() == pytest.approx(math.log(alpha / (1 - alpha)))
        label = int(px["labels"][i, 0]) + 256 * int(px["labels"][i, 1])
        for j in range(8):  # palette entry p, coefficient j: pixel p * 8 + j of the centroids
            rgb = px["centroids"][label * 8 + j, :3]
            expected = [meta["shN"]["codebook"][x] for x in rgb]
            assert cloud.sh[i, 1 + j].tolist() == pytest.approx(expected, rel=1e-6)


def test_real_file_is_the_ply_it_was_converted_from_within_quantisation(data):
    sog = read_sog(data / "sog" / "yashica-t4-top8192.sog")
    assert detect_format(data / "sog" / "yashica-t4-top8192.sog") == "sog"
    assert (len(sog), sog.sh_degree) == (8192, 3)
    ply = read_ply(data / "ply" / "yashica-t4-top8192.ply")
    # The MANIFEST says the order is kept, but splat-transform's writeSog sorts the Gaussians
    # in Morton order: pair each with its nearest source mean, which must be a bijection.
    _, nearest = cKDTree(ply.means.double().numpy()).query(sog.means.double().numpy())
    assert len(set(nearest.tolist())) == 8192
    ply = ply.select(torch.from_numpy(nearest))
    meta = json.loads(zipfile.ZipFile(data / "sog" / "yashica-t4-top8192.sog").read("meta.json"))

    # means: 16 bits in log space, truncated by the writer: within one step per axis
    step = (torch.tensor(meta["means"]["maxs"]) - torch.tensor(meta["means"]["mins"])) / 65535
    log_sog = torch.sign(sog.means.double()) * torch.log1p(sog.means.double().abs())
    log_ply = torch.sign(ply.means.double()) * torch.log1p(ply.means.double().abs())
    assert ((log_sog - log_ply).abs() <= step * 1.001).all()

    # scales and DC colour: the nearest codebook entry
    for field, codebook in (("log_scales", "scales"), ("sh0", "sh0")):
        ours = sog.log_scales if field == "log_scales" else sog.sh[:, 0]
        source = (ply.log_scales if field == "log_scales" else ply.sh[:, 0]).double().flatten()
        book = torch.tensor(meta[codebook]["codebook"], dtype=torch.float64)
        nearest_error = (source[:, None] - book[None]).abs().min(dim=1).values
        assert ((ours.double().flatten() - source).abs() - nearest_error).max() <= 1e-6, field

    # opacity: the writer truncates sigmoid * 255
    assert ((ply.opacities() - sog.opacities()).abs() <= 1 / 255 + 1e-6).all()

    # rotations: three components truncated to steps of 2 / 255 / sqrt(2); the largest (>= 1/2)
    # rebuilt within sum |q_i| d / (1/2) <= 3 sqrt(1/2) d * 2
    d = 2 / 255 / math.sqrt(2)
    a = torch.nn.functional.normalize(sog.quats.double(), dim=1)
    b = torch.nn.functional.normalize(ply.quats.double(), dim=1)
    error = (a - torch.sign((a * b).sum(1, keepdim=True)) * b).norm(dim=1)
    assert error.max() <= math.sqrt(3 * d**2 + (3 * math.sqrt(0.5) * d * 2) ** 2)

    # higher bands: k-means to a palette as large as the cloud, then a 256-entry codebook. No a
    # priori bound; these hold with margin (max 0.0124, mean 0.0006 measured).
    rest = (sog.sh[:, 1:] - ply.sh[:, 1:]).abs()
    assert rest.max() < 0.05 and rest.mean() < 0.002


def test_unbundled_meta_json_reads_as_the_bundle(data, tmp_path):
    with zipfile.ZipFile(data / "sog" / "yashica-t4-top8192.sog") as bundle:
        bundle.extractall(tmp_path)
    bundled = read_sog(data / "sog" / "yashica-t4-top8192.sog")
    loose = read_sog(tmp_path / "meta.json")
    assert detect_format(tmp_path / "meta.json") == "sog"
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert torch.equal(getattr(loose, name), getattr(bundled, name))


def _zip_with(data: bytes, name: str, content: bytes | None) -> bytes:
    """The bundle with member ``name`` replaced (or removed for None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info.filename, src.read(info))
        if content is not None:
            dst.writestr(name, content)
    return out.getvalue()


def _image_bytes(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt)
    return out.getvalue()


_GOOD, _PIXELS = _sog(count=10, bands=1)
_BROKEN = {
    "not a zip": (b"PK\x03\x04" + bytes(100), "not a readable zip"),
    "version 1": (_zip_with(_GOOD, "meta.json", b'{"count": 10}'), "no version: SOG v1"),
    "version 3": (_sog(changes={"version": 3})[0], "version must be 2, got 3"),
    "huge count": (_sog(changes={"count": 10**12})[0], "expected 1000000000000 pixels"),
    "count beyond the pixels": (_sog(changes={"count": 13})[0], "expected 13 pixels"),
    "far too large images": (_sog(count=40, changes={"count": 2})[0], "at most 4 spare rows"),
    "negative count": (_sog(changes={"count": -1})[0], "count must be >= 0"),
    "count as text": (_sog(changes={"count": "10"})[0], "count must be a int, got str"),
    "missing member": (_zip_with(_GOOD, "quats.webp", None), "no 'quats.webp'"),
    "no meta": (_zip_with(_GOOD, "meta.json", None), "no 'meta.json'"),
    "meta not json": (_zip_with(_GOOD, "meta.json", b"{nope"), "meta.json is not JSON"),
    "meta a list": (_zip_with(_GOOD, "meta.json", b"[2]"), "meta.json has no version"),
    "short codebook": (
        _sog(changes={"scales": {"codebook": [1.0] * 255, "files": ["scales.webp"]}})[0],
        "scales.codebook must be 256 numbers",
    ),
    "nan codebook": (
        _zip_with(_GOOD, "meta.json", json.dumps(_PIXELS["meta"]).replace("-12.0", "NaN").encode()),
        "scales.codebook must be finite",
    ),
    "means out of range": (
        _sog(
            changes={"means": {"mins": [0, 0, -100], "maxs": [1, 1, 1], "files": _FILES["means"]}}
        )[0],
        "within \\+/-88.7",
    ),
    "no files": (_sog(changes={"quats": {}})[0], "meta.json has no quats.files"),
    "bands 4": (
        _sog(
            changes={
                "shN": {"count": 70, "bands": 4, "codebook": [0] * 256, "files": _FILES["shN"]}
            }
        )[0],
        "shN.bands must be 0..3, got 4",
    ),
    "palette count": (
        _sog(
            changes={"shN": {"count": 3, "bands": 1, "codebook": [0] * 256, "files": _FILES["shN"]}}
        )[0],
        "shN label .* is past shN.count 3",
    ),
    "bad tag": (
        _zip_with(_GOOD, "quats.webp", _webp(np.full((10, 4), 7, np.uint8), 4)),
        "quats: 10 tags outside 252..255, first Gaussian 0 with 7",
    ),
    "jpeg": (
        _zip_with(_GOOD, "scales.webp", _image_bytes("RGB", (4, 3), "JPEG")),
        "scales.webp is no readable image",
    ),
    "grey": (
        _zip_with(_GOOD, "scales.webp", _image_bytes("L", (4, 3), "PNG")),
        "has mode L; expected RGB or RGBA",
    ),
    "garbage image": (_zip_with(_GOOD, "sh0.webp", b"RIFF" + bytes(60)), "sh0.webp is no readable"),
    "centroid width": (
        _zip_with(_GOOD, "shN_centroids.webp", _webp(np.zeros((300, 4), np.uint8), 100)),
        "shN_centroids.webp is 100x3; expected 192 wide",
    ),
}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_broken_files_raise_a_format_error_that_names_the_file_and_the_fault(assert_refused, case):
    content, words = _BROKEN[case]
    assert_refused(read_sog, content, words, suffix=".sog")


def test_unbundled_names_must_stay_beside_meta_json(tmp_path):
    with zipfile.ZipFile(io.BytesIO(_GOOD)) as bundle:
        bundle.extractall(tmp_path)
    assert len(read_sog(tmp_path / "meta.json")) == 10
    meta = dict(_PIXELS["meta"], quats={"files": ["../quats.webp"]})
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SplatFormatError, match="must name a file beside meta"):
        read_sog(tmp_path / "meta.json")
    meta["quats"] = {"files": ["absent.webp"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SplatFormatError, match=r"absent\.webp does not exist"):
        read_sog(tmp_path / "meta.json")


def _edit_meta(data: bytes, rng: random.Random) -> bytes:
    """Replace one value of meta.json, at any depth, by something else."""
    meta = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("meta.json"))
    node, key = meta, None
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = rng.choice(keys)
        if not isinstance(node[key], dict | list) or rng.random() < 0.3:
            break
        node = node[key]
    if key is not None:
        choices = [None, -1, 0, 1, 7, 2**40, 1.5, "x", [], {}, [0.0] * 256, True]
        node[key] = rng.choice(choices)
    return _zip_with(data, "meta.json", json.dumps(meta).encode())


def _flip_member(data: bytes, rng: random.Random) -> bytes:
    """Byte flips inside one member (which the zip checksum would catch in the file)."""
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        name = rng.choice(bundle.namelist())
        content = bytearray(bundle.read(name))
    for _ in range(rng.randint(1, 4)):
        content[rng.randrange(len(content))] = rng.randrange(256)
    return _zip_with(data, name, bytes(content))


def test_fuzzed_generated_files_give_a_cloud_or_a_format_error(fuzz):
    data, _ = _sog(count=10, bands=1)
    outcomes = fuzz(data, read_sog, rounds=300, edits=(_edit_meta, _flip_member))
    assert outcomes["cloud"] and outcomes["error"]


def test_fuzzed_real_file_gives_a_format_error_or_a_cloud(data, fuzz):
    real = (data / "sog" / "yashica-t4-top8192.sog").read_bytes()
    outcomes = fuzz(real, read_sog, rounds=30, edits=(_edit_meta, _flip_member))
    assert outcomes["error"]
    assert isinstance(read_sog(data / "sog" / "yashica-t4-top8192.sog"), SplatCloud)
