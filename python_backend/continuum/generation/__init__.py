"""Generation: slots bound to models, jobs with progress and cancellation, hot reload.

Public names:
- the slots and their data (``slots``): ``SLOTS``, the requests ``TextToImage``, ``ImageEdit``,
  ``ImageToVideo``, ``Motion``, the results ``Image``, ``Video``, ``Trajectory``,
  ``parse_request`` (JSON params -> a checked request), ``takes_image``
- ``ModelSpec``, ``BUILTIN``, ``load_bindings``, ``save_bindings``: what a slot is bound to, and
  the bindings file (``specs``)
- ``BuiltinModel``: each slot's default that needs no weights (``builtin``)
- ``Model``, ``load_model``: a loaded model as the runtime sees it, and a spec loaded (``models``)
- ``GenerationRuntime``, ``SlotStatus``, ``Job`` and its events ``SlotChanged``,
  ``JobProgress``, ``JobDone``, ``JobFailed`` (``runtime``)
- ``LocalExecutor``, ``RayExecutor``: where models load and jobs run (``executors``)
- diffusers model folders load through ``diffusers_models.load_diffusers`` (torch-heavy: imported
  when a folder is bound)
- ``physmotion``: physics-controlled motion (scenarios, MuJoCo rollouts, a trajectory diffusion
  model folder, its training, reward and RL alignment); ``load_model`` binds a folder with
  ``physmotion.json`` to the motion slot through ``physmotion.slot_model.load_physmotion``
"""

from continuum.generation.builtin import BuiltinModel
from continuum.generation.executors import LocalExecutor, RayExecutor
from continuum.generation.models import Model, load_model
from continuum.generation.runtime import (
    GenerationRuntime,
    Job,
    JobDone,
    JobFailed,
    JobProgress,
    SlotChanged,
    SlotStatus,
)
from continuum.generation.slots import (
    SLOTS,
    Image,
    ImageEdit,
    ImageToVideo,
    Motion,
    TextToImage,
    Trajectory,
    Video,
    parse_request,
    takes_image,
)
from continuum.generation.specs import BUILTIN, ModelSpec, load_bindings, save_bindings

__all__ = [
    "BUILTIN",
    "SLOTS",
    "BuiltinModel",
    "GenerationRuntime",
    "Image",
    "ImageEdit",
    "ImageToVideo",
    "Job",
    "JobDone",
    "JobFailed",
    "JobProgress",
    "LocalExecutor",
    "Model",
    "ModelSpec",
    "Motion",
    "RayExecutor",
    "SlotChanged",
    "SlotStatus",
    "TextToImage",
    "Trajectory",
    "Video",
    "load_bindings",
    "load_model",
    "parse_request",
    "save_bindings",
    "takes_image",
]
