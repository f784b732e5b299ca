"""The backend server: an asyncio shell over the world, speaking bridge/PROTOCOL.md.

A ROUTER socket answers requests and carries reliable pushes (asset chunks, announcements); a
PUB socket carries the state stream. Every request is decoded and bounded by ``codec``, answered
by one handler, and every failure becomes an error reply: a bad client never stops the server or
disturbs other clients.

The served world is ``Server.world`` (a :class:`continuum.world.World`). Changing it from another
thread is safe: ``server.world.set_splat(entity, cloud)`` packs and stores in the calling thread,
and the server hands the resulting ``asset.announce`` to its event loop itself.

The world is event-sourced (PROTOCOL.md 13): with ``worlds_dir`` and ``world`` it is a persistent
world (created from the scene when missing), else it lives in memory. Requests that change it
(``world.edit``, ``undo``, ``redo``, ``open``, ``fork``) run in one worker thread, in arrival order,
so the event loop never waits on a disk; every change reaches every session as a ``world.changed``
push, sent after the reply of the request that made it.

A world with physics gets one :class:`continuum.physics.Simulation` (``Server.simulation``),
stepping in its own thread from ``start()`` to ``close()``, restored from the world's log when the
world is persistent. The event loop never waits on it: ``physics.control`` and ``physics.query``
run in the same worker thread and are answered when done; the ``poses`` publisher reads the
simulation's snapshots; its events (a divergence) reach the loop through
``call_soon_threadsafe`` and go to every session. A persistent world logs each control, and the
whole simulation state every ``physics_save_s`` and when the server closes.

Generation (PROTOCOL.md 14) is ``Server.generation``, a :class:`GenerationRuntime`: its models
load and its jobs run in its own threads (or on Ray); its events reach the loop the same way and
go to the session that submitted the job (``models.changed`` to every session).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq
import zmq.asyncio

from continuum import __version__
from continuum.errors import (
    AssetError,
    AssetNotFoundError,
    ContinuumError,
    PhysicsError,
    ProtocolError,
    StoreError,
)
from continuum.generation import GenerationRuntime, JobProgress, LocalExecutor, RayExecutor
from continuum.generation.runtime import Event as GenerationEvent
from continuum.identity import Identities
from continuum.memory import Memory
from continuum.server import (
    face_service,
    fields,
    generation_service,
    identity_service,
    physics_service,
    splat_service,
    world_service,
)
from continuum.server.codec import Message, decode_message, encode_message, request_id
from continuum.server.protocol import PROTOCOL_MAJOR, PROTOCOL_VERSION, Limits, parse_version
from continuum.server.session import Session, SessionTable
from continuum.server.transfer import Transfer, chunk_count
from continuum.world import AssetStore, Scene, SplatChanged, StoreConfig, World, WorldChange
from continuum.world.store import ASSETS_DIR, WorldStore, list_worlds

if TYPE_CHECKING:
    from continuum.physics import PhysicsConfig, PhysicsEvent, Simulation

log = logging.getLogger("continuum.server")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STREAM_TOPICS = ("tick",)  # and "poses" when the scene has physics
_FILL_PATTERN = np.arange(251, dtype=np.uint8)


@dataclass
class ServerConfig:
    """How the server binds and paces itself.

    Attributes:
        bind: address to bind; anything but loopback requires ``token``.
        port: ROUTER port; 0 picks a free one (see ``Server.port``).
        pub_port: PUB port; None means ``port + 1`` (or a free one when ``port`` is 0).
        tick_hz: rate of the ``tick`` stream.
        token: access token that ``hello`` must carry; None for none.
        limits: message bounds (PROTOCOL.md section 7).
        session_idle_s: a session with no request for this long is forgotten.
        handshake_ms: time a connection has to finish the ZMTP greeting.
        heartbeat_ms: ZMTP PING interval; a peer silent for 3x this is dropped.
        asset_dir: folder of the content-addressed asset store; None for ``worlds_dir/.assets``
            with a worlds folder, else a temporary folder removed when the server closes.
        physics: the simulation's settings (``dt``, ``publish_hz`` of the ``poses`` stream,
            ``realtime``, ``max_speed``) when the scene has physics; None for PhysicsConfig's
            defaults (2 ms steps, 90 Hz).
        worlds_dir: the folder of persistent worlds (``world.list``, ``open``, ``fork``); None
            for none.
        world: the persistent world to serve (in ``worlds_dir``; made from the scene when
            missing); None for a world in memory.
        store: how persistent worlds write (StoreConfig's defaults when None).
        physics_save_s: a persistent world with physics logs the whole simulation state this
            often (and controls as they come), so a restart replays at most this much.
        models: the bindings file of the generation slots (``continuum.toml``), read at the
            start and watched; None: every slot serves its built-in model.
        executor: where generation jobs run: "local" (threads of the backend) or "ray".
        ray_address: the Ray cluster for ``executor="ray"`` (None: start a local one).
    """

    bind: str = "127.0.0.1"
    port: int = 5570
    pub_port: int | None = None
    tick_hz: float = 30.0
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    session_idle_s: float = 60.0
    handshake_ms: int = 5000
    heartbeat_ms: int = 2000
    asset_dir: Path | None = None
    physics: PhysicsConfig | None = None
    worlds_dir: Path | None = None
    world: str | None = None
    store: StoreConfig | None = None
    physics_save_s: float = 10.0
    models: Path | None = None
    executor: str = "local"
    ray_address: str | None = None

    def validate(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ContinuumError(f"executor must be 'local' or 'ray', got {self.executor!r}")
        if self.world is not None and self.worlds_dir is None:
            raise ContinuumError(
                f"serving the persistent world {self.world!r} needs a worlds folder: give "
                "--worlds-dir (or ServerConfig.worlds_dir)"
            )
        if not self.physics_save_s > 0:
            raise ContinuumError(f"physics_save_s must be positive, got {self.physics_save_s}")
        if self.bind not in LOOPBACK and not self.token:
            raise ContinuumError(
                f"binding {self.bind} exposes the backend beyond this machine: "
                "give an access token (--token or CONTINUUM_TOKEN), or bind 127.0.0.1"
            )
        if not 0 < self.tick_hz <= 1000:
            raise ContinuumError(f"tick_hz must be in (0, 1000], got {self.tick_hz}")
        if self.physics is not None and not 0 < self.physics.publish_hz <= 1000:
            raise ContinuumError(
                f"physics.publish_hz must be in (0, 1000], got {self.physics.publish_hz}"
            )
        for name in ("port", "pub_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise ContinuumError(f"{name} must be in 0..65535, got {value}")


@dataclass
class Deferred:
    """A handler's answer that comes later: ``work`` runs in the worker thread and returns the
    reply (or raises ProtocolError); the loop goes on meanwhile. Pushes of world changes wait
    until the reply is sent."""

    work: Callable[[], Message]
    pool: str = "world"  # "world": one at a time with world and physics requests; "compute"


Handler = Callable[[Session, Message], Message | Deferred]


class Server:
    """The Continuum backend server. Use ``async with Server(...)`` or ``serve_in_thread``.

    Binding happens in ``start()``; ``port`` and ``pub_port`` then hold the real ports. The
    world (``world``) is opened here: its splat files are packed into the asset store, which
    ``close()`` closes with the world's store. A world with physics also gets its
    ``simulation`` here (the model is assembled now, so a bad scene fails at once); it steps
    from ``start()`` to ``close()``.

    Raises:
        ContinuumError: a bad configuration; SceneError when a splat file cannot be loaded;
            PhysicsError when the scene's physics cannot be assembled; WorldLockedError when
            another backend serves the persistent world; StoreError when it cannot be opened.
    """

    def __init__(self, config: ServerConfig, scene: Scene | None = None) -> None:
        config.validate()
        self.config = config
        self.limits = config.limits
        self._scene = scene  # what new worlds are made from
        asset_dir = config.asset_dir
        if asset_dir is None and config.worlds_dir is not None:
            asset_dir = config.worlds_dir / ASSETS_DIR
        self.assets = AssetStore(asset_dir, max_asset_bytes=self.limits.max_asset_bytes)
        try:
            self.world = self._open_world(config.world, create=True)
        except BaseException:
            self.assets.close()
            raise
        self._remove_listener = self.world.add_listener(self._on_world_changed)
        # pushes (to a session, or None: all), sent in order from the loop
        self._outbox: deque[tuple[bytes | None, Message]] = deque()
        self._holding = 0  # deferred requests whose reply is not sent yet: pushes wait
        self._draining = False
        self.port = config.port
        self.pub_port = config.pub_port
        self.tick_seq = 0
        self.pose_seq = 0
        self.stats: dict[str, float] = {
            "requests": 0,
            "errors": 0,
            "ticks": 0,
            "transfers": 0,
            "chunks": 0,
            "pose_frames": 0,
            # snapshot + encode + send of all pose frames together: wall time (with any wait for
            # the GIL that the stepping thread holds) and this thread's CPU time
            "pose_publish_s": 0.0,
            "pose_publish_cpu_s": 0.0,
            "physics_events": 0,
            "world_changes": 0,
        }
        self.sessions = SessionTable(
            max_sessions=self.limits.max_sessions,
            idle_timeout_s=config.session_idle_s,
            rate_per_s=self.limits.rate_per_s,
            burst=self.limits.burst,
            on_forget=self._forget_session,
        )
        self._handlers: dict[str, Handler] = {
            "hello": self._hello,
            "ping": self._ping,
            "echo": self._echo,
            "fill": self._fill,
            "world.get": self._world_get,
            "subscribe": self._subscribe,
            "asset.get": self._asset_get,
            "asset.credit": self._asset_credit,
            "asset.cancel": self._asset_cancel,
            "world.edit": self._world_edit,
            "world.undo": self._world_undo,
            "world.redo": self._world_redo,
            "world.events": self._world_events,
            "world.list": self._world_list,
            "world.open": self._world_open,
            "world.fork": self._world_fork,
            "models.list": self._models_list,
            "models.bind": self._models_bind,
            "gen.submit": self._gen_submit,
            "gen.cancel": self._gen_cancel,
            "gen.jobs": self._gen_jobs,
            "identity.register": self._identity_register,
            "identity.observe": self._identity_observe,
            "identity.query": self._identity_query,
            "identity.list": self._identity_list,
            "identity.remove": self._identity_remove,
            "memory.add": self._memory_add,
            "memory.query": self._memory_query,
            "memory.summarize": self._memory_summarize,
            "splat.select": self._splat_select,
            "splat.selection": self._splat_selection,
            "splat.edit": self._splat_edit,
            "face.reconstruct": self._face_reconstruct,
        }
        self.stream_topics: tuple[str, ...] = STREAM_TOPICS
        self.physics_config: PhysicsConfig | None = None
        self.simulation: Simulation | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="continuum-worker"
        )
        # Identity, memory and splat-editing requests compute for a while (a tenth of a second
        # to embed a face, seconds to lift masks or optimise): their own thread, so that physics
        # controls and world edits never queue behind them.
        self._compute_worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="continuum-compute"
        )
        self.selections = splat_service.Selections()
        self.identities, self.memory = self._identity_state(self.world)
        self.generation: GenerationRuntime | None = None
        self._progress_sent: dict[int, float] = {}  # job -> when its last gen.progress went
        try:
            self._install_physics(self._make_physics(self.world))
            executor = (
                RayExecutor(config.ray_address) if config.executor == "ray" else LocalExecutor()
            )
            self.generation = GenerationRuntime(
                bindings_file=config.models, executor=executor, max_queued=self.limits.max_jobs
            )
            self.generation.add_listener(self._on_generation_event)
        except BaseException:
            self._worker.shutdown()
            self._compute_worker.shutdown()
            if self.simulation is not None:
                self.simulation.close()
            self._close_world(self.world)
            self.assets.close()
            raise
        self._ctx: zmq.asyncio.Context | None = None
        self._router: zmq.asyncio.Socket | None = None
        self._pub: zmq.asyncio.Socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()  # transfers and announcements in flight
        self._t0 = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Server:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _open_world(self, name: str | None, *, create: bool) -> World:
        """The world ``name`` of the worlds folder (made from the scene when missing and
        ``create``), or a world in memory of the scene for None."""
        if name is None:
            return World(self._scene, self.assets)
        root = self.config.worlds_dir
        assert root is not None
        if name in list_worlds(root):
            store = WorldStore.open(root, name, config=self.config.store)
        elif create:
            store = WorldStore.create(root, name, self._scene, config=self.config.store)
        else:
            raise StoreError(f"no world named {name!r} in {root} (world.list names them)")
        try:
            return World(None, self.assets, store=store)
        except BaseException:
            store.close()
            raise

    def _close_world(self, world: World) -> None:
        if world.store is not None:
            world.store.close()

    def _make_physics(self, world: World) -> Simulation | None:
        """A simulation of ``world`` brought to its logged state (not started), or None when
        the world has no physics."""
        if not physics_service.scene_has_physics(world.scene):
            return None
        from continuum.physics import PhysicsConfig, Simulation  # mujoco loads for physics only
        from continuum.physics.world_sync import restore

        config = self.config.physics or PhysicsConfig()
        sim = Simulation(world.scene, config=config)
        try:
            restore(sim, world.state())
        except PhysicsError as exc:
            # A log that does not fit the scene (its files changed since): serve on from the
            # scene's own poses rather than not at all.
            log.warning("world %r: physics not restored, starting afresh: %s", world.name, exc)
            sim.close()
            sim = Simulation(world.scene, config=config)
        return sim

    def _install_physics(self, sim: Simulation | None) -> None:
        """Serve ``sim`` as the world's physics (None: the world has none)."""
        from continuum.physics.world_sync import apply_edits

        self.simulation = sim
        physics_kinds = {
            "physics.layout": self._physics_layout,
            "physics.control": self._physics_control,
            "physics.query": self._physics_query,
        }
        if sim is None:
            self.physics_config = None
            self.stream_topics = STREAM_TOPICS
            for kind in physics_kinds:
                self._handlers.pop(kind, None)
            self.world.set_physics(None, lambda: 0)
            return
        self.physics_config = sim.config
        sim.add_listener(self._on_physics_event)
        self.stream_topics = (*STREAM_TOPICS, physics_service.POSES)
        self._handlers.update(physics_kinds)
        self.world.set_physics(
            lambda events, before: apply_edits(sim, events, before), lambda: sim.step_count
        )

    def _close_physics(self) -> None:
        """Stop the simulation, logging its last state when the world is persistent."""
        sim = self.simulation
        if sim is None:
            return
        if self.world.store is not None:
            self._save_physics(sim)
        sim.close()

    def _save_physics(self, sim: Simulation) -> None:
        from continuum.physics.world_sync import saved_state

        if sim is not self.simulation:
            return  # a save queued before another world was opened: not this world's physics
        try:
            self.world.log([saved_state(sim)])
        except StoreError as exc:
            log.warning("world %r: the physics state could not be logged: %s", self.world.name, exc)

    def start(self) -> None:
        """Bind both sockets and start the simulation's stepping. Raises ContinuumError when a
        port is taken."""
        self._ctx = zmq.asyncio.Context()
        try:
            self._router = self._socket(zmq.ROUTER)
            self._pub = self._socket(zmq.PUB)
            host = f"[{self.config.bind}]" if ":" in self.config.bind else self.config.bind
            self.port = self._bind(self._router, host, self.config.port)
            pub_port = self.config.pub_port
            if pub_port is None:
                pub_port = self.port + 1 if self.config.port else 0
            self.pub_port = self._bind(self._pub, host, pub_port)
            if self.simulation is not None:
                self.simulation.start()
        except BaseException:
            self.close()
            raise
        log.info(
            "serving %s on tcp://%s:%d (state stream :%d, tick %g Hz)",
            f"scene {self.world.scene.name!r}" if self.world.scene.name else "no scene",
            self.config.bind,
            self.port,
            self.pub_port,
            self.config.tick_hz,
        )

    def close(self) -> None:
        """Stop the simulation (logging its state), close the sockets, the world's store and the
        asset store; the server cannot start again. Idempotent."""
        if self.generation is not None:
            self.generation.close()  # cancels the jobs; their sessions end with the server
            self.generation = None
        self._compute_worker.shutdown(wait=True, cancel_futures=True)
        if self._worker is not None:
            # Queued requests are dropped (their sessions end with the server); the one running
            # finishes before the simulation closes under it.
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None  # type: ignore[assignment]
            self._close_physics()
            self._close_world(self.world)
        for sock in (self._router, self._pub):
            if sock is not None:
                sock.close(linger=0)
        if self._ctx is not None:
            self._ctx.term()
        self._router = self._pub = self._ctx = None
        self.assets.close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer requests and publish ticks until ``stop`` is set."""
        self._loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(self._request_loop(), name="continuum-requests"),
            asyncio.create_task(self._tick_loop(), name="continuum-ticks"),
            asyncio.create_task(self._pose_loop(), name="continuum-poses"),
            asyncio.create_task(self._physics_save_loop(), name="continuum-physics-save"),
        ]
        try:
            await stop.wait()
        finally:
            self._loop = None
            tasks += self._tasks
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def background_tasks(self) -> int:
        """Transfers and announcements in flight (a session's end cancels its transfers)."""
        return len(self._tasks)

    def now(self) -> float:
        """Backend time in seconds since the server started (the ``t`` of the protocol)."""
        return time.monotonic() - self._t0

    # -- plumbing ----------------------------------------------------------------------------

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        assert self._ctx is not None
        sock = self._ctx.socket(kind)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_frame_bytes)
            sock.setsockopt(zmq.HANDSHAKE_IVL, self.config.handshake_ms)
            sock.setsockopt(zmq.HEARTBEAT_IVL, self.config.heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self.config.heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TTL, 3 * self.config.heartbeat_ms)
            # A ZAP domain makes libzmq refuse ZMTP 1.0/2.0 peers; without it, anything whose first
            # octet is not FF (an HTTP request, say) is taken for a ZMTP 1.0 peer and held open
            # forever. No ZAP handler is bound, so the NULL mechanism still admits everyone.
            sock.setsockopt(zmq.ZAP_DOMAIN, b"continuum")
        except BaseException:
            sock.close(linger=0)  # an unclosed socket would hang close()'s ctx.term()
            raise
        return sock

    @staticmethod
    def _bind(sock: zmq.asyncio.Socket, host: str, port: int) -> int:
        try:
            if port == 0:
                return sock.bind_to_random_port(f"tcp://{host}")
            sock.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as exc:
            raise ContinuumError(
                f"cannot bind tcp://{host}:{port}: {exc.strerror}; "
                "is another backend running? choose another --port"
            ) from None
        return port

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _push(self, routing_id: bytes, message: Message) -> None:
        assert self._router is not None
        await self._router.send_multipart([routing_id, *encode_message(message)], copy=False)

    async def _request_loop(self) -> None:
        assert self._router is not None
        while True:
            frames = await self._router.recv_multipart(copy=False)
            routing_id, body = frames[0].bytes, [f.buffer for f in frames[1:]]
            reply = self._handle(routing_id, body)
            if isinstance(reply, tuple):  # (session, rid, Deferred): answered when done
                self._spawn(self._answer_later(routing_id, *reply), "continuum-physics-request")
                continue
            # The reply is queued on the socket before this coroutine yields, so it precedes the
            # chunks of a transfer that its handler started (pyzmq sends in call order).
            await self._push(routing_id, reply)

    async def _answer_later(
        self, routing_id: bytes, session: Session, rid: int, deferred: Deferred
    ) -> None:
        """Run a deferred handler's work in the worker and send its answer, then the world
        pushes it caused."""
        loop = asyncio.get_running_loop()
        self._holding += 1
        try:
            pool = self._worker if deferred.pool == "world" else self._compute_worker
            reply = await loop.run_in_executor(pool, deferred.work)
            reply.header["re"] = rid
            frames = encode_message(reply)  # a non-JSON value is a bug: answer internal
        except ProtocolError as exc:
            frames = encode_message(self._error(rid, exc.code, str(exc)))
        except Exception as exc:
            log.exception("internal error answering a deferred request")
            frames = encode_message(
                self._error(rid, "internal", f"the backend failed on this request: {exc!r:.500}")
            )
        finally:
            session.pending -= 1
        try:
            assert self._router is not None
            await self._router.send_multipart([routing_id, *frames], copy=False)
        finally:
            self._holding -= 1
            self._flush_outbox()

    async def _tick_loop(self) -> None:
        assert self._pub is not None
        period = 1.0 / self.config.tick_hz
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            header = {"seq": self.tick_seq, "t": self.now(), "hz": self.config.tick_hz}
            await self._pub.send_multipart(encode_message(Message("tick", header)))
            self.tick_seq += 1
            self.stats["ticks"] += 1
            if forgotten := self.sessions.expire(time.monotonic()):
                log.debug("forgot %d idle sessions", forgotten)
            next_at += period
            # A stalled loop skips ticks instead of bursting them: ticks supersede each other.
            next_at = max(next_at, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def _pose_loop(self) -> None:
        """Publish the simulation's latest snapshot as a ``poses`` frame at ``publish_hz``
        (while the world has physics: another world may be opened)."""
        assert self._pub is not None
        pub, stats = self._pub, self.stats
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            sim, config = self.simulation, self.physics_config
            if sim is None or config is None:
                await asyncio.sleep(0.1)
                next_at = loop.time()
                continue
            period = 1.0 / config.publish_hz
            start, cpu = time.perf_counter(), time.thread_time()
            frame = sim.poses()
            message = physics_service.pose_message(frame, seq=self.pose_seq, t=self.now())
            await pub.send_multipart(encode_message(message))  # a PUB socket never waits
            stats["pose_publish_s"] += time.perf_counter() - start
            stats["pose_publish_cpu_s"] += time.thread_time() - cpu
            stats["pose_frames"] += 1
            self.pose_seq += 1
            next_at += period
            next_at = max(next_at, loop.time())  # late frames are skipped, never bunched
            await asyncio.sleep(next_at - loop.time())

    async def _physics_save_loop(self) -> None:
        """Log the persistent world's whole simulation state every ``physics_save_s``."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.physics_save_s)
            sim = self.simulation
            if sim is not None and self.world.store is not None and self._worker is not None:
                await loop.run_in_executor(self._worker, self._save_physics, sim)

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(
        self, routing_id: bytes, frames: list[memoryview]
    ) -> Message | tuple[Session, int, Deferred]:
        """One request in, one reply or error out (or deferred work that answers it later);
        never raises."""
        self.stats["requests"] += 1
        now = time.monotonic()
        session = self.sessions.get_or_create(routing_id, now)
        if session is None:
            return self._error(
                request_id(frames),
                "busy",
                f"the backend holds its maximum of {self.limits.max_sessions} sessions; "
                "retry later",
            )
        if not session.budget.take(now):
            return self._error(
                request_id(frames),
                "rate_limited",
                f"more than {self.limits.rate_per_s:g} requests/s; slow down and retry",
            )
        rid = None
        try:
            message = decode_message(frames, self.limits)
            rid = _check_id(message)
            handler = self._handlers.get(message.kind)
            if handler is None:
                raise ProtocolError(
                    "unknown_kind",
                    f"no request kind {message.kind!r}; this backend serves "
                    f"{', '.join(sorted(self._handlers))}",
                )
            if not session.handshaken and message.kind != "hello":
                raise ProtocolError(
                    "handshake_required", "send 'hello' first: it opens the session"
                )
            session.requests += 1
            reply = handler(session, message)
            if isinstance(reply, Deferred):
                if session.pending >= self.limits.max_pending:
                    raise ProtocolError(
                        "busy",
                        f"{session.pending} physics requests of this session are still being "
                        f"answered, the most allowed (max_pending); wait for their replies",
                    )
                session.pending += 1
                return session, rid, reply
        except ProtocolError as exc:
            return self._error(rid if rid is not None else request_id(frames), exc.code, str(exc))
        except Exception as exc:
            log.exception("internal error answering a request")
            return self._error(rid, "internal", f"the backend failed on this request: {exc!r:.500}")
        reply.header["re"] = rid
        return reply

    def _error(self, rid: int | None, code: str, text: str) -> Message:
        self.stats["errors"] += 1
        return Message("error", {"re": rid, "code": code, "message": text})

    # -- handlers (thin: the domain code does the work) ----------------------------------------

    def _hello(self, session: Session, msg: Message) -> Message:
        try:
            major, _minor = parse_version(msg.header.get("protocol"))
        except ValueError as exc:
            raise ProtocolError("bad_request", f"hello.protocol: {exc}") from None
        if major != PROTOCOL_MAJOR:
            raise ProtocolError(
                "version_mismatch",
                f"client speaks protocol {msg.header['protocol']}, this backend "
                f"{PROTOCOL_VERSION}: update the plugin or the backend so the major versions match",
            )
        if self.config.token is not None:
            token = msg.header.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), self.config.token.encode()
            ):
                raise ProtocolError(
                    "unauthorized",
                    "this backend requires an access token: set continuum/backend/token "
                    "(or --continuum-token=) to the token the backend was started with",
                )
        session.handshaken = True
        session.protocol = msg.header["protocol"]
        session.client = str(msg.header.get("client", ""))[:128]
        log.info("session %s opened by %s", session.id, session.client or "a client")
        welcome = {
            "protocol": PROTOCOL_VERSION,
            "server": f"continuum {__version__}",
            "session": session.id,
            "capabilities": sorted(self._handlers),
            "pub_port": self.pub_port,
            "tick_hz": self.config.tick_hz,
            "limits": self.limits.to_json(),
        }
        if self.physics_config is not None:
            welcome["physics"] = physics_service.welcome_fields(self.physics_config)
        return Message("welcome", welcome)

    def _ping(self, session: Session, msg: Message) -> Message:
        return Message("pong", {"t": self.now()})

    def _echo(self, session: Session, msg: Message) -> Message:
        header = {k: v for k, v in msg.header.items() if k not in ("id", "blobs")}
        return Message("echo", header, msg.blobs)

    def _fill(self, session: Session, msg: Message) -> Message:
        n = fields.integer(msg, "bytes", 0, self.limits.max_frame_bytes)
        return Message("fill", {}, [np.resize(_FILL_PATTERN, n)])

    def _world_get(self, session: Session, msg: Message) -> Message:
        world = self.world
        with world.reading():
            scene = world.scene
            return Message(
                "world",
                {
                    "world": self._describe(world),
                    "scene": {"name": scene.name, "description": scene.description},
                    "entities": world.entities_json(),
                },
            )

    def _describe(self, world: World | None = None) -> dict[str, Any]:
        """The description (PROTOCOL.md 13.1) of ``world`` (default: the one served now)."""
        config = self.physics_config
        physics = physics_service.welcome_fields(config) if config is not None else None
        return {**(world or self.world).describe(), "physics": physics}

    def _subscribe(self, session: Session, msg: Message) -> Message:
        topics = msg.header.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ProtocolError("bad_request", "subscribe.topics must be a list of topic names")
        unknown = sorted(set(topics) - set(self.stream_topics))
        if unknown:
            raise ProtocolError(
                "bad_request",
                f"unknown stream topics {unknown}; the state stream carries "
                f"{list(self.stream_topics)}",
            )
        session.topics.update(topics)
        seq = {"tick": self.tick_seq}
        if self.simulation is not None:
            seq[physics_service.POSES] = self.pose_seq
        return Message(
            "subscribed",
            {"topics": sorted(session.topics), "pub_port": self.pub_port, "seq": seq},
        )

    def _asset_get(self, session: Session, msg: Message) -> Message:
        hash = msg.header.get("hash")
        try:
            asset = self.assets.info(hash)
        except AssetNotFoundError:
            raise ProtocolError(
                "not_found",
                f"no asset {hash} on this backend; world.get and asset.announce name the "
                "current ones",
            ) from None
        except AssetError as exc:
            raise ProtocolError("bad_request", f"asset.get.hash: {exc}") from None
        credit = fields.integer(msg, "credit", 1, self.limits.max_credit)
        chunks = chunk_count(asset.bytes, self.limits.chunk_bytes)
        indices = _chunk_indices(msg.header.get("chunks"), chunks)
        if len(session.transfers) >= self.limits.max_transfers:
            raise ProtocolError(
                "busy",
                f"this session already runs {len(session.transfers)} transfers, the most "
                f"allowed (max_transfers); wait for one to finish or send asset.cancel",
            )
        transfer = Transfer(
            session.next_transfer_id(),
            asset,
            self.limits.chunk_bytes,
            indices,
            credit,
            self.limits.max_credit,
        )
        session.transfers[transfer.id] = transfer
        transfer.task = self._spawn(
            self._run_transfer(session, transfer), f"continuum-transfer-{transfer.id}"
        )
        self.stats["transfers"] += 1
        return Message(
            "asset",
            {
                "hash": asset.hash,
                "bytes": asset.bytes,
                "kind": asset.kind,
                "chunk_bytes": self.limits.chunk_bytes,
                "chunks": chunks,
                "transfer": transfer.id,
                "meta": asset.meta,
            },
        )

    def _asset_credit(self, session: Session, msg: Message) -> Message:
        transfer = _transfer(session, msg)
        credit = transfer.grant(fields.integer(msg, "credit", 1, self.limits.max_credit))
        return Message("asset.credit", {"transfer": transfer.id, "credit": credit})

    def _asset_cancel(self, session: Session, msg: Message) -> Message:
        transfer = _transfer(session, msg)
        del session.transfers[transfer.id]
        transfer.cancel()
        return Message("asset.cancel", {"transfer": transfer.id})

    async def _run_transfer(self, session: Session, transfer: Transfer) -> None:
        async def push(message: Message) -> None:
            await self._push(session.routing_id, message)
            self.stats["chunks"] += 1

        try:
            await transfer.run(self.assets, push)
        except Exception as exc:
            # The asset was there when the transfer began, so this is the store failing underneath
            # (a damaged file, a full disk) or a bug: tell the client, keep serving.
            log.exception("transfer %d of asset %s failed", transfer.id, transfer.asset.hash)
            error = self._error(
                None, "internal", f"transfer {transfer.id} of {transfer.asset.hash} failed: {exc}"
            )
            error.header["transfer"] = transfer.id
            await self._push(session.routing_id, error)
        finally:
            session.transfers.pop(transfer.id, None)

    # -- physics (the work itself is physics_service's) ----------------------------------------

    def _physics_layout(self, session: Session, msg: Message) -> Message:
        return physics_service.layout(self._sim(msg), self.limits)

    def _physics_control(self, session: Session, msg: Message) -> Deferred:
        return Deferred(
            lambda: physics_service.control(self._sim(msg), msg, on_applied=self._log_control)
        )

    def _physics_query(self, session: Session, msg: Message) -> Deferred:
        return Deferred(lambda: physics_service.query(self._sim(msg), msg))

    def _sim(self, msg: Message) -> Simulation:
        sim = self.simulation
        if sim is None:  # another world, without physics, was opened since the request came
            raise ProtocolError("unknown_kind", f"{msg.kind}: the world served has no physics")
        return sim

    def _log_control(self, op: dict[str, Any], result: dict[str, Any]) -> None:
        """Log an applied control in a persistent world (worker thread)."""
        from continuum.physics.world_sync import control_event

        event = control_event(op, result)
        if event is not None and self.world.store is not None:
            with world_service.answering(f"physics.control {op.get('op')} (applied)"):
                self.world.log([event])

    # -- identity and memory (the work itself is identity_service's) ------------------------------

    def _identity_state(self, world: World) -> tuple[Identities, Memory]:
        """The identity banks and the memory a world holds."""
        state = world.state()
        return Identities.from_state(state), Memory.from_state(state, log=world.log)

    def _compute_request(self, work: Callable[[World, Identities, Memory], Message]) -> Deferred:
        def run() -> Message:
            # One consistent set: a world opened meanwhile leaves this request on the old one,
            # whose store then refuses (store_failed) rather than mixing the two.
            world, identities, memory = self.world, self.identities, self.memory
            return work(world, identities, memory)

        return Deferred(run, pool="compute")

    def _identity_register(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(
            lambda w, ids, _m: identity_service.register(ids, w, self.assets, msg)
        )

    def _identity_observe(self, session: Session, msg: Message) -> Deferred:
        def observe(w: World, ids: Identities, _m: Memory) -> Message:
            reply, alert = identity_service.observe(ids, w, self.assets, msg)
            if alert is not None:
                self._queue(alert)
            return reply

        return self._compute_request(observe)

    def _identity_query(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(lambda _w, ids, _m: identity_service.query(ids, msg))

    def _identity_list(self, session: Session, msg: Message) -> Message:
        return identity_service.listing(self.identities)

    def _identity_remove(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(lambda w, ids, _m: identity_service.remove(ids, w, msg))

    def _memory_add(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(
            lambda w, _i, memory: identity_service.memory_add(memory, msg, w.tick)
        )

    def _memory_query(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(
            lambda _w, _i, memory: identity_service.memory_query(memory, msg)
        )

    def _memory_summarize(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(
            lambda _w, _i, memory: identity_service.memory_summarize(memory, msg)
        )

    # -- splat editing (the work itself is splat_service's and continuum.splats') ---------------

    def _splat_select(self, session: Session, msg: Message) -> Deferred:
        return self._compute_request(
            lambda w, _i, _m: splat_service.select(self.selections, w, self.assets, msg)
        )

    def _splat_selection(self, session: Session, msg: Message) -> Message:
        return splat_service.selection_info(self.selections, msg)

    def _splat_edit(self, session: Session, msg: Message) -> Deferred:
        progress = self._progress_pusher(session, "splat.progress", msg.header.get("entity"))
        return self._compute_request(
            lambda w, _i, _m: splat_service.edit(
                self.selections,
                w,
                self.assets,
                msg,
                progress=progress,
                edit_targets=self._edit_targets,
            )
        )

    def _progress_pusher(
        self, session: Session, kind: str, entity: Any
    ) -> Callable[[int, int], None]:
        """``progress(step, steps)`` sending ``kind {entity, step, steps}`` to ``session`` at
        once (not behind the reply), at most 20 a second, and always the last step."""
        sent = [0.0]

        def progress(step: int, steps: int) -> None:
            now = time.monotonic()
            if step == steps or now - sent[0] >= 0.05:
                sent[0] = now
                header = {"entity": entity, "step": step, "steps": steps}
                self._send_now(Message(kind, header), session.routing_id)

        return progress

    # -- faces (the work itself is face_service's and continuum.generation.facesplat's) ---------

    def _face_reconstruct(self, session: Session, msg: Message) -> Deferred:
        progress = self._progress_pusher(session, "face.progress", msg.header.get("entity"))
        return self._compute_request(
            lambda w, ids, _m: face_service.reconstruct(ids, w, self.assets, msg, progress=progress)
        )

    def _edit_targets(self, renders: list[np.ndarray], instruction: str) -> list[np.ndarray]:
        """The image_edit slot's edits of ``renders`` (an optimising splat edit's targets)."""
        from continuum.generation import parse_request

        generation = self._gen()
        out = []
        for image in renders:
            request = parse_request("image_edit", {"instruction": instruction}, image)
            out.append(generation.run_now("image_edit", request).pixels)  # type: ignore[union-attr]
        return out

    # -- generation (the work itself is generation_service's and the runtime's) -----------------

    def _models_list(self, session: Session, msg: Message) -> Message:
        return generation_service.models_list(self._gen())

    def _models_bind(self, session: Session, msg: Message) -> Message:
        return generation_service.models_bind(self._gen(), msg)

    def _gen_submit(self, session: Session, msg: Message) -> Message:
        return generation_service.submit(
            self._gen(), msg, session.routing_id, reference=self._reference
        )

    def _reference(self, entity: str) -> tuple[np.ndarray, str]:
        """An identity's best reference image and its asset (``gen.submit``'s ``identity``)."""
        return identity_service.reference_image(self.identities, self.assets, entity)

    def _gen_cancel(self, session: Session, msg: Message) -> Message:
        return generation_service.cancel(self._gen(), msg, session.routing_id)

    def _gen_jobs(self, session: Session, msg: Message) -> Message:
        return generation_service.jobs(self._gen(), session.routing_id)

    def _forget_session(self, session: Session) -> None:
        """A forgotten session's generation jobs are cancelled: nobody would get their results."""
        if self.generation is not None:
            for job in self.generation.jobs():
                if job.owner == session.routing_id:
                    self.generation.cancel(job.id)

    def _gen(self) -> GenerationRuntime:
        if self.generation is None:
            raise ProtocolError("unavailable", "the generation runtime is closed")
        return self.generation

    def _on_generation_event(self, event: GenerationEvent) -> None:
        """A runtime listener (its threads; one job's events come from one thread)."""
        if isinstance(event, JobProgress) and event.step < event.steps:
            now = time.monotonic()
            if now - self._progress_sent.get(event.job.id, 0.0) < 0.05:
                return  # at most 20 per second; the last step always goes
            self._progress_sent[event.job.id] = now
        elif not isinstance(event, JobProgress):
            self._progress_sent.pop(getattr(getattr(event, "job", None), "id", -1), None)
        owner, message = generation_service.event_message(event, self.limits)
        self._queue(message, to=owner)

    # -- worlds (the work itself is world_service's and the World's) ----------------------------

    def _world_edit(self, session: Session, msg: Message) -> Deferred:
        return self._world_request(
            lambda: world_service.edit(self.world, msg, self.limits.max_edit_events)
        )

    def _world_undo(self, session: Session, msg: Message) -> Deferred:
        return self._world_request(lambda: world_service.undo(self.world, msg))

    def _world_redo(self, session: Session, msg: Message) -> Deferred:
        return self._world_request(lambda: world_service.redo(self.world, msg))

    def _world_events(self, session: Session, msg: Message) -> Deferred:
        return Deferred(lambda: world_service.events(self.world, msg, self.limits.max_header_bytes))

    def _world_list(self, session: Session, msg: Message) -> Deferred:
        root = self._worlds_root(msg)
        return Deferred(lambda: world_service.listing(root, self.world))

    def _world_open(self, session: Session, msg: Message) -> Deferred:
        root = self._worlds_root(msg)
        name = world_service.name_field(msg)
        create = world_service.bool_field(msg, "create")

        def work() -> Message:
            if not create and name not in list_worlds(root):
                raise ProtocolError(
                    "not_found", f"world.open: no world named {name!r} (world.list names them)"
                )
            with world_service.answering("world.open"):
                self._switch(name, create=create)
            return Message("world.open", {})

        return self._world_request(work)

    def _world_fork(self, session: Session, msg: Message) -> Deferred:
        root = self._worlds_root(msg)
        name = world_service.name_field(msg)
        at = world_service.at_field(msg)
        then_open = world_service.bool_field(msg, "open")

        def work() -> Message:
            if name in list_worlds(root):
                raise ProtocolError(
                    "conflict", f"world.fork: a world named {name!r} exists already"
                )
            world = self.world
            if at is not None and not 0 <= at <= world.seq:
                raise ProtocolError(
                    "bad_request", f"world.fork.at must be a seq in 0..{world.seq}, got {at}"
                )
            if at is not None and world.store is None and at != world.seq:
                raise ProtocolError(
                    "bad_request",
                    f"world.fork.at: the world served is not persistent, so it forks as it is "
                    f"now (seq {world.seq}) only; leave at out",
                )
            with world_service.answering("world.fork"):
                sim = self.simulation
                if at is None and sim is not None and self.world.store is not None:
                    self._save_physics(sim)  # the fork carries the physics of now
                self.world.fork(root, name, at=at)
                if sim is not None and self.world.store is None:
                    # a world in memory is forked as it is now: its entities, then its physics
                    from continuum.physics.world_sync import saved_state

                    with WorldStore.open(root, name, config=self.config.store) as fork:
                        fork.append([replace(saved_state(sim), time=time.time())])
                with WorldStore.open(root, name, read_only=True) as fork:
                    seq = fork.seq
                if then_open:
                    self._switch(name, create=False)
            return Message("world.fork", {"name": name, "seq": seq})

        return self._world_request(work)

    def _world_request(self, work: Callable[[], Message]) -> Deferred:
        """A deferred world request whose reply carries the world's description."""

        def answer() -> Message:
            reply = work()
            reply.header["world"] = self._describe()
            return reply

        return Deferred(answer)

    def _worlds_root(self, msg: Message) -> Path:
        if self.config.worlds_dir is None:
            raise ProtocolError(
                "unavailable",
                f"{msg.kind}: this backend keeps no persistent worlds; start it with "
                "--worlds-dir (and --world NAME)",
            )
        return self.config.worlds_dir

    def _switch(self, name: str, *, create: bool) -> None:
        """Serve the persistent world ``name`` instead of the current one (worker thread): the
        new world and its physics are made first, so a failure leaves the current one served."""
        if name == self.world.name:
            return
        new = self._open_world(name, create=create)
        try:
            sim = self._make_physics(new)
        except BaseException:
            self._close_world(new)
            raise
        self._close_physics()
        old = self.world
        self._remove_listener()
        self.world = new
        self._remove_listener = new.add_listener(self._on_world_changed)
        self.identities, self.memory = self._identity_state(new)
        self._install_physics(sim)
        if sim is not None:
            sim.start()
        self._close_world(old)
        log.info("now serving world %r", name)
        self._queue(Message("world.reset", {"world": self._describe()}))

    def _on_physics_event(self, event: PhysicsEvent) -> None:
        """A simulation listener: runs in the stepping thread, hands the event to the loop."""
        loop = self._loop
        if loop is None:
            return  # not serving: there is no session to tell
        try:
            loop.call_soon_threadsafe(self._push_physics_event, event)
        except RuntimeError:
            return  # the loop closed since: the server stopped

    def _push_physics_event(self, event: PhysicsEvent) -> None:
        log.debug("pushing physics %s: %s", event.kind, event.message)
        self.stats["physics_events"] += 1
        self._push_all(physics_service.event_message(event), "continuum-physics-event")

    # -- world pushes (World listeners run in the thread that changed the world) -------------------

    def _on_world_changed(self, change: WorldChange) -> None:
        self.stats["world_changes"] += 1
        messages = [self._announcement(splat) for splat in change.splats]
        if change.events:
            pushes = world_service.change_messages(
                change, self._describe(), self.limits.max_header_bytes
            )
            messages = pushes + messages
        self._queue(*messages)

    def _queue(self, *messages: Message, to: bytes | None = None) -> None:
        """Send ``messages`` to session ``to`` (None: every handshaken session), after what was
        queued before, once no reply they may follow is due. Any thread."""
        loop = self._loop
        if loop is None:
            return  # not serving: there is no session to tell
        self._outbox.extend((to, m) for m in messages)
        try:
            loop.call_soon_threadsafe(self._flush_outbox)
        except RuntimeError:
            return  # the loop closed since: the server stopped

    def _send_now(self, message: Message, to: bytes) -> None:
        """Send ``message`` to session ``to`` at once, past the outbox: progress of the very
        request whose reply the outbox waits for. Any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(
                lambda: self._spawn(self._push(to, message), "continuum-progress")
            )
        except RuntimeError:
            return  # the loop closed since: the server stopped

    def _flush_outbox(self) -> None:
        if self._holding or self._draining or not self._outbox:
            return
        self._draining = True

        async def drain() -> None:
            try:
                while self._outbox and not self._holding:
                    to, message = self._outbox.popleft()
                    targets = [s.routing_id for s in self.sessions if s.handshaken]
                    for routing_id in targets if to is None else [to]:
                        await self._push(routing_id, message)
            finally:
                self._draining = False

        self._spawn(drain(), "continuum-world-push")

    def _push_all(self, message: Message, name: str) -> None:
        """Push ``message`` to every handshaken session, in order, from the loop."""
        targets = [s.routing_id for s in self.sessions if s.handshaken]

        async def push_all() -> None:
            for routing_id in targets:
                await self._push(routing_id, message)

        self._spawn(push_all(), name)

    @staticmethod
    def _announcement(change: SplatChanged) -> Message:
        asset = change.asset
        return Message(
            "asset.announce",
            {
                "entity": change.entity,
                "component": "splat",
                "asset": {
                    "hash": asset.hash,
                    "bytes": asset.bytes,
                    "kind": asset.kind,
                    **asset.meta,
                },
            },
        )


def _chunk_indices(value: object, chunks: int) -> range | list[int]:
    """The chunks an ``asset.get`` asks for: all by default, else a checked ascending list."""
    if value is None:
        return range(chunks)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in value)
        or value[0] < 0
        or value[-1] >= chunks
        or any(a >= b for a, b in itertools.pairwise(value))
    ):
        raise ProtocolError(
            "bad_request",
            f"asset.get.chunks must be a non-empty ascending list of chunk indices in "
            f"0..{chunks - 1}, got {value!r:.80}",
        )
    return value


def _transfer(session: Session, msg: Message) -> Transfer:
    tid = fields.integer(msg, "transfer", 0, 2**53 - 1)
    transfer = session.transfers.get(tid)
    if transfer is None:
        raise ProtocolError(
            "not_found",
            f"{msg.kind}: no transfer {tid} in this session: it finished, was cancelled, or "
            "never began (transfers belong to the session that began them)",
        )
    return transfer


def _check_id(msg: Message) -> int:
    rid = msg.header.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid < 2**53:
        raise ProtocolError(
            "bad_request", f"header.id must be an integer in 0..2^53-1, got {rid!r:.40}"
        )
    return rid


@contextlib.contextmanager
def serve_in_thread(config: ServerConfig, scene: Scene | None = None) -> Iterator[Server]:
    """Run a server on its own event loop in a background thread (tests, benchmarks, demo).

    Yields the started server (its ``port`` and ``pub_port`` are bound); stops it on exit.
    """
    server = Server(config, scene)
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), stop
        try:
            server.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await server.serve(stop)
        finally:
            server.close()

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name="continuum-server", daemon=True
    )
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield server
    finally:
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[union-attr]
        thread.join(timeout=10)
