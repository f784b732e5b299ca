# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## addons/continuum/physics/pose_stream.gd: decoding (the golden msg_poses vector, malformed
## frames), interpolation, extrapolation bounds, the clock offset under arrival jitter, layouts
## learnt late and changing, unknown ids, moving bound nodes; and the stream fed by a session
## from a fake backend (subscribe on a welcome with physics, physics.layout asked, the topic
## dropped for a world without physics).

const PoseStream = preload("res://addons/continuum/physics/pose_stream.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")

const HZ := 10.0  # frames 0.1 s apart, so render times are easy to write down
const LATENCY := 0.05  # seconds from a frame's t to its arrival

var _stream: PoseStream
var _seq: int = 0
var _backend: FakePhysicsBackend
var _session: SessionScript


func before_each() -> void:
	_stream = PoseStream.new()
	_stream.publish_hz = HZ
	_stream.auto_apply = false
	_seq = 0


func after_each() -> void:
	if is_instance_valid(_stream):
		_stream.free()
	if is_instance_valid(_session):
		_session.queue_free()
	if is_instance_valid(_backend):
		_backend.queue_free()


func test_decodes_the_golden_poses_vector() -> void:
	var vector: Dictionary = {}
	for v: Dictionary in load_vectors():
		if v.name == "msg_poses":
			vector = v
	if not assert_false(vector.is_empty(), "bridge/vectors has msg_poses"):
		return
	var bodies: Array[PackedByteArray] = []
	for frame: Dictionary in ZmtpCodec.FrameDecoder.new().feed(vector.bytes):
		bodies.append(frame.body)
	var message := MessageCodec.decode(bodies)
	var decoded := PoseStream.decode_frame(message.header, message.blobs[0])
	assert_false(decoded.has("error"), str(decoded.get("error")))
	assert_eq([decoded.seq, decoded.time, decoded.layout, decoded.count], [41, 12.5, 3, 2])
	assert_eq(decoded.poses, PackedFloat32Array([
		0, 0.5, -1.25, 0, 0, 0, 1, 1.5, 0.25, 0, 0, 0.70710677, 0, 0.70710677]))
	_stream.set_layout(3, PackedStringArray(["ball", "box"]))
	assert_eq(_stream.push_frame(message.header, message.blobs[0], 1.0), "")
	var box: Transform3D = _stream.latest_transform("box")
	assert_true(box.origin.is_equal_approx(Vector3(1.5, 0.25, 0)), str(box.origin))
	assert_true(box.basis.get_rotation_quaternion().is_equal_approx(
		Quaternion(Vector3.UP, PI / 2)), "90 degrees about +Y")


func test_refuses_malformed_frames() -> void:
	var good := _header(0, 0.0, 1, 1)
	var data := PackedFloat32Array([0, 0, 0, 0, 0, 0, 1]).to_byte_array()
	var bad_dtype := _header(0, 0.0, 1, 1)
	bad_dtype.blobs[0].dtype = "f64"
	var bad_shape := _header(0, 0.0, 1, 1)
	bad_shape.blobs[0].shape = [1, 6]
	var no_seq := _header(0, 0.0, 1, 1)
	no_seq.erase("seq")
	var nan_time := _header(0, NAN, 1, 1)
	var two_blobs := _header(0, 0.0, 1, 1)
	two_blobs.blobs.append({"dtype": "u8", "shape": [0]})
	for header: Dictionary in [bad_dtype, bad_shape, no_seq, nan_time, two_blobs]:
		assert_ne(_stream.push_frame(header, data, 0.0), "", str(header))
	assert_ne(_stream.push_frame(good, data.slice(4), 0.0), "", "a short blob")
	assert_eq(_stream.frames_refused, 6)
	assert_eq(_stream.frames_received, 0)
	assert_eq(_stream.push_frame(good, data, 0.0), "")
	assert_eq(_stream.frames_received, 1)


func test_interpolates_between_the_two_frames_around_the_render_time() -> void:
	_stream.set_layout(1, PackedStringArray(["a"]))
	var turned := Quaternion(Vector3.UP, PI / 2)
	_push(0.0, [_pose(Vector3(0, 1, 0))])
	_push(0.1, [_pose(Vector3(1, 2, 0), turned)])
	assert_almost_eq(_stream.clock_offset(), LATENCY)
	assert_almost_eq(_stream.render_delay_s(), 0.15)
	# Render time t = now - delay - offset: 0.05, halfway between the frames.
	var half: Transform3D = _stream.sample("a", 0.05 + 0.15 + LATENCY)
	assert_true(half.origin.is_equal_approx(Vector3(0.5, 1.5, 0)), str(half.origin))
	assert_true(half.basis.get_rotation_quaternion().is_equal_approx(
		Quaternion(Vector3.UP, PI / 4)), "half the turn")
	var quarter: Transform3D = _stream.sample("a", 0.025 + 0.15 + LATENCY)
	assert_true(quarter.origin.is_equal_approx(Vector3(0.25, 1.25, 0)), str(quarter.origin))
	var first: Transform3D = _stream.sample("a", -1.0)
	assert_true(first.origin.is_equal_approx(Vector3(0, 1, 0)), "held at the first frame")


func test_extrapolates_at_most_one_interval_then_holds() -> void:
	_stream.set_layout(1, PackedStringArray(["a"]))
	_push(0.0, [_pose(Vector3.ZERO)])
	_push(0.1, [_pose(Vector3(1, 0, 0), Quaternion(Vector3.UP, 0.2))])
	# Render time 0.15: half an interval past the newest frame, on the same velocity.
	var ahead: Transform3D = _stream.sample("a", 0.15 + 0.15 + LATENCY)
	assert_true(ahead.origin.is_equal_approx(Vector3(1.5, 0, 0)), str(ahead.origin))
	assert_true(ahead.basis.get_rotation_quaternion().is_equal_approx(
		Quaternion(Vector3.UP, 0.3)), "the spin goes on")
	for late: float in [0.2, 0.5, 10.0]:
		var held: Transform3D = _stream.sample("a", late + 0.15 + LATENCY)
		assert_true(held.origin.is_equal_approx(Vector3(2, 0, 0)), "%s at %s" % [held.origin, late])
		assert_true(held.basis.get_rotation_quaternion().is_equal_approx(
			Quaternion(Vector3.UP, 0.4)), "one interval of spin at most")
	_stream.max_extrapolation_intervals = 0.0
	var frozen: Transform3D = _stream.sample("a", 10.0)
	assert_true(frozen.origin.is_equal_approx(Vector3(1, 0, 0)), "no extrapolation")


func test_arrival_jitter_does_not_reach_the_poses() -> void:
	_stream.publish_hz = 90.0
	_stream.history_size = 8
	_stream.set_layout(1, PackedStringArray(["a"]))
	var rng := RandomNumberGenerator.new()
	rng.seed = 7
	var speed := Vector3(1.0, -2.0, 0.5)  # m/s, a straight line
	var worst := 0.0
	var sampled := 0
	for i in 200:
		var t := i / 90.0
		# Arrivals 2..12 ms late, in bursts of two (a frame-polling engine).
		var arrival := t + LATENCY + rng.randf_range(0.0, 0.01) + (0.004 if i % 2 == 0 else 0.0)
		_stream.push_frame(_header(i, t, 1, 1), _blob([_pose(speed * t)]), arrival)
		if i < 30:
			continue
		# Render right after this arrival: the pose must lie on the line at render time.
		var now := arrival
		var render_time := now - _stream.render_delay_s() - _stream.clock_offset()
		var pose: Transform3D = _stream.sample("a", now)
		worst = maxf(worst, pose.origin.distance_to(speed * render_time))
		sampled += 1
	assert_eq(sampled, 170)
	assert_true(worst < 1e-4, "off the line by %s m" % worst)
	assert_true(_stream.clock_offset() < LATENCY + 0.002, "the fastest delivery sets the clock")


func test_frames_of_an_unknown_layout_wait_for_it() -> void:
	_push(0.0, [_pose(Vector3(1, 0, 0)), _pose(Vector3(2, 0, 0))], 5)
	assert_eq(_stream.frames_received, 1)
	assert_eq(_stream.sample("b", 1.0), null, "no layout yet")
	var learnt: Array = []
	_stream.layout_received.connect(func(n: int, ids: PackedStringArray) -> void: learnt.append(
		[n, ids]))
	_stream.set_layout(5, PackedStringArray(["a", "b"]))
	assert_eq(learnt, [[5, PackedStringArray(["a", "b"])]])
	var b: Transform3D = _stream.sample("b", 1.0)
	assert_true(b.origin.is_equal_approx(Vector3(2, 0, 0)), str(b.origin))


func test_a_frame_whose_count_differs_from_its_layout_is_refused() -> void:
	_stream.set_layout(1, PackedStringArray(["a", "b"]))
	assert_ne(_push(0.0, [_pose(Vector3.ZERO)]), "")
	assert_eq(_stream.frames_refused, 1)
	# Held before its layout was known, then dropped when the layout says otherwise.
	_push(0.1, [_pose(Vector3.ZERO)], 2)
	_stream.set_layout(2, PackedStringArray(["a", "b", "c"]))
	assert_eq(_stream.sample("a", 5.0), null)


func test_layout_changes_keep_each_body_on_its_own_pose() -> void:
	_stream.set_layout(1, PackedStringArray(["a", "b"]))
	_stream.set_layout(2, PackedStringArray(["c", "b"]))  # "a" removed, "c" added, "b" moved
	_push(0.0, [_pose(Vector3(1, 0, 0)), _pose(Vector3(0, 0, 0))], 1)
	_push(0.1, [_pose(Vector3(9, 9, 9)), _pose(Vector3(0, 1, 0))], 2)
	var b: Transform3D = _stream.sample("b", 0.05 + 0.15 + LATENCY)
	assert_true(b.origin.is_equal_approx(Vector3(0, 0.5, 0)), "b across the change: %s" % b.origin)
	var a: Transform3D = _stream.sample("a", 0.05 + 0.15 + LATENCY)
	assert_true(a.origin.is_equal_approx(Vector3(1, 0, 0)), "a held where it was last")
	var c: Transform3D = _stream.sample("c", 0.05 + 0.15 + LATENCY)
	assert_true(c.origin.is_equal_approx(Vector3(9, 9, 9)), "c from its first frame")
	assert_eq(_stream.layout, 2)
	assert_eq(_stream.layout_ids(), PackedStringArray(["c", "b"]))


func test_unknown_ids_are_ignored() -> void:
	_stream.set_layout(1, PackedStringArray(["a"]))
	_push(0.0, [_pose(Vector3(1, 0, 0))])
	var stranger := Node3D.new()
	stranger.position = Vector3(5, 5, 5)
	_stream.bind_node("nobody", stranger)
	assert_eq(_stream.sample("nobody", 1.0), null)
	assert_eq(_stream.latest_transform("nobody"), null)
	assert_eq(_stream.apply(1.0), 0)
	assert_eq(stranger.position, Vector3(5, 5, 5), "not moved")
	stranger.free()


func test_a_restarted_backend_starts_a_new_history() -> void:
	_stream.set_layout(1, PackedStringArray(["a"]))
	_push(5.0, [_pose(Vector3(1, 0, 0))])
	_seq = 0
	_stream.push_frame(_header(0, 0.2, 1, 1), _blob([_pose(Vector3(7, 0, 0))]), 100.0)
	assert_eq(_stream.sample("a", 100.0), null, "layouts are the old backend's")
	_stream.set_layout(1, PackedStringArray(["a"]))
	var a: Transform3D = _stream.sample("a", 100.0)
	assert_true(a.origin.is_equal_approx(Vector3(7, 0, 0)), str(a.origin))
	assert_almost_eq(_stream.clock_offset(), 99.8, 1e-5, "the new backend's clock")


func test_counts_missed_frames() -> void:
	_stream.set_layout(1, PackedStringArray(["a"]))
	_push(0.0, [_pose(Vector3.ZERO)])
	_seq = 4
	_push(0.4, [_pose(Vector3.ZERO)])
	assert_eq(_stream.frames_missed, 3)


func test_apply_moves_bound_nodes_and_keeps_their_scale() -> void:
	add_child(_stream)
	var parent := Node3D.new()
	var child := Node3D.new()
	child.scale = Vector3(2, 2, 2)
	child.position = Vector3(0, 1, 0)
	parent.add_child(child)
	add_child(parent)
	_stream.set_layout(1, PackedStringArray(["child", "parent"]))
	var turned := Quaternion(Vector3.RIGHT, PI / 2)
	_push(0.0, [_pose(Vector3(3, 0, 0), turned), _pose(Vector3(0, 0, -4))])
	_stream.bind_node("child", child)  # bound before its parent: still placed after it
	_stream.bind_node("parent", parent)
	assert_eq(_stream.apply(1.0), 2)
	assert_true(parent.global_position.is_equal_approx(Vector3(0, 0, -4)))
	assert_true(child.global_position.is_equal_approx(Vector3(3, 0, 0)), str(child.global_position))
	assert_true(child.global_basis.get_scale().is_equal_approx(Vector3(2, 2, 2)), "scale kept")
	assert_true(child.global_basis.get_rotation_quaternion().is_equal_approx(turned))
	_stream.unbind_node("child")
	assert_eq(_stream.bound_ids(), PackedStringArray(["parent"]))
	parent.free()


func test_follows_a_session_that_serves_physics() -> void:
	await _start_backend()
	assert_true(await wait_until(func() -> bool: return _backend.headers("subscribe").size() == 1),
		"subscribed")
	assert_eq(_backend.headers("subscribe")[0].topics, ["poses"])
	assert_almost_eq(_stream.publish_hz, 60.0, 1e-9, "publish_hz from the welcome")
	await wait_seconds(0.2)  # the SUB socket connects and subscribes
	var node := Node3D.new()
	add_child(node)
	_stream.bind_node("ball", node)
	_stream.auto_apply = true
	for i in 5:
		_backend.publish(PackedFloat32Array([0, 2.0 - i * 0.1, 0, 0, 0, 0, 1]), i / 60.0)
	assert_true(await wait_until(func() -> bool: return _stream.frames_received == 5), "frames")
	assert_true(await wait_until(func() -> bool: return _stream.layout_ids(1).size() == 1),
		"the layout asked and learnt")
	assert_eq(_backend.headers("physics.layout").size(), 1, "asked once")
	assert_true(await wait_until(func() -> bool: return node.position.y < 1.65),
		"the node follows: y %s" % node.position.y)
	node.free()


func test_does_not_subscribe_without_physics() -> void:
	await _start_backend(0.0)
	await wait_seconds(0.3)
	assert_eq(_backend.headers("subscribe").size(), 0)


func test_restart_without_physics_drops_the_topic() -> void:
	await _start_backend()
	assert_true(await wait_until(func() -> bool: return _backend.headers("subscribe").size() == 1))
	var commands := func(command: String) -> int: return _backend.pub.commands_named(
		command).size()
	assert_true(await wait_until(func() -> bool: return commands.call("SUBSCRIBE") == 1),
		"selected on the stream")
	_stream.restart(null)  # world.reset to a world without physics
	assert_true(await wait_until(func() -> bool: return commands.call("CANCEL") == 1),
		"deselected on the stream")
	assert_eq(_backend.pub.commands_named("CANCEL")[0].data, "poses".to_utf8_buffer())
	await _reconnect_without_physics()
	assert_eq(_backend.headers("subscribe").size(), 1, "poses is not asked for again")


func test_a_welcome_without_physics_is_not_asked_for_poses() -> void:
	await _start_backend()
	assert_true(await wait_until(func() -> bool: return _backend.headers("subscribe").size() == 1))
	await _reconnect_without_physics()  # the backend now serves a world without physics
	assert_eq(_backend.headers("subscribe").size(), 1, "the session dropped poses by itself")
	_stream.restart({"dt": 0.002, "publish_hz": 30.0})  # and back to a world with physics
	assert_true(await wait_until(func() -> bool: return _backend.headers("subscribe").size() == 2))
	assert_eq(_backend.headers("subscribe")[1].topics, ["poses"])
	assert_almost_eq(_stream.publish_hz, 30.0, 1e-9)


# The backend drops the session and welcomes it again without physics.
func _reconnect_without_physics() -> void:
	_backend.publish_hz = 0.0
	var hellos := _backend.headers("hello").size()
	_backend.router.drop()
	var welcomed := func() -> bool: return (
		_backend.headers("hello").size() > hellos and _session.is_backend_connected())
	assert_true(await wait_until(welcomed), "reconnected")
	await wait_seconds(0.2)


func _start_backend(publish_hz: float = 60.0) -> void:
	_backend = FakePhysicsBackend.new()
	_backend.publish_hz = publish_hz
	_backend.ids = PackedStringArray(["ball"])
	add_child(_backend)
	var port := _backend.listen()
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	add_child(_stream)
	_stream.attach(_session)
	_session.connect_to_backend("127.0.0.1", port)
	await wait_until(_session.is_backend_connected)


func _push(time: float, poses: Array, layout: int = 1) -> String:
	var problem := _stream.push_frame(
		_header(_seq, time, layout, poses.size()), _blob(poses), time + LATENCY)
	_seq += 1
	return problem


static func _header(seq: int, time: float, layout: int, count: int) -> Dictionary:
	return {
		"seq": seq, "t": time, "sim_time": time, "step": seq, "layout": layout,
		"blobs": [{"dtype": "f32", "shape": [count, 7]}]}


static func _blob(poses: Array) -> PackedByteArray:
	var floats := PackedFloat32Array()
	for pose: Array in poses:
		floats.append_array(PackedFloat32Array(pose))
	return floats.to_byte_array()


static func _pose(position: Vector3, rotation: Quaternion = Quaternion.IDENTITY) -> Array:
	return [position.x, position.y, position.z, rotation.x, rotation.y, rotation.z, rotation.w]
