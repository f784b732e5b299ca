"""The ``models.*`` and ``gen.*`` requests of PROTOCOL.md section 14, over a
``continuum.generation.GenerationRuntime``, and the pushes its events become."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from continuum.errors import GenerationError, IdentityError, ProtocolError
from continuum.generation import (
    GenerationRuntime,
    Image,
    JobDone,
    JobFailed,
    JobProgress,
    ModelSpec,
    SlotChanged,
    Trajectory,
    Video,
    parse_request,
    takes_image,
)
from continuum.generation.runtime import Event
from continuum.server.codec import Message
from continuum.server.protocol import Limits


def models_list(runtime: GenerationRuntime) -> Message:
    return Message("models.list", {"slots": [s.to_json() for s in runtime.status()]})


def models_bind(runtime: GenerationRuntime, msg: Message) -> Message:
    slot = msg.header.get("slot")
    save = msg.header.get("save", False)
    if not isinstance(save, bool):
        raise ProtocolError("bad_request", f"models.bind.save must be a boolean, got {save!r:.40}")
    with _answering("models.bind"):
        spec = ModelSpec.from_json(msg.header.get("spec"))
        status = runtime.bind(slot, spec, save=save)  # type: ignore[arg-type]
    return Message("models.bind", status.to_json())


def submit(
    runtime: GenerationRuntime,
    msg: Message,
    owner: Any,
    *,
    reference: Callable[[str], tuple[np.ndarray, str]] | None = None,
) -> Message:
    """Queue a job. ``reference(entity)`` gives an identity's reference image and its asset
    (the ``identity`` field, PROTOCOL.md 15)."""
    slot = msg.header.get("slot")
    identity = msg.header.get("identity")
    if identity is not None and (not isinstance(identity, str) or reference is None):
        raise ProtocolError("bad_request", "gen.submit.identity must be an entity with a bank")
    timeout = msg.header.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise ProtocolError(
            "bad_request", f"gen.submit.timeout_s must be a number, got {timeout!r:.40}"
        )
    with _answering("gen.submit"):
        wants_image = takes_image(slot)  # type: ignore[arg-type]
        if len(msg.blobs) > (1 if wants_image else 0):
            raise GenerationError(
                f"{slot} takes {'one image blob' if wants_image else 'no blob'}, got "
                f"{len(msg.blobs)} blobs"
            )
        image = msg.blobs[0] if msg.blobs else None
        ref_image, tags = None, {}
        if identity is not None:
            try:
                ref_image, tags["reference"] = reference(identity)  # type: ignore[misc]
            except IdentityError as exc:
                code = "not_found" if "no identity bank" in str(exc) else "bad_request"
                raise ProtocolError(code, f"gen.submit.identity: {exc}") from None
        request = parse_request(
            slot,  # type: ignore[arg-type]
            msg.header.get("params", {}),
            image,
            reference=ref_image,
        )
        ahead = sum(1 for j in runtime.jobs() if j.state == "queued")
        if ahead >= runtime.max_queued:
            raise ProtocolError("busy", f"{ahead} jobs are queued, the most allowed (max_jobs)")
        job = runtime.submit(
            slot,  # type: ignore[arg-type]
            request,
            owner=owner,
            timeout_s=timeout,
            tags=tags,
        )
    return Message("gen.submit", {"job": job.id, "queued": ahead})


def cancel(runtime: GenerationRuntime, msg: Message, owner: Any) -> Message:
    job_id = msg.header.get("job")
    try:
        job = runtime.job(job_id)  # type: ignore[arg-type]
    except GenerationError as exc:
        raise ProtocolError("not_found", f"gen.cancel: {exc}") from None
    if job.owner != owner:
        raise ProtocolError("not_found", f"gen.cancel: no job {job_id} of this session")
    runtime.cancel(job.id)
    return Message("gen.cancel", {"job": job.id, "state": "cancelling"})


def jobs(runtime: GenerationRuntime, owner: Any) -> Message:
    mine = [
        {"job": j.id, "slot": j.slot, "state": j.state, "step": j.step, "steps": j.steps}
        for j in runtime.jobs()
        if j.owner == owner
    ]
    return Message("gen.jobs", {"jobs": mine})


def event_message(event: Event, limits: Limits) -> tuple[Any, Message]:
    """``(owner, message)``: the push an event becomes and the session it goes to (None: every
    session)."""
    if isinstance(event, SlotChanged):
        return None, Message("models.changed", event.status.to_json())
    job = event.job
    if isinstance(event, JobProgress):
        return job.owner, Message(
            "gen.progress", {"job": job.id, "step": event.step, "steps": event.steps}
        )
    if isinstance(event, JobFailed):
        return job.owner, _failed(job.id, job.slot, event.code, event.message)
    assert isinstance(event, JobDone)
    result = event.result
    header: dict[str, Any] = {"job": job.id, "slot": job.slot, "model": job.model, **job.tags}
    if isinstance(result, Image):
        header["result"], blob = "image", result.pixels
    elif isinstance(result, Video):
        header.update(result="video", fps=result.fps)
        blob = result.frames
    elif isinstance(result, Trajectory):
        header.update(
            result="trajectory",
            fps=result.fps,
            channels=list(result.channels),
            end_velocity=[float(v) for v in result.end_velocity],
        )
        blob = result.values.astype(np.float32, copy=False)
    else:
        return job.owner, _failed(job.id, job.slot, "failed", f"the model returned {result!r:.60}")
    if blob.nbytes > limits.max_frame_bytes:
        return job.owner, _failed(
            job.id,
            job.slot,
            "too_large",
            f"the result takes {blob.nbytes} octets, over max_frame_bytes "
            f"({limits.max_frame_bytes}); ask for fewer frames or a smaller size",
        )
    return job.owner, Message("gen.done", header, [np.ascontiguousarray(blob)])


def _failed(job: int, slot: str, code: str, message: str) -> Message:
    return Message("gen.failed", {"job": job, "slot": slot, "code": code, "message": message})


@contextlib.contextmanager
def _answering(what: str) -> Iterator[None]:
    """GenerationError -> bad_request naming the request."""
    try:
        yield
    except GenerationError as exc:
        raise ProtocolError("bad_request", f"{what}: {exc}") from None
