@tool
class_name ContinuumXRSplatBrush
extends Node3D
## Paints a selection of splats with an XR controller: while the trigger is held, the ray along
## this node's -Z selects the splats within [member radius] of where it meets them
## (ContinuumSplatEditor.select_ray, combine [code]add[/code]; [code]subtract[/code] while
## [member subtract_action] is held too), at most [member max_rate_hz] a second and one at a time.
##
## Put it under an XRController3D (its -Z is the controller's pointing direction) and point
## [member editor_path] at a ContinuumSplatEditor. Any Node3D parent works through
## [method begin_stroke] and [method end_stroke] (a stand-in controller).

## A stroke began ([param subtract]: it takes from the selection).
signal stroke_started(subtract: bool)
## A stroke ended after [param rays] ray selections.
signal stroke_ended(rays: int)

## Paint with the controller's input; off, it only answers its methods.
@export var enabled: bool = true
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
@export_range(0.1, 1000.0, 0.1, "or_greater", "suffix:m") var max_distance: float = 20.0
## Most ray selections a second while painting.
@export_range(1.0, 60.0, 0.5, "suffix:Hz") var max_rate_hz: float = 15.0

@export_group("Input")
## The controller input that paints: a float (its value past [member paint_threshold]) or a
## button (this name, or this name with "_click").
@export var paint_action: String = "trigger"
## How far the trigger must go to paint; it stops below 80 % of it.
@export_range(0.05, 1.0, 0.05) var paint_threshold: float = 0.6
## The button that, held while painting begins, makes the stroke take from the selection.
@export var subtract_action: String = "ax_button"

## True while a stroke runs; read-only.
var painting: bool = false
## True while the running stroke takes from the selection; read-only.
var subtracting: bool = false

var _in_flight: bool = false
var _next_send_us: int = 0
var _sent_pose: Transform3D = Transform3D()
var _fresh: bool = false
var _rays: int = 0
var _triggered: bool = false
var _subtract_held: bool = false


func _ready() -> void:
	if Engine.is_editor_hint():
		return
	var controller := get_parent() as XRController3D
	if controller != null:
		controller.button_pressed.connect(_on_controller_button_pressed)
		controller.button_released.connect(_on_controller_button_released)
		controller.input_float_changed.connect(_on_controller_input_float_changed)


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if not get_parent() is XRController3D:
		problems.append("Put the brush under an XRController3D; elsewhere only begin_stroke() "
			+ "and end_stroke() work.")
	if is_inside_tree() and get_editor() == null:
		problems.append("Set editor_path to a ContinuumSplatEditor.")
	return problems


func _process(_delta: float) -> void:
	if Engine.is_editor_hint() or not painting or _in_flight:
		return
	var moved := _fresh or not global_transform.is_equal_approx(_sent_pose)
	if Time.get_ticks_usec() >= _next_send_us and moved:
		_send()


## The ContinuumSplatEditor that selects, or null.
func get_editor() -> ContinuumSplatEditor:
	return get_node_or_null(editor_path) as ContinuumSplatEditor if not editor_path.is_empty() \
		else null


## Starts painting along this node's -Z: adding to the selection, or taking from it when
## [param subtract].
func begin_stroke(subtract: bool = false) -> void:
	painting = true
	subtracting = subtract
	_rays = 0
	_fresh = true  # Paint where the stroke begins, moved or not.
	stroke_started.emit(subtract)


## Stops painting.
func end_stroke() -> void:
	if painting:
		painting = false
		stroke_ended.emit(_rays)


func _send() -> void:
	var editor := get_editor()
	if editor == null:
		return
	_sent_pose = global_transform
	_fresh = false
	var origin := global_position
	var direction := -global_basis.z.normalized()
	var target := entity if not entity.is_empty() else editor.pick_entity(origin, direction)
	if target.is_empty():
		return  # The ray meets no splats.
	_in_flight = true
	_rays += 1
	_next_send_us = Time.get_ticks_usec() + int(1e6 / max_rate_hz)
	await editor.select_ray(target, origin, direction, radius,
		"subtract" if subtracting else "add", max_distance)
	_in_flight = false


func _is_paint_button(input_name: String) -> bool:
	return input_name == paint_action or input_name == paint_action + "_click"


func _on_controller_button_pressed(input_name: String) -> void:
	if input_name == subtract_action:
		_subtract_held = true
	elif enabled and _is_paint_button(input_name) and not _triggered:
		_triggered = true
		begin_stroke(_subtract_held)


func _on_controller_button_released(input_name: String) -> void:
	if input_name == subtract_action:
		_subtract_held = false
	elif _is_paint_button(input_name) and _triggered:
		_triggered = false
		end_stroke()


func _on_controller_input_float_changed(input_name: String, value: float) -> void:
	if input_name != paint_action:
		return
	if value >= paint_threshold:
		_on_controller_button_pressed(input_name)
	elif value < paint_threshold * 0.8:
		_on_controller_button_released(input_name)
