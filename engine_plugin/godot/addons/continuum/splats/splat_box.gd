@tool
class_name ContinuumSplatBox
extends MeshInstance3D
## A box the user places over splats to select the ones inside it (ContinuumSplatEditor.select_box).
##
## It draws itself as a see-through box of [member size] (times its scale); move, turn and scale
## it like any node, in the editor or from a game, then call [method select]. The box's centre,
## half sizes and rotation are its global transform's.

## The box's size before the node's scale.
@export var size: Vector3 = Vector3.ONE:
	set(value):
		size = value.abs()
		if mesh is BoxMesh:
			(mesh as BoxMesh).size = size
## The box's colour (its alpha is how see-through it is).
@export var color: Color = Color(0.3, 0.7, 1.0, 0.2):
	set(value):
		color = value
		if _material != null:
			_material.albedo_color = value
## The ContinuumSplatEditor that selects.
@export var editor_path: NodePath = NodePath():
	set(value):
		editor_path = value
		update_configuration_warnings()
## The entity selected from; empty for the one whose splat bounds hold the box's centre.
@export var entity: String = ""

var _material: StandardMaterial3D


func _init() -> void:
	_material = StandardMaterial3D.new()
	_material.shading_mode = BaseMaterial3D.SHADING_MODE_UNSHADED
	_material.transparency = BaseMaterial3D.TRANSPARENCY_ALPHA
	_material.cull_mode = BaseMaterial3D.CULL_DISABLED
	_material.albedo_color = color
	var box := BoxMesh.new()
	box.size = size
	box.material = _material
	mesh = box
	cast_shadow = GeometryInstance3D.SHADOW_CASTING_SETTING_OFF


func _get_configuration_warnings() -> PackedStringArray:
	if is_inside_tree() and get_editor() == null:
		return PackedStringArray(["Set editor_path to a ContinuumSplatEditor."])
	return PackedStringArray()


## The ContinuumSplatEditor that selects, or null.
func get_editor() -> ContinuumSplatEditor:
	return get_node_or_null(editor_path) as ContinuumSplatEditor if not editor_path.is_empty() \
		else null


## The box's half sizes along its own axes, in the world (its size times its global scale / 2).
func get_half_size() -> Vector3:
	return size * global_basis.get_scale().abs() / 2.0


## Selects the splats whose centres lie in the box, combined with the editor's last selection as
## [param combine] says ([code]replace[/code], [code]add[/code], [code]subtract[/code],
## [code]intersect[/code]). A coroutine; returns what ContinuumSplatEditor.select_box returns.
func select(combine := "replace") -> Dictionary:
	var editor := get_editor()
	if editor == null:
		return {"error": "bad_request", "message": "ContinuumSplatBox '%s' has no editor" % name}
	var target := entity if not entity.is_empty() else editor.pick_entity(global_position)
	if target.is_empty():
		return {"error": "not_found", "message": "the box's centre is in no entity's splats"}
	return await editor.select_box(target, global_position, get_half_size(),
		global_basis.get_rotation_quaternion(), combine)
