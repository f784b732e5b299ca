@tool
extends Node3D
## Internal: what the mouse and the XR splat brushes (splat_brush.gd, xr_splat_brush.gd) share:
## their settings, the stroke's state, and the ray selection a stroke sends
## (ContinuumSplatEditor.select_ray, combine [code]add[/code] or [code]subtract[/code]), at most
## [member max_rate_hz] a second and one at a time.

## A stroke began ([param subtract]: it takes from the selection).
signal stroke_started(subtract: bool)
## A stroke ended after [param rays] ray selections.
signal stroke_ended(rays: int)

## Paint with the brush's input; off, it only answers its methods.
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
@export_range(0.1, 10000.0, 0.1, "or_greater", "suffix:m") var max_distance: float = 100.0
## Most ray selections a second while painting.
@export_range(1.0, 60.0, 0.5, "suffix:Hz") var max_rate_hz: float = 15.0

## True while a stroke runs; read-only.
var painting: bool = false
## True while the running stroke takes from the selection; read-only.
var subtracting: bool = false

var _in_flight: bool = false
var _next_send_us: int = 0
var _rays: int = 0


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if is_inside_tree() and get_editor() == null:
		problems.append("Set editor_path to a ContinuumSplatEditor.")
	return problems


## The ContinuumSplatEditor that selects, or null.
func get_editor() -> ContinuumSplatEditor:
	return get_node_or_null(editor_path) as ContinuumSplatEditor if not editor_path.is_empty() \
		else null


## Ends the stroke.
func end_stroke() -> void:
	if painting:
		painting = false
		stroke_ended.emit(_rays)


func _begin(subtract: bool) -> void:
	painting = true
	subtracting = subtract
	_rays = 0
	stroke_started.emit(subtract)


# Selects along the ray from [param origin] towards [param direction] (a unit vector) in the
# entity painted; a coroutine, one at a time (_in_flight) and at most max_rate_hz a second.
func _select_ray(editor: ContinuumSplatEditor, origin: Vector3, direction: Vector3) -> void:
	var target := entity if not entity.is_empty() else editor.pick_entity(origin, direction)
	if target.is_empty():
		return  # The ray meets no splats.
	_in_flight = true
	_rays += 1
	_next_send_us = Time.get_ticks_usec() + int(1e6 / max_rate_hz)
	await editor.select_ray(target, origin, direction, radius,
		"subtract" if subtracting else "add", max_distance)
	_in_flight = false
