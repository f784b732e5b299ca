@tool
class_name ContinuumSplatBrush
extends Node
## Paints a selection of splats with the mouse: a ray through the cursor selects the splats
## within [member radius] of where it meets them (ContinuumSplatEditor.select_ray).
##
## Put it under a Camera3D (or set [member camera_path]) and point [member editor_path] at a
## ContinuumSplatEditor. Holding [member paint_modifier] (or with [member always_paint] on), a
## left drag adds to the selection and a right drag takes from it: every cursor position sends
## a `ray` selection (combine [code]add[/code] or [code]subtract[/code]), at most
## [member max_rate_hz] a second and one at a time (the newest position wins). The brush takes
## the mouse events it paints with, so a ContinuumMouseGrabber beside it does not also grab:
## without the modifier the clicks go on to it.
##
## Without a mouse (tests, other input schemes) call [method begin_stroke], [method paint_to]
## and [method end_stroke] with viewport positions.

## A stroke began ([param subtract]: it takes from the selection).
signal stroke_started(subtract: bool)
## A stroke ended after [param rays] ray selections.
signal stroke_ended(rays: int)

## Paint with this node's input; off, it only answers its methods.
@export var enabled: bool = true
## The camera whose view the cursor paints in; empty for the parent.
@export var camera_path: NodePath = NodePath():
	set(value):
		camera_path = value
		update_configuration_warnings()
## The ContinuumSplatEditor that selects.
@export var editor_path: NodePath = NodePath():
	set(value):
		editor_path = value
		update_configuration_warnings()
## The entity painted; empty for the one whose splats the ray meets first.
@export var entity: String = ""

@export_group("Brush")
## Reach around the point where the ray meets the splats (world).
@export_range(0.001, 10.0, 0.001, "or_greater", "suffix:m") var radius: float = 0.05
## Longest ray.
@export_range(0.1, 10000.0, 0.1, "or_greater", "suffix:m") var max_distance: float = 100.0
## Most ray selections a second while painting.
@export_range(1.0, 60.0, 0.5, "suffix:Hz") var max_rate_hz: float = 15.0

@export_group("Input")
## The key held to paint (the grabber, if any, gets the clicks without it).
@export var paint_modifier: Key = KEY_SHIFT
## Paint with plain left and right drags, no modifier needed.
@export var always_paint: bool = false

## True while a stroke runs; read-only.
var painting: bool = false
## True while the running stroke takes from the selection; read-only.
var subtracting: bool = false

var _pending: Variant = null  # the newest cursor position not yet sent
var _in_flight: bool = false
var _next_send_us: int = 0
var _rays: int = 0


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if is_inside_tree() and get_camera() == null:
		problems.append("Put the brush under a Camera3D, or set camera_path to one.")
	if is_inside_tree() and get_editor() == null:
		problems.append("Set editor_path to a ContinuumSplatEditor.")
	return problems


func _input(event: InputEvent) -> void:
	if Engine.is_editor_hint() or not enabled:
		return
	var button := event as InputEventMouseButton
	if button != null and button.button_index in [MOUSE_BUTTON_LEFT, MOUSE_BUTTON_RIGHT]:
		var subtract := button.button_index == MOUSE_BUTTON_RIGHT
		if button.pressed and not painting and _wants_paint(button):
			begin_stroke(button.position, subtract)
			get_viewport().set_input_as_handled()
		elif not button.pressed and painting and subtract == subtracting:
			end_stroke()
			get_viewport().set_input_as_handled()
		return
	var motion := event as InputEventMouseMotion
	if motion != null and painting:
		paint_to(motion.position)
		get_viewport().set_input_as_handled()


func _process(_delta: float) -> void:
	if Engine.is_editor_hint() or _pending == null or _in_flight:
		return
	if Time.get_ticks_usec() >= _next_send_us:
		_send(_pending)


## The camera the cursor paints through, or null.
func get_camera() -> Camera3D:
	var node := get_parent() if camera_path.is_empty() else get_node_or_null(camera_path)
	return node as Camera3D


## The ContinuumSplatEditor that selects, or null.
func get_editor() -> ContinuumSplatEditor:
	return get_node_or_null(editor_path) as ContinuumSplatEditor if not editor_path.is_empty() \
		else null


## Starts a stroke at viewport position [param screen_point]: it adds to the selection, or takes
## from it when [param subtract].
func begin_stroke(screen_point: Vector2, subtract: bool = false) -> void:
	painting = true
	subtracting = subtract
	_rays = 0
	stroke_started.emit(subtract)
	paint_to(screen_point)


## Paints at viewport position [param screen_point] (sent when the rate and the previous
## request allow; a newer position replaces one not yet sent).
func paint_to(screen_point: Vector2) -> void:
	if painting:
		_pending = screen_point


## Ends the stroke; a position not yet sent is still painted.
func end_stroke() -> void:
	if not painting:
		return
	if _pending != null and not _in_flight:
		_send(_pending)  # The last position, whatever the rate.
	painting = false
	stroke_ended.emit(_rays)


func _wants_paint(button: InputEventMouseButton) -> bool:
	return always_paint or Input.is_key_pressed(paint_modifier) \
		or (paint_modifier == KEY_SHIFT and button.shift_pressed) \
		or (paint_modifier == KEY_CTRL and button.ctrl_pressed) \
		or (paint_modifier == KEY_ALT and button.alt_pressed)


func _send(screen_point: Vector2) -> void:
	_pending = null
	var camera := get_camera()
	var editor := get_editor()
	if camera == null or editor == null:
		return
	var origin := camera.project_ray_origin(screen_point)
	var direction := camera.project_ray_normal(screen_point)
	var target := entity if not entity.is_empty() else editor.pick_entity(origin, direction)
	if target.is_empty():
		return  # The ray meets no splats.
	_in_flight = true
	_rays += 1
	_next_send_us = Time.get_ticks_usec() + int(1e6 / max_rate_hz)
	await editor.select_ray(target, origin, direction, radius,
		"subtract" if subtracting else "add", max_distance)
	_in_flight = false
