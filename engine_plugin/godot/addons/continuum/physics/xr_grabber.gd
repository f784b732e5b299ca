@tool
class_name ContinuumXRGrabber
extends Node3D
## Grab and throw the backend's physics bodies with an XR controller.
##
## Put it under an XRController3D (offset it to the palm if you like). Pressing the grip
## ([member grab_action]) asks the backend for the body nearest to this node within
## [member grab_radius] (`physics.query` nearest) and grabs it here (`physics.control` grab, the
## target being this node's pose); while held, the target follows this node (`move`, at most
## [member max_move_hz] a second); letting go throws the body with this node's linear and angular
## velocity over the last [member throw_window_s] (`release`). The nodes follow the `poses`
## stream (ContinuumWorld), so the body is seen where the backend has it.
##
## Any Node3D parent works through [method grab] and [method release] (a stand-in controller).

## A body was grabbed.
signal grabbed(entity_id: String)
## The held body was let go with [param velocity] (m/s) and [param angular_velocity] (rad/s).
signal released(entity_id: String, velocity: Vector3, angular_velocity: Vector3)
## A request failed ([param op]: grab, move, release or nearest); the grabber goes on.
signal control_failed(op: String, code: String, message: String)

enum State { IDLE, PICKING, HOLDING }

const PhysicsClient = preload("res://addons/continuum/physics/physics_client.gd")
const VelocityTracker = preload("res://addons/continuum/physics/velocity_tracker.gd")
const XRHold = preload("res://addons/continuum/xr/xr_hold.gd")

## Grab with the controller's input; off, it only answers its methods.
@export var enabled: bool = true
## The ContinuumSession; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath()

@export_group("Grab")
## The controller input that grabs: a float (its value past [member grab_threshold]) or a button
## (this name, or this name with "_click").
@export var grab_action: String = "grip"
## How far the grip float must go to grab; it lets go below 80 % of it.
@export_range(0.05, 1.0, 0.05) var grab_threshold: float = 0.6
## Farthest body surface from this node that can be grabbed.
@export_range(0.01, 2.0, 0.01, "suffix:m") var grab_radius: float = 0.15
## Most `move` requests per second while holding.
@export_range(10.0, 240.0, 1.0, "suffix:Hz") var max_move_hz: float = 90.0
## Fastest throw; a faster hand is scaled down to it.
@export_range(0.0, 100.0, 0.1, "suffix:m/s") var max_throw_speed: float = 20.0
## Fastest spin given on a throw.
@export_range(0.0, 200.0, 0.1, "suffix:rad/s") var max_throw_spin: float = 30.0
## Seconds of hand motion the throw velocity is averaged over.
@export_range(0.01, 1.0, 0.01, "suffix:s") var throw_window_s: float = 0.08

## Where the grabber is; read-only.
var state: State = State.IDLE
## The entity held, "" when none; read-only.
var held_entity: String = ""

var _client := PhysicsClient.new()
var _tracker := VelocityTracker.new()
var _wants_hold: bool = false
var _grip := XRHold.new(self, &"grab_action", &"grab_threshold", _on_grip_pressed, release)
var _sent_pose: Transform3D = Transform3D()
var _next_move_us: int = 0
var _move_in_flight: bool = false


func _ready() -> void:
	if Engine.is_editor_hint():
		return
	_client.request_failed.connect(_on_client_request_failed)
	var controller := get_parent() as XRController3D
	if controller != null:
		_grip.follow(controller)


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if not get_parent() is XRController3D:
		problems.append(
			"Put the grabber under an XRController3D; elsewhere only grab() and release() work.")
	return problems


func _process(_delta: float) -> void:
	if Engine.is_editor_hint():
		return
	var now_us := Time.get_ticks_usec()
	_tracker.add(now_us / 1e6, global_transform)
	if state == State.HOLDING and not _move_in_flight and now_us >= _next_move_us:
		if not global_transform.is_equal_approx(_sent_pose):
			_next_move_us = now_us + int(1e6 / max_move_hz)
			_send_move()


## Grabs the body nearest to this node within [member grab_radius]; a coroutine, true when a
## body is held.
func grab() -> bool:
	if state != State.IDLE:
		return false
	_client.session = PhysicsClient.find_session(self, session_path)
	_wants_hold = true
	state = State.PICKING
	var hand := global_transform
	var nearest := await _client.query({
		"type": "nearest", "point": PhysicsClient.vec3(hand.origin), "radius": grab_radius})
	var entity: Variant = nearest.get("entity")
	if nearest.has("error") or typeof(entity) != TYPE_STRING or not _wants_hold:
		state = State.IDLE
		return false
	held_entity = entity
	hand = global_transform  # Where the hand is now, after the query's round trip.
	var reply := await _client.control({
		"op": "grab", "entity": held_entity, "point": PhysicsClient.vec3(hand.origin),
		"target": _target(hand)})
	if reply.has("error"):
		state = State.IDLE
		held_entity = ""
		return false
	state = State.HOLDING
	_sent_pose = hand
	grabbed.emit(held_entity)
	if not _wants_hold:
		release()  # Let go while the grab was on its way.
	return true


## Lets go of the held body, throwing it with this node's velocity; returns the linear velocity.
func release() -> Vector3:
	_wants_hold = false
	if state != State.HOLDING:
		return Vector3.ZERO  # Nothing held yet; grab() lets go when its grab is answered.
	_tracker.add(Time.get_ticks_usec() / 1e6, global_transform)
	var velocity := _tracker.linear_velocity().limit_length(max_throw_speed)
	var spin := _tracker.angular_velocity().limit_length(max_throw_spin)
	var entity := held_entity
	state = State.IDLE
	held_entity = ""
	_client.release(entity, velocity, spin)
	released.emit(entity, velocity, spin)
	return velocity


## This node's linear velocity over the throw window (m/s).
func get_hand_velocity() -> Vector3:
	return _tracker.linear_velocity()


static func _target(pose: Transform3D) -> Dictionary:
	return {
		"position": PhysicsClient.vec3(pose.origin),
		"rotation": PhysicsClient.quat(pose.basis.get_rotation_quaternion()),
	}


func _send_move() -> void:
	_move_in_flight = true
	_sent_pose = global_transform
	var entity := held_entity
	var reply := await _client.control({
		"op": "move", "entity": entity, "target": _target(_sent_pose)})
	_move_in_flight = false
	if reply.has("error") and state == State.HOLDING and held_entity == entity:
		state = State.IDLE  # The body is gone (removed, say): nothing is held any more.
		held_entity = ""
		released.emit(entity, Vector3.ZERO, Vector3.ZERO)


func _on_grip_pressed() -> bool:
	if not enabled:
		return false
	grab()
	return true


func _on_client_request_failed(what: String, code: String, message: String) -> void:
	push_warning("[continuum] XR grabber: %s failed: %s: %s" % [what, code, message])
	control_failed.emit(what, code, message)
