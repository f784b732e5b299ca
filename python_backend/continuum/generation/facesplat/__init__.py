"""FaceSplat: a 3D face as Gaussians from a single photo, guided by a face prior.

One photo in, a head of flat, surface-aligned Gaussians out, in a face-centred frame (metres,
glTF axes, the face looking towards +Z) with the photo's camera in that frame. The landmarks
place a mean 3D face and head (the prior), the photo colours what it sees, mirror symmetry and
smoothness fill in what it does not, and a photometric refinement matches the photo.

Public names:
- ``reconstruct_face``, ``FaceConfig``, ``FaceReconstruction``, ``load_photo``: the entry point,
  its settings and result, and reading a photo file (``reconstruct``)
- ``TEMPLATE``, ``SHAPE_MODES``, ``SHAPE_MODE_NAMES``, ``HEAD_SEMI_AXES``, ``shaped_landmarks``:
  the prior, a mean 68-landmark face, its shape freedoms and the head ellipsoid (``prior``)
- ``fit_pose``, ``PoseFit``, ``photo_camera``: head pose, size and shape from 2D landmarks
  (``pose``)
- ``head_surface``, ``HeadSurface``: the head surface through the fitted landmarks and the
  neck under it (``neck_surface``), and
  ``landmark_surface``: the face the landmarks span alone, without the head prior (``surface``)
- ``mirror_partners``: each Gaussian's mirror partner across the midline (``symmetry``)
- ``seen_weights``, ``camera_pixels``, ``sample_image``: what the photo sees (``visibility``)
- ``person_mask``: the person against the background, so the background never colours the
  head (``person``)
- ``refine``, ``RefineWeights``, ``RefineResult``: the photometric refinement with the priors
  (``refine``)
- ``turntable_camera``, ``photo_elevation``: cameras turned about the head's vertical axis,
  and the photo's height above the face they may look from (``views``)
- ``place_face``, ``PlacedFace``: a reconstruction put into a world as a new entity with a face
  identity bank (``place``)
"""

from continuum.generation.facesplat.person import person_mask
from continuum.generation.facesplat.place import PlacedFace, place_face
from continuum.generation.facesplat.pose import PoseFit, fit_pose, photo_camera
from continuum.generation.facesplat.prior import (
    HEAD_SEMI_AXES,
    SHAPE_MODE_NAMES,
    SHAPE_MODES,
    TEMPLATE,
    shaped_landmarks,
)
from continuum.generation.facesplat.reconstruct import (
    FaceConfig,
    FaceReconstruction,
    load_photo,
    reconstruct_face,
)
from continuum.generation.facesplat.refine import RefineResult, RefineWeights, refine
from continuum.generation.facesplat.surface import (
    HeadSurface,
    head_surface,
    landmark_surface,
    neck_surface,
)
from continuum.generation.facesplat.symmetry import mirror_partners
from continuum.generation.facesplat.views import photo_elevation, turntable_camera
from continuum.generation.facesplat.visibility import camera_pixels, sample_image, seen_weights

__all__ = [
    "HEAD_SEMI_AXES",
    "SHAPE_MODES",
    "SHAPE_MODE_NAMES",
    "TEMPLATE",
    "FaceConfig",
    "FaceReconstruction",
    "HeadSurface",
    "PlacedFace",
    "PoseFit",
    "RefineResult",
    "RefineWeights",
    "camera_pixels",
    "fit_pose",
    "head_surface",
    "landmark_surface",
    "load_photo",
    "mirror_partners",
    "neck_surface",
    "person_mask",
    "photo_camera",
    "photo_elevation",
    "place_face",
    "reconstruct_face",
    "refine",
    "sample_image",
    "seen_weights",
    "shaped_landmarks",
    "turntable_camera",
]
