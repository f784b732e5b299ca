"""The ``continuum`` command: serve a world, run the demo, run benchmarks, check scenes."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable

from continuum import __version__
from continuum.errors import ContinuumError


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
    serve.add_argument("-v", "--verbose", action="store_true", help="log every session event")
    serve.set_defaults(run=_serve)

    demo = sub.add_parser(
        "demo", help="start the backend and the Godot demo, and report what they exchanged"
    )
    demo.add_argument("--scene", default=None, help="scene folder (default scenes/hello)")
    demo.add_argument("--seconds", type=float, default=5.0, help="how long the demo runs")
    demo.add_argument(
        "--headless", action="store_true", help="no window even when a display is available"
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
    return parser


def _serve(args: argparse.Namespace) -> int:
    from continuum.server.app import Server, ServerConfig
    from continuum.server.process import READY_PREFIX
    from continuum.world import load_scene

    scene = load_scene(args.scene) if args.scene else None
    config = ServerConfig(
        bind=args.bind,
        port=args.port,
        pub_port=args.pub_port,
        tick_hz=args.tick_hz,
        token=args.token,
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


def _demo(args: argparse.Namespace) -> int:
    from continuum.demo import run_demo

    return run_demo(scene=args.scene, seconds=args.seconds, headless=args.headless)


def _bench(args: argparse.Namespace) -> int:
    result = BENCHMARKS[args.name]()
    print(json.dumps(result))
    return 0


def _bench_bridge() -> dict:
    from continuum.bench.bridge import bench_bridge

    return bench_bridge()


BENCHMARKS: dict[str, Callable[[], dict]] = {"bridge": _bench_bridge}


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
