"""The ``continuum`` command: serve a world, run the demo, run benchmarks, check scenes, keep
persistent worlds (list, inspect, fork, replay, compact, export, collect unused assets), and
inspect, convert, render and fit Gaussian splats."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from continuum import __version__
from continuum.errors import ContinuumError

if TYPE_CHECKING:
    import torch

    from continuum.splats.cloud import SplatCloud
    from continuum.world import World


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="continuum: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.run(args)
    except ContinuumError as exc:
        print(f"continuum: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="continuum",
        description="Continuum: a persistent world model for generative media (backend).",
    )
    parser.add_argument("--version", action="version", version=f"continuum {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve a world to engine plugins over ZeroMQ")
    serve.add_argument("--scene", help="scene folder (scenes/NAME) to serve")
    serve.add_argument("--bind", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5570, help="request port (0: any free port)")
    serve.add_argument("--pub-port", type=int, help="state-stream port (default: port + 1)")
    serve.add_argument("--tick-hz", type=float, default=30.0, help="tick stream rate (default 30)")
    serve.add_argument(
        "--token",
        default=os.environ.get("CONTINUUM_TOKEN"),
        help="access token clients must present (default $CONTINUUM_TOKEN); "
        "required when binding beyond loopback",
    )
    serve.add_argument(
        "--asset-dir", help="folder of the content-addressed asset store (default: a temporary one)"
    )
    serve.add_argument("--physics-dt", type=float, help="physics step in seconds (default 0.002)")
    serve.add_argument(
        "--worlds-dir",
        default=os.environ.get("CONTINUUM_WORLDS"),
        help="folder of persistent worlds (default $CONTINUUM_WORLDS; none: worlds live in "
        "memory and engines cannot list, open or fork them)",
    )
    serve.add_argument(
        "--world",
        help="serve this persistent world of --worlds-dir (made from --scene when missing)",
    )
    serve.add_argument("--publish-hz", type=float, help="rate of the poses stream (default 90)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log every session event")
    serve.set_defaults(run=_serve)

    demo = sub.add_parser(
        "demo", help="start the backend and the Godot demo, and report what they exchanged"
    )
    demo.add_argument("--scene", default=None, help="scene folder (default scenes/splats)")
    demo.add_argument("--seconds", type=float, default=5.0, help="how long the demo runs")
    demo.add_argument(
        "--headless",
        action="store_true",
        help="no window (and so no screenshot); without this flag and without a DISPLAY the "
        "demo draws on a virtual display (Xvfb)",
    )
    demo.add_argument(
        "--screenshot",
        default=None,
        metavar="PATH",
        help="where to save the PNG of the last frame (default .cache/demo/continuum-demo.png "
        "in the repository)",
    )
    demo.set_defaults(run=_demo)

    bench = sub.add_parser("bench", help="run a benchmark and print one JSON object")
    bench.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    bench.set_defaults(run=_bench)

    scene = sub.add_parser("scene", help="scene files")
    scene_sub = scene.add_subparsers(title="scene commands", metavar="ACTION", required=True)
    check = scene_sub.add_parser("check", help="validate scene folders against the schema")
    check.add_argument("paths", nargs="+", help="scene folders or scene.json files")
    check.set_defaults(run=_scene_check)

    serve.add_argument(
        "--models",
        default=os.environ.get("CONTINUUM_MODELS", DEFAULT_MODELS_FILE),
        help="the generation bindings file, watched while serving (default $CONTINUUM_MODELS, "
        f"else ./{DEFAULT_MODELS_FILE}; missing: every slot serves its built-in model)",
    )
    serve.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where generation jobs run"
    )
    serve.add_argument("--ray-address", help="the Ray cluster (default: start a local one)")
    _add_world_commands(sub)
    _add_models_commands(sub)
    _add_splats_commands(sub)
    _add_face_commands(sub)
    _add_motion_commands(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from continuum.server.app import Server, ServerConfig
    from continuum.server.process import READY_PREFIX
    from continuum.world import load_scene

    scene = load_scene(args.scene) if args.scene else None
    physics = {
        name: value
        for name, value in (("dt", args.physics_dt), ("publish_hz", args.publish_hz))
        if value is not None
    }
    config = ServerConfig(
        bind=args.bind,
        port=args.port,
        pub_port=args.pub_port,
        tick_hz=args.tick_hz,
        token=args.token,
        asset_dir=Path(args.asset_dir) if args.asset_dir else None,
        physics=_physics_config(physics) if physics else None,
        worlds_dir=Path(args.worlds_dir) if args.worlds_dir else None,
        world=args.world,
        models=Path(args.models),
        executor=args.executor,
        ray_address=args.ray_address,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Server(config, scene) as server:
            ready = {"port": server.port, "pub_port": server.pub_port}
            print(READY_PREFIX + json.dumps(ready), flush=True)
            await server.serve(stop)
            logging.getLogger("continuum").info(
                "stopped after %(requests)d requests (%(errors)d errors), %(ticks)d ticks",
                server.stats,
            )

    asyncio.run(run())
    return 0


def _physics_config(fields: dict) -> object:
    from continuum.physics import PhysicsConfig  # mujoco and trimesh load for physics only

    return PhysicsConfig(**fields)


def _demo(args: argparse.Namespace) -> int:
    from continuum.demo import run_demo

    return run_demo(
        scene=args.scene,
        seconds=args.seconds,
        headless=args.headless,
        screenshot=args.screenshot,
    )


def _bench(args: argparse.Namespace) -> int:
    import importlib

    module, function = BENCHMARKS[args.name]
    result = getattr(importlib.import_module(module), function)()
    print(json.dumps(result))
    return 0


# name -> (module, function): imported on use, so each loads only what it measures
BENCHMARKS: dict[str, tuple[str, str]] = {
    "bridge": ("continuum.bench.bridge", "bench_bridge"),
    "edit": ("continuum.bench.edit", "bench_edit"),
    "engine-splats": ("continuum.bench.engine_splats", "bench_engine_splats"),
    "face": ("continuum.bench.face", "bench_face"),
    "hotreload": ("continuum.bench.hotreload", "bench_hotreload"),
    "identity": ("continuum.bench.identity", "bench_identity"),
    "physics": ("continuum.bench.physics", "bench_physics"),
    "physmotion": ("continuum.bench.physmotion", "bench_physmotion"),
    "splats": ("continuum.bench.splats", "bench_splats"),
    "store": ("continuum.bench.store", "bench_store"),
}


def _scene_check(args: argparse.Namespace) -> int:
    from continuum.world import load_scene

    failed = 0
    for path in args.paths:
        try:
            scene = load_scene(path)
        except ContinuumError as exc:
            print(f"FAIL {exc}")
            failed += 1
        else:
            print(f"ok   {path}: scene {scene.name!r}, {len(scene.entities)} entities")
    return 1 if failed else 0


# -- world ---------------------------------------------------------------------------------------


def _add_world_commands(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser(
        "world", help="persistent worlds: list, inspect, fork, replay, compact, export, gc"
    )
    world.add_argument(
        "--root",
        default=os.environ.get("CONTINUUM_WORLDS", "worlds"),
        help="the worlds directory (default $CONTINUUM_WORLDS, else ./worlds)",
    )
    world_sub = world.add_subparsers(title="world commands", metavar="ACTION", required=True)

    ls = world_sub.add_parser("ls", help="list the worlds")
    ls.set_defaults(run=_world_ls)

    info = world_sub.add_parser("info", help="a world's figures as JSON")
    info.add_argument("name")
    info.set_defaults(run=_world_info)

    fork = world_sub.add_parser("fork", help="copy a world, up to an event, to a new world")
    fork.add_argument("name")
    fork.add_argument("new_name")
    fork.add_argument("--at", type=int, default=None, help="last event seq (default: all)")
    fork.set_defaults(run=_world_fork)

    replay = world_sub.add_parser("replay", help="print the state at a tick or seq as JSON")
    replay.add_argument("name")
    at = replay.add_mutually_exclusive_group(required=True)
    at.add_argument("--tick", type=int, help="the state after the last event at or before it")
    at.add_argument("--seq", type=int, help="the state right after this event")
    replay.add_argument(
        "--poses",
        action="store_true",
        help="with --tick: also replay the physics to that tick and print every body's pose "
        "(bit-identical to the live run on the same machine)",
    )
    replay.set_defaults(run=_world_replay)

    compact = world_sub.add_parser(
        "compact", help="snapshot, then drop the events before the older kept snapshot"
    )
    compact.add_argument("name")
    compact.add_argument(
        "--keep-snapshots", type=int, default=2, help="snapshots kept (default 2, at least 1)"
    )
    compact.set_defaults(run=_world_compact)

    gc = world_sub.add_parser(
        "gc", help="delete the shared assets (root/.assets) that no world names any more"
    )
    gc.add_argument(
        "--grace-s",
        type=float,
        default=3600.0,
        help="spare assets stored less than this long ago (default 3600 s)",
    )
    gc.set_defaults(run=_world_gc)

    export = world_sub.add_parser("export", help="write a world's events as JSON lines")
    export.add_argument("name")
    export.add_argument("path", help="the .jsonl file to write")
    export.set_defaults(run=_world_export)


def _world_ls(args: argparse.Namespace) -> int:
    from continuum.world import list_worlds

    for name in list_worlds(args.root):
        print(name)
    return 0


def _world_info(args: argparse.Namespace) -> int:
    from continuum.world import WorldStore

    with WorldStore.open(args.root, args.name, read_only=True) as store:
        print(json.dumps(store.info(), indent=2))
    return 0


def _world_fork(args: argparse.Namespace) -> int:
    from continuum.world import WorldStore

    with WorldStore.open(args.root, args.name, read_only=True) as store:
        store.fork(args.new_name, at=args.at)
        at = store.seq if args.at is None else args.at
    print(f"forked {args.name!r} at seq {at} to {args.new_name!r}")
    return 0


def _world_gc(args: argparse.Namespace) -> int:
    from continuum.world import collect_assets

    print(json.dumps(collect_assets(args.root, grace_s=args.grace_s)))
    return 0


def _world_replay(args: argparse.Namespace) -> int:
    from continuum.world import WorldStore

    if args.poses and args.tick is None:
        raise ContinuumError("--poses needs --tick: the physics replays to a tick")
    with WorldStore.open(args.root, args.name, read_only=True) as store:
        doc = store.state_at(seq=args.seq, tick=args.tick).to_json()
        if args.poses:
            from continuum.physics import replay_physics

            frame = replay_physics(store, to_tick=args.tick)
            doc["poses"] = {
                "step": frame.step,
                "sim_time": frame.sim_time,
                "bodies": dict(zip(frame.ids, frame.poses.tolist(), strict=True)),
            }
    print(json.dumps(doc, indent=2))
    return 0


def _world_compact(args: argparse.Namespace) -> int:
    from continuum.world import WorldStore

    if args.keep_snapshots < 1:
        raise ContinuumError(f"--keep-snapshots must be at least 1, got {args.keep_snapshots}")
    with WorldStore.open(args.root, args.name) as store:
        print(json.dumps(store.compact(keep_snapshots=args.keep_snapshots)))
    return 0


def _world_export(args: argparse.Namespace) -> int:
    from continuum.world import WorldStore

    with WorldStore.open(args.root, args.name, read_only=True) as store:
        n = store.export(args.path)
    print(f"wrote {n} events of {args.name!r} to {args.path}")
    return 0


# -- splats -------------------------------------------------------------------------------------

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".stl", ".off")
WRITABLE_SUFFIXES = (".ply", ".splat", ".spz")
BACKENDS = ("auto", "cpu", "torch", "reference", "gsplat")
CAMERAS_HELP = """\
CAMERAS is a cameras.json file, or a folder holding one; image paths are relative to it:

  {"cameras": [
     {"image": "000.png", "width": 64, "height": 64,
      "fx": 80.0, "fy": 80.0, "cx": 32.0, "cy": 32.0,
      "world_to_camera": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]},
     ...]}

fx, fy, cx, cy are in pixels; world_to_camera is a row-major rigid 4x4 from scene axes (glTF:
+Y up, metres) to OpenCV camera axes (+x right, +y down, +z forward)."""


# -- models --------------------------------------------------------------------------------------

DEFAULT_MODELS_FILE = "continuum.toml"


def _add_models_commands(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="generation slots and the models bound to them")
    models.add_argument(
        "--config",
        default=os.environ.get("CONTINUUM_MODELS", DEFAULT_MODELS_FILE),
        help=f"the bindings file (default $CONTINUUM_MODELS, else ./{DEFAULT_MODELS_FILE})",
    )
    models_sub = models.add_subparsers(title="models commands", metavar="ACTION", required=True)

    ls = models_sub.add_parser("ls", help="each slot and its binding")
    ls.set_defaults(run=_models_ls)

    bind = models_sub.add_parser(
        "bind", help="bind a slot to a diffusers folder or 'builtin' (a running backend follows)"
    )
    bind.add_argument("slot", help="text_to_image, image_edit, image_to_video or motion")
    bind.add_argument("model", help="a diffusers model folder, or 'builtin'")
    bind.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    bind.add_argument("--dtype", default="float32", help="float32, float16 or bfloat16")
    bind.add_argument(
        "--no-check", action="store_true", help="write the binding without loading the model"
    )
    bind.set_defaults(run=_models_bind)

    check = models_sub.add_parser(
        "check", help="load the bound models (and with --run, generate once) to see they work"
    )
    check.add_argument("slots", nargs="*", help="the slots to check (default: all)")
    check.add_argument(
        "--run", dest="generate", action="store_true", help="also run a small request on each"
    )
    check.set_defaults(run=_models_check)


def _models_ls(args: argparse.Namespace) -> int:
    from continuum.generation import BUILTIN, SLOTS, load_bindings

    bindings = load_bindings(args.config)
    for slot in SLOTS:
        spec = bindings.get(slot, BUILTIN)
        where = "builtin" if spec.builtin else str(spec.path)
        missing = "" if spec.builtin or spec.path.is_dir() else "  (missing folder)"  # type: ignore[union-attr]
        print(f"{slot:15} {where} [{spec.device}, {spec.dtype}]{missing}")
    return 0


def _models_bind(args: argparse.Namespace) -> int:
    from continuum.generation import ModelSpec, load_bindings, load_model, save_bindings

    spec = ModelSpec.from_json({"model": args.model, "device": args.device, "dtype": args.dtype})
    bindings = load_bindings(args.config)
    if not args.no_check:
        start = time.perf_counter()
        load_model(args.slot, spec).close()  # raises ModelLoadError with the reason
        print(f"loaded {args.model} for {args.slot} in {time.perf_counter() - start:.2f} s")
    from continuum.generation.slots import check_slot

    bindings[check_slot(args.slot)] = spec
    save_bindings(args.config, bindings)
    print(f"{args.slot} -> {spec.to_json()['model']} (written to {args.config})")
    return 0


def _models_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from continuum.errors import ContinuumError
    from continuum.generation import BUILTIN, SLOTS, load_bindings, load_model
    from continuum.generation.slots import check_slot

    bindings = load_bindings(args.config)
    failed = 0
    for slot in [check_slot(s) for s in args.slots] or SLOTS:
        spec = bindings.get(slot, BUILTIN)
        start = time.perf_counter()
        try:
            model = load_model(slot, spec)
        except ContinuumError as exc:
            print(f"FAIL {slot}: {exc}")
            failed += 1
            continue
        report = {"slot": slot, "load_s": round(time.perf_counter() - start, 3), **model.describe()}
        if args.generate:
            request = _check_request(slot)
            with tqdm(desc=slot, unit="step", leave=False) as bar:

                def progress(step: int, steps: int) -> None:
                    bar.total = steps
                    bar.update(step - bar.n)

                start = time.perf_counter()
                try:
                    result = model.run(request, progress)
                except ContinuumError as exc:
                    print(f"FAIL {slot}: the model loaded but did not run: {exc}")
                    failed += 1
                    model.close()
                    continue
            report["run_s"] = round(time.perf_counter() - start, 3)
            report["result"] = type(result).__name__.lower()
        model.close()
        print("ok   " + json.dumps(report, default=str))
    return 1 if failed else 0


def _check_request(slot: str) -> object:
    import numpy as np

    from continuum.generation import parse_request

    image = np.full((64, 64, 3), 128, np.uint8)
    params: dict[str, dict] = {
        "text_to_image": {"prompt": "a red cube on a table", "width": 64, "height": 64, "steps": 2},
        "image_edit": {"instruction": "make it brighter", "steps": 2},
        "image_to_video": {"frames": 2, "steps": 2},
        "motion": {"scenario": "throw", "params": {"vy": 2.0}, "frames": 30},  # any model
    }
    return parse_request(
        slot, params[slot], image if slot in ("image_edit", "image_to_video") else None
    )


def _add_splats_commands(sub: argparse._SubParsersAction) -> None:
    splats = sub.add_parser("splats", help="Gaussian splat files: inspect, convert, render, fit")
    splats_sub = splats.add_subparsers(title="splats commands", metavar="ACTION", required=True)

    info = splats_sub.add_parser("info", help="count, SH degree, bounds, scale and opacity")
    info.add_argument("file", help="a splat file (.ply, .splat, .spz, ...)")
    info.set_defaults(run=_splats_info)

    convert = splats_sub.add_parser(
        "convert",
        help="convert between splat formats (by extension), or cover a mesh with splats",
        description="Convert a splat file to another format, chosen by OUT's extension. An IN "
        f"mesh ({', '.join(MESH_SUFFIXES)}) becomes flat Gaussians covering its surface, "
        "coloured from its texture or colours.",
    )
    convert.add_argument("input", metavar="IN", help="a splat file, or a mesh")
    convert.add_argument("output", metavar="OUT", help="the splat file to write")
    convert.add_argument(
        "--count", type=int, default=None, help="Gaussians on a mesh (default 100000)"
    )
    convert.set_defaults(run=_splats_convert)

    render = splats_sub.add_parser(
        "render",
        help="render a splat file to a PNG",
        description="Render a splat file. Without --eye and --target the camera looks at the "
        "middle of the cloud from the front (+Z) and a little above, framing it whole.",
    )
    render.add_argument("file", help="a splat file")
    render.add_argument("-o", "--output", required=True, help="the PNG to write")
    render.add_argument("--width", type=int, default=800, help="image width (default 800)")
    render.add_argument("--height", type=int, default=600, help="image height (default 600)")
    render.add_argument(
        "--fov", type=float, default=50.0, help="vertical field of view, degrees (default 50)"
    )
    render.add_argument("--eye", type=_vector, help="camera position x,y,z")
    render.add_argument("--target", type=_vector, help="point looked at x,y,z")
    render.add_argument(
        "--background", type=_vector, default=(0.0, 0.0, 0.0), help="r,g,b in [0, 1]"
    )
    render.add_argument("--backend", choices=BACKENDS, default="auto", help="renderer")
    render.set_defaults(run=_splats_render)

    fit = splats_sub.add_parser(
        "fit",
        help="fit splats to posed images (3D Gaussian Splatting)",
        description="Fit Gaussians to posed images.\n\n" + CAMERAS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("cameras", metavar="CAMERAS", help="cameras.json, or its folder")
    fit.add_argument("-o", "--output", required=True, help="the splat file to write")
    fit.add_argument("--steps", type=int, default=7000, help="optimisation steps (default 7000)")
    fit.add_argument(
        "--init", default="random", help="'random' (default) or a splat file to start from"
    )
    fit.add_argument(
        "--random-count",
        type=int,
        default=100_000,
        help="Gaussians of the random start (default 100000)",
    )
    fit.add_argument("--sh-degree", type=int, default=3, help="final SH degree (default 3)")
    fit.add_argument(
        "--max-gaussians", type=int, default=None, help="stop densifying at this count"
    )
    fit.add_argument("--backend", choices=BACKENDS, default="auto", help="renderer")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(run=_splats_fit)


def _read_cloud(path: str) -> SplatCloud:
    from continuum.splats.formats import read_splats

    try:
        return read_splats(path)
    except OSError as exc:  # the formats raise SplatFormatError for bad content
        raise ContinuumError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _check_writable(path: str) -> None:
    from pathlib import Path

    if Path(path).suffix.lower() not in WRITABLE_SUFFIXES:
        raise ContinuumError(
            f"cannot write {path}: the extension must be one of {', '.join(WRITABLE_SUFFIXES)}"
        )


def _vector(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers x,y,z, got {text!r}")
    return values  # type: ignore[return-value]


def _splats_info(args: argparse.Namespace) -> int:
    cloud = _read_cloud(args.file)
    print(f"{args.file}: {len(cloud)} Gaussians, SH degree {cloud.sh_degree}")
    if len(cloud) == 0:
        return 0
    lo, hi = cloud.bounding_box()
    print(f"  bounds   min {_triple(lo.tolist())}  max {_triple(hi.tolist())}")
    for name, values in (
        ("scale", cloud.scales().amax(dim=-1)),  # the largest axis of each
        ("opacity", cloud.opacities()),
    ):
        low, mid, high = float(values.min()), float(values.median()), float(values.max())
        print(f"  {name:<8} min {low:.4g}  median {mid:.4g}  max {high:.4g}")
    return 0


def _triple(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _splats_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from continuum.splats.formats import write_splats
    from continuum.splats.mesh import load_mesh, mesh_to_splats

    _check_writable(args.output)
    if Path(args.input).suffix.lower() in MESH_SUFFIXES:
        if args.count is not None and args.count < 1:
            raise ContinuumError(f"--count must be at least 1, got {args.count}")
        cloud = mesh_to_splats(load_mesh(args.input), count=args.count)
    elif args.count is not None:
        raise ContinuumError(f"--count applies to meshes ({', '.join(MESH_SUFFIXES)}) only")
    else:
        cloud = _read_cloud(args.input)
    write_splats(cloud, args.output)
    print(f"wrote {len(cloud)} Gaussians to {args.output}")
    return 0


def _splats_render(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from continuum.splats.camera import Camera
    from continuum.splats.render import render_splats

    cloud = _read_cloud(args.file)
    if len(cloud) == 0:
        raise ContinuumError(f"{args.file} holds no Gaussians to render")
    eye, target = _framing(cloud.means, fov_y_deg=args.fov, aspect=args.width / args.height)
    try:
        camera = Camera.look_at(
            eye if args.eye is None else args.eye,
            target if args.target is None else args.target,
            fov_y_deg=args.fov,
            width=args.width,
            height=args.height,
            background=args.background,
        )
        with torch.no_grad():
            rgb = render_splats(cloud, camera, backend=args.backend).rgb
    except ValueError as exc:  # a camera or backend the renderer rejects
        raise ContinuumError(str(exc)) from exc
    pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    Image.fromarray(np.ascontiguousarray(pixels)).save(args.output)
    print(f"wrote {args.width}x{args.height} {args.output}")
    return 0


def _framing(
    means: torch.Tensor, *, fov_y_deg: float, aspect: float
) -> tuple[list[float], list[float]]:
    """A default (eye, target): the middle of the cloud's 1..99% box, seen from +Z and a
    little above, far enough that the box's bounding sphere fits the narrower field of view."""
    import math

    import torch

    sample = means[:: max(1, len(means) // 100_000)].double()
    lo = torch.quantile(sample, 0.01, dim=0)
    hi = torch.quantile(sample, 0.99, dim=0)
    target = (lo + hi) / 2
    radius = max(float((hi - lo).norm()) / 2, 1e-3)
    half_fov = math.radians(fov_y_deg) / 2
    half_fov = min(half_fov, math.atan(aspect * math.tan(half_fov)))
    direction = torch.tensor([0.0, 0.35, 1.0], dtype=torch.float64)
    eye = target + direction / direction.norm() * (1.05 * radius / math.sin(half_fov))
    return eye.tolist(), target.tolist()


def _splats_fit(args: argparse.Namespace) -> int:
    from continuum.splats.fit import FitConfig, fit_splats, read_views
    from continuum.splats.formats import write_splats

    _check_writable(args.output)
    images, cameras = read_views(args.cameras)
    init = "random" if args.init == "random" else _read_cloud(args.init)
    try:
        config = FitConfig(
            sh_degree=args.sh_degree,
            max_gaussians=args.max_gaussians,
            random_count=args.random_count,
        )
        result = fit_splats(
            images,
            cameras,
            init=init,
            steps=args.steps,
            config=config,
            progress=not args.quiet,
            backend=args.backend,
        )
    except ValueError as exc:  # arguments fit_splats rejects (steps, SH degree, ...)
        raise ContinuumError(str(exc)) from exc
    write_splats(result.cloud, args.output)
    print(
        f"wrote {len(result.cloud)} Gaussians to {args.output} "
        f"({args.steps} steps in {result.seconds:.1f} s, final loss {result.losses[-1]:.4f})"
    )
    return 0


# -- motion --------------------------------------------------------------------------------------


def _add_motion_commands(sub: argparse._SubParsersAction) -> None:
    motion = sub.add_parser("motion", help="physics-controlled motion models (physmotion)")
    motion_sub = motion.add_subparsers(title="motion commands", metavar="ACTION", required=True)
    train = motion_sub.add_parser(
        "train",
        help="roll out scenarios with MuJoCo and pre-train a motion model on them",
        description="Roll out SAMPLES scenarios (drop, throw, ramp, collide in turn, parameters "
        "drawn uniformly) with MuJoCo, pre-train a trajectory diffusion model on them and write "
        "the model folder OUT; prints one JSON line.",
    )
    train.add_argument("out", metavar="OUT", help="the model folder to write")
    train.add_argument("--samples", type=int, default=10_000, help="rollouts (default 10000)")
    train.add_argument("--steps", type=int, default=6000, help="training steps (default 6000)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_motion_train)
    align = motion_sub.add_parser(
        "align",
        help="fine-tune a motion model by RL against MuJoCo re-simulation",
        description="Align the model folder MODEL with a reward from MuJoCo re-simulation "
        "(the reward's gradient through the sampler, anchored to the original) and write "
        "the result to OUT; prints one JSON line.",
    )
    align.add_argument("model", metavar="MODEL", help="a physmotion model folder")
    align.add_argument("out", metavar="OUT", help="the model folder to write")
    align.add_argument("--steps", type=int, default=400, help="RL rounds (default 400)")
    align.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    align.set_defaults(run=_motion_align)
    sample = motion_sub.add_parser(
        "sample",
        help="generate one motion and print it as JSON",
        description="Generate a motion of a scenario with a physmotion model folder, or with "
        "'builtin' (the exact MuJoCo re-simulation); prints one JSON object: channels, fps, "
        "end_velocity and values (one row per frame).",
    )
    sample.add_argument("model", metavar="MODEL", help="a physmotion model folder or 'builtin'")
    sample.add_argument("--scenario", required=True, help="drop, throw, ramp or collide")
    sample.add_argument(
        "--param",
        action="append",
        type=_named_number,
        default=[],
        metavar="NAME=VALUE",
        help="a physical parameter (repeatable), e.g. --param restitution=0.8",
    )
    sample.add_argument("--target", type=_vector, help="x,y,z (m) to pass near")
    sample.add_argument("--frames", type=int, default=60, help="frames (default 60)")
    sample.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
    sample.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0)")
    sample.set_defaults(run=_motion_sample)


def _named_number(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        sep = ""
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}")
    return name.strip(), number


def _motion_train(args: argparse.Namespace) -> int:
    from continuum.generation.physmotion.data import make_dataset
    from continuum.generation.physmotion.train import TrainConfig, pretrain

    if args.samples < 4 or args.steps < 1:
        raise ContinuumError(
            f"--samples must be at least 4 (one per scenario) and --steps at least 1, got "
            f"{args.samples} and {args.steps}"
        )
    start = time.perf_counter()
    data = make_dataset(args.samples, show_progress=not args.quiet)
    _, losses = pretrain(
        data, out=args.out, config=TrainConfig(steps=args.steps), show_progress=not args.quiet
    )
    summary = {
        "model": str(args.out),
        "samples": args.samples,
        "steps": args.steps,
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 5),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))
    return 0


def _motion_align(args: argparse.Namespace) -> int:
    from continuum.generation.physmotion.align import AlignConfig, align
    from continuum.generation.physmotion.model import PhysMotionModel

    if args.steps < 1:
        raise ContinuumError(f"--steps must be at least 1, got {args.steps}")
    start = time.perf_counter()
    model = PhysMotionModel.from_pretrained(args.model)
    _, log = align(
        model, out=args.out, config=AlignConfig(steps=args.steps), show_progress=not args.quiet
    )
    k = max(1, len(log.rewards) // 5)
    summary = {
        "model": str(args.out),
        "steps": args.steps,
        "reward_first": round(sum(log.rewards[:k]) / k, 4),
        "reward_last": round(sum(log.rewards[-k:]) / k, 4),
        "validation": [[rounds, round(score, 4)] for rounds, score in log.validation],
        "kept_round": log.kept_round,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))
    return 0


def _motion_sample(args: argparse.Namespace) -> int:
    from continuum.generation import ModelSpec, Trajectory, load_model, parse_request

    params: dict[str, object] = {
        "scenario": args.scenario,
        "params": dict(args.param),
        "frames": args.frames,
        "fps": args.fps,
        "seed": args.seed,
    }
    if args.target is not None:
        params["target"] = list(args.target)
    request = parse_request("motion", params)
    spec = ModelSpec() if args.model == "builtin" else ModelSpec(Path(args.model).resolve())
    model = load_model("motion", spec)
    try:
        result = model.run(request, lambda step, steps: None)
    finally:
        model.close()
    if not isinstance(result, Trajectory):
        raise ContinuumError(f"{args.model} gave {type(result).__name__}, not a trajectory")
    rows = [[round(float(v), 4) for v in row] for row in result.values]
    velocity = [round(v, 4) for v in result.end_velocity]
    out = {"channels": list(result.channels), "fps": result.fps, "end_velocity": velocity}
    print(json.dumps({**out, "values": rows}))
    return 0


# -- face ----------------------------------------------------------------------------------------


def _add_face_commands(sub: argparse._SubParsersAction) -> None:
    face = sub.add_parser("face", help="3D faces as Gaussian splats from a single photo")
    face_sub = face.add_subparsers(title="face commands", metavar="ACTION", required=True)
    reconstruct = face_sub.add_parser(
        "reconstruct",
        help="reconstruct a 3D face from one photo (FaceSplat)",
        description="Reconstruct the largest face of a PNG or JPEG photo as Gaussians, in a "
        "face-centred frame (metres, +Y up, the face looking towards +Z, origin at the head's "
        "centre). Writes OUT.ply (3DGS PLY) and, with --spz, an SPZ file too; prints one JSON "
        "line: gaussians, psnr (dB, the photo's view, in the face), faces found, seconds.",
    )
    reconstruct.add_argument("photo", metavar="PHOTO", help="a PNG or JPEG photo with a face")
    reconstruct.add_argument("-o", "--output", required=True, help="the .ply file to write")
    reconstruct.add_argument("--spz", metavar="OUT.spz", help="also write this SPZ file")
    reconstruct.add_argument(
        "--steps", type=int, default=300, help="refinement steps (default 300)"
    )
    reconstruct.add_argument(
        "--gaussians", type=int, default=40_000, help="Gaussians on the head (default 40000)"
    )
    reconstruct.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    reconstruct.add_argument(
        "--world",
        metavar="NAME",
        help="also add the face to this persistent world (not one a backend serves now): a new "
        "entity showing the splats, with a face identity bank made from the photo",
    )
    reconstruct.add_argument(
        "--root",
        default=os.environ.get("CONTINUUM_WORLDS", "worlds"),
        help="the worlds directory of --world (default $CONTINUUM_WORLDS, else ./worlds)",
    )
    reconstruct.add_argument(
        "--entity", help="the new entity's id in --world (default the photo's file name)"
    )
    reconstruct.add_argument(
        "--position",
        type=_floats(3),
        default=(0.0, 0.0, 0.0),
        metavar="X,Y,Z",
        help="where the entity stands in --world (metres, default the origin)",
    )
    reconstruct.set_defaults(run=_face_reconstruct)


def _floats(n: int) -> Callable[[str], tuple[float, ...]]:
    """An argparse type: ``n`` comma-separated finite numbers."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != n or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers, got {text!r}")
        return values

    return parse


def _face_reconstruct(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from continuum.generation.facesplat import (
        FaceConfig,
        load_photo,
        place_face,
        reconstruct_face,
    )
    from continuum.identity import Identities
    from continuum.splats.formats import write_splats

    if Path(args.output).suffix.lower() != ".ply":
        raise ContinuumError(f"--output must be a .ply file, got {args.output}")
    if args.spz is not None and Path(args.spz).suffix.lower() != ".spz":
        raise ContinuumError(f"--spz must be a .spz file, got {args.spz}")
    image = load_photo(args.photo)
    config = FaceConfig(steps=args.steps, gaussians=args.gaussians)
    entity = args.entity or Path(args.photo).stem
    with contextlib.ExitStack() as stack:
        # The world first: one that is missing, held by a backend or has the entity fails at once.
        world = stack.enter_context(_world_to_edit(args.root, args.world)) if args.world else None
        if world is not None and entity in world.state().entities:
            raise ContinuumError(f"world {args.world!r} has an entity {entity!r}; use --entity")
        with tqdm(desc="face", unit="step", leave=False, disable=args.quiet) as bar:

            def progress(step: int, steps: int) -> None:
                bar.total = steps
                bar.update(step - bar.n)

            result = reconstruct_face(image, config=config, progress=progress)
        write_splats(result.cloud, args.output)
        if args.spz is not None:
            write_splats(result.cloud, args.spz)
        summary = {
            "gaussians": len(result.cloud),
            "psnr": round(result.psnr, 2),
            "faces_found": result.faces_found,
            "seconds": round(result.seconds, 2),
        }
        if world is not None:
            identities = Identities.from_state(world.state())
            placed = place_face(
                world, identities, world.assets, result, entity, position=args.position
            )
            summary.update(world=args.world, entity=entity, asset=placed.asset.hash)
    print(json.dumps(summary))
    return 0


@contextlib.contextmanager
def _world_to_edit(root: str, name: str) -> Iterator[World]:
    """The persistent world ``name`` of ``root``, open for writing (its splat packs in the
    folder's shared asset store, as a backend serving it keeps them)."""
    from continuum.world import AssetStore, World, WorldStore
    from continuum.world.store import ASSETS_DIR

    with WorldStore.open(root, name) as store, AssetStore(Path(root) / ASSETS_DIR) as assets:
        yield World(None, assets, store=store)
