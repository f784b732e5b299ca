extends "res://tests/script_main.gd"
## Physics scenarios against a real backend serving a scene with physics, driven by pytest
## (tests/integration/test_godot_physics.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/physics_probe.gd \
##         -- --continuum-port=N --scenario=NAME [--entity=ID] [--timeout=S]
##
## A ContinuumWorld loads the world and follows the pose stream, as in a game. Prints result lines
## "CONTINUUM_RESULT {json}" (the last one has "ok") and quits with 0 when the scenario passed,
## 1 when not, 2 on bad arguments. Poses are [x, y, z, qx, qy, qz, qw], glTF axes.
##
## Scenarios:
##   follow     lift --entity (a ball) to --drop metres (physics.control teleport), then record its
##              node's height every frame until it rests; compare each frame's node position with
##              the raw pose frames around it; report the final pose of every body's node
##   mouse      grab --entity with ContinuumMouseGrabber through the scene's camera (mouse events
##              pushed into the viewport), drag it up and to the right, let go with a throw
##   xr         a plain Node3D stands in for an XR controller next to --entity: grab it with
##              ContinuumXRGrabber, raise the hand, throw, let go
##   bad_input  unknown entities, bad numbers, an unknown op and a ray at static geometry: errors
##              come back, the grabbers grab nothing, the stream goes on, a good control still works

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const PoseStream = preload("res://addons/continuum/physics/pose_stream.gd")

const SCENARIOS := ["follow", "mouse", "xr", "bad_input"]

var _session: SessionScript
var _world: ContinuumWorldScript
var _errors: Array = []
var _raw: Dictionary = {}  # entity id -> Array of [arrival s, Vector3] from the raw frames


func _main() -> void:
	var scenario: String = args.get("scenario", "")
	if not scenario in SCENARIOS:
		finish(2, {"ok": false, "error": "--scenario must be one of %s" % [SCENARIOS]})
		return
	var timeout_s := float(args.get("timeout", "60"))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"errors": _errors}))
	OS.low_processor_usage_mode_sleep_usec = 1000  # about real frames, headless too
	_session = SessionScript.new()  # reads --continuum-port itself
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	_session.error_reported.connect(func(code: String, message: String) -> void: _errors.append(
		{"code": code, "message": message}))
	root.add_child(_session)
	_world = ContinuumWorldScript.new()
	_world.name = "World"
	_world.session_path = _session.get_path()
	root.add_child(_world)
	_world.get_pose_stream().frame_received.connect(_on_frame_received)
	_session.connect_to_backend()
	await _session.connected
	await _world.world_loaded
	# The bodies follow once the layout is known and a frame has come.
	while _world.get_pose_stream().layout_ids().is_empty():
		await process_frame
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	result["bound"] = Array(_world.get_pose_stream().bound_ids())
	result["nodes"] = _node_poses()
	finish(0 if result.get("ok", false) else 1, result)


func _run_follow() -> Dictionary:
	var id: String = args.get("entity", "bouncer")
	var node := _world.get_entity_node(id)
	var drop := float(args.get("drop", "2.0"))
	var start := node.global_position
	var lift := await _control({"op": "teleport", "entity": id, "position": [
		start.x, drop, start.z]})
	if lift.kind != "physics.control":
		return {"ok": false, "error": "teleport failed: %s" % lift.header}
	while node.global_position.y < drop - 0.05:  # the lifted pose reaches the node
		await process_frame
	_raw[id] = []
	var heights: Array[float] = []
	var worst_off := 0.0  # metres between the node and the raw poses' path around it
	var began := _now()
	var anchor := node.global_position  # rest: the node stays within 1 mm of it for 0.5 s
	var anchor_time := began
	var resting := false
	while _now() - began < 10.0 and not resting:
		await process_frame
		var position := node.global_position
		heights.append(snappedf(position.y, 0.0001))
		worst_off = maxf(worst_off, _distance_to_raw_path(id, position))
		if position.distance_to(anchor) > 0.001:
			anchor = position
			anchor_time = _now()
		resting = _now() - anchor_time > 0.5
	var falling := heights.slice(0, mini(10, heights.size()))
	return {
		"ok": heights.size() > 10 and resting,
		"entity": id,
		"first_height": heights[0],
		"lowest_height": heights.min(),
		"final_height": heights[-1],
		"falls_at_first": falling == _sorted_descending(falling),
		"frames_shown": heights.size(),
		"worst_off_raw_path_m": worst_off,
		"seconds_to_rest": snappedf(anchor_time - began, 0.001) if resting else null,
	}


func _run_mouse() -> Dictionary:
	var id: String = args.get("entity", "box-6")
	var camera := root.get_camera_3d()
	var node := _world.get_entity_node(id)
	if camera == null or node == null:
		return {"ok": false, "error": "no camera (%s) or no entity %s" % [camera, id]}
	var grabber := ContinuumMouseGrabber.new()
	grabber.session_path = _session.get_path()
	camera.add_child(grabber)
	var events: Array = []
	grabber.grabbed.connect(func(e: String, _p: Vector3) -> void: events.append(["grabbed", e]))
	grabber.released.connect(func(e: String, v: Vector3) -> void: events.append(
		["released", e, [v.x, v.y, v.z]]))
	var before := node.global_position
	var at := camera.unproject_position(before)
	_push_button(at, true)
	while grabber.state != ContinuumMouseGrabber.State.HOLDING and _now() < _deadline(5.0):
		await process_frame
	var held := grabber.held_entity
	# Drag up and to the right for 0.6 s, faster at the end: a throw.
	var drag := root.get_visible_rect().size * Vector2(0.12, -0.1)
	var began := _now()
	while _now() - began < 0.6:
		var f := (_now() - began) / 0.6
		var motion := InputEventMouseMotion.new()
		motion.position = at + drag * f * f
		root.push_input(motion)
		await process_frame
	var dragged_to := grabber.target_position
	_push_button(at + drag, false)
	await create_timer(0.5).timeout
	var after := node.global_position
	return {
		"ok": held == id and events.size() == 2,
		"held": held,
		"viewport": [root.get_visible_rect().size.x, root.get_visible_rect().size.y],
		"events": events,
		"before": _vec(before),
		"target": _vec(dragged_to),
		"after_release": _vec(after),
	}


func _run_xr() -> Dictionary:
	var id: String = args.get("entity", "ball")
	var node := _world.get_entity_node(id)
	var hand := Node3D.new()  # stands in for an XRController3D
	hand.position = node.global_position + Vector3(0.0, 0.05, 0.0)
	root.add_child(hand)
	var grabber := ContinuumXRGrabber.new()
	grabber.session_path = _session.get_path()
	hand.add_child(grabber)
	var before := node.global_position
	var grabbed := await grabber.grab()
	var held := grabber.held_entity
	var highest := before.y
	# Raise the hand 0.6 m over 0.5 s while carrying it forward, then let go: a throw.
	var began := _now()
	var from := hand.position
	while _now() - began < 0.5:
		var f := (_now() - began) / 0.5
		hand.position = from + Vector3(0.0, 0.6 * f, -0.8 * f)
		highest = maxf(highest, node.global_position.y)
		await process_frame
	var velocity := grabber.release()
	var carried := node.global_position
	var until := _now() + 0.6
	while _now() < until:
		highest = maxf(highest, node.global_position.y)
		await process_frame
	return {
		"ok": grabbed and held == id,
		"held": held,
		"before": _vec(before),
		"at_release": _vec(carried),
		"hand_at_release": _vec(hand.global_position),
		"throw_velocity": _vec(velocity),
		"highest": highest,
		"after": _vec(node.global_position),
	}


func _run_bad_input() -> Dictionary:
	var stream := _world.get_pose_stream()
	var codes := {}
	var asks := {
		"unknown_entity": ["physics.control", {"op": "teleport", "entity": "nobody",
			"position": [0, 1, 0]}],
		"huge_position": ["physics.control", {"op": "teleport", "entity": "ball",
			"position": [0, 1e9, 0]}],
		"short_vector": ["physics.control", {"op": "impulse", "entity": "ball",
			"impulse": [0, 1]}],
		"unknown_op": ["physics.control", {"op": "explode", "entity": "ball"}],
		"zero_ray": ["physics.query", {"type": "ray", "origin": [0, 1, 0],
			"direction": [0, 0, 0]}],
		"unknown_query_entity": ["physics.query", {"type": "contacts", "entity": "nobody"}],
		"grab_static": ["physics.control", {"op": "grab", "entity": "floor",
			"target": {"position": [0, 1, 0]}}],
	}
	for key: String in asks:
		var reply: Dictionary = await _session.request(asks[key][0], asks[key][1])
		codes[key] = reply.header.get("code") if reply.kind == "error" else "accepted"
	# A ray straight down at the floor hits static geometry: the mouse grabs nothing.
	var camera := Camera3D.new()
	root.add_child(camera)
	camera.global_transform = Transform3D(Basis(Vector3.RIGHT, -PI / 2), Vector3(4.5, 3, 4.5))
	var grabber := ContinuumMouseGrabber.new()
	grabber.session_path = _session.get_path()
	camera.add_child(grabber)
	var grabbed_static := await grabber.begin_grab(root.get_visible_rect().size / 2.0)
	# Play goes on: frames keep coming and a good control is shown.
	var frames := stream.frames_received
	var good: Dictionary = await _control({"op": "teleport", "entity": "ball",
		"position": [2.5, 0.5, 2.5]})
	var ball := _world.get_entity_node("ball")
	var until := _deadline(3.0)
	while ball.global_position.distance_to(Vector3(2.5, 0.5, 2.5)) > 0.05 and _now() < until:
		await process_frame
	var shown := ball.global_position.distance_to(Vector3(2.5, 0.5, 2.5)) <= 0.05
	return {
		"ok": good.kind == "physics.control" and shown and stream.frames_received > frames,
		"codes": codes,
		"grabbed_static": grabbed_static,
		"frames_after": stream.frames_received - frames,
		"good_control_shown": shown,
	}


func _control(fields: Dictionary) -> Dictionary:
	var reply: Dictionary = await _session.request("physics.control", fields)
	return reply


func _push_button(at: Vector2, pressed: bool) -> void:
	var button := InputEventMouseButton.new()
	button.button_index = MOUSE_BUTTON_LEFT
	button.pressed = pressed
	button.position = at
	root.push_input(button)


# Distance from [param position] to the path through the raw poses of [param id] received in the
# last 0.1 s (the frames interpolation draws from), extended by one interval beyond the newest.
func _distance_to_raw_path(id: String, position: Vector3) -> float:
	var samples: Array = _raw.get(id, [])
	var recent: Array[Vector3] = []
	for sample: Array in samples:
		if sample[0] >= _now() - 0.1:
			recent.append(sample[1])
	if recent.size() < 2:
		return 0.0
	recent.append(recent[-1] + (recent[-1] - recent[-2]))  # at most one interval extrapolated
	var best := INF
	for i in range(recent.size() - 1):
		var closest := Geometry3D.get_closest_point_to_segment(position, recent[i], recent[i + 1])
		best = minf(best, closest.distance_to(position))
	return best


func _node_poses() -> Dictionary:
	var poses := {}
	for id: String in _world.get_pose_stream().bound_ids():
		var node := _world.get_entity_node(id)
		var q := node.global_basis.get_rotation_quaternion()
		var p := node.global_position
		poses[id] = [p.x, p.y, p.z, q.x, q.y, q.z, q.w]
	return poses


func _on_frame_received(_seq: int, _time: float) -> void:
	var stream := _world.get_pose_stream()
	for id: String in _raw:
		var pose: Variant = stream.latest_transform(id)
		if pose != null:
			_raw[id].append([_now(), (pose as Transform3D).origin])
			if _raw[id].size() > 64:
				_raw[id].pop_front()


static func _sorted_descending(values: Array) -> Array:
	var sorted := values.duplicate()
	sorted.sort()
	sorted.reverse()
	return sorted


static func _vec(v: Vector3) -> Array:
	return [v.x, v.y, v.z]


static func _now() -> float:
	return Time.get_ticks_usec() / 1e6


static func _deadline(seconds: float) -> float:
	return _now() + seconds
