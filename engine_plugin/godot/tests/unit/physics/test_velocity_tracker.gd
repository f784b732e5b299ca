extends "res://tests/test_case.gd"
## addons/continuum/physics/velocity_tracker.gd: velocities over the window, the window sliding,
## too few poses, a clock that goes back.

const VelocityTracker = preload("res://addons/continuum/physics/velocity_tracker.gd")


func test_linear_velocity_over_the_window() -> void:
	var tracker := VelocityTracker.new()
	tracker.window_s = 0.1
	assert_eq(tracker.linear_velocity(), Vector3.ZERO, "no poses")
	tracker.add(0.0, Transform3D(Basis(), Vector3.ZERO))
	assert_eq(tracker.linear_velocity(), Vector3.ZERO, "one pose")
	# Slow at first, then 2 m/s along x for the last 0.1 s: only the window counts.
	tracker.add(0.5, Transform3D(Basis(), Vector3(0.1, 0, 0)))
	for i in range(1, 11):
		tracker.add(0.5 + i * 0.01, Transform3D(Basis(), Vector3(0.1 + i * 0.02, 0, 0)))
	assert_true(tracker.linear_velocity().is_equal_approx(Vector3(2, 0, 0)),
		str(tracker.linear_velocity()))
	assert_true(tracker.size() <= 12)


func test_angular_velocity_the_short_way() -> void:
	var tracker := VelocityTracker.new()
	tracker.add(0.0, Transform3D(Basis(Quaternion(Vector3.UP, 0.1)), Vector3.ZERO))
	tracker.add(0.05, Transform3D(Basis(Quaternion(Vector3.UP, 0.2)), Vector3.ZERO))
	assert_true(tracker.angular_velocity().is_equal_approx(Vector3(0, 2, 0)),
		str(tracker.angular_velocity()))
	tracker.clear()
	tracker.add(0.0, Transform3D(Basis(Quaternion(Vector3.UP, PI - 0.05)), Vector3.ZERO))
	tracker.add(0.1, Transform3D(Basis(Quaternion(Vector3.UP, -PI + 0.05)), Vector3.ZERO))
	assert_true(tracker.angular_velocity().is_equal_approx(Vector3(0, 1, 0)),
		"across +-180 degrees: %s" % tracker.angular_velocity())


func test_a_clock_going_back_starts_anew() -> void:
	var tracker := VelocityTracker.new()
	tracker.add(1.0, Transform3D(Basis(), Vector3.ZERO))
	tracker.add(1.05, Transform3D(Basis(), Vector3(1, 0, 0)))
	tracker.add(0.5, Transform3D(Basis(), Vector3(5, 0, 0)))
	assert_eq(tracker.size(), 1)
	assert_eq(tracker.linear_velocity(), Vector3.ZERO)
