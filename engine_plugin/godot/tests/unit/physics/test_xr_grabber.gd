extends "res://tests/test_case.gd"
## addons/continuum/physics/xr_grabber.gd against a fake backend, with a plain Node3D standing in
## for the controller: grab the nearest body here, the target follows the hand, release throws
## with the hand's velocity; nothing near, refusals, and an XRController3D's grip signals.

const XRGrabber = preload("res://addons/continuum/physics/xr_grabber.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")

var _backend: FakePhysicsBackend
var _session: SessionScript
var _hand: Node3D
var _grabber: XRGrabber
var _failures: Array = []


func before_each() -> void:
	_failures = []
	_backend = FakePhysicsBackend.new()
	_backend.bodies = PackedStringArray(["ball"])
	_backend.nearest_answer = {"entity": "ball", "distance": 0.05}
	add_child(_backend)
	var port := _backend.listen()
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_session.connect_to_backend("127.0.0.1", port)
	await wait_until(_session.is_backend_connected)
	_make_hand(Node3D.new())


func after_each() -> void:
	_hand.queue_free()
	_session.queue_free()
	_backend.queue_free()


func test_grab_follow_and_throw() -> void:
	_hand.position = Vector3(0.2, 1.0, -0.3)
	_hand.quaternion = Quaternion(Vector3.UP, 0.5)
	assert_true(await _grabber.grab(), "grabbed")
	var nearest: Dictionary = _backend.headers("physics.query")[0]
	assert_eq(nearest.type, "nearest")
	assert_true(_vec(nearest.point).is_equal_approx(Vector3(0.2, 1.0, -0.3)))
	assert_almost_eq(nearest.radius, _grabber.grab_radius)
	var grab: Dictionary = _backend.controls("grab")[0]
	assert_eq(grab.entity, "ball")
	assert_true(_vec(grab.target.position).is_equal_approx(Vector3(0.2, 1.0, -0.3)))
	assert_true(_quat(grab.target.rotation).is_equal_approx(Quaternion(Vector3.UP, 0.5)))
	# The hand swings along +x at about 2 m/s while turning about +y.
	var start := Time.get_ticks_usec() / 1e6
	await wait_seconds(0.3, func() -> void:
		var t := Time.get_ticks_usec() / 1e6 - start
		_hand.position = Vector3(0.2 + 2.0 * t, 1.0, -0.3)
		_hand.quaternion = Quaternion(Vector3.UP, 0.5 + 3.0 * t))
	var velocity := _grabber.release()
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 1))
	var moves: Array = _backend.controls("move")
	assert_true(moves.size() >= 5, "%d moves follow the hand" % moves.size())
	var last_target := _vec(moves[-1].target.position)
	assert_true(last_target.x > 0.5 and is_equal_approx(last_target.y, 1.0), str(last_target))
	assert_true(absf(velocity.x - 2.0) < 0.5 and velocity.length() < 2.5, "thrown: %s" % velocity)
	var release: Dictionary = _backend.controls("release")[0]
	assert_true(_vec(release.velocity).is_equal_approx(velocity))
	var spin := _vec(release.angular_velocity)
	assert_true(absf(spin.y - 3.0) < 1.0 and absf(spin.x) < 1e-3, "spun about +y: %s" % spin)
	assert_eq(_failures, [])


func test_nothing_near_grabs_nothing() -> void:
	assert_eq(_grabber._get_configuration_warnings().size(), 1, "a stand-in is not a controller")
	_backend.nearest_answer = {"entity": null, "distance": null}
	assert_false(await _grabber.grab())
	assert_eq(_grabber.state, XRGrabber.State.IDLE)
	assert_eq(_backend.controls("grab"), [])


func test_a_refused_grab_is_reported() -> void:
	_backend.nearest_answer = {"entity": "ghost", "distance": 0.0}
	assert_false(await _grabber.grab())
	assert_eq(_failures, [["grab", "not_found"]])
	_backend.nearest_answer = {"entity": "ball", "distance": 0.0}
	assert_true(await _grabber.grab(), "the next grab works")
	_grabber.release()


func test_controller_grip_grabs_and_lets_go() -> void:
	var controller := XRController3D.new()
	_make_hand(controller)
	controller.input_float_changed.emit("grip", 0.3)
	await wait_seconds(0.1)
	assert_eq(_backend.controls("grab"), [], "below the threshold")
	controller.input_float_changed.emit("grip", 0.9)
	assert_true(await wait_until(func() -> bool: return _grabber.state == XRGrabber.State.HOLDING))
	controller.input_float_changed.emit("grip", 0.55)  # in the hysteresis band: still held
	await next_frame()
	assert_eq(_grabber.held_entity, "ball")
	controller.input_float_changed.emit("grip", 0.1)
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 1))
	controller.button_pressed.emit("grip_click")
	assert_true(await wait_until(func() -> bool: return _backend.controls("grab").size() == 2),
		"a grip button grabs too")
	await wait_until(func() -> bool: return _grabber.state == XRGrabber.State.HOLDING)
	controller.button_released.emit("grip_click")
	assert_true(await wait_until(func() -> bool: return _backend.controls("release").size() == 2))
	assert_eq(_grabber._get_configuration_warnings(), PackedStringArray())


func _make_hand(hand: Node3D) -> void:
	if is_instance_valid(_hand):
		_hand.free()
	_hand = hand
	_grabber = XRGrabber.new()
	_hand.add_child(_grabber)
	add_child(_hand)
	_grabber.session_path = _session.get_path()
	_grabber.control_failed.connect(func(op: String, code: String, _m: String) -> void: (
		_failures.append([op, code])))


static func _vec(values: Array) -> Vector3:
	return Vector3(values[0], values[1], values[2])


static func _quat(values: Array) -> Quaternion:
	return Quaternion(values[0], values[1], values[2], values[3])
