"""Diffusers models: a diffusers model folder on disk, loaded as the model of one slot.

``load_diffusers`` checks the folder before diffusers sees it, then loads it with no network
and no pickles (``from_pretrained(..., use_safetensors=True, local_files_only=True)``):

| slot | pipelines (``_class_name`` in model_index.json) |
|---|---|
| ``text_to_image`` | StableDiffusionPipeline, StableDiffusionXLPipeline (SD-Turbo, SDXL-Turbo) |
| ``image_edit`` | StableDiffusionInstructPix2PixPipeline |
| ``image_to_video`` | StableVideoDiffusionPipeline |
| ``motion`` | none: the built-in model or a physmotion folder (``models.load_model``) |

ControlNet pipelines are not taken: the ``text_to_image`` request has no control image.

Choices:

- Weights are ``.safetensors`` only. A component with only pickled weights (``.bin``, ``.ckpt``,
  ``.pt``, ``.pth``, ``.pkl``) is refused; every ``.safetensors`` header is read and its size
  checked against the file before loading, so a truncated download names its file.
- A component listed in model_index.json must have its folder, except the safety checker (and
  its feature extractor): when absent it is disabled. A safety checker that is present is kept.
- Components come from diffusers (and its pipeline packages) or transformers only: no custom
  code.
- ``float16`` is allowed on the CPU (torch runs it; it saves half the memory but is usually
  slower than ``float32`` there, and a warning says so); ``bfloat16`` is the faster half
  precision on most CPUs.
- The image that ``image_edit`` and ``image_to_video`` take is resized to what the model needs
  (a multiple of its latent grid) and the result is resized back: an edit or a video has the
  input image's size.
- Loading switches off diffusers' and transformers' progress bars (process-wide: a backend logs,
  it has no terminal to draw them on).
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.builtin import Progress
from continuum.generation.slots import (
    Image,
    ImageEdit,
    ImageToVideo,
    Request,
    Result,
    TextToImage,
    Video,
)
from continuum.generation.specs import ModelSpec

log = logging.getLogger("continuum.generation")

PIPELINES: dict[str, tuple[str, ...]] = {
    "text_to_image": ("StableDiffusionPipeline", "StableDiffusionXLPipeline"),
    "image_edit": ("StableDiffusionInstructPix2PixPipeline",),
    "image_to_video": ("StableVideoDiffusionPipeline",),
    "motion": (),
}
LIBRARIES = ("diffusers", "transformers")
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
SAFETY_COMPONENTS = ("safety_checker", "feature_extractor")  # disabled when absent
DECODE_CHUNK = 2  # video frames the VAE decodes at once: small keeps memory low
_MAX_HEADER = 100 << 20  # a safetensors header larger than this is not one


def load_diffusers(slot: str, spec: ModelSpec) -> DiffusersModel:
    """The diffusers model folder ``spec.path`` loaded for ``slot`` on ``spec.device``.

    Raises:
        ModelLoadError: the folder is missing or not a diffusers folder, its pipeline does not
            serve ``slot``, a component is missing, pickled, truncated or corrupt, the device
            is not available, or memory ran out; the message names the folder and the fault.
    """
    # 1. The slot: one that diffusers pipelines serve.
    allowed = PIPELINES.get(slot, ())
    if not allowed:
        raise ModelLoadError(
            f"{spec.path}: the {slot} slot takes the built-in model or a physmotion model folder "
            "(one with physmotion.json, written by `continuum motion train`), not a diffusers "
            "pipeline"
        )
    if spec.path is None:
        raise ModelLoadError(f"{slot}: the built-in spec has no folder to load")

    # 2. The folder's model_index.json, naming a pipeline that serves the slot.
    folder = Path(spec.path)
    index = _read_index(folder)
    class_name = index.get("_class_name")
    if class_name not in allowed:
        raise ModelLoadError(
            f"{folder}: its pipeline is {class_name!r:.80}, which does not serve {slot}; "
            f"{slot} takes {', '.join(allowed)}"
        )

    # 3. The components: present, from diffusers or transformers, whole safetensors weights.
    overrides = _check_components(folder, index)

    # 4. The device and the dtype.
    import torch

    device = _device(folder, spec.device)
    dtype = getattr(torch, spec.dtype)
    if device.type == "cpu" and spec.dtype == "float16":
        log.warning(
            "%s: float16 on the CPU runs, but usually slower than float32; bfloat16 is the "
            "faster half precision on most CPUs",
            folder,
        )

    # 5. Load: no network, no pickles; then move to the device.
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    pipeline_class = getattr(diffusers, class_name)
    try:
        pipe = pipeline_class.from_pretrained(
            folder,
            use_safetensors=True,
            local_files_only=True,
            dtype=dtype,
            **overrides,
        )
        pipe.to(device)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        _free(device)
        raise ModelLoadError(f"{folder}: out of memory loading it on {device}: {exc}") from exc
    except Exception as exc:  # diffusers, transformers and safetensors raise many types
        _free(device)
        if "out of memory" in str(exc).lower():
            raise ModelLoadError(f"{folder}: out of memory loading it on {device}: {exc}") from exc
        raise ModelLoadError(
            f"{folder}: cannot load the {class_name}: {type(exc).__name__}: {exc}"
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    return DiffusersModel(slot, pipe, folder=folder, device=device, dtype=spec.dtype)


class DiffusersModel:
    """A loaded diffusers pipeline serving one slot. Runs one request at a time (a pipeline's
    scheduler holds the state of the run); ``close()`` frees it."""

    def __init__(self, slot: str, pipe: Any, *, folder: Path, device: Any, dtype: str) -> None:
        import torch

        self.slot = slot
        self._pipe = pipe
        self._device = device
        self._lock = threading.Lock()
        parameters = sum(
            p.numel()
            for c in pipe.components.values()
            if isinstance(c, torch.nn.Module)
            for p in c.parameters()
        )
        self._description = {
            "name": folder.name,
            "pipeline": type(pipe).__name__,
            "device": str(device),
            "dtype": dtype,
            "path": str(folder),
            "parameters": parameters,
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def run(self, request: Request, progress: Progress) -> Result:
        """The slot's result for ``request``; ``progress(step, steps)`` after every denoising
        step (an exception it raises stops the run and propagates).

        Raises:
            GenerationError: a request of another slot, or the model is closed.
        """
        import torch

        expected = {
            "text_to_image": TextToImage,
            "image_edit": ImageEdit,
            "image_to_video": ImageToVideo,
        }[self.slot]
        if not isinstance(request, expected):
            raise GenerationError(
                f"{self.slot}: expected a {expected.__name__} request, got {type(request).__name__}"
            )
        with self._lock, torch.inference_mode():
            pipe = self._pipe
            if pipe is None:
                raise GenerationError(
                    f"{self.slot}: the model {self._description['name']} is closed"
                )
            generator = torch.Generator(self._device).manual_seed(request.seed)
            callback = _step_callback(progress, request.steps)
            try:
                if isinstance(request, TextToImage):
                    return Image(_text_to_image(pipe, request, generator, callback))
                if isinstance(request, ImageEdit):
                    return Image(_image_edit(pipe, request, generator, callback))
                return Video(_image_to_video(pipe, request, generator, callback), fps=request.fps)
            except BaseException:
                _free(self._device)
                raise

    def close(self) -> None:
        """Free the pipeline (and the GPU memory it held). Idempotent."""
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is None:
            return
        for name in list(pipe.components):
            setattr(pipe, name, None)
        del pipe
        gc.collect()
        _free(self._device)


def _text_to_image(pipe: Any, request: TextToImage, generator: Any, callback: Any) -> np.ndarray:
    if request.reference is not None:
        return _from_reference(pipe, request, generator, callback)
    out = pipe(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,  # None: the model's own empty prompt
        width=request.width,
        height=request.height,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        generator=generator,
        output_type="np",
        callback_on_step_end=callback,
    )
    return _to_uint8(out.images[0])  # [H, W, 3]


def _from_reference(pipe: Any, request: TextToImage, generator: Any, callback: Any) -> np.ndarray:
    """Text to image from an identity's reference: the same weights as an image-to-image
    pipeline (``from_pipe`` shares the components), the reference noised to ``strength``."""
    from diffusers import AutoPipelineForImage2Image

    img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    out = img2img(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,
        image=_pil(request.reference, (request.width, request.height)),
        strength=max(request.strength, 1.0 / request.steps),  # at least one step
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        generator=generator,
        output_type="np",
        callback_on_step_end=callback,
    )
    return _to_uint8(out.images[0])  # [H, W, 3]


def _image_edit(pipe: Any, request: ImageEdit, generator: Any, callback: Any) -> np.ndarray:
    height, width = request.image.shape[:2]
    grid = pipe.vae_scale_factor
    size = (max(grid, width // grid * grid), max(grid, height // grid * grid))
    out = pipe(
        prompt=request.instruction,
        image=_pil(request.image, size),
        num_inference_steps=request.steps,
        guidance_scale=request.guidance,
        image_guidance_scale=request.image_guidance,
        generator=generator,
        output_type="np",
        callback_on_step_end=callback,
    )
    return _resized(_to_uint8(out.images[0]), width, height)  # [H, W, 3]


def _image_to_video(pipe: Any, request: ImageToVideo, generator: Any, callback: Any) -> np.ndarray:
    height, width = request.image.shape[:2]
    # The UNet halves the latent grid at every level but the last; the pipeline wants 8 | side.
    levels = len(pipe.unet.config.block_out_channels)
    grid = math.lcm(8, pipe.vae_scale_factor * 2 ** (levels - 1))
    w, h = max(grid, width // grid * grid), max(grid, height // grid * grid)
    out = pipe(
        image=_pil(request.image, (w, h)),
        height=h,
        width=w,
        num_frames=request.frames,
        num_inference_steps=request.steps,
        fps=request.fps,
        motion_bucket_id=round(request.motion),
        decode_chunk_size=min(DECODE_CHUNK, request.frames),
        generator=generator,
        output_type="np",
        callback_on_step_end=callback,
    )
    frames = _to_uint8(out.frames[0])  # [T, h, w, 3]
    return np.stack([_resized(f, width, height) for f in frames])  # [T, H, W, 3]


def _step_callback(progress: Progress, steps: int) -> Any:
    """diffusers' ``callback_on_step_end``: ``progress(step, steps)`` after each step. The total
    is the pipeline's count of timesteps (a second-order scheduler takes more than ``steps``)."""

    def on_step_end(pipe: Any, index: int, timestep: Any, tensors: dict) -> dict:
        progress(index + 1, getattr(pipe, "_num_timesteps", None) or steps)
        return {}

    return on_step_end


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """float [..., 3] in [0, 1] -> uint8 (NaN, from a half-precision overflow, is black)."""
    values = np.nan_to_num(np.asarray(values, np.float32), nan=0.0)
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _pil(image: np.ndarray, size: tuple[int, int]) -> Any:
    from PIL import Image as PILImage

    pil = PILImage.fromarray(image)  # uint8 [H, W, 3]: RGB
    return pil if pil.size == size else pil.resize(size, PILImage.Resampling.BICUBIC)


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(_pil(image, (width, height)))


def _read_index(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: no such model folder")
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        single = sorted(
            p.name for p in folder.iterdir() if p.suffix in (".safetensors", *PICKLE_SUFFIXES)
        )
        hint = (
            f" ({', '.join(single[:3])} looks like a single-file checkpoint: convert it to a "
            "diffusers folder with the pipeline's from_single_file(...).save_pretrained(folder))"
            if single
            else ""
        )
        raise ModelLoadError(f"{folder}: not a diffusers model folder: no model_index.json{hint}")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{index_file}: not a readable JSON file: {exc}") from exc
    if not isinstance(index, dict):
        raise ModelLoadError(f"{index_file}: must be a JSON object, got {type(index).__name__}")
    return index


def _check_components(folder: Path, index: dict[str, Any]) -> dict[str, Any]:
    """The from_pretrained overrides for absent optional components; raises ModelLoadError for
    a missing, foreign, pickle-only or damaged component."""
    overrides: dict[str, Any] = {}
    pickled = []
    has_safety = "safety_checker" in index
    for name, entry in sorted(index.items()):
        if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2:
            continue  # a pipeline setting such as requires_safety_checker
        library, cls = entry
        if library is None or cls is None:
            continue  # a component the folder leaves out on purpose
        if not _known_library(library):
            raise ModelLoadError(
                f"{folder}: component {name} comes from {library!r:.60}; only components of "
                "diffusers (and its pipelines) and transformers are loaded (no custom code)"
            )
        component = folder / name
        if not component.is_dir():
            if has_safety and name in SAFETY_COMPONENTS:
                overrides[name] = None
                continue
            raise ModelLoadError(
                f"{folder}: component {name} ({library}.{cls}) is listed in model_index.json "
                f"but the folder {name}/ is missing"
            )
        files = [p for p in component.iterdir() if p.is_file()]
        if not files:
            raise ModelLoadError(f"{folder}: the component folder {name}/ is empty")
        tensors = [p for p in files if p.suffix == ".safetensors"]
        if not tensors and any(p.suffix in PICKLE_SUFFIXES for p in files):
            pickled.append(name)
        for path in tensors:
            _check_safetensors(path)
    if pickled:
        raise ModelLoadError(
            f"{folder}: safetensors only: {', '.join(pickled)} hold only pickled weights "
            f"({'/'.join(PICKLE_SUFFIXES)}), which Continuum never loads (unpickling runs "
            "code). Convert it once, in an environment you trust: "
            "DiffusionPipeline.from_pretrained(folder).save_pretrained(new_folder, "
            "safe_serialization=True)"
        )
    if "safety_checker" in overrides:
        overrides["feature_extractor"] = None
        overrides["requires_safety_checker"] = False
    return overrides


def _known_library(library: Any) -> bool:
    """diffusers, transformers, or one of diffusers' pipeline packages ("stable_diffusion")."""
    if library in LIBRARIES:
        return True
    if not isinstance(library, str) or not library.isidentifier():
        return False
    return importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None


def _check_safetensors(path: Path) -> None:
    """Raises ModelLoadError unless ``path`` has a safetensors header whose tensors end exactly
    at the end of the file (a truncated or overwritten file does not)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < length <= min(size - 8, _MAX_HEADER):
                raise ModelLoadError(
                    f"{path}: not a whole safetensors file ({size} bytes; its header length "
                    f"field says {length}): truncated or corrupt, download it again"
                )
            header = json.loads(f.read(length))
        end = max(
            (int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"),
            default=0,
        )
    except ModelLoadError:
        raise
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read it: {exc}") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ModelLoadError(
            f"{path}: corrupt safetensors header ({type(exc).__name__}: {exc}); download it again"
        ) from exc
    if 8 + length + end != size:
        raise ModelLoadError(
            f"{path}: truncated or corrupt: its header says {8 + length + end} bytes, the file "
            f"has {size}; download it again"
        )


def _device(folder: Path, name: str) -> Any:
    import torch

    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"{folder}: device {name!r} asked for, but CUDA is not available to this "
                f'backend (torch {torch.__version__}); bind it with device = "cpu", or '
                "install a CUDA build of torch"
            )
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise ModelLoadError(
                f"{folder}: device {name!r} asked for, but this machine has {count} CUDA "
                f"device(s): cuda:0..cuda:{count - 1}"
            )
    return device


def _free(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()
