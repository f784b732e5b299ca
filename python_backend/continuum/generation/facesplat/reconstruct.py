"""reconstruct_face: one photo to a 3D face of Gaussians, guided by the face prior.

The steps (``reconstruct_face``):

1. The photo: checked (uint8 RGB, 8..4096 pixels a side), and downscaled (Lanczos) when its
   longer side is over ``FaceConfig.max_side`` (a note says so).
2. The face: dlib's detector and 68 landmarks (``continuum.identity``'s ``FaceEmbedder``).
   With several faces, the largest (``which="largest"``) or the one nearest the image centre
   (``which="centre"``) is reconstructed; ``faces_found`` and a note (also logged) say so.
   A face narrower than ``min_face_px`` (64) is refused: its landmarks are too coarse.
3. The pose: head pose, size and shape of the prior fitted to the landmarks (``pose``).
4. The surface: the head ellipsoid bent through the fitted landmarks, and the neck under it
   (``surface``), covered by flat, surface-aligned Gaussians (``surface_gaussians``),
   ``face_fraction`` of them over the face window and the rest spread evenly over the rest of
   the head and the neck. (``surface="landmarks"``: only the face the landmarks span,
   ``landmark_surface``, without the head prior; a baseline.)
5. The masks: the face, the pixels reconstructed (refined and measured): the hull of the jaw
   line and the brows raised by a forehead, 0.35 of the brow-to-chin height, where the surface
   covers them; and the head, the pixels the head and neck cover that show the person, not the
   background behind (``person.person_mask``), less a margin inside that outline
   (``head_mask``: hair, ears, the neck and collar under the chin), which only colours.
6. The colours: where the photo sees a Gaussian (``visibility``) and it falls in the face
   mask, or it falls in the head mask and the photo sees it well (cosine at least 0.5), the
   photo's colour there; elsewhere its mirror partner's photo colour when the photo sees that
   one (``symmetry``); elsewhere the colour of the nearest coloured Gaussian on the same part
   (the face window, the rest of the head, or the neck: so the side and the back of the head
   take the hair's colour, not the cheek's edge stretched round).
7. The refinement: colours, normal offsets and scales against the photo in the face mask, with
   the symmetry, smoothness and near-surface priors (``refine``), on a crop of the photo around
   the mask at most ``work_size`` pixels on its longer side. The priors see the Gaussians that
   step 6 coloured from the head mask as fully seen: no photometric term holds them, and the
   colour smoothness would otherwise blur the photo's hair, ears and collar into a smear.
8. The measures: PSNR and SSIM of the refined cloud rendered from the photo's camera, in the
   mask, at the photo's full size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion
from scipy.spatial import ConvexHull, cKDTree

from continuum.errors import FaceSplatError, IdentityError, NoFaceError
from continuum.generation.facesplat.person import person_mask
from continuum.generation.facesplat.pose import DEFAULT_FOV_DEG, PoseFit, fit_pose
from continuum.generation.facesplat.refine import RefineWeights, refine
from continuum.generation.facesplat.surface import HeadSurface, head_surface, landmark_surface
from continuum.generation.facesplat.symmetry import mirror_partners
from continuum.generation.facesplat.visibility import camera_pixels, sample_image, seen_weights
from continuum.identity.embedders import Face, FaceEmbedder
from continuum.identity.images import check_image, decode_image
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_to_rotmat
from continuum.splats.fit import psnr, ssim
from continuum.splats.mesh import mesh_to_splats
from continuum.splats.render import render_splats
from continuum.splats.sh import rgb_to_sh0

logger = logging.getLogger(__name__)

MIN_FACE_PX = 64
WHICH = ("largest", "centre")
SURFACES = ("head", "landmarks")
_SEEN = 0.2  # the least visibility (cosine to the camera) at which the photo's colour is used
_FOREHEAD = 0.35  # the forehead's height in the mask, as a fraction of brow-to-chin
_HEAD_MARGIN = 0.03  # the head mask's margin inside the person's outline, of the face's width
_HEAD_SEEN = 0.5  # the least visibility at which the photo colours the head beyond the face
FACE, HEAD, NECK = 0, 1, 2  # the parts of the surface (``surface_gaussians``)


@dataclass
class FaceConfig:
    """Settings of ``reconstruct_face``.

    Attributes:
        steps: photometric refinement steps (300; 0 keeps the initial colours)
        gaussians: Gaussians on the head surface (40,000)
        face_fraction: the share of them on the face window (0.7), the rest on the head
        work_size: the refinement's crop of the photo, longest side in pixels (256; a smaller
            crop is used as it is, never upsampled)
        max_side: photos with a longer side are downscaled to it first (1024)
        min_face_px: narrower detected faces are refused (64)
        fov_deg: the photo camera's field of view across its longer side (35 degrees)
        which: the face reconstructed when there are several: "largest" or "centre"
        surface: the surface the Gaussians cover: "head" (the head prior bent through the
            landmarks, ``head_surface``) or "landmarks" (the landmarks' own face, without the
            head prior, ``landmark_surface``: a baseline)
        mirror_init: colour what the photo does not show from its mirror partner (True; False
            leaves it to the nearest coloured Gaussian)
        weights: the refinement's loss weights and learning rates (``RefineWeights``)
        subdivisions: of the icosphere the head surface is built on (5)
        neighbours: nearest neighbours per Gaussian in the smoothness prior (6)
        seed: the Gaussians' placement on the surface
    """

    steps: int = 300
    gaussians: int = 40_000
    face_fraction: float = 0.7
    work_size: int = 256
    max_side: int = 1024
    min_face_px: int = MIN_FACE_PX
    fov_deg: float = DEFAULT_FOV_DEG
    which: str = "largest"
    surface: str = "head"
    mirror_init: bool = True
    weights: RefineWeights = field(default_factory=RefineWeights)
    subdivisions: int = 5
    neighbours: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (
            ("steps", 0),
            ("gaussians", 100),
            ("work_size", 32),
            ("max_side", 64),
            ("min_face_px", 16),
            ("neighbours", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise FaceSplatError(f"FaceConfig.{name} must be an int >= {low}, got {value!r}")
        if not 0.0 < self.face_fraction < 1.0:
            raise FaceSplatError(
                f"FaceConfig.face_fraction must lie in (0, 1), got {self.face_fraction}"
            )
        if not 0.0 < self.fov_deg < 180.0:
            raise FaceSplatError(f"FaceConfig.fov_deg must lie in (0, 180), got {self.fov_deg}")
        if self.which not in WHICH:
            raise FaceSplatError(f"FaceConfig.which must be one of {WHICH}, got {self.which!r}")
        if self.surface not in SURFACES:
            raise FaceSplatError(
                f"FaceConfig.surface must be one of {SURFACES}, got {self.surface!r}"
            )
        if not 0 <= self.subdivisions <= 7:
            raise FaceSplatError(
                f"FaceConfig.subdivisions must lie in 0..7, got {self.subdivisions}"
            )


@dataclass
class FaceReconstruction:
    """A face reconstructed from one photo.

    Attributes:
        cloud: the Gaussians, in the face frame: metres, glTF axes (+Y up, the face looking
            towards +Z), origin at the head's centre (see ``prior``)
        camera: the photo's camera in that frame: rendering ``cloud`` with it reproduces
            ``image`` in ``mask``
        face: the detection reconstructed (box, landmarks, ``vector``: the photo's embedding)
        mask: the pixels of ``image`` reconstructed  # [H, W] bool
        faces_found: how many faces the photo holds (the others are ignored)
        seconds: wall time of the whole reconstruction
        image: the photo as reconstructed (downscaled when it was over ``max_side``)  # [H, W, 3]
        pose: the fitted head pose, size and shape
        psnr: of the render from ``camera`` against ``image`` in ``mask``, dB
        ssim: the same, structural similarity (mean over ``mask``)
        losses: the refinement's loss at every step  # [steps]
        notes: what the caller should know (several faces, a downscaled photo)
    """

    cloud: SplatCloud
    camera: Camera
    face: Face
    mask: np.ndarray
    faces_found: int
    seconds: float
    image: np.ndarray
    pose: PoseFit
    psnr: float
    ssim: float
    losses: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_photo(path: str | Path) -> np.ndarray:
    """Read a PNG or JPEG photo as uint8 RGB [H, W, 3].

    Its size is checked from the header before decoding (8..4096 pixels a side), so a huge
    file is refused without being decoded.

    Raises:
        FaceSplatError: a missing or unreadable file, not a PNG or JPEG, corrupt or truncated
            data, or a size out of range; the message names the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise FaceSplatError(f"photo {str(path)!r} does not exist") from error
    except OSError as error:
        raise FaceSplatError(f"cannot read photo {str(path)!r}: {error.strerror}") from error
    try:
        return decode_image(data, name=f"photo {str(path)!r}")
    except IdentityError as error:
        raise FaceSplatError(str(error)) from error


def reconstruct_face(
    image: np.ndarray,
    *,
    config: FaceConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FaceReconstruction:
    """A 3D face of Gaussians from one photo; the steps are in the module docstring.

    Args:
        image: the photo, uint8 RGB  # [H, W, 3] (grey and RGBA are converted)
        config: settings (None: ``FaceConfig()``)
        progress: called with (step, steps) as the refinement goes (0 first)

    Returns:
        the reconstruction

    Raises:
        NoFaceError: no face in the photo (an IdentityError, as the identity banks raise it).
        FaceSplatError: a malformed image, or a face narrower than ``min_face_px``.
    """
    started = time.perf_counter()
    config = FaceConfig() if config is None else config
    notes: list[str] = []

    # 1. The photo.
    try:
        image = check_image(image)
    except IdentityError as error:
        raise FaceSplatError(str(error)) from error
    image = _limit_size(image, config.max_side, notes)
    height, width = image.shape[:2]

    # 2. The face.
    faces = FaceEmbedder().detect(image)
    if not faces:
        raise NoFaceError(
            f"no face found in the photo ({width}x{height}): it needs a face turned at most "
            f"about 30 degrees from the camera, unoccluded, at least {config.min_face_px} "
            "pixels wide"
        )
    face = _choose(faces, config.which, width, height)
    if len(faces) > 1:
        notes.append(f"{len(faces)} faces found; reconstructed the {config.which} one")
        logger.warning("%s", notes[-1])
    face_width = face.box[2] - face.box[0]
    if face_width < config.min_face_px:
        raise FaceSplatError(
            f"the face is {face_width} pixels wide; at least {config.min_face_px} are needed "
            "(use a larger or closer photo of the face)"
        )

    # 3. The pose, 4. the surface and its Gaussians.
    pose = fit_pose(face.landmarks, width=width, height=height, fov_deg=config.fov_deg)
    if config.surface == "head":
        surface = head_surface(pose.landmarks, scale=pose.scale, subdivisions=config.subdivisions)
    else:
        surface = landmark_surface(pose.landmarks)
    cloud, normals, parts = surface_gaussians(
        surface, count=config.gaussians, face_fraction=config.face_fraction, seed=config.seed
    )
    means = cloud.means.numpy().astype(np.float64)

    # 5. The masks: the face, refined and measured; the head, coloured from the photo.
    with torch.no_grad():
        covered = render_splats(cloud, pose.camera, backend="cpu").alpha.numpy() > 0.5
    inside = face_mask(face.landmarks, width, height)
    mask = inside & covered
    person = person_mask(image, face.box, inside)
    head = mask | head_mask(covered & person, face_width=face_width)

    # 6. The colours.
    photo = image.astype(np.float32) / 255.0
    xy, _ = camera_pixels(means, pose.camera)
    visible = seen_weights(cloud, normals, pose.camera)
    seen = visible * sample_image(mask[:, :, None].astype(np.float64), xy)[:, 0]
    in_head = sample_image(head[:, :, None].astype(np.float64), xy)[:, 0]
    coloured = np.maximum(seen, np.where(visible >= _HEAD_SEEN, visible * in_head, 0.0))
    partner, _ = mirror_partners(means)
    colours = initial_colours(
        sample_image(photo, xy), means, coloured, partner, mirror=config.mirror_init, parts=parts
    )
    cloud.sh = rgb_to_sh0(torch.from_numpy(colours).float())[:, None, :]

    # 7. The refinement, on a crop around the mask. Outside the face mask no photometric term
    # holds the photo's colours, so the priors count the Gaussians coloured there as fully seen.
    held = np.where((seen < _SEEN) & (coloured >= _SEEN), 1.0, seen)
    work_camera, target, work_mask = _working_view(image, mask, pose.camera, config.work_size)
    k = min(config.neighbours + 1, len(means))
    neighbours = cKDTree(means).query(means, k=k)[1][:, 1:]
    if progress is not None:
        progress(0, config.steps)
    refined = refine(
        cloud,
        normals,
        target,
        work_mask,
        work_camera,
        seen=held,
        partner=partner,
        neighbours=neighbours,
        steps=config.steps,
        weights=config.weights,
        progress=progress,
    )

    # 8. The measures, at the photo's size.
    full_psnr, full_ssim = measure(refined.cloud, pose.camera, photo, mask)
    return FaceReconstruction(
        cloud=refined.cloud,
        camera=pose.camera,
        face=face,
        mask=mask,
        faces_found=len(faces),
        seconds=time.perf_counter() - started,
        image=image,
        pose=pose,
        psnr=full_psnr,
        ssim=full_ssim,
        losses=refined.losses,
        notes=notes,
    )


def surface_gaussians(
    surface: HeadSurface, *, count: int, face_fraction: float, seed: int = 0
) -> tuple[SplatCloud, np.ndarray, np.ndarray]:
    """Flat Gaussians covering the head surface and the neck, denser over the face.

    Args:
        surface: the head surface
        count: how many Gaussians in all
        face_fraction: the share of them on ``surface.face_region``; the rest are spread
            evenly over the rest of the head and the neck, in proportion to their areas
        seed: their placement

    Returns:
        the cloud (grey, SH degree 0; the face window's Gaussians first, then the rest of the
        head's, then the neck's), each Gaussian's outward unit normal  # [N, 3]
        and its part (``FACE``, ``HEAD`` or ``NECK``)  # [N] int
    """
    mesh = surface.mesh
    if surface.face_region.all():  # a face without a head (``landmark_surface``)
        cloud = mesh_to_splats(mesh, count=count, seed=seed)
        normals = quat_to_rotmat(cloud.quats)[:, :, 2].numpy().astype(np.float64)
        return cloud, normals, np.full(len(cloud), FACE)
    front = round(count * face_fraction)
    pieces = [
        mesh.submesh([np.nonzero(region)[0]], append=True)
        for region in (surface.face_region, ~surface.face_region)
    ]
    if surface.neck is not None:
        pieces.append(surface.neck)
    areas = np.array([piece.area for piece in pieces[1:]])
    rest = np.round(np.cumsum(areas) / areas.sum() * (count - front)).astype(int)
    counts = [front, *np.diff(rest, prepend=0)]
    parts = [
        mesh_to_splats(piece, count=int(n), seed=seed + index)
        for index, (piece, n) in enumerate(zip(pieces, counts, strict=True))
    ]
    cloud = SplatCloud.concatenate(parts)
    normals = quat_to_rotmat(cloud.quats)[:, :, 2].numpy().astype(np.float64)
    labels = np.repeat([FACE, HEAD, NECK][: len(parts)], [len(part) for part in parts])
    return cloud, normals, labels


def face_mask(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """The face's pixels: the convex hull of the jaw line and the brows raised by a forehead.

    Args:
        landmarks: the detected landmarks  # [68, 2]
        width, height: the image's size

    Returns:
        the mask  # [H, W] bool
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    up = landmarks[27] - landmarks[8]  # chin to nasion, the face's "up" in the image
    brows = landmarks[17:27]
    lift = _FOREHEAD * float(np.linalg.norm(brows.mean(axis=0) - landmarks[8]))
    points = np.concatenate([landmarks[:17], brows + lift * up / np.linalg.norm(up)])
    hull = points[ConvexHull(points).vertices]
    picture = Image.new("L", (width, height), 0)
    ImageDraw.Draw(picture).polygon([tuple(p) for p in hull], fill=1)
    return np.asarray(picture, dtype=bool)


def head_mask(covered: np.ndarray, *, face_width: float) -> np.ndarray:
    """The head's pixels: where the fitted head surface and neck cover the person in the
    photo, less a margin of ``_HEAD_MARGIN`` of the face's width inside that outline (the
    pixels at the edge mix in the background).

    Args:
        covered: where the head and neck render opaque from the photo's camera and the photo
            shows the person  # [H, W] bool
        face_width: the detected face's width, pixels

    Returns:
        the mask  # [H, W] bool
    """
    margin = max(1, round(_HEAD_MARGIN * face_width))
    return binary_erosion(covered, iterations=margin)


def initial_colours(
    photo_colours: np.ndarray,
    means: np.ndarray,
    seen: np.ndarray,
    partner: np.ndarray,
    *,
    mirror: bool = True,
    parts: np.ndarray | None = None,
) -> np.ndarray:
    """Each Gaussian's starting colour: the photo's where it is seen, else its mirror
    partner's photo colour (``mirror``) where that one is seen, else the nearest coloured one's.
    With ``parts``, that nearest one is taken from the same part (face, rest of the head, neck)
    when the part has any (hair, not the cheek's edge stretched over the side; the collar, not
    the chin stretched down the neck).

    Args:
        photo_colours: the photo's colour at each Gaussian's pixel, RGB 0..1  # [N, 3]
        means: the Gaussians' positions  # [N, 3]
        seen: how well the photo sees each, 0..1  # [N]
        partner: each one's mirror partner  # [N] int
        parts: each one's part label (None: all one part)  # [N] int

    Returns:
        RGB 0..1  # [N, 3]
    """
    good = seen >= _SEEN
    if not good.any():
        raise FaceSplatError("the photo sees none of the face surface; check the landmarks")
    colours = np.where(good[:, None], photo_colours, 0.0)
    done = good.copy()
    if mirror:
        take = ~good & good[partner]
        colours[take] = photo_colours[partner[take]]
        done |= take
    parts = np.zeros(len(means), dtype=int) if parts is None else np.asarray(parts)
    for label in np.unique(parts):
        group = parts == label
        source = done & group if (done & group).any() else done
        fill = ~done & group
        if fill.any():
            _, nearest = cKDTree(means[source]).query(means[fill])
            colours[fill] = colours[source][nearest]
    return colours


def measure(
    cloud: SplatCloud, camera: Camera, photo: np.ndarray, mask: np.ndarray
) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``cloud`` rendered by ``camera`` against ``photo``, in ``mask``.

    Args:
        photo: RGB 0..1, the camera's size  # [H, W, 3]
        mask: the pixels measured  # [H, W] bool
    """
    target = torch.from_numpy(np.asarray(photo, np.float32))
    keep = torch.from_numpy(np.asarray(mask, bool))
    with torch.no_grad():
        rendered = render_splats(cloud, camera, backend="cpu").rgb
    shown = torch.where(keep[:, :, None], rendered, target)
    return psnr(rendered[keep], target[keep]), float(ssim(shown, target, mask=keep))


def _limit_size(image: np.ndarray, max_side: int, notes: list[str]) -> np.ndarray:
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    factor = max_side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    notes.append(f"photo downscaled from {width}x{height} to {size[0]}x{size[1]} (max_side)")
    logger.info("%s", notes[-1])
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _choose(faces: list[Face], which: str, width: int, height: int) -> Face:
    if which == "largest":
        return faces[0]  # the detector lists the largest first
    centre = np.array([width / 2, height / 2])
    return min(
        faces,
        key=lambda f: float(
            np.linalg.norm(np.array(f.box[:2]) / 2 + np.array(f.box[2:]) / 2 - centre)
        ),
    )


def _working_view(
    image: np.ndarray, mask: np.ndarray, camera: Camera, work_size: int
) -> tuple[Camera, torch.Tensor, torch.Tensor]:
    """The camera, photo (RGB 0..1 [h, w, 3]) and mask [h, w] of the crop of ``image`` (uint8)
    around ``mask`` that the refinement works on, scaled down to ``work_size`` on its longer
    side (never up)."""
    rows, columns = np.nonzero(mask)
    height, width = mask.shape
    y0, y1 = max(0, rows.min() - 4), min(height, rows.max() + 5)
    x0, x1 = max(0, columns.min() - 4), min(width, columns.max() + 5)
    crop_w, crop_h = x1 - x0, y1 - y0
    factor = min(1.0, work_size / max(crop_w, crop_h))
    w, h = max(8, round(crop_w * factor)), max(8, round(crop_h * factor))
    sx, sy = w / crop_w, h / crop_h
    work = Camera(
        fx=camera.fx * sx,
        fy=camera.fy * sy,
        cx=(camera.cx - x0) * sx,
        cy=(camera.cy - y0) * sy,
        world_to_camera=camera.world_to_camera,
        width=w,
        height=h,
    )
    crop = Image.fromarray(image[y0:y1, x0:x1])
    target = np.asarray(crop.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0
    crop_mask = Image.fromarray(mask[y0:y1, x0:x1].astype(np.uint8) * 255)
    work_mask = np.asarray(crop_mask.resize((w, h), Image.Resampling.BILINEAR)) >= 128
    return work, torch.from_numpy(target), torch.from_numpy(work_mask)
