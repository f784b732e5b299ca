extends "res://tests/script_main.gd"
## World scenarios (bridge/PROTOCOL.md section 13) against a real backend, driven by pytest
## (tests/integration/test_godot_world.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/world_probe.gd \
##         -- --continuum-port=N --scenario=NAME [--entity=ID] [--timeout=S]
##
## Two clients, A and B, each a ContinuumSession with a ContinuumWorld, mirror the world as a
## game would. A edits; both must show every change from the `world.changed` pushes alone (no
## reload). Prints result lines "CONTINUUM_RESULT {json}" (the last one has "ok") and quits with
## 0 when the scenario passed, 1 when not, 2 on bad arguments. Positions are [x, y, z].
##
## Scenarios (for scenes/hello unless said):
##   edit     A moves "cube", adds "crate" under "pillar", removes "sign" and paints "ball" in one
##            edit; B tags "ball"; both show it all; edits that do not fit are refused; A asks
##            world.events (a world that is not persistent may keep no log: `unavailable`)
##   undo     A moves "cube", undoes, redoes, undoes; a second undo has nothing to take back
##   physics  (scenes/physics_playground) A moves the body --entity (a transform_set: its body
##            is teleported), removes "box-6" (the layout changes), then undoes both
##   worlds   (a backend with a worlds folder, serving "main") list, fork "branch", remove
##            --entity in main (and read it back with world.events), open "branch" (world.reset:
##            both rebuild, the entity is back), open "main" again, fork "direct" and open it at
##            once, list again; with physics the pose stream follows after every reset

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")

const SCENARIOS := ["edit", "undo", "physics", "worlds"]
## Seconds to wait for a push to reach both clients.
const PUSH_WAIT_S := 5.0

var _clients: Array[_Client] = []
var _errors: Array = []


func _main() -> void:
	var scenario := scenario_arg(SCENARIOS)
	if scenario.is_empty():
		return
	var timeout_s := float(args.get("timeout", "60"))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"errors": _errors}))
	OS.low_processor_usage_mode_sleep_usec = 1000
	for client_name: String in ["A", "B"]:
		var client := _Client.new()
		client.start(root, client_name, _errors)
		_clients.append(client)
	for client in _clients:
		client.session.connect_to_backend()
	for client in _clients:
		while client.loads < 1:
			await process_frame
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	result["loads"] = _clients.map(func(c: _Client) -> int: return c.loads)
	result["world_info"] = _clients[0].world.world_info
	finish(0 if result.get("ok", false) else 1, result)


func _run_edit() -> Dictionary:
	var a := _clients[0]
	var b := _clients[1]
	var reply := await a.world.edit([
		{"kind": "transform_set", "id": "cube", "transform": {
			"position": [1, 2, 3], "rotation": [0, 0, 0, 1]}},
		{"kind": "entity_added", "entity": {"id": "crate", "parent": "pillar", "name": "Crate",
			"transform": {"position": [0, 2, 0]}, "components": {
				"shape": {"type": "box", "size": [0.3, 0.3, 0.3]},
				"material": {"color": [1, 0, 0]}}}},
		{"kind": "entity_removed", "id": "sign"},
		{"kind": "component_set", "id": "ball", "name": "material", "value": {
			"color": [0, 0, 1]}},
	])
	if reply.kind != "world.edit":
		return {"ok": false, "error": "world.edit failed: %s" % reply.header}
	var seq := int(reply.header.seq)
	var arrived := await _until_seq(seq)
	var tagged := await b.world.edit([{"kind": "tags_set", "id": "ball", "tags": ["blue"]}])
	var tag_seq := int(tagged.header.get("seq", -1))
	var tags_arrived := await _until_seq(tag_seq)
	var codes := {}
	var bad := {
		"unknown_entity": [{"kind": "transform_set", "id": "nobody",
			"transform": {"position": [0, 0, 0]}}],
		"duplicate_id": [{"kind": "entity_added", "entity": {"id": "cube"}}],
		"backend_kind": [{"kind": "physics_set", "blob": {}}],
		"not_a_list": "cube",
	}
	for key: String in bad:
		var refused: Dictionary
		if bad[key] is Array:
			refused = await a.world.edit(bad[key])
		else:
			refused = await a.session.request("world.edit", {"events": bad[key]})
		codes[key] = refused.header.get("code") if refused.kind == "error" else "accepted"
	var log_reply := await a.world.events_since(0)
	var logged: Array = log_reply.header.get("events", [])
	var shown := []
	for client in _clients:
		shown.append(_shown(client))
	var same: bool = shown[0] == shown[1]
	return {
		"ok": arrived and tags_arrived and same and shown[0].crate_parent == "pillar",
		"edit_seq": seq,
		"tag_seq": tag_seq,
		"last_seq": _clients.map(func(c: _Client) -> int: return c.world.last_seq),
		"changes": _clients.map(func(c: _Client) -> int: return c.changes),
		"shown": shown,
		"codes": codes,
		"logged_kinds": logged.map(func(e: Dictionary) -> String: return e.event.kind),
		"logged_seqs": logged.map(func(e: Dictionary) -> int: return int(e.seq)),
		"log_seq": log_reply.header.get("seq"),
		"log_code": log_reply.header.get("code"),
	}


func _run_undo() -> Dictionary:
	var a := _clients[0]
	var start := _position(a, "cube")
	var steps := []
	var moved := await a.world.edit([{"kind": "transform_set", "id": "cube",
		"transform": {"position": [0, 3, 0]}}])
	steps.append(await _step("edit", moved, "cube"))
	steps.append(await _step("undo", await a.world.undo(), "cube"))
	steps.append(await _step("redo", await a.world.redo(), "cube"))
	steps.append(await _step("undo", await a.world.undo(), "cube"))
	var again := await a.world.undo()
	return {
		"ok": steps.all(func(s: Dictionary) -> bool: return s.arrived),
		"start": start,
		"steps": steps,
		"again_code": again.header.get("code") if again.kind == "error" else "accepted",
		"again_message": again.header.get("message", ""),
	}


func _run_physics() -> Dictionary:
	var a := _clients[0]
	var id: String = args.get("entity", "ball")
	var stream := a.world.get_pose_stream()
	while stream.layout_ids().is_empty():
		await process_frame
	var start := _position(a, id)
	var target := [start[0] + 1.0, start[1], start[2] - 1.0]
	var moved := await a.world.edit([{"kind": "transform_set", "id": id,
		"transform": {"position": target}}])
	var arrived := await _until_seq(int(moved.header.get("seq", -1)))
	var followed := await _until_near(a, id, target)
	var layout_before := stream.layout
	var removed := await a.world.edit([{"kind": "entity_removed", "id": "box-6"}])
	var removed_arrived := await _until_seq(int(removed.header.get("seq", -1)))
	var until := _now() + PUSH_WAIT_S
	while "box-6" in stream.layout_ids() and _now() < until:
		await process_frame
	var layout_without := stream.layout_ids()
	var bound_without := a.world.get_pose_stream().bound_ids()
	var undo_removal := await _step("undo", await a.world.undo(), id)
	until = _now() + PUSH_WAIT_S
	while not "box-6" in stream.layout_ids() and _now() < until:
		await process_frame
	var undo_move := await _step("undo", await a.world.undo(), id)
	var back := await _until_near(a, id, start)
	return {
		"ok": arrived and followed and removed_arrived and back and undo_removal.arrived
			and undo_move.arrived,
		"entity": id,
		"start": start,
		"target": target,
		"followed": followed,
		"node_after_move_back": _position(a, id),
		"back": back,
		"layout_before": layout_before,
		"layout_after": stream.layout,
		"layout_without_box": Array(layout_without),
		"bound_without_box": Array(bound_without),
		"layout_with_box_again": Array(stream.layout_ids()),
		"bound_with_box_again": Array(stream.bound_ids()),
		"box_node_again": a.world.get_entity_node("box-6") != null,
	}


func _run_worlds() -> Dictionary:
	var a := _clients[0]
	var id: String = args.get("entity", "sign")
	var physics := a.world.world_info.get("physics") is Dictionary
	var listed := await a.world.list_worlds()
	var forked := await a.world.fork_world("branch")
	var before := a.world.last_seq
	var removed := await a.world.edit([{"kind": "entity_removed", "id": id}])
	var removed_arrived := await _until_seq(int(removed.header.get("seq", -1)))
	var logged := await a.world.events_since(before)
	var gone := _clients.all(func(c: _Client) -> bool: return c.world.get_entity_node(id) == null)
	var opened := await _open("branch")
	var back := _clients.all(func(c: _Client) -> bool: return c.world.get_entity_node(id) != null)
	var streaming_branch := await _streaming(physics)
	var reopened := await _open("main")
	var gone_again := _clients.all(
		func(c: _Client) -> bool: return c.world.get_entity_node(id) == null)
	var direct := await a.world.fork_world("direct", -1, true)
	var direct_reset := await _until_resets(3)
	var streaming_direct := await _streaming(physics)
	var listed_after := await a.world.list_worlds()
	var fork_again := await a.world.fork_world("branch")
	return {
		"ok": removed_arrived and gone and opened.arrived and back and reopened.arrived
			and gone_again and direct_reset and streaming_branch and streaming_direct,
		"entity": id,
		"physics": physics,
		"listed": listed.header.get("worlds", listed.header),
		"fork": forked.header,
		"opened": opened,
		"reopened": reopened,
		"direct": direct.header,
		"direct_name": a.world.world_info.get("name"),
		"resets": _clients.map(func(c: _Client) -> int: return c.resets),
		"listed_after": listed_after.header.get("worlds", listed_after.header),
		"fork_again_code": fork_again.header.get("code") if fork_again.kind == "error" else "ok",
		"entity_in_direct": a.world.get_entity_node(id) != null,
		"removed_seq": removed.header.get("seq"),
		"logged": logged.header.get("events", logged.header),
		"log_more": logged.header.get("more"),
	}


# Opens world [param world_name] from A; waits until both clients were reset and rebuilt.
func _open(world_name: String) -> Dictionary:
	var a := _clients[0]
	var resets := a.resets
	var loads := _clients.map(func(c: _Client) -> int: return c.loads)
	var reply := await a.world.open_world(world_name)
	var until := _now() + PUSH_WAIT_S
	var done := func() -> bool: return range(_clients.size()).all(func(i: int) -> bool: return (
		_clients[i].loads > loads[i] and _clients[i].resets > resets))
	while not done.call() and _now() < until:
		await process_frame
	return {
		"kind": reply.kind,
		"code": reply.header.get("code"),
		"world": reply.header.get("world"),
		"arrived": done.call(),
		"names": _clients.map(func(c: _Client) -> Variant: return c.world.world_info.get("name")),
		"last_seq": _clients.map(func(c: _Client) -> int: return c.world.last_seq),
	}


func _until_resets(count: int) -> bool:
	var until := _now() + PUSH_WAIT_S
	var done := func() -> bool: return _clients.all(func(c: _Client) -> bool: return (
		c.resets >= count and c.loading_done()))
	while not done.call() and _now() < until:
		await process_frame
	return done.call()


# With physics: true once the pose stream knows a layout again and frames come; else true.
func _streaming(physics: bool) -> bool:
	if not physics:
		return true
	var stream := _clients[0].world.get_pose_stream()
	var frames := stream.frames_received
	var until := _now() + PUSH_WAIT_S
	while (stream.layout_ids().is_empty() or stream.frames_received < frames + 5) \
			and _now() < until:
		await process_frame
	return not stream.layout_ids().is_empty() and stream.frames_received >= frames + 5


# Waits for the push of [param reply]'s change, then notes where [param id] is shown.
func _step(what: String, reply: Dictionary, id: String) -> Dictionary:
	var seq := int(reply.header.get("seq", -1)) if reply.kind != "error" else -1
	var arrived := false
	if seq >= 0:
		arrived = await _until_seq(seq)
	return {
		"step": what,
		"kind": reply.kind,
		"code": reply.header.get("code"),
		"seq": seq,
		"events": reply.header.get("events"),
		"undo": reply.header.get("world", {}).get("undo"),
		"redo": reply.header.get("world", {}).get("redo"),
		"arrived": arrived,
		"positions": _clients.map(func(c: _Client) -> Array: return _position(c, id)),
	}


# True once both clients show every event up to [param seq].
func _until_seq(seq: int) -> bool:
	if seq < 0:
		return false
	var until := _now() + PUSH_WAIT_S
	while _now() < until:
		if _clients.all(func(c: _Client) -> bool: return c.world.last_seq >= seq):
			return true
		await process_frame
	return false


# True once entity [param id]'s node is within 5 cm of [param target].
func _until_near(client: _Client, id: String, target: Array) -> bool:
	var goal := Vector3(target[0], target[1], target[2])
	var until := _now() + PUSH_WAIT_S
	while _now() < until:
		var node := client.world.get_entity_node(id)
		if node != null and node.global_position.distance_to(goal) < 0.05:
			return true
		await process_frame
	return false


func _shown(client: _Client) -> Dictionary:
	var world := client.world
	var crate := world.get_entity_node("crate")
	var ball := world.get_entity_node("ball") as MeshInstance3D
	var color: Color = (ball.mesh.material as StandardMaterial3D).albedo_color
	var parent: Node = crate.get_parent() if crate != null else null
	return {
		"cube": _position(client, "cube"),
		"crate": _position(client, "crate") if crate != null else null,
		"crate_parent": parent.get_meta("continuum_id", "") if parent != null else null,
		"crate_class": crate.get_class() if crate != null else null,
		"sign": world.get_entity_node("sign") != null,
		"ball_color": [color.r, color.g, color.b],
		"ball_tags": Array(ball.get_meta("continuum_tags", PackedStringArray())),
		"ids": Array(world.entity_ids),
	}


static func _position(client: _Client, id: String) -> Array:
	var node := client.world.get_entity_node(id)
	if node == null:
		return []
	var p := node.global_position
	return [snappedf(p.x, 1e-4), snappedf(p.y, 1e-4), snappedf(p.z, 1e-4)]


static func _now() -> float:
	return Time.get_ticks_usec() / 1e6


## One client: a session and the world it mirrors, with counts of what the world emitted.
class _Client:
	extends RefCounted

	var session: SessionScript
	var world: ContinuumWorldScript
	var loads: int = 0
	var changes: int = 0
	var resets: int = 0

	func start(root: Node, client_name: String, errors: Array) -> void:
		session = SessionScript.new()  # reads --continuum-port itself
		session.name = "Session" + client_name
		session.auto_connect = false
		session.ping_interval_s = 0.0
		session.error_reported.connect(func(code: String, message: String) -> void: errors.append(
			{"client": client_name, "code": code, "message": message}))
		root.add_child(session)
		world = ContinuumWorldScript.new()
		world.name = "World" + client_name
		world.session_path = session.get_path()
		world.world_loaded.connect(func(_count: int) -> void: loads += 1)
		world.world_changed.connect(func(_events: Array) -> void: changes += 1)
		world.world_reset.connect(func(_info: Dictionary) -> void: resets += 1)
		root.add_child(world)

	## True when the last reset's reload is done (as many loads as resets, plus the first).
	func loading_done() -> bool:
		return loads > resets
