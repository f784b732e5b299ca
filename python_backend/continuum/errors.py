"""Continuum's exceptions: one base class and a few subclasses that callers tell apart."""


class ContinuumError(Exception):
    """Base of every error Continuum raises on purpose."""


class ProtocolError(ContinuumError):
    """A bridge message or ZMTP frame that breaks bridge/PROTOCOL.md.

    ``code`` is the error code of PROTOCOL.md section 6 sent back to the peer.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SceneError(ContinuumError):
    """A scene folder or scene.json that cannot be loaded; the message names the file and field."""


class GodotNotFoundError(ContinuumError):
    """No usable Godot 4 executable; the message says how to provide one."""


class SplatFormatError(ContinuumError):
    """A splat file that cannot be read or written; the message names the file and the fault."""


class AssetError(ContinuumError):
    """An asset that cannot be stored or read: a malformed hash, an oversized asset, a bad range."""


class AssetNotFoundError(AssetError):
    """A well-formed asset hash that the store does not hold."""


class PhysicsError(ContinuumError):
    """A physics model, component or control that cannot be used; the simulation keeps running.

    ``code`` is the bridge error code a server replies with: ``"bad_request"`` for a bad value
    (the message names the field) and ``"not_found"`` for an unknown entity.
    """

    def __init__(self, message: str, *, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


class EntityNotFoundError(PhysicsError):
    """A control, query or edit that names an entity the simulation does not have."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="not_found")


class StoreError(ContinuumError):
    """A persistent world that cannot be opened, read or written: a missing world, a read-only
    or full disk, a damaged database; the message names the world's file and the fault."""


class WorldLockedError(StoreError):
    """A world another process holds open for writing; ``pid`` is that process, when known."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class EventError(StoreError):
    """A world event that cannot be decoded or applied: an unknown kind or version, a field of
    the wrong type, or an entity that does not exist (or already does)."""


class GenerationError(ContinuumError):
    """A generation request, job or model binding that cannot be served: a bad parameter (named),
    an unknown slot or job, a model that failed while running."""


class ModelLoadError(GenerationError):
    """A model that cannot be bound: a missing or corrupt folder, a pickle-only checkpoint, a
    pipeline of the wrong type for the slot, no memory left. The previous model stays bound."""


class IdentityError(ContinuumError):
    """An identity or memory request that cannot be served: an unreadable image, an embedding of
    the wrong size, an unknown entity or bank; the message names it."""


class NoFaceError(IdentityError):
    """A face image in which no face was found."""


class FaceSplatError(GenerationError):
    """A photo that cannot be made into a 3D face: unreadable, a face too small, or settings out
    of range (no face at all is a NoFaceError); the message names the file or argument and the
    fix."""
