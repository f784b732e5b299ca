@tool
class_name SplatInstance3D
extends GeometryInstance3D
## Draws a SplatCloud: one instanced quad per splat, per-splat data in textures, a shader that
## projects each Gaussian per view (so XR multiview renders both eyes correctly), and a depth
## order sorted on a worker thread only when the view direction turns past a threshold.
##
## Assigning a new [member cloud] prepares its textures and first depth order off the render
## path; the old version stays on screen until the new one is complete, then both swap in one
## frame and [signal cloud_swapped] is emitted.

## The cloud now on screen changed (after its textures and first order were ready).
signal cloud_swapped(cloud: SplatCloud)

const SplatSorter = preload("res://addons/continuum/splats/splat_sorter.gd")
const SplatShader = preload("res://addons/continuum/splats/shaders/splat.gdshader")

## Quads per instanced batch mesh: splat slot = instance * BATCH_QUADS + quad.
const BATCH_QUADS := 4096
## Octets per splat of the draw order texture (one float per slot).
const ORDER_BYTES_PER_SPLAT := 4

static var _batch_mesh: ArrayMesh

## The splats to draw.
@export var cloud: SplatCloud:
	set = set_cloud

@export_group("Sorting")
## Re-sort when the view direction has turned more than this since the last sort.
@export_range(0.1, 45.0, 0.1, "suffix:°") var resort_angle_deg: float = 2.0

var _multimesh := RID()
var _material := ShaderMaterial.new()
var _sorter := SplatSorter.new()
var _shown: SplatCloud
var _positions := PackedVector3Array()
var _order_texture: ImageTexture
var _sorted_direction := Vector3.ZERO
var _sorts := 0
var _next_task := -1
var _next: Dictionary = {}


func _init() -> void:
	_material.shader = SplatShader
	_material.set_shader_parameter("batch_quads", BATCH_QUADS)
	_multimesh = RenderingServer.multimesh_create()
	RenderingServer.multimesh_set_mesh(_multimesh, _get_batch_mesh().get_rid())
	set_base(_multimesh)
	RenderingServer.instance_geometry_set_material_override(get_instance(), _material.get_rid())


func _notification(what: int) -> void:
	if what == NOTIFICATION_PREDELETE:
		_sorter.wait()
		if _next_task != -1:
			WorkerThreadPool.wait_for_task_completion(_next_task)
		# Detach the material and the base before the RIDs they name go away.
		RenderingServer.instance_geometry_set_material_override(get_instance(), RID())
		set_base(RID())
		RenderingServer.free_rid(_multimesh)


func _ready() -> void:
	set_process(true)


func _process(_delta: float) -> void:
	if _next_task != -1 and WorkerThreadPool.is_task_completed(_next_task):
		WorkerThreadPool.wait_for_task_completion(_next_task)
		_next_task = -1
		_swap_in(_next)
		_next = {}
		if cloud != _shown:
			_prepare(cloud) # assigned again while that version was being prepared
	if _shown == null:
		return
	var result := _sorter.take_result()
	if not result.is_empty() and result.tag == _shown:
		_upload_order(result.order)
		_sorted_direction = result.direction
	var direction := view_direction()
	if direction != Vector3.ZERO and _needs_sort(direction):
		_sorter.start(_positions, _shown.aabb, direction, _shown)


func _get_configuration_warnings() -> PackedStringArray:
	if cloud == null:
		return PackedStringArray(["Assign a SplatCloud (import a .ply, .splat or .spz file)."])
	return PackedStringArray()


func set_cloud(value: SplatCloud) -> void:
	cloud = value
	update_configuration_warnings()
	if _next_task == -1 and value != _shown:
		_prepare(value)


## The cloud now drawn (the previous one while a newly assigned cloud is being prepared).
func get_shown_cloud() -> SplatCloud:
	return _shown


## True while a newly assigned cloud is being prepared.
func is_swap_pending() -> bool:
	return _next_task != -1 or cloud != _shown


## How many depth sorts have been applied since the node was made.
func get_sort_count() -> int:
	return _sorts


## Octets of GPU memory per splat of the shown cloud: its textures plus the draw order.
func gpu_bytes_per_splat() -> float:
	if _shown == null or _shown.count == 0:
		return 0.0
	var order_bytes := _shown.get_height() * SplatCloud.TEXTURE_WIDTH * ORDER_BYTES_PER_SPLAT
	return float(_shown.gpu_bytes() + order_bytes) / _shown.count


## The view direction of the active camera in this node's space (what the depth order follows);
## zero when there is no camera.
func view_direction() -> Vector3:
	var camera := _active_camera()
	if camera == null or not is_inside_tree():
		return Vector3.ZERO
	# Depth along the world forward f of a point x is f . (B x + o): sort by (B^T f) . x.
	return global_transform.basis.transposed() * (-camera.global_transform.basis.z)


func _needs_sort(direction: Vector3) -> bool:
	if _sorter.is_running():
		return false
	if _sorted_direction == Vector3.ZERO:
		return true
	var cos_angle := direction.normalized().dot(_sorted_direction.normalized())
	return cos_angle < cos(deg_to_rad(resort_angle_deg))


func _active_camera() -> Camera3D:
	if Engine.is_editor_hint():
		var editor := Engine.get_singleton(&"EditorInterface")
		if editor != null:
			return editor.get_editor_viewport_3d(0).get_camera_3d()
	var viewport := get_viewport()
	return viewport.get_camera_3d() if viewport != null else null


func _prepare(value: SplatCloud) -> void:
	if value == null:
		_swap_in({})
		return
	var direction := view_direction()
	if direction == Vector3.ZERO:
		direction = Vector3.FORWARD
	_next_task = WorkerThreadPool.add_task(
			_build.bind(value, direction), false, "continuum splat upload")


## Worker thread: the new version's textures and first order, off the render path.
func _build(value: SplatCloud, direction: Vector3) -> void:
	var textures := {}
	var images := value.create_images()
	for name: String in images:
		textures[name] = ImageTexture.create_from_image(images[name])
	var positions := value.get_positions()
	var order := SplatSorter.sort_positions(positions, value.aabb, direction)
	_next = {
		"cloud": value, "textures": textures, "positions": positions,
		"order": ImageTexture.create_from_image(_order_image(order, value.get_height())),
		"direction": direction,
	}


func _swap_in(version: Dictionary) -> void:
	# A sort still running for the old version is dropped when it ends (its tag differs).
	if version.is_empty():
		_shown = null
		_positions = PackedVector3Array()
		_order_texture = null
		RenderingServer.multimesh_allocate_data(
				_multimesh, 0, RenderingServer.MULTIMESH_TRANSFORM_3D)
		_material.set_shader_parameter("splat_count", 0)
		cloud_swapped.emit(null)
		return
	var shown: SplatCloud = version.cloud
	var textures: Dictionary = version.textures
	_order_texture = version.order
	for name: String in ["means", "rotations", "scales", "colors", "sh"]:
		_material.set_shader_parameter(name + "_tex", textures.get(name))
	_material.set_shader_parameter("order_tex", _order_texture)
	_material.set_shader_parameter("splat_count", shown.count)
	_material.set_shader_parameter("sh_degree", shown.sh_degree)
	_material.set_shader_parameter("sh_texels", shown.sh_texels)
	var batches := ceili(float(shown.count) / BATCH_QUADS)
	RenderingServer.multimesh_allocate_data(
			_multimesh, batches, RenderingServer.MULTIMESH_TRANSFORM_3D)
	var identity := PackedFloat32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0])
	var buffer := PackedFloat32Array()
	for i in batches:
		buffer.append_array(identity)
	RenderingServer.multimesh_set_buffer(_multimesh, buffer)
	RenderingServer.multimesh_set_custom_aabb(_multimesh, shown.aabb)
	_shown = shown
	_positions = version.positions
	_sorted_direction = version.direction
	_sorts += 1
	cloud_swapped.emit(shown)


func _upload_order(order: PackedFloat32Array) -> void:
	_order_texture.update(_order_image(order, _shown.get_height()))
	_sorts += 1


static func _order_image(order: PackedFloat32Array, height: int) -> Image:
	var data := order.to_byte_array()
	data.resize(height * SplatCloud.TEXTURE_WIDTH * ORDER_BYTES_PER_SPLAT)
	return Image.create_from_data(SplatCloud.TEXTURE_WIDTH, height, false, Image.FORMAT_RF, data)


## One mesh of BATCH_QUADS quads shared by every instance: corner in x, y and quad index in z.
static func _get_batch_mesh() -> ArrayMesh:
	if _batch_mesh != null:
		return _batch_mesh
	var vertices := PackedVector3Array()
	var indices := PackedInt32Array()
	vertices.resize(BATCH_QUADS * 4)
	indices.resize(BATCH_QUADS * 6)
	var corners: Array[Vector2] = [Vector2(-1, -1), Vector2(1, -1), Vector2(1, 1), Vector2(-1, 1)]
	for q in BATCH_QUADS:
		for c in 4:
			vertices[q * 4 + c] = Vector3(corners[c].x, corners[c].y, q)
		var base := q * 4
		var tri := PackedInt32Array([base, base + 1, base + 2, base, base + 2, base + 3])
		for k in 6:
			indices[q * 6 + k] = tri[k]
	var arrays := []
	arrays.resize(Mesh.ARRAY_MAX)
	arrays[Mesh.ARRAY_VERTEX] = vertices
	arrays[Mesh.ARRAY_INDEX] = indices
	_batch_mesh = ArrayMesh.new()
	_batch_mesh.add_surface_from_arrays(Mesh.PRIMITIVE_TRIANGLES, arrays)
	return _batch_mesh
