extends "res://tests/script_main.gd"
## Control-to-pose latency and pose-stream jitter as a real Godot sees them, for
## `continuum bench physics`.
##
##     godot --headless --path engine_plugin/godot --script res://tests/bench/physics_latency.gd \
##         -- --continuum-port=N --entity=ID [--samples=N] [--offset=0.3] [--sample-timeout=1]
##
## Connects with the plugin's own session, subscribes to `poses`, waits for body ID to be at rest,
## then --samples times teleports it (`physics.control` teleport, at rest) alternately --offset
## metres along +x and back, each time to a fresh position and at a random moment of the pose
## period (as a player's input comes), and measures milliseconds from sending the control to the
## first pose frame in which ID is within 1 mm of where it was sent. It also
## records the arrival intervals of the pose frames: jitter is |interval - 1000 / publish_hz|
## (publish_hz from welcome.physics). Prints one line
## `CONTINUUM_RESULT {"control_to_pose_ms": [...], "jitter_ms": [...], ...}` and exits 0, or 1
## when it could not connect, the backend has no physics, or most samples failed.
## Godot's frame pacing adds no latency: no frame cap beyond --max-fps (1000), no low-processor
## sleep, and the session polls every frame.

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const PoseStream = preload("res://addons/continuum/physics/pose_stream.gd")

## A pose within this distance of the teleport target shows it (metres).
const TOLERANCE := 0.001
## Frames the body must hold still (under 0.1 mm between frames) before sampling starts.
const STILL_FRAMES := 5

var _session: SessionScript
var _entity: String = ""
var _publish_hz: float = 0.0
var _layouts: Dictionary = {}  # layout -> index of the entity (-1 when absent)
var _asking: Dictionary = {}  # layouts whose physics.layout request is in flight
var _frames: int = 0
var _last_arrival_us: int = -1
var _intervals_ms: PackedFloat64Array = []
var _pose: Variant = null  # the entity's newest pose (Transform3D), null before one arrives
var _still: int = 0
var _target: Vector3 = Vector3.ZERO
var _waiting: bool = false
var _sent_us: int = 0
var _seen_us: int = 0


func _main() -> void:
	Engine.max_fps = int(args.get("max-fps", "1000"))
	OS.low_processor_usage_mode = false
	OS.low_processor_usage_mode_sleep_usec = 0
	_entity = str(args.get("entity", ""))
	var samples := int(args.get("samples", "200"))
	var offset := float(args.get("offset", "0.3"))
	var sample_timeout_ms := int(float(args.get("sample-timeout", "1.0")) * 1000.0)
	if _entity.is_empty() or samples < 1:
		finish(1, {"ok": false, "error": "give --entity=ID and --samples=N (N >= 1)"})
		return
	var limit_s := 60.0 + samples * sample_timeout_ms / 1000.0
	create_timer(limit_s).timeout.connect(func() -> void: finish(1, {
		"ok": false, "error": "timed out after %.0f s" % limit_s}))
	_session = SessionScript.new()  # reads --continuum-host/port/token itself
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	_session.message_received.connect(_on_session_message_received)
	root.add_child(_session)
	_session.connect_to_backend()
	var welcome: Dictionary = await _session.connected
	var physics: Variant = welcome.get("physics")
	if typeof(physics) != TYPE_DICTIONARY or float(physics.get("publish_hz", 0.0)) <= 0.0:
		finish(1, {"ok": false, "error": "the backend serves no physics (welcome: %s)" % welcome})
		return
	_publish_hz = float(physics.publish_hz)
	var reply: Dictionary = await _session.subscribe(PackedStringArray([PoseStream.TOPIC]))
	if reply.kind != "subscribed":
		finish(1, {"ok": false, "error": "subscribe failed: %s" % reply.header})
		return
	# 1. The entity's pose arrives and holds still.
	while _still < STILL_FRAMES:
		await process_frame
	var base: Vector3 = (_pose as Transform3D).origin
	var rotation: Quaternion = (_pose as Transform3D).basis.get_rotation_quaternion()
	_intervals_ms.clear()  # only the intervals while sampling
	# 2. Teleports, one at a time.
	var latencies: Array[float] = []
	var failures: Array[String] = []
	var rng := RandomNumberGenerator.new()
	rng.seed = 11
	for i in samples:
		var phase_end := Time.get_ticks_usec() + int(rng.randf() * 1e6 / _publish_hz)
		while Time.get_ticks_usec() < phase_end:
			await process_frame
		# Alternately out and back, a little further along z each time: always a fresh place.
		_target = base + Vector3(offset if i % 2 == 0 else 0.0, 0.0, 0.0005 * (i % 20))
		_waiting = true
		_sent_us = Time.get_ticks_usec()
		var control := _teleport(rotation)
		var deadline := Time.get_ticks_msec() + sample_timeout_ms
		while (_waiting or not control.done) and Time.get_ticks_msec() < deadline:
			await process_frame
		if not control.error.is_empty():
			failures.append(control.error)
		elif _waiting:
			failures.append("sample %d: no pose within %d ms" % [i, sample_timeout_ms])
		else:
			latencies.append((_seen_us - _sent_us) / 1000.0)
		_waiting = false
		while not control.done and Time.get_ticks_msec() < deadline + 1000:
			await process_frame
	var jitter: Array[float] = []
	var period_ms := 1000.0 / _publish_hz
	for interval in _intervals_ms:
		jitter.append(snappedf(absf(interval - period_ms), 0.001))
	var ok := latencies.size() * 2 > samples
	finish(0 if ok else 1, {
		"ok": ok,
		"control_to_pose_ms": latencies.map(func(v: float) -> float: return snappedf(v, 0.001)),
		"jitter_ms": jitter,
		"publish_hz": _publish_hz,
		"samples": samples,
		"failures": failures.slice(0, 10),
		"failure_count": failures.size(),
		"frames": _frames,
	})


# Sends the teleport; the returned object says when the reply came and what went wrong.
func _teleport(rotation: Quaternion) -> _Control:
	var control := _Control.new()
	_send(control, {
		"op": "teleport", "entity": _entity, "position": [_target.x, _target.y, _target.z],
		"rotation": [rotation.x, rotation.y, rotation.z, rotation.w],
		"velocity": [0, 0, 0], "angular_velocity": [0, 0, 0]})
	return control


func _send(control: _Control, fields: Dictionary) -> void:
	var reply: Dictionary = await _session.request("physics.control", fields)
	if reply.kind != "physics.control":
		control.error = "%s: %s" % [reply.header.get("code"), reply.header.get("message")]
	control.done = true


func _ask_layout(layout: int) -> void:
	_asking[layout] = true
	var reply: Dictionary = await _session.request("physics.layout")
	_asking.erase(layout)
	if reply.kind == "physics.layout":
		var ids: Array = reply.header.get("ids", [])
		_layouts[int(reply.header.get("layout", layout))] = ids.find(_entity)


func _on_session_message_received(kind: String, header: Dictionary, blobs: Array) -> void:
	if kind != PoseStream.TOPIC:
		return
	var now_us := Time.get_ticks_usec()
	_frames += 1
	if _last_arrival_us >= 0:
		_intervals_ms.append((now_us - _last_arrival_us) / 1000.0)
	_last_arrival_us = now_us
	var layout := int(header.get("layout", -1))
	if not _layouts.has(layout):
		if not _asking.has(layout):
			_ask_layout(layout)
		return
	var index: int = _layouts[layout]
	if index < 0 or blobs.size() != 1:
		return
	var frame := PoseStream.decode_frame(header, blobs[0])
	if frame.has("error") or index >= int(frame.count):
		return
	var poses: PackedFloat32Array = frame.poses
	var i := index * PoseStream.FIELDS
	var pose := Transform3D(
		Basis(Quaternion(poses[i + 3], poses[i + 4], poses[i + 5], poses[i + 6]).normalized()),
		Vector3(poses[i], poses[i + 1], poses[i + 2]))
	if _pose != null and pose.origin.distance_to((_pose as Transform3D).origin) < 1e-4:
		_still += 1
	else:
		_still = 0
	_pose = pose
	if _waiting and pose.origin.distance_to(_target) <= TOLERANCE:
		_seen_us = now_us
		_waiting = false


## A control request on its way.
class _Control:
	extends RefCounted

	var done: bool = false
	var error: String = ""
