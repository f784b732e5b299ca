extends "res://tests/test_case.gd"
## addons/continuum/physics/mouse_grabber.gd against a fake backend: pick by ray, grab at the hit
## point, drag on the view-parallel plane, release with the drag's velocity; misses, refusals,
## letting go before the grab is answered, wheel pushes, and real mouse events.

const MouseGrabber = preload("res://addons/continuum/physics/mouse_grabber.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")

const HIT := {"hit": true, "entity": "box", "point": [0, 0, -5], "normal": [0, 0, 1],
	"distance": 5}

var _backend: FakePhysicsBackend
var _session: SessionScript
var _camera: Camera3D
var _grabber: MouseGrabber
var _failures: Array = []


func before_each() -> void:
	_failures = []
	_backend = FakePhysicsBackend.new()
	_backend.bodies = PackedStringArray(["box"])
	_backend.ray_answer = HIT
	add_child(_backend)
	var port := _backend.listen()
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_camera = Camera3D.new()  # at the origin, looking down -Z
	add_child(_camera)
	_grabber = MouseGrabber.new()
	_camera.add_child(_grabber)
	_grabber.session_path = _session.get_path()
	_grabber.control_failed.connect(func(op: String, code: String, _m: String) -> void: (
		_failures.append([op, code])))
	_session.connect_to_backend("127.0.0.1", port)
	await wait_until(_session.is_backend_connected)


func after_each() -> void:
	_camera.queue_free()
	_session.queue_free()
	_backend.queue_free()


func test_grab_drag_and_throw() -> void:
	var centre := _centre()
	var grabbed: Array = []
	_grabber.grabbed.connect(func(id: String, p: Vector3) -> void: grabbed.append([id, p]))
	assert_true(await _grabber.begin_grab(centre), "grabbed")
	var ray: Dictionary = _backend.headers("physics.query")[0]
	assert_eq(ray.type, "ray")
	assert_true(_vec(ray.direction).is_equal_approx(Vector3(0, 0, -1)), str(ray.direction))
	var grab: Dictionary = _backend.controls("grab")[0]
	assert_eq(grab.entity, "box")
	assert_eq(grab.point, [0, 0, -5])
	assert_eq(grab.target.position, [0, 0, -5])
	assert_eq(grabbed, [["box", Vector3(0, 0, -5)]])
	assert_eq(_grabber.held_entity, "box")
	# Drag right for a while: the target slides along x on the plane z = -5.
	for i in range(1, 16):
		_grabber.drag_to(centre + Vector2(i * 8, 0))
		await next_frame()
	await wait_seconds(0.1, func() -> void: _grabber.drag_to(centre + Vector2(128, 0)))
	for i in 6:
		_grabber.drag_to(centre + Vector2(128 + i * 16, 0))
		await next_frame()
	var velocity := _grabber.end_grab()
	assert_eq(_grabber.held_entity, "")
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 1))
	var moves: Array = _backend.controls("move")
	assert_true(moves.size() >= 5, "%d moves" % moves.size())
	var xs: Array = moves.map(func(m: Dictionary) -> float: return m.target.position[0])
	var sorted := xs.duplicate()
	sorted.sort()
	assert_true(xs == sorted and xs[-1] > xs[0], "moving right: %s" % [xs])
	for move: Dictionary in moves:
		assert_almost_eq(move.target.position[2], -5.0, 1e-4, "on the drag plane")
	assert_true(velocity.x > 0.1 and absf(velocity.y) < 1e-3 and absf(velocity.z) < 1e-3,
		"thrown right: %s" % velocity)
	assert_true(velocity.length() <= _grabber.max_throw_speed + 1e-4)
	var release: Dictionary = _backend.controls("release")[0]
	assert_eq(release.entity, "box")
	assert_true(_vec(release.velocity).is_equal_approx(velocity))
	assert_eq(_failures, [])


func test_a_miss_grabs_nothing() -> void:
	_backend.ray_answer = {"hit": false}
	assert_false(await _grabber.begin_grab(_centre()))
	assert_eq(_grabber.state, MouseGrabber.State.IDLE)
	assert_eq(_backend.controls("grab"), [])
	_grabber.end_grab()
	await wait_seconds(0.1)
	assert_eq(_backend.controls("release"), [], "nothing to let go")


func test_a_refused_grab_is_reported_and_play_goes_on() -> void:
	var ghost := HIT.duplicate()
	ghost.entity = "ghost"
	_backend.ray_answer = ghost
	assert_false(await _grabber.begin_grab(_centre()))
	assert_eq(_failures, [["grab", "not_found"]])
	assert_eq(_grabber.state, MouseGrabber.State.IDLE)
	_backend.ray_answer = HIT
	assert_true(await _grabber.begin_grab(_centre()), "the next grab works")
	_grabber.end_grab()


func test_letting_go_before_the_grab_is_answered() -> void:
	_grabber.begin_grab(_centre())
	_grabber.end_grab()  # while the ray is cast: nothing is grabbed
	await wait_seconds(0.2)
	assert_eq(_backend.controls("grab"), [])
	assert_eq(_grabber.state, MouseGrabber.State.IDLE)
	_grabber.begin_grab(_centre())
	await wait_until(func() -> bool: return not _backend.controls("grab").is_empty())
	_grabber.end_grab()  # while the grab is on its way (or just answered)
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 1),
		"released once the grab was answered")
	assert_eq(_grabber.state, MouseGrabber.State.IDLE)


func test_a_body_on_a_joint_is_let_go_without_a_throw() -> void:
	_backend.jointed = PackedStringArray(["box"])
	assert_true(await _grabber.begin_grab(_centre()))
	_grabber.end_grab()
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 2))
	var releases: Array = _backend.controls("release")
	assert_true(releases[0].has("velocity") and not releases[1].has("velocity"), str(releases))
	assert_false(releases[0].has("angular_velocity"), "a mouse gives no spin")
	assert_eq(_failures, [], "not a failure")


func test_wheel_pushes_along_the_ray() -> void:
	var pushes: Array = []
	_grabber.pushed.connect(func(id: String, impulse: Vector3) -> void: pushes.append(
		[id, impulse]))
	assert_eq(await _grabber.push_at(_centre(), 2.0), "box")
	var impulse: Dictionary = _backend.controls("impulse")[0]
	assert_true(_vec(impulse.impulse).is_equal_approx(Vector3(0, 0, -2)), str(impulse.impulse))
	assert_eq(impulse.point, [0, 0, -5])
	assert_eq(pushes.size(), 1)


func test_mouse_events_grab_and_release() -> void:
	var press := InputEventMouseButton.new()
	press.button_index = MOUSE_BUTTON_LEFT
	press.pressed = true
	press.position = _centre()
	get_viewport().push_input(press)
	assert_true(await wait_until(func() -> bool: return _grabber.state == MouseGrabber.State.HOLDING),
		"holding after a click")
	var motion := InputEventMouseMotion.new()
	motion.position = _centre() + Vector2(0, -50)
	get_viewport().push_input(motion)
	assert_true(await wait_until(func() -> bool: return not _backend.controls("move").is_empty()),
		"a move after the motion")
	assert_true(_backend.controls("move")[-1].target.position[1] > 0.0, "dragged up")
	var up := press.duplicate()
	up.pressed = false
	get_viewport().push_input(up)
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 1))
	var wheel := press.duplicate()
	wheel.button_index = MOUSE_BUTTON_WHEEL_UP
	get_viewport().push_input(wheel)
	assert_true(await wait_until(func() -> bool: return _backend.controls("impulse").size() == 1),
		"the wheel pushes")


func _centre() -> Vector2:
	return get_viewport().get_visible_rect().size / 2.0


static func _vec(values: Array) -> Vector3:
	return Vector3(values[0], values[1], values[2])
