extends RefCounted
## Internal: the linear and angular velocity of something moved by hand (a mouse drag, an XR
## controller), from its recent poses.
##
## [method add] a pose each frame; the velocities are the mean over the last [member window_s]
## (the first and the last pose in it), so one uneven frame does not decide a throw.

## Seconds of poses the velocities are measured over.
var window_s: float = 0.1

var _times: PackedFloat64Array = []
var _poses: Array[Transform3D] = []


## Forgets every pose.
func clear() -> void:
	_times.clear()
	_poses.clear()


## Records [param pose] at [param time] (seconds, increasing); poses older than the window (but
## the newest one before it) are dropped.
func add(time: float, pose: Transform3D) -> void:
	if not _times.is_empty() and time < _times[-1]:
		clear()  # A clock that went back: start anew.
	_times.append(time)
	_poses.append(pose)
	while _times.size() > 2 and _times[1] <= time - window_s:
		_times.remove_at(0)
		_poses.pop_front()


## Poses held now.
func size() -> int:
	return _times.size()


## Metres per second over the window; zero with fewer than two poses.
func linear_velocity() -> Vector3:
	var span := _span()
	if span <= 0.0:
		return Vector3.ZERO
	return (_poses[-1].origin - _poses[0].origin) / span


## Radians per second about the world axes over the window; zero with fewer than two poses.
func angular_velocity() -> Vector3:
	var span := _span()
	if span <= 0.0:
		return Vector3.ZERO
	var first := _poses[0].basis.get_rotation_quaternion()
	var last := _poses[-1].basis.get_rotation_quaternion()
	var delta := last * first.inverse()
	if delta.w < 0.0:
		delta = -delta  # The short way round.
	var angle := delta.get_angle()
	if angle < 1e-9:
		return Vector3.ZERO
	return delta.get_axis() * angle / span


func _span() -> float:
	if _times.size() < 2:
		return 0.0
	return _times[-1] - _times[0]
