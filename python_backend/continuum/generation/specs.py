"""Model specs, and the bindings file that says which model each slot uses.

A spec is ``builtin`` (the slot's default, no weights) or a diffusers model folder on disk, with
the device and dtype to run it on. Bindings live in a TOML file (``continuum.toml`` by default):

    [slots.text_to_image]
    model = "models/sd-turbo"    # a diffusers folder (relative to this file), or "builtin"
    device = "cpu"               # "cpu", "cuda" or "cuda:N"
    dtype = "float32"            # "float32", "float16" or "bfloat16"

A slot without a table is bound to ``builtin``. ``continuum models bind`` rewrites the file; a
running backend watches it and rebinds what changed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from continuum.errors import GenerationError
from continuum.generation.slots import SLOTS, check_slot

DEFAULT_FILE = "continuum.toml"
DTYPES = ("float32", "float16", "bfloat16")
_DEVICE = re.compile(r"^(cpu|cuda(:\d{1,2})?)$")


@dataclass(frozen=True)
class ModelSpec:
    """What a slot is bound to.

    Attributes:
        path: the diffusers model folder (absolute), or None for the slot's built-in default.
        device: where it runs: "cpu", "cuda" or "cuda:N".
        dtype: the weights' dtype once loaded.
    """

    path: Path | None = None
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise GenerationError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.dtype not in DTYPES:
            raise GenerationError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    @property
    def builtin(self) -> bool:
        return self.path is None

    def to_json(self) -> dict[str, Any]:
        """The spec as the bridge and the bindings file give it."""
        return {
            "model": "builtin" if self.path is None else str(self.path),
            "device": self.device,
            "dtype": self.dtype,
        }

    @classmethod
    def from_json(cls, doc: Any, *, base: Path | None = None) -> ModelSpec:
        """The spec ``{"model": "builtin" | folder, "device"?, "dtype"?}``; a relative folder is
        taken relative to ``base`` (default: the working directory).

        Raises:
            GenerationError: a malformed spec (the message names the field).
        """
        if not isinstance(doc, dict):
            raise GenerationError(f"a model spec must be an object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - {"model", "device", "dtype"})
        if unknown:
            raise GenerationError(
                f"model spec: unknown fields {unknown}; known: model, device, dtype"
            )
        model = doc.get("model", "builtin")
        if not isinstance(model, str) or not model:
            raise GenerationError(f"model spec: model must be 'builtin' or a folder, got {model!r}")
        path = None
        if model != "builtin":
            path = Path(model).expanduser()
            if not path.is_absolute():
                path = (base or Path.cwd()) / path
            path = Path(os.path.normpath(path))
        return cls(path, str(doc.get("device", "cpu")), str(doc.get("dtype", "float32")))


BUILTIN = ModelSpec()


def load_bindings(path: str | Path) -> dict[str, ModelSpec]:
    """The spec of every slot that ``path`` binds (a missing file binds none).

    Raises:
        GenerationError: the file is not valid TOML, names an unknown slot, or holds a bad spec;
            the message names the file and the slot.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GenerationError(f"{path}: not a readable TOML file: {exc}") from None
    slots = doc.get("slots", {})
    if not isinstance(slots, dict):
        raise GenerationError(f"{path}: [slots] must be a table of slot tables")
    out = {}
    for slot, raw in slots.items():
        try:
            out[check_slot(slot)] = ModelSpec.from_json(raw, base=path.parent.resolve())
        except GenerationError as exc:
            raise GenerationError(f"{path}: [slots.{slot}]: {exc}") from None
    return out


def save_bindings(path: str | Path, bindings: dict[str, ModelSpec]) -> None:
    """Write ``bindings`` to ``path`` atomically (folders inside its own folder stay relative)."""
    path = Path(path)
    base = path.parent.resolve()
    lines = [
        '# Continuum model bindings: one table per slot. model = "builtin" or a diffusers',
        "# folder (relative to this file); edit here or with `continuum models bind`.",
    ]
    for slot in SLOTS:
        spec = bindings.get(slot)
        if spec is None:
            continue
        doc = spec.to_json()
        if spec.path is not None and spec.path.is_relative_to(base):
            doc["model"] = spec.path.relative_to(base).as_posix()
        lines += ["", f"[slots.{slot}]"] + [f"{k} = {_toml_string(v)}" for k, v in doc.items()]
    fd, tmp = tempfile.mkstemp(dir=base, prefix=".tmp-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
