import subprocess
import sys

from continuum.cli import main
from tests.conftest import HELLO


def test_help_lists_the_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("serve", "demo", "bench", "scene", "world"):
        assert command in out


def test_serve_refuses_an_open_bind_without_token(capsys):
    assert main(["serve", "--bind", "0.0.0.0", "--port", "0"]) == 1
    assert "access token" in capsys.readouterr().err


def test_serve_reports_a_broken_scene(tmp_path, capsys):
    (tmp_path / "scene.json").write_text("{}")
    assert main(["serve", "--scene", str(tmp_path), "--port", "0"]) == 1
    assert "'format' is a required property" in capsys.readouterr().err


def test_scene_check(tmp_path, capsys):
    (tmp_path / "scene.json").write_text("[]")
    assert main(["scene", "check", str(HELLO)]) == 0
    assert main(["scene", "check", str(HELLO), str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "ok   " in out and "FAIL " in out


def test_console_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "continuum", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("continuum ")


def test_serve_prints_its_ports_and_stops_on_sigterm():
    from continuum.server.process import BackendProcess

    with BackendProcess(HELLO) as backend:
        assert backend.port > 0 and backend.pub_port > 0
        assert backend.stop() == 0
    assert any("stopped after" in line for line in backend.log)


def test_serve_takes_the_physics_rates_and_an_asset_folder(tmp_path):
    from continuum.server.client import BridgeClient
    from continuum.server.process import BackendProcess

    playground = HELLO.parent / "physics_playground"
    extra = ["--physics-dt", "0.004", "--publish-hz", "30", "--asset-dir", str(tmp_path / "a")]
    with BackendProcess(playground, extra=extra) as backend:
        with BridgeClient(port=backend.port) as client:
            assert client.welcome["physics"] == {"dt": 0.004, "publish_hz": 30.0}
        assert backend.stop() == 0
    assert (tmp_path / "a").is_dir()


def test_serve_refuses_a_bad_physics_rate(capsys):
    playground = HELLO.parent / "physics_playground"
    assert main(["serve", "--scene", str(playground), "--port", "0", "--physics-dt", "-1"]) == 1
    assert "dt" in capsys.readouterr().err


def test_world_commands(tmp_path, capsys):
    import json

    from continuum.world import TransformSet, WorldStore, load_scene

    root = str(tmp_path / "worlds")
    with WorldStore.create(root, "hello", load_scene(HELLO)) as store:
        first = store.seq
        for tick in range(1, 6):
            store.append([TransformSet(id="cube", transform={"position": [tick, 0, 0]}, tick=tick)])
        # a backend holds the world: the read-only commands still work
        assert main(["world", "--root", root, "ls"]) == 0
        assert capsys.readouterr().out.split() == ["hello"]
        assert main(["world", "--root", root, "info", "hello"]) == 0
        assert json.loads(capsys.readouterr().out)["seq"] == first + 5
        assert main(["world", "--root", root, "replay", "hello", "--tick", "3"]) == 0
        state = json.loads(capsys.readouterr().out)
        cube = next(e for e in state["entities"] if e["id"] == "cube")
        assert state["tick"] == 3 and cube["transform"]["position"] == [3.0, 0.0, 0.0]
        assert main(["world", "--root", root, "compact", "hello"]) == 1
        assert "already open for writing" in capsys.readouterr().err
    assert main(["world", "--root", root, "fork", "hello", "early", "--at", str(first)]) == 0
    assert main(["world", "--root", root, "replay", "early", "--seq", str(first)]) == 0
    assert "forked" in capsys.readouterr().out
    assert main(["world", "--root", root, "compact", "hello"]) == 0
    assert json.loads(capsys.readouterr().out)["compacted_through"] > 0
    out = tmp_path / "hello.jsonl"
    assert main(["world", "--root", root, "export", "hello", str(out)]) == 0
    assert json.loads(out.read_text().splitlines()[0])["name"] == "hello"
    assert main(["world", "--root", root, "info", "nope"]) == 1
    assert "no world named 'nope'" in capsys.readouterr().err
