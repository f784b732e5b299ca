@tool
class_name ContinuumMotionPlayer
extends Node
## Plays a motion (a trajectory of the `motion` slot, bridge/PROTOCOL.md section 14) on a
## Node3D, and hands the motion over to the backend's live physics at its end.
##
## [codeblock]
## var motion := await generator.generate("motion", {"scenario": "throw",
##     "params": {"restitution": 0.8, "speed": 6.0}, "target": [3, 0, -2]})
## if not motion.has("error"):
##     player.play(motion)
## [/codeblock]
## The trajectory's channels [code]x, y, z[/code] are the position in world coordinates (metres,
## Godot's axes, as glTF's); frames are [code]1 / fps[/code] apart and played at that pace,
## interpolated between frames. With [member entity] set (a body of the backend's simulation),
## the body is teleported along with the node (at most one request in flight, the newest
## position wins) so the simulation agrees with what is shown, and at the end it is teleported
## to the last frame with the motion's final velocity ([member hand_over]: the simulation carries
## the motion on) or at rest. Without an entity only the node moves.

## A motion started on the target.
signal motion_started(frames: int, fps: int)
## A motion ended (played to its end, or stopped by [method stop] or a new [method play]);
## [param handed_over] is true when the body was given to the live physics with its velocity.
signal motion_finished(handed_over: bool)

const PhysicsClient = preload("res://addons/continuum/physics/physics_client.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")

## The Node3D the motion moves (its global position).
@export var target_path: NodePath = NodePath()
## The backend entity (a body) moved along; empty to move the node alone.
@export var entity: String = ""
## At the end, keep the motion's velocity in the live physics (else the body stops there).
@export var hand_over: bool = true
## The ContinuumSession for [member entity]'s teleports; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath()

## Seconds into the motion played now; -1 when none plays.
var time_s: float = -1.0

var _positions: PackedVector3Array = PackedVector3Array()
var _end_velocity: Vector3 = Vector3.ZERO
var _fps: int = 30
var _client: PhysicsClient
var _in_flight: bool = false  # a teleport awaits its reply


## Starts [param motion] (a result of the motion slot: [code]{trajectory, shape, channels,
## fps}[/code], as ContinuumGenerator gives it). Returns false, playing nothing, when it has no
## x, y and z channels, no frames or no fps (push_error says which).
func play(motion: Dictionary) -> bool:
	var decoded := positions_of(motion)
	if decoded.has("error"):
		push_error("[continuum] ContinuumMotionPlayer '%s': %s" % [name, decoded.message])
		return false
	if is_playing():
		stop()
	_positions = decoded.positions
	_end_velocity = decoded.end_velocity
	_fps = decoded.fps
	time_s = 0.0
	motion_started.emit(_positions.size(), _fps)
	_show(_positions[0], _velocity_at(0))
	return true


## Stops the motion where it is (the body is left at rest there).
func stop() -> void:
	if not is_playing():
		return
	var at := sample(time_s)
	time_s = -1.0
	_finish(at, Vector3.ZERO, false)


## True while a motion plays.
func is_playing() -> bool:
	return time_s >= 0.0


## The position [param at_s] seconds into the motion played (clamped to its ends), linearly
## interpolated between frames.
func sample(at_s: float) -> Vector3:
	if _positions.is_empty():
		return Vector3.ZERO
	var f := clampf(at_s * _fps, 0.0, _positions.size() - 1.0)
	var i := mini(int(f), _positions.size() - 1)
	var j := mini(i + 1, _positions.size() - 1)
	return _positions[i].lerp(_positions[j], f - i)


## The positions ([code]x, y, z[/code] channels), fps and final velocity of a motion result:
## [code]{positions, fps, end_velocity}[/code] or [code]{error, message}[/code]. The final
## velocity is the result's [code]end_velocity[/code] (its first body's) when it has one, else
## the channels [code]vx, vy, vz[/code] at the last frame, else the last two frames' difference.
static func positions_of(motion: Dictionary) -> Dictionary:
	var values: Variant = motion.get("trajectory")
	var shape: Variant = motion.get("shape")
	var channels: Variant = motion.get("channels")
	var fps := int(motion.get("fps", 0))
	if not values is PackedFloat32Array or not shape is Array or shape.size() != 2 \
			or not channels is PackedStringArray:
		return _failure("not a motion result: it needs trajectory, shape and channels")
	var frames := int(shape[0])
	var width := int(shape[1])
	if frames < 1 or width != channels.size() or values.size() != frames * width:
		return _failure("a motion of %s values does not fit shape %s" % [values.size(), shape])
	if fps < 1:
		return _failure("a motion needs its fps (frames per second), got %d" % fps)
	var axes := PackedInt32Array([channels.find("x"), channels.find("y"), channels.find("z")])
	if axes.has(-1):
		return _failure("a motion needs x, y and z channels, got %s" % [channels])
	var positions := PackedVector3Array()
	positions.resize(frames)
	for t in frames:
		positions[t] = Vector3(values[t * width + axes[0]], values[t * width + axes[1]],
			values[t * width + axes[2]])
	var speeds := PackedInt32Array([channels.find("vx"), channels.find("vy"), channels.find("vz")])
	var given: Variant = motion.get("end_velocity")
	var end_velocity := Vector3.ZERO
	if given is PackedFloat32Array and given.size() >= 3:
		end_velocity = Vector3(given[0], given[1], given[2])
	elif not speeds.has(-1):
		var last := (frames - 1) * width
		end_velocity = Vector3(values[last + speeds[0]], values[last + speeds[1]],
			values[last + speeds[2]])
	elif frames > 1:
		end_velocity = (positions[frames - 1] - positions[frames - 2]) * fps
	return {"positions": positions, "fps": fps, "end_velocity": end_velocity}


func _process(delta: float) -> void:
	if not is_playing() or Engine.is_editor_hint():
		return
	time_s += delta
	var end_s := (_positions.size() - 1.0) / _fps
	if time_s >= end_s:
		time_s = -1.0
		_finish(_positions[-1], _end_velocity if hand_over else Vector3.ZERO, hand_over)
		return
	_show(sample(time_s), _velocity_at(time_s * _fps))


func _get_configuration_warnings() -> PackedStringArray:
	var problems := SessionLookup.warnings(self, session_path) if not entity.is_empty() \
		else PackedStringArray()
	if not get_node_or_null(target_path) is Node3D:
		problems.append("target_path must name the Node3D to move.")
	return problems


# The finite-difference velocity around frame [param f].
func _velocity_at(f: float) -> Vector3:
	var i := clampi(int(f), 0, maxi(_positions.size() - 2, 0))
	if _positions.size() < 2:
		return Vector3.ZERO
	return (_positions[i + 1] - _positions[i]) * _fps


func _show(position: Vector3, velocity: Vector3) -> void:
	var target := get_node_or_null(target_path) as Node3D
	if target != null:
		target.global_position = position
	if entity.is_empty() or _in_flight:
		return
	_in_flight = true
	await _teleport(position, velocity)
	_in_flight = false


func _finish(position: Vector3, velocity: Vector3, handed_over: bool) -> void:
	var target := get_node_or_null(target_path) as Node3D
	if target != null:
		target.global_position = position
	if not entity.is_empty():
		await _teleport(position, velocity)  # Always sent: the last word on the body.
	motion_finished.emit(handed_over and not entity.is_empty())


func _teleport(position: Vector3, velocity: Vector3) -> Dictionary:
	if _client == null:
		_client = PhysicsClient.new()
	_client.session = SessionLookup.find(self, session_path)
	return await _client.control({"op": "teleport", "entity": entity,
		"position": PhysicsClient.vec3(position), "velocity": PhysicsClient.vec3(velocity)})


static func _failure(message: String) -> Dictionary:
	return {"error": "bad_motion", "message": message}
