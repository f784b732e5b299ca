extends "res://tests/test_case.gd"
## Tests of addons/continuum/generation/continuum_motion_player.gd: motions decoded (positions,
## fps, the final velocity from channels or from the last frames) and refused when malformed;
## played on a node at their pace; with an entity, against a fake physics backend
## (fake_physics_backend.gd), the body teleported along and handed over with its final velocity,
## or left at rest.

const MotionPlayer = preload("res://addons/continuum/generation/continuum_motion_player.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")

var _node: Node3D
var _player: MotionPlayer
var _finished: Array = []  # handed_over of each motion_finished
var _backend: FakePhysicsBackend
var _session: SessionScript


func before_each() -> void:
	_finished.clear()
	_node = Node3D.new()
	_node.name = "Ball"
	add_child(_node)
	_player = MotionPlayer.new()
	_player.name = "Player"
	_player.target_path = ^"../Ball"
	_player.motion_finished.connect(func(handed_over: bool) -> void: _finished.append(handed_over))
	add_child(_player)


func after_each() -> void:
	await next_frame()
	for node: Node in [_player, _node, _session, _backend]:
		if is_instance_valid(node):
			node.free()


## A straight line from the origin along +x at [param speed] m/s: [param frames] frames at
## [param fps], channels x, y, z (and vx, vy, vz when [param with_velocity]).
static func line(frames: int, fps: int, speed: float, with_velocity := false) -> Dictionary:
	var channels := PackedStringArray(["x", "y", "z"])
	if with_velocity:
		channels.append_array(["vx", "vy", "vz"])
	var values := PackedFloat32Array()
	for t in frames:
		values.append_array([speed * t / fps, 1.0, 0.0])
		if with_velocity:
			values.append_array([speed, 0.0, -1.0])  # vz marks the channel's own value
	return {"trajectory": values, "shape": [frames, channels.size()], "channels": channels,
		"fps": fps}


func test_positions_and_final_velocity_of_a_motion() -> void:
	var plain := MotionPlayer.positions_of(line(4, 10, 2.0))
	assert_eq(plain.fps, 10)
	assert_eq(plain.positions.size(), 4)
	assert_true(plain.positions[3].is_equal_approx(Vector3(0.6, 1, 0)), str(plain.positions))
	assert_true(plain.end_velocity.is_equal_approx(Vector3(2, 0, 0)), "from the last frames")
	var channelled := MotionPlayer.positions_of(line(4, 10, 2.0, true))
	assert_true(channelled.end_velocity.is_equal_approx(Vector3(2, 0, -1)), "from vx, vy, vz")
	var given := line(4, 10, 2.0, true)
	given["end_velocity"] = PackedFloat32Array([0.5, 4, 0, 9, 9, 9])
	assert_true(MotionPlayer.positions_of(given).end_velocity.is_equal_approx(Vector3(0.5, 4, 0)),
		"the model's own, its first body's")


func test_malformed_motions_are_refused() -> void:
	var no_fps := line(4, 10, 1.0)
	no_fps.fps = 0
	var short := line(4, 10, 1.0)
	short.shape = [5, 3]
	var no_z := line(4, 10, 1.0)
	no_z.channels = PackedStringArray(["x", "y", "w"])
	for bad: Dictionary in [{}, no_fps, short, no_z]:
		var decoded := MotionPlayer.positions_of(bad)
		assert_eq(decoded.get("error"), "bad_motion", str(decoded))
	assert_false(_player.play({}), "nothing plays")
	assert_false(_player.is_playing())


func test_plays_on_the_node_at_its_pace() -> void:
	assert_true(_player.play(line(7, 30, 3.0)))
	assert_true(_player.is_playing())
	assert_true(_node.global_position.is_equal_approx(Vector3(0, 1, 0)), "starts at frame 0")
	assert_true(_player.sample(0.05).is_equal_approx(Vector3(0.15, 1, 0)), "interpolated")
	assert_true(await wait_until(func() -> bool: return not _finished.is_empty()), "finished")
	assert_eq(_finished, [false], "no entity: nothing handed over")
	assert_true(_node.global_position.is_equal_approx(Vector3(0.6, 1, 0)), "ends at the end")


func test_an_entity_is_teleported_along_and_handed_over() -> void:
	await _serve()
	assert_true(_player.play(line(9, 30, 3.0)))
	assert_true(await wait_until(func() -> bool: return not _finished.is_empty()), "finished")
	assert_eq(_finished, [true])
	var teleports: Array = _backend.controls("teleport")
	assert_true(teleports.size() >= 2, "along the way and at the end: %d" % teleports.size())
	assert_eq(teleports[-1].entity, "ball")
	assert_true(_vec(teleports[-1].position).is_equal_approx(Vector3(0.8, 1, 0)), "at the end")
	assert_true(_vec(teleports[-1].velocity).is_equal_approx(Vector3(3, 0, 0)),
		"the motion goes on in the physics: %s" % [teleports[-1].velocity])


func test_without_hand_over_the_body_stops_at_the_end() -> void:
	await _serve()
	_player.hand_over = false
	assert_true(_player.play(line(5, 30, 3.0)))
	assert_true(await wait_until(func() -> bool: return not _finished.is_empty()), "finished")
	assert_eq(_finished, [false])
	assert_eq(_backend.controls("teleport")[-1].velocity, [0.0, 0.0, 0.0])


func test_stop_leaves_the_body_at_rest_where_it_is() -> void:
	await _serve()
	assert_true(_player.play(line(300, 30, 1.0)))
	await next_frame()
	_player.stop()
	assert_false(_player.is_playing())
	assert_true(await wait_until(func() -> bool: return not _finished.is_empty()), "finished")
	assert_eq(_finished, [false])
	assert_eq(_backend.controls("teleport")[-1].velocity, [0.0, 0.0, 0.0])


static func _vec(value: Array) -> Vector3:
	return Vector3(value[0], value[1], value[2])


func _serve() -> void:
	_backend = FakePhysicsBackend.new()
	_backend.bodies = PackedStringArray(["ball"])
	add_child(_backend)
	var port := _backend.listen()
	_session = SessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_player.entity = "ball"
	_player.session_path = _session.get_path()
	_session.connect_to_backend("127.0.0.1", port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")
