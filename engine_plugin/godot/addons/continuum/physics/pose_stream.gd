extends Node
## The `poses` state stream (bridge/PROTOCOL.md): decodes each pose frame, keeps the last few,
## and moves the bound nodes to poses interpolated at render time.
##
## Internal; ContinuumWorld makes one and binds its physics entities. A frame is one f32 blob
## [N, 7] (position x, y, z, quaternion x, y, z, w; glTF axes, which are Godot's; world frame)
## in the order of its layout's ids. A frame of a layout this stream does not know yet is kept
## and `physics.layout` is asked; it is used once the answer comes.
##
## Timing: frames carry the backend's send time [code]t[/code]. A frame is shown at
## [code]t + offset[/code] on this machine's clock, where offset is the smallest
## [code]arrival - t[/code] seen over the last [member clock_window_s] (the fastest delivery), so
## network and frame-polling jitter do not reach the screen. Rendering runs
## [member delay_intervals] publish intervals behind, so two frames are normally around the
## render time; when frames are late, poses are extrapolated from the last two frames by at most
## [member max_extrapolation_intervals] intervals, then held.
## [codeblock]
## var stream := PoseStream.new()
## add_child(stream)
## stream.attach(session)            # subscribes to `poses` once the backend has physics
## stream.bind_node("ball", ball)    # the node follows the body "ball"
## [/codeblock]

## A pose frame was accepted: its sequence number and backend time.
signal frame_received(seq: int, time: float)
## A layout's body ids became known (from a `physics.layout` reply or [method set_layout]).
signal layout_received(layout: int, ids: PackedStringArray)

const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

## The stream topic.
const TOPIC := "poses"
## Floats per body in a frame: position xyz, quaternion xyzw.
const FIELDS := 7
## Largest body count accepted in one frame (a bound before allocating anything per body).
const MAX_BODIES := 1 << 20
## Layouts remembered (the current one and a few older ones whose frames are still held).
const MAX_LAYOUTS := 4
## Seconds before asking again for a layout whose `physics.layout` request failed.
const LAYOUT_RETRY_S := 0.5

## Pose frames per second that the backend publishes; from [code]welcome.physics.publish_hz[/code]
## once attached.
var publish_hz: float = 90.0
## How far behind the newest frame the nodes are shown, in publish intervals.
var delay_intervals: float = 1.5
## Longest extrapolation past the newest frame, in publish intervals; then the pose is held.
var max_extrapolation_intervals: float = 1.0
## Frames held for interpolation.
var history_size: int = 8
## Seconds of frames over which the clock offset is the smallest arrival - t.
var clock_window_s: float = 2.0
## Move the bound nodes every frame (false: only [method apply] moves them).
var auto_apply: bool = true
## Frames accepted so far.
var frames_received: int = 0
## Frames the sequence numbers say were missed.
var frames_missed: int = 0
## Frames refused (a malformed blob, a body count that does not match the layout).
var frames_refused: int = 0
## The layout of the newest frame, -1 before any.
var layout: int = -1
## Sequence number and backend time of the newest frame.
var last_seq: int = -1
var last_time: float = 0.0

var _session: Node = null
var _frames: Array[_Frame] = []
var _layouts: Dictionary = {}  # layout -> Dictionary id -> index
var _layout_ids: Dictionary = {}  # layout -> PackedStringArray
var _asked: Dictionary = {}  # layout -> ms when a physics.layout request was last sent
var _offsets: Array[Vector2] = []  # (arrival, arrival - t) for the clock window
var _offset: float = 0.0
var _nodes: Dictionary = {}  # id -> Node3D
var _scales: Dictionary = {}  # id -> the node's own scale, kept when its pose is set
var _order: Array[String] = []  # bound ids, parents before their children
var _order_dirty: bool = false
var _last_problem: String = ""


func _init() -> void:
	# After the session's poll in the same frame; the bridge runs while the game is paused too.
	process_priority = 100
	process_mode = Node.PROCESS_MODE_ALWAYS


func _process(_delta: float) -> void:
	if auto_apply and not _nodes.is_empty():
		apply(now_s())


func _exit_tree() -> void:
	detach()


## This machine's clock in seconds, the one arrival and render times are on.
static func now_s() -> float:
	return Time.get_ticks_usec() / 1e6


## Listens to [param session] (a ContinuumSession): subscribes to `poses` whenever it connects to
## a backend whose welcome has [code]physics[/code], and asks it for layouts.
func attach(session: Node) -> void:
	if session == _session:
		return
	detach()
	_session = session
	if _session == null:
		return
	_session.connect("connected", _on_session_connected)
	_session.connect("message_received", _on_session_message)
	if _session.call("is_backend_connected"):
		_on_session_connected(_session.get("welcome"))


## Stops listening to the session (the subscription itself stays with the session).
func detach() -> void:
	if _session != null and is_instance_valid(_session):
		if _session.is_connected("connected", _on_session_connected):
			_session.disconnect("connected", _on_session_connected)
			_session.disconnect("message_received", _on_session_message)
	_session = null


## Forgets every frame and layout (a new backend, or a new world).
func reset() -> void:
	_frames.clear()
	_layouts.clear()
	_layout_ids.clear()
	_asked.clear()
	_offsets.clear()
	layout = -1
	last_seq = -1
	last_time = 0.0


## Starts over for a new simulation (the backend opened another world, `world.reset`): forgets
## every frame and layout, since layout and frame numbering restart, and subscribes to `poses`
## when [param physics] (the new world's [code]physics[/code], as in [code]welcome[/code]) is a
## Dictionary; otherwise the session drops the topic (a world without physics streams no poses,
## and the backend would refuse it when the session re-subscribes after a reconnect). The bound
## nodes stay bound.
func restart(physics: Variant) -> void:
	reset()
	if _session == null or not is_instance_valid(_session):
		return
	if typeof(physics) != TYPE_DICTIONARY:
		_session.call("unsubscribe", PackedStringArray([TOPIC]))
	elif _session.call("is_backend_connected"):
		_subscribe(physics)


## Node [param node] follows body [param id] from now on; its own scale is kept.
func bind_node(id: String, node: Node3D) -> void:
	_nodes[id] = node
	_scales[id] = node.scale
	_order_dirty = true


## Stops moving the node of [param id].
func unbind_node(id: String) -> void:
	_nodes.erase(id)
	_scales.erase(id)
	_order_dirty = true


## Stops moving every node.
func unbind_all() -> void:
	_nodes.clear()
	_scales.clear()
	_order_dirty = true


## The ids of the bound nodes.
func bound_ids() -> PackedStringArray:
	return PackedStringArray(_nodes.keys())


## Teaches the stream layout [param number]'s ids (in pose order).
func set_layout(number: int, ids: PackedStringArray) -> void:
	var index := {}
	for i in ids.size():
		index[ids[i]] = i
	_layouts[number] = index
	_layout_ids[number] = ids
	# Frames held for this layout before it was known, with another body count, are unusable.
	_frames = _frames.filter(func(f: _Frame) -> bool: return f.layout != number \
		or f.count == ids.size())
	_asked.erase(number)
	while _layouts.size() > MAX_LAYOUTS:
		var oldest: int = _layouts.keys().min()
		_layouts.erase(oldest)
		_layout_ids.erase(oldest)
	layout_received.emit(number, ids)


## The ids of layout [param number] in pose order; empty when unknown.
func layout_ids(number: int = -2) -> PackedStringArray:
	return _layout_ids.get(layout if number == -2 else number, PackedStringArray())


## Accepts one `poses` message: [param header] with its blob [param data], arrived at
## [param arrival_s] (on [method now_s]'s clock). Returns "" or what was wrong (the frame is then
## dropped and counted in [member frames_refused]).
func push_frame(header: Dictionary, data: PackedByteArray, arrival_s: float) -> String:
	var decoded := decode_frame(header, data)
	if decoded.has("error"):
		frames_refused += 1
		return decoded.error
	var frame := _Frame.new()
	frame.seq = decoded.seq
	frame.time = decoded.time
	frame.layout = decoded.layout
	frame.poses = decoded.poses
	frame.count = decoded.count
	var known: Dictionary = _layouts.get(frame.layout, {})
	if _layouts.has(frame.layout) and known.size() != frame.count:
		frames_refused += 1
		return "a frame of layout %d has %d bodies, the layout %d" % [
			frame.layout, frame.count, known.size()]
	if not _frames.is_empty() and (frame.time < last_time or frame.seq <= last_seq):
		reset()  # The backend restarted (or this is another one): its clock starts anew.
	if last_seq >= 0 and frame.seq > last_seq + 1:
		frames_missed += frame.seq - last_seq - 1
	_frames.append(frame)
	while _frames.size() > maxi(history_size, 2):
		_frames.pop_front()
	_note_arrival(arrival_s, frame.time)
	layout = frame.layout
	last_seq = frame.seq
	last_time = frame.time
	frames_received += 1
	if not _layouts.has(frame.layout):
		_ask_layout(frame.layout)
	frame_received.emit(frame.seq, frame.time)
	return ""


## Checks and decodes a `poses` header and blob: {seq, time, layout, count, poses
## (PackedFloat32Array, count * 7)}, or {error}.
static func decode_frame(header: Dictionary, data: PackedByteArray) -> Dictionary:
	var blobs: Variant = header.get("blobs")
	if typeof(blobs) != TYPE_ARRAY or blobs.size() != 1 or typeof(blobs[0]) != TYPE_DICTIONARY:
		return {"error": "a pose frame has one blob, got %s" % [blobs]}
	var descriptor: Dictionary = blobs[0]
	var shape: Variant = descriptor.get("shape")
	if descriptor.get("dtype") != "f32" or typeof(shape) != TYPE_ARRAY or shape.size() != 2 \
			or int(shape[1]) != FIELDS or int(shape[0]) < 0 or int(shape[0]) > MAX_BODIES:
		return {"error": "a pose blob is f32 [N, 7], got %s" % [descriptor]}
	var count := int(shape[0])
	if data.size() != count * FIELDS * 4:
		return {"error": "a pose blob of %d bodies has %d octets" % [count, data.size()]}
	for key: String in ["seq", "t", "layout"]:
		var value: Variant = header.get(key)
		if not typeof(value) in [TYPE_INT, TYPE_FLOAT] or not is_finite(float(value)):
			return {"error": "a pose frame's '%s' must be a number, got %s" % [key, value]}
	return {
		"seq": int(header.seq), "time": float(header.t), "layout": int(header.layout),
		"count": count, "poses": data.to_float32_array(),
	}


## The newest received pose of body [param id] (no interpolation), or null.
func latest_transform(id: String) -> Variant:
	for i in range(_frames.size() - 1, -1, -1):
		var index: Variant = _layouts.get(_frames[i].layout, {}).get(id)
		if index != null:
			return _frames[i].transform(index)
	return null


## The seconds that rendering runs behind the newest frame.
func render_delay_s() -> float:
	return delay_intervals / maxf(publish_hz, 1e-3)


## The pose of body [param id] to show at [param now] (seconds on [method now_s]'s clock):
## interpolated [member delay_intervals] behind, extrapolated at most
## [member max_extrapolation_intervals] past the newest frame; null when no frame has the body.
func sample(id: String, now: float) -> Variant:
	var render_time := now - render_delay_s() - _offset  # on the backend's clock
	var before: _Frame = null  # the newest frame at or before the render time that has the body
	var before_index := -1
	var after: _Frame = null  # the next one that has it
	var after_index := -1
	for frame: _Frame in _frames:
		var index: Variant = _layouts.get(frame.layout, {}).get(id)
		if index == null:
			continue
		if frame.time <= render_time:
			before = frame
			before_index = index
		else:
			after = frame
			after_index = index
			break
	if before == null:
		return null if after == null else after.transform(after_index)  # Held before the first.
	if after == null:
		return _extrapolate(id, before, before_index, render_time)
	var span := maxf(after.time - before.time, 1e-9)
	var weight := clampf((render_time - before.time) / span, 0.0, 1.0)
	return _blend(before.transform(before_index), after.transform(after_index), weight)


## Poses of every bound body at [param now]: id -> Transform3D (bodies without a pose left out).
func sample_bound(now: float) -> Dictionary:
	var poses := {}
	if _order_dirty:
		_sort_bound()
	for id: String in _order:
		var pose: Variant = sample(id, now)
		if pose != null:
			poses[id] = pose
	return poses


## Moves the bound nodes to their poses at [param now]; returns how many moved.
func apply(now: float) -> int:
	var moved := 0
	if _order_dirty:
		_sort_bound()
	for id: String in _order:
		var node: Variant = _nodes.get(id)
		if not is_instance_valid(node):
			continue
		var pose: Variant = sample(id, now)
		if pose == null:
			continue
		var scaled: Transform3D = pose
		scaled.basis = scaled.basis * Basis.from_scale(_scales[id])
		if node.is_inside_tree():
			node.global_transform = scaled
		else:
			node.transform = scaled
		moved += 1
	return moved


## The clock offset now in use: local time minus backend time of the fastest recent delivery.
func clock_offset() -> float:
	return _offset


func _extrapolate(id: String, last: _Frame, last_index: int, render_time: float) -> Transform3D:
	var pose := last.transform(last_index)
	var previous: _Frame = null
	var previous_index := -1
	for i in range(_frames.find(last) - 1, -1, -1):
		var index: Variant = _layouts.get(_frames[i].layout, {}).get(id)
		if index != null:
			previous = _frames[i]
			previous_index = index
			break
	if previous == null or last.time - previous.time <= 1e-9:
		return pose
	var ahead := minf(render_time - last.time, max_extrapolation_intervals / maxf(publish_hz, 1e-3))
	return _blend(
		previous.transform(previous_index), pose, 1.0 + ahead / (last.time - previous.time))


# Position lerp and rotation slerp from [param a] to [param b]; a weight above 1 continues the
# motion (the rotation by the same angular velocity about the same axis).
static func _blend(a: Transform3D, b: Transform3D, weight: float) -> Transform3D:
	var qa := a.basis.get_rotation_quaternion()
	var qb := b.basis.get_rotation_quaternion()
	var rotation: Quaternion
	if weight <= 1.0:
		rotation = qa.slerp(qb, weight)
	else:
		var delta := qb * qa.inverse()
		if delta.w < 0.0:
			delta = -delta
		var angle := delta.get_angle()
		rotation = qb
		if angle > 1e-9:
			rotation = (Quaternion(delta.get_axis(), angle * (weight - 1.0)) * qb).normalized()
	return Transform3D(Basis(rotation), a.origin.lerp(b.origin, weight))


func _note_arrival(arrival_s: float, time: float) -> void:
	_offsets.append(Vector2(arrival_s, arrival_s - time))
	while _offsets.size() > 1 and _offsets[0].x < arrival_s - clock_window_s:
		_offsets.pop_front()
	var lowest := INF
	for sample_offset: Vector2 in _offsets:
		lowest = minf(lowest, sample_offset.y)
	_offset = lowest


func _ask_layout(number: int) -> void:
	if _session == null or not is_instance_valid(_session):
		return
	var now := Time.get_ticks_msec()
	if _asked.has(number) and now - int(_asked[number]) < int(LAYOUT_RETRY_S * 1000.0):
		return
	_asked[number] = now
	var reply: Dictionary = await _session.call("request", "physics.layout")
	var header: Dictionary = reply.get("header", {})
	if reply.get("kind") != "physics.layout":
		_report("physics.layout failed: %s: %s" % [header.get("code"), header.get("message")])
		return
	var ids: Variant = header.get("ids")
	var number_got: Variant = header.get("layout")
	if typeof(ids) != TYPE_ARRAY or not typeof(number_got) in [TYPE_INT, TYPE_FLOAT] \
			or not ids.all(func(v: Variant) -> bool: return v is String):
		_report("a malformed physics.layout reply: %s" % [header])
		return
	set_layout(int(number_got), PackedStringArray(ids))


# Orders the bound ids so that a node comes after the bound nodes above it, since a child's global
# pose is set relative to its parent's, which must be where it belongs first.
func _sort_bound() -> void:
	var depth := {}
	for id: String in _nodes:
		var node: Variant = _nodes[id]
		var d := 0
		if is_instance_valid(node):
			var up: Node = node.get_parent()
			while up != null:
				d += 1
				up = up.get_parent()
		depth[id] = d
	_order.assign(_nodes.keys())
	_order.sort_custom(func(a: String, b: String) -> bool: return depth[a] < depth[b])
	_order_dirty = false


func _report(problem: String) -> void:
	if problem != _last_problem:
		_last_problem = problem
		push_warning("[continuum] pose stream: " + problem)


func _on_session_connected(welcome: Dictionary) -> void:
	var physics: Variant = welcome.get("physics")
	if typeof(physics) != TYPE_DICTIONARY:
		return  # The world has no physics: nothing is streamed.
	_subscribe(physics)


func _subscribe(physics: Dictionary) -> void:
	var hz: Variant = physics.get("publish_hz")
	if typeof(hz) in [TYPE_INT, TYPE_FLOAT] and float(hz) > 0.0:
		publish_hz = float(hz)
	var reply: Dictionary = await _session.call("subscribe", PackedStringArray([TOPIC]))
	if reply.get("kind") != "subscribed":
		var header: Dictionary = reply.get("header", {})
		_report("subscribing to poses failed: %s: %s" % [header.get("code"), header.get("message")])


func _on_session_message(kind: String, header: Dictionary, blobs: Array) -> void:
	if kind != TOPIC:
		return
	var data: PackedByteArray = blobs[0] if blobs.size() == 1 else PackedByteArray()
	var problem := push_frame(header, data, now_s())
	if not problem.is_empty():
		_report(problem)


## One decoded pose frame.
class _Frame:
	extends RefCounted

	var seq: int = 0
	var time: float = 0.0
	var layout: int = 0
	var count: int = 0
	var poses: PackedFloat32Array = []

	## The pose of body [param index] of this frame.
	func transform(index: int) -> Transform3D:
		var i := index * FIELDS
		var rotation := Quaternion(poses[i + 3], poses[i + 4], poses[i + 5], poses[i + 6])
		if rotation.length_squared() < 1e-12:
			rotation = Quaternion.IDENTITY
		return Transform3D(Basis(rotation.normalized()), Vector3(poses[i], poses[i + 1], poses[i + 2]))
