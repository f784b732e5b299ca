@tool
class_name ContinuumSplatBrush
extends "res://addons/continuum/splats/splat_brush_base.gd"
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
## and [method end_stroke] with viewport positions. Its signals and its editor and
## brush settings come from splat_brush_base.gd (a Node3D), as the XR brush's do.

## The camera whose view the cursor paints in; empty for the parent.
@export var camera_path: NodePath = NodePath():
	set(value):
		camera_path = value
		update_configuration_warnings()

@export_group("Input")
## The key held to paint (the grabber, if any, gets the clicks without it).
@export var paint_modifier: Key = KEY_SHIFT
## Paint with plain left and right drags, no modifier needed.
@export var always_paint: bool = false

var _pending: Variant = null  # the newest cursor position not yet sent


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if is_inside_tree() and get_camera() == null:
		problems.append("Put the brush under a Camera3D, or set camera_path to one.")
	problems.append_array(super())
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


## Starts a stroke at viewport position [param screen_point]: it adds to the selection, or takes
## from it when [param subtract].
func begin_stroke(screen_point: Vector2, subtract: bool = false) -> void:
	_begin(subtract)
	paint_to(screen_point)


## Paints at viewport position [param screen_point] (sent when the rate and the previous
## request allow; a newer position replaces one not yet sent).
func paint_to(screen_point: Vector2) -> void:
	if painting:
		_pending = screen_point


## Ends the stroke; a position not yet sent is still painted.
func end_stroke() -> void:
	if painting and _pending != null and not _in_flight:
		_send(_pending)  # The last position, whatever the rate.
	super.end_stroke()


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
	_select_ray(editor, camera.project_ray_origin(screen_point),
		camera.project_ray_normal(screen_point))
