"""Simulation: a scene's MuJoCo model stepping in its own thread, with controls, queries, edits
and a pose snapshot any thread can read.

The stepping thread is the only one that touches the model and data while it runs: controls,
queries and edits are queued to it and applied between two steps, in order, and the caller waits
for the answer (a few milliseconds at most, one step batch). Before ``start()`` (and after
``close()``) they run in the caller's thread instead, which is how tests step deterministically.

Stepping is deterministic: the same scene, controls and edits at the same steps give bitwise the
same poses. Real-time pacing only decides when steps happen, never what they compute.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from continuum.errors import PhysicsError
from continuum.physics import divergence, state_io
from continuum.physics._state import PhysicsState
from continuum.physics.config import PhysicsConfig
from continuum.physics.controls import apply_control, check_control
from continuum.physics.queries import check_query, run_query
from continuum.physics.stream import PhysicsEvent, PoseFrame
from continuum.world.scene import Entity, Scene

log = logging.getLogger(__name__)
T = TypeVar("T")
Listener = Callable[[PhysicsEvent], None]
_UNPACED_BATCH_S = 0.004  # unpaced stepping looks at the queue at least this often


class _Command:
    """A function of the state, run by the stepping thread; the caller waits for its result."""

    def __init__(self, fn: Callable[[PhysicsState], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self, state: PhysicsState) -> None:
        try:
            self.result = self.fn(state)
        except BaseException as exc:  # handed to the waiting caller, raised there
            self.error = exc

    def wait(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


class Simulation:
    """A scene's physics: MuJoCo stepping at ``config.dt``, paced to real time.

    Use as a context manager (``close()`` stops the thread). Every method may be called from any
    thread.

    Args:
        scene: the scene; entities with a ``physics`` component become bodies, and its ``mjcf``
            model (if any) is merged in.
        config: the simulation's settings.
        record_controls: keep ``control_log``, every applied control with its step (off by
            default: the log grows with every control).

    Raises:
        PhysicsError: the scene's physics cannot be assembled (a bad component, a missing or
            degenerate mesh, an invalid MJCF model); the message names the entity or file.
    """

    def __init__(
        self,
        scene: Scene,
        *,
        config: PhysicsConfig = PhysicsConfig(),  # noqa: B008
        record_controls: bool = False,
    ) -> None:
        if not isinstance(config, PhysicsConfig):
            raise PhysicsError(f"config must be a PhysicsConfig, got {type(config).__name__}")
        self.config = config
        self._state = PhysicsState(scene, config)
        self._frame: PoseFrame = self._state.frame
        self._state_lock = threading.Lock()  # whoever works on the state holds it
        self._edit_lock = threading.Lock()  # one edit at a time, from prepare to commit
        self._cv = threading.Condition()  # guards the queue and the flags below
        self._commands: deque[_Command] = deque()
        self._paused = False
        self._closing = False
        self._reanchor = True
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []
        self._events: list[PhysicsEvent] = []
        self._wall0 = 0.0
        self._step0 = 0
        self._record = bool(record_controls)
        self._control_log: list[tuple[int, dict[str, Any]]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the stepping thread (paced to real time unless ``config.realtime`` is False)."""
        with self._cv:
            if self._closing:
                raise PhysicsError("the simulation is closed")
            if self._thread is not None:
                raise PhysicsError("the simulation is already started")
            self._reanchor = True
            self._thread = threading.Thread(
                target=self._loop, name="continuum-physics", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the stepping thread; later calls run in the caller's thread. Idempotent."""
        with self._cv:
            self._closing = True
            thread = self._thread
            self._cv.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cv:
            self._thread = None
            pending = list(self._commands)
            self._commands.clear()
        for cmd in pending:  # queued just as the thread stopped: run them here
            with self._state_lock:
                cmd.run(self._state)
            cmd.done.set()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time ---------------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop stepping (at the next step boundary; when this returns, no step is under way)."""

        def pause(state: PhysicsState) -> None:
            with self._cv:
                self._paused = True

        self._run(pause)

    def resume(self) -> None:
        """Resume stepping, paced from now (no burst to catch up the paused time)."""
        with self._cv:
            self._paused = False
            self._reanchor = True
            self._cv.notify_all()

    def step(self, count: int = 1) -> None:
        """Take ``count`` steps now: while paused, or before ``start()``.

        Raises:
            PhysicsError: the simulation is running (pause it first), or a bad count.
        """
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**7:
            raise PhysicsError(f"step count must be an int in [1, 10000000], got {count!r:.40}")
        with self._cv:
            if self._thread is not None and not self._paused:
                raise PhysicsError("step: the simulation is running; pause it first")
        self._run(lambda state: self._events.extend(state.step(count)))

    @property
    def sim_time(self) -> float:
        """Simulated seconds so far (= step_count * dt)."""
        return self._state.step_count * self.config.dt

    @property
    def step_count(self) -> int:
        """Steps taken so far."""
        return self._state.step_count

    @property
    def paused(self) -> bool:
        return self._paused

    # -- the state stream ---------------------------------------------------------------------

    def layout(self) -> tuple[int, list[str]]:
        """(layout version, body ids in pose order) of the latest snapshot."""
        frame = self._frame
        return frame.layout, list(frame.ids)

    def poses(self) -> PoseFrame:
        """The latest consistent snapshot of every streamed body's pose (never waits)."""
        return self._frame

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(event)`` for each PhysicsEvent (a divergence reset, say).

        Listeners run in the stepping thread, after the step that caused the event and outside
        the simulation's locks: they must return quickly. They may read poses and send controls
        and queries (those run at once, between two steps), but not add, remove or modify
        entities (an edit waits for the stepping thread).
        """
        with self._cv:
            self._listeners.append(callback)

    # -- controls, queries, edits -------------------------------------------------------------

    def control(self, op: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one control (see ``continuum.physics.controls``); returns its result with the
        ``sim_time`` and ``step`` after it.

        Raises:
            PhysicsError: a bad field (named), or an op the body cannot do.
            EntityNotFoundError: the entity is not a body of the simulation.
        """
        checked = check_control(op, self.config)
        name = checked["op"]
        if name == "pause":
            self.pause()
        elif name == "resume":
            self.resume()
        elif name == "step":
            self.step(checked["count"])
        else:
            logged = copy.deepcopy(dict(op)) if self._record else None  # the op as sent

            def apply(state: PhysicsState) -> dict[str, Any]:
                result = {
                    **apply_control(state, checked),
                    "sim_time": state.sim_time,
                    "step": state.step_count,
                }
                if logged is not None:
                    self._control_log.append((state.step_count, logged))
                return result

            return self._run(apply)
        return {"sim_time": self.sim_time, "step": self.step_count}

    @property
    def control_log(self) -> list[tuple[int, dict[str, Any]]]:
        """The controls applied so far, ``(step, op)`` in order, when the simulation was made
        with ``record_controls=True`` (pause, resume and step are not logged: the steps are).

        ``step`` is the step count when the control was applied, before the next step (the
        ``step`` of its result): ``replay`` applies it again at that point. A caller that keeps
        its own record can log ``(result["step"], op)`` for each successful ``control``.
        """
        with self._state_lock:
            return list(self._control_log)

    def save_state(self) -> dict[str, Any]:
        """The full simulation state as a JSON-ready dict (see ``continuum.physics.state_io``):
        step count, sim_time, MuJoCo's integration state (qpos, qvel, ...) and what controls
        keep (grabs, live parameters, timed forces). Taken between two steps."""
        return self._run(state_io.dump_state)

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a ``save_state`` dict (between two steps): stepping from here gives bitwise
        what the saved simulation gave. Load into a fresh simulation of the same scene and
        config; the control log is cleared.

        Raises:
            PhysicsError: not a saved state, or one of another model (other bodies, another
                state size, another dt); nothing changes.
        """

        def load(s: PhysicsState) -> None:
            state_io.load_state(s, state)
            self._control_log.clear()

        self._run(load)

    def replay(self, to_step: int, controls: Sequence[tuple[int, Mapping[str, Any]]]) -> PoseFrame:
        """Step to ``to_step``, applying each ``(step, op)`` of ``controls`` when the step
        count reaches its ``step`` (before stepping on), in order: from a ``load_state`` of a
        saved state and the controls logged after it, this reproduces the original run bitwise.
        Paused or before ``start()`` only. Returns the poses at ``to_step``.

        Raises:
            PhysicsError: the simulation is running, ``to_step`` is behind the step count, the
                controls are out of order or outside [step count, to_step], or a control fails
                as it did not originally (a different state).
        """
        if isinstance(to_step, bool) or not isinstance(to_step, int):
            raise PhysicsError(f"replay: to_step must be an int, got {to_step!r:.40}")
        now = self.step_count
        if to_step < now:
            raise PhysicsError(
                f"replay: to_step {to_step} is behind the simulation's step {now}; load an "
                "earlier state first"
            )
        controls = [(step, op) for step, op in controls]
        previous = now
        for step, op in controls:
            if not isinstance(op, Mapping) or op.get("op") in ("pause", "resume", "step"):
                raise PhysicsError(
                    f"replay: each control must be an op other than pause, resume and step (the "
                    f"steps are replayed from the step counts), got {op!r:.60}"
                )
            if isinstance(step, bool) or not isinstance(step, int) or not now <= step <= to_step:
                raise PhysicsError(
                    f"replay: a control's step must be an int in [{now}, {to_step}] (the step "
                    f"count to to_step), got {step!r:.40}"
                )
            if step < previous:
                raise PhysicsError(
                    f"replay: controls must be in step order; step {step} comes after {previous}"
                )
            previous = step
        with self._cv:
            if self._thread is not None and not self._paused:
                raise PhysicsError("replay: the simulation is running; pause it first")
        for step, op in controls:
            self._step_to(step)
            self.control(op)
        self._step_to(to_step)
        return self.poses()

    def _step_to(self, step: int) -> None:
        while self.step_count < step:
            self.step(min(step - self.step_count, 10**7))

    def query(self, q: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one query (see ``continuum.physics.queries``).

        Raises:
            PhysicsError: a bad field (named).
            EntityNotFoundError: an unknown entity.
        """
        checked = check_query(q)
        return self._run(lambda state: run_query(state, checked))

    def add_entity(self, entity: Entity) -> None:
        """Add an entity while the simulation runs (a body when it has a physics component).

        The model is recompiled outside the stepping thread and swapped in between two steps;
        every other body keeps its exact state.

        Raises:
            PhysicsError: the id is taken, its parent is unknown, or its physics is bad.
        """
        with self._edit_lock:
            edit = self._state.prepare_add(entity)
            self._run(lambda state: state.commit(edit))

    def remove_entity(self, id: str) -> None:
        """Remove an entity and its body, with any bodies hanging from it by joints.

        Raises:
            EntityNotFoundError: no such entity.
        """
        with self._edit_lock:
            edit = self._state.prepare_remove(id)
            self._run(lambda state: state.commit(edit))

    def modify_entity(self, id: str, physics: Mapping[str, Any]) -> None:
        """Change an entity's physics component (keys replace, None removes a key).

        The body keeps its pose and velocity; live parameters set by ``set`` for the changed
        keys are dropped, the others stay.

        Raises:
            EntityNotFoundError: no such entity.
            PhysicsError: a bad value.
        """
        with self._edit_lock:
            edit = self._state.prepare_modify(id, physics)
            self._run(lambda state: state.commit(edit))

    # -- the stepping thread ------------------------------------------------------------------

    def _run(self, fn: Callable[[PhysicsState], T]) -> T:
        """Run ``fn(state)`` between two steps (in the stepping thread when it runs)."""
        cmd = _Command(fn)
        with self._cv:
            # From the stepping thread itself (a listener), run at once: it is between steps.
            inside = threading.current_thread() is self._thread
            queued = self._thread is not None and not self._closing and not inside
            if queued:
                self._commands.append(cmd)
                self._cv.notify_all()
        if queued:
            return cmd.wait()
        with self._state_lock:
            cmd.run(self._state)
            self._events.extend(self._check(self._state))
            self._frame = self._state.snapshot()
            events, self._events = self._events, []
        cmd.done.set()
        self._dispatch(events)
        return cmd.wait()

    def _loop(self) -> None:
        state, dt = self._state, self.config.dt
        max_batch = max(1, round(self.config.max_lag / dt))
        while True:
            with self._cv:
                while True:
                    if self._closing:
                        return
                    if self._reanchor and not self._paused:
                        self._wall0, self._step0 = time.perf_counter() - dt, state.step_count
                        self._reanchor = False
                    if self._commands:
                        break
                    if self._paused:
                        self._cv.wait()
                        continue
                    if not self.config.realtime:
                        break
                    wait = self._wall0 + (state.step_count + 1 - self._step0) * dt
                    wait -= time.perf_counter()
                    if wait <= 0:
                        break
                    self._cv.wait(wait)
                commands = list(self._commands)
                self._commands.clear()
            with self._state_lock:
                for cmd in commands:
                    cmd.run(state)
                if commands:
                    self._events.extend(self._check(state))
                if not self._paused and not self._reanchor:
                    self._advance(state, max_batch)
                self._frame = state.snapshot()
                events, self._events = self._events, []
            for cmd in commands:
                cmd.done.set()
            self._dispatch(events)

    def _advance(self, state: PhysicsState, max_batch: int) -> None:
        dt = self.config.dt
        if self.config.realtime:
            due = int((time.perf_counter() - self._wall0) / dt) + self._step0 - state.step_count
            if due > max_batch:  # too far behind: skip ahead instead of a burst
                with self._cv:
                    self._wall0, self._step0 = time.perf_counter() - dt, state.step_count
                due = 1
            deadline = None
        else:
            due = max_batch
            deadline = time.perf_counter() + _UNPACED_BATCH_S
        for _ in range(max(0, due)):
            try:
                self._events.extend(state.step(1))
            except Exception as exc:  # a MuJoCo error: reset every tree, report, go on
                log.exception("physics step failed; resetting every body")
                reasons = {t: f"MuJoCo error: {exc}" for t in state.index.trees}
                self._events.append(divergence.reset(state, reasons))
            if self._commands or (deadline is not None and time.perf_counter() > deadline):
                break

    def _check(self, state: PhysicsState) -> list[PhysicsEvent]:
        event = divergence.check(state)
        return [] if event is None else [event]

    def _dispatch(self, events: list[PhysicsEvent]) -> None:
        if not events:
            return
        with self._cv:
            listeners = list(self._listeners)
        for event in events:
            log.warning("physics: %s", event.message)
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a listener's bug must not stop the simulation
                    log.exception("physics event listener %r failed", listener)
