@tool
class_name ContinuumXRSplatBrush
extends "res://addons/continuum/splats/splat_brush_base.gd"
## Paints a selection of splats with an XR controller: while the trigger is held, the ray along
## this node's -Z selects the splats within [member radius] of where it meets them
## (ContinuumSplatEditor.select_ray, combine [code]add[/code]; [code]subtract[/code] while
## [member subtract_action] is held too), at most [member max_rate_hz] a second and one at a time.
##
## Put it under an XRController3D (its -Z is the controller's pointing direction) and point
## [member editor_path] at a ContinuumSplatEditor. Any Node3D parent works through
## [method begin_stroke] and [method end_stroke] (a stand-in controller). Its signals and its
## editor and brush settings come from splat_brush_base.gd, as the mouse brush's do; its
## [member max_distance] starts at 20 m.

const XRHold = preload("res://addons/continuum/xr/xr_hold.gd")

@export_group("Input")
## The controller input that paints: a float (its value past [member paint_threshold]) or a
## button (this name, or this name with "_click").
@export var paint_action: String = "trigger"
## How far the trigger must go to paint; it stops below 80 % of it.
@export_range(0.05, 1.0, 0.05) var paint_threshold: float = 0.6
## The button that, held while painting begins, makes the stroke take from the selection.
@export var subtract_action: String = "ax_button"

var _sent_pose: Transform3D = Transform3D()
var _fresh: bool = false
var _subtract_held: bool = false
var _trigger := XRHold.new(self, &"paint_action", &"paint_threshold", _on_trigger_pressed,
	end_stroke)


func _init() -> void:
	max_distance = 20.0


func _ready() -> void:
	if Engine.is_editor_hint():
		return
	var controller := get_parent() as XRController3D
	if controller != null:
		controller.button_pressed.connect(_on_controller_button_pressed)
		controller.button_released.connect(_on_controller_button_released)
		_trigger.follow(controller)


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if not get_parent() is XRController3D:
		problems.append("Put the brush under an XRController3D; elsewhere only begin_stroke() "
			+ "and end_stroke() work.")
	problems.append_array(super())
	return problems


func _process(_delta: float) -> void:
	if Engine.is_editor_hint() or not painting or _in_flight:
		return
	var moved := _fresh or not global_transform.is_equal_approx(_sent_pose)
	if Time.get_ticks_usec() >= _next_send_us and moved:
		_send()


## Starts painting along this node's -Z: adding to the selection, or taking from it when
## [param subtract].
func begin_stroke(subtract: bool = false) -> void:
	_fresh = true  # Paint where the stroke begins, moved or not.
	_begin(subtract)


func _send() -> void:
	var editor := get_editor()
	if editor == null:
		return
	_sent_pose = global_transform
	_fresh = false
	_select_ray(editor, global_position, -global_basis.z.normalized())


func _on_trigger_pressed() -> bool:
	if not enabled:
		return false
	begin_stroke(_subtract_held)
	return true


func _on_controller_button_pressed(input_name: String) -> void:
	if input_name == subtract_action:
		_subtract_held = true


func _on_controller_button_released(input_name: String) -> void:
	if input_name == subtract_action:
		_subtract_held = false
