@tool
class_name ContinuumMouseGrabber
extends Node
## Grab, drag, throw and push the backend's physics bodies with the mouse.
##
## Put it under a Camera3D (or set [member camera_path]). A press of [member grab_button] casts a
## ray through the cursor with `physics.query` and grabs the body it hits at the hit point
## (`physics.control` grab); dragging moves the held point on the plane through it that faces the
## camera (`move`, at most one per frame); releasing throws the body with the cursor's velocity
## over the last [member throw_window_s] (`release`). The wheel pushes the body under the cursor
## with an impulse along the ray (away on wheel up, towards the camera on wheel down). The
## backend decides what moves: the nodes follow the `poses` stream (ContinuumWorld).
##
## Without a mouse (tests, other input schemes) call [method begin_grab], [method drag_to],
## [method end_grab] and [method push_at] with viewport positions.

## A body was grabbed at world point [param point].
signal grabbed(entity_id: String, point: Vector3)
## The held body was let go with [param velocity] (m/s, world).
signal released(entity_id: String, velocity: Vector3)
## A body was pushed with [param impulse] (N s, world).
signal pushed(entity_id: String, impulse: Vector3)
## A request failed ([param op]: grab, move, release, impulse or ray); the grabber goes on.
signal control_failed(op: String, code: String, message: String)

enum State { IDLE, PICKING, HOLDING }

const PhysicsClient = preload("res://addons/continuum/physics/physics_client.gd")
const VelocityTracker = preload("res://addons/continuum/physics/velocity_tracker.gd")

## Grab and push with this node's input; off, it only answers its methods.
@export var enabled: bool = true
## The camera whose view the cursor picks in; empty for the parent.
@export var camera_path: NodePath = NodePath():
	set(value):
		camera_path = value
		update_configuration_warnings()
## The ContinuumSession; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath()

@export_group("Grab")
## The mouse button that grabs.
@export var grab_button: MouseButton = MOUSE_BUTTON_LEFT
## Longest pick ray.
@export_range(0.1, 10000.0, 0.1, "or_greater", "suffix:m") var max_distance: float = 100.0
## Fastest throw; a faster drag is scaled down to it.
@export_range(0.0, 100.0, 0.1, "suffix:m/s") var max_throw_speed: float = 15.0
## Seconds of drag the throw velocity is averaged over.
@export_range(0.01, 1.0, 0.01, "suffix:s") var throw_window_s: float = 0.1

@export_group("Push")
## Impulse of one wheel notch.
@export_range(0.0, 1000.0, 0.01, "or_greater", "suffix:N s") var push_impulse: float = 1.0

## Where the grabber is; read-only.
var state: State = State.IDLE
## The entity held (or being picked), "" when none; read-only.
var held_entity: String = ""
## The world point the held point is dragged to.
var target_position: Vector3 = Vector3.ZERO

var _client := PhysicsClient.new()
var _tracker := VelocityTracker.new()
var _plane := Plane()
var _wants_hold: bool = false
var _sent_position: Vector3 = Vector3.INF
var _moves_in_flight: int = 0


func _ready() -> void:
	_client.request_failed.connect(_on_client_request_failed)


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if is_inside_tree() and get_camera() == null:
		problems.append("Put the grabber under a Camera3D, or set camera_path to one.")
	return problems


func _unhandled_input(event: InputEvent) -> void:
	if Engine.is_editor_hint() or not enabled:
		return
	var button := event as InputEventMouseButton
	if button != null:
		if button.button_index == grab_button and button.pressed:
			begin_grab(button.position)
		elif button.button_index == grab_button:
			end_grab()
		elif button.pressed and button.button_index == MOUSE_BUTTON_WHEEL_UP:
			push_at(button.position, push_impulse)
		elif button.pressed and button.button_index == MOUSE_BUTTON_WHEEL_DOWN:
			push_at(button.position, -push_impulse)
		return
	var motion := event as InputEventMouseMotion
	if motion != null and state != State.IDLE:
		drag_to(motion.position)


func _process(_delta: float) -> void:
	if Engine.is_editor_hint() or state != State.HOLDING:
		return
	_tracker.add(Time.get_ticks_usec() / 1e6, Transform3D(Basis(), target_position))
	if _moves_in_flight < 2 and not target_position.is_equal_approx(_sent_position):
		_send_move()


## The camera the cursor picks through, or null.
func get_camera() -> Camera3D:
	var node := get_parent() if camera_path.is_empty() else get_node_or_null(camera_path)
	return node as Camera3D


## Grabs the body under viewport position [param screen_point]; a coroutine, true when a body is
## held (false when the ray hits nothing or the backend refuses: a static body, say).
func begin_grab(screen_point: Vector2) -> bool:
	var camera := get_camera()
	if camera == null or state != State.IDLE:
		return false
	_client.session = PhysicsClient.find_session(self, session_path)
	state = State.PICKING
	_wants_hold = true
	var hit := await _cast(camera, screen_point)
	if hit.is_empty() or not _wants_hold:
		state = State.IDLE
		return false
	var point := PhysicsClient.to_vec3(hit.get("point"))
	held_entity = str(hit.entity)
	target_position = point
	_plane = Plane(-camera.global_basis.z, point)  # Faces the camera.
	_tracker.window_s = throw_window_s
	_tracker.clear()
	var reply := await _client.control({
		"op": "grab", "entity": held_entity, "point": PhysicsClient.vec3(point),
		"target": {"position": PhysicsClient.vec3(point), "rotation": [0, 0, 0, 1]}})
	if reply.has("error"):
		state = State.IDLE
		held_entity = ""
		return false
	state = State.HOLDING
	_sent_position = point
	grabbed.emit(held_entity, point)
	if not _wants_hold:
		end_grab()  # Let go while the grab was on its way.
	return true


## Moves the held point to where viewport position [param screen_point] meets the drag plane.
func drag_to(screen_point: Vector2) -> void:
	var camera := get_camera()
	if camera == null or state == State.IDLE:
		return
	var origin := camera.project_ray_origin(screen_point)
	var hit: Variant = _plane.intersects_ray(origin, camera.project_ray_normal(screen_point))
	if hit != null and origin.distance_to(hit) <= max_distance:
		target_position = hit


## Lets go of the held body, throwing it with the drag's velocity. Returns that velocity.
func end_grab() -> Vector3:
	_wants_hold = false
	if state != State.HOLDING:
		return Vector3.ZERO  # Nothing held yet; begin_grab lets go when its grab is answered.
	_tracker.add(Time.get_ticks_usec() / 1e6, Transform3D(Basis(), target_position))
	var velocity := _tracker.linear_velocity().limit_length(max_throw_speed)
	var entity := held_entity
	state = State.IDLE
	held_entity = ""
	_client.release(entity, velocity)
	released.emit(entity, velocity)
	return velocity


## Pushes the body under viewport position [param screen_point] with [param impulse] N s along
## the ray (negative: towards the camera). A coroutine; the entity pushed, or "".
func push_at(screen_point: Vector2, impulse: float) -> String:
	var camera := get_camera()
	if camera == null:
		return ""
	_client.session = PhysicsClient.find_session(self, session_path)
	var hit := await _cast(camera, screen_point)
	if hit.is_empty():
		return ""
	var vector := camera.project_ray_normal(screen_point) * impulse
	var reply := await _client.control({
		"op": "impulse", "entity": hit.entity, "impulse": PhysicsClient.vec3(vector),
		"point": hit.get("point")})
	if reply.has("error"):
		return ""
	pushed.emit(str(hit.entity), vector)
	return str(hit.entity)


# The ray query's answer for the cursor at [param screen_point]: {entity, point, ...}, or {}
# when it hits nothing (or fails).
func _cast(camera: Camera3D, screen_point: Vector2) -> Dictionary:
	var hit := await _client.query({
		"type": "ray",
		"origin": PhysicsClient.vec3(camera.project_ray_origin(screen_point)),
		"direction": PhysicsClient.vec3(camera.project_ray_normal(screen_point)),
		"max_distance": max_distance,
	})
	if hit.has("error") or not hit.get("hit", false) or typeof(hit.get("entity")) != TYPE_STRING:
		return {}
	return hit


func _send_move() -> void:
	_moves_in_flight += 1
	_sent_position = target_position
	var entity := held_entity
	var reply := await _client.control({"op": "move", "entity": entity, "target": {
		"position": PhysicsClient.vec3(target_position), "rotation": [0, 0, 0, 1]}})
	_moves_in_flight -= 1
	if reply.has("error") and state == State.HOLDING and held_entity == entity:
		state = State.IDLE  # The body is gone (removed, say): nothing is held any more.
		held_entity = ""
		released.emit(entity, Vector3.ZERO)


func _on_client_request_failed(what: String, code: String, message: String) -> void:
	push_warning("[continuum] mouse grabber: %s failed: %s: %s" % [what, code, message])
	control_failed.emit(what, code, message)
