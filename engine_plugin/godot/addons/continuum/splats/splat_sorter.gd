extends RefCounted
## Back-to-front order of a cloud's splats along a view direction, computed on a worker thread.
##
## Splats are ordered by depth along the camera's forward axis, which does not depend on where
## the camera stands, only on where it looks: so a new sort is needed only when the direction
## turns past a threshold, and one order serves both eyes of a stereo view.

## Bits of an int64 key left for depth once the splat index takes its share.
const KEY_BITS := 62

var _positions := PackedVector3Array()
var _bounds := AABB()
var _task := -1
var _result := PackedFloat32Array()
var _pending_direction := Vector3.ZERO
var _pending_tag: Variant = null


## Starts sorting ``positions`` (object space) for a view looking along ``direction`` (object
## space, any length); ``tag`` comes back with the result (so a caller can tell which data it
## belongs to). False if a sort is still running.
func start(positions: PackedVector3Array, bounds: AABB, direction: Vector3, tag: Variant) -> bool:
	if is_running():
		return false
	_positions = positions
	_bounds = bounds
	_pending_direction = direction
	_pending_tag = tag
	_task = WorkerThreadPool.add_task(_sort.bind(direction), false, "continuum splat sort")
	return true


func is_running() -> bool:
	return _task != -1 and not WorkerThreadPool.is_task_completed(_task)


## The finished sort, once: ``order`` (splat index per draw slot, farthest first),
## ``direction`` and ``tag``; empty while running or when nothing new is ready.
func take_result() -> Dictionary:
	if _task == -1 or not WorkerThreadPool.is_task_completed(_task):
		return {}
	WorkerThreadPool.wait_for_task_completion(_task)
	_task = -1
	var out := {"order": _result, "direction": _pending_direction, "tag": _pending_tag}
	_result = PackedFloat32Array()
	return out


## Blocks until a running sort ends (used when the node leaves the tree).
func wait() -> void:
	if _task != -1:
		WorkerThreadPool.wait_for_task_completion(_task)
		_task = -1


func _sort(direction: Vector3) -> void:
	_result = sort_positions(_positions, _bounds, direction)


## Indices of ``positions`` ordered by decreasing depth along ``direction``, as floats (exact
## below 2^24 splats, which the texture layout caps anyway). Ties keep index order.
static func sort_positions(
		positions: PackedVector3Array, bounds: AABB, direction: Vector3) -> PackedFloat32Array:
	var n := positions.size()
	var order := PackedFloat32Array()
	order.resize(n)
	if n == 0:
		return order
	var dir := direction.normalized()
	# Depth of every centre along dir in one native call: a basis whose first row is dir.
	var project := Transform3D(Basis(dir, Vector3.ZERO, Vector3.ZERO).transposed(), Vector3.ZERO)
	var depths := (project * positions).to_byte_array().to_float32_array() # [d, 0, 0] per splat
	# The depth range from the bounds' corners keeps the quantisation independent of the data.
	var lo := INF
	var hi := -INF
	for corner in 8:
		var d := dir.dot(bounds.get_endpoint(corner))
		lo = minf(lo, d)
		hi = maxf(hi, d)
	var index_bits := maxi(1, ceili(log(float(n)) / log(2.0)) + 1)
	var levels := float((1 << (KEY_BITS - index_bits)) - 1)
	var scale := levels / maxf(hi - lo, 1e-30)
	var keys := PackedInt64Array()
	keys.resize(n)
	for i in n:
		# Farthest first: the key grows as depth falls.
		var q := clampf((hi - depths[3 * i]) * scale, 0.0, levels)
		keys[i] = (int(q) << index_bits) | i
	keys.sort()
	var mask := (1 << index_bits) - 1
	for i in n:
		order[i] = keys[i] & mask
	return order
