@tool
class_name ContinuumSplatEditor
extends Node
## Selects part of an entity's splats on the backend and edits it (bridge/PROTOCOL.md section 16).
##
## It works through a ContinuumWorld ([member world_path]) and that world's session. Selections
## are made in world coordinates: positions, directions and rotations are mapped into the entity's
## frame through the inverse of its node's global transform, and lengths (radii, box sizes) are
## divided by the node's scale (taken as uniform). A selection is of the version of the entity's
## splats the world shows when it is made ([code]base[/code]: [member ContinuumWorld.splat_hashes],
## else the hash its splat component names, for a world that fetches no packs). The selection
## calls chain: [code]add[/code], [code]subtract[/code] and [code]intersect[/code] combine with
## this editor's last selection when it is of the same entity and version, so requests go one at
## a time, in order.
## [codeblock]
## var picked := await editor.select_sphere("cloud", Vector3(0, 1.2, 0.5), 0.2)
## if not picked.has("error"):
##     await editor.edit("recolor", {"color": Color.RED})  # edit_applied or edit_failed follows
## [/codeblock]
## [method edit] applies an op to the last selection; the new pack becomes the entity's splat
## (the world swaps to it when the backend's pushes arrive) and the selection is then of an older
## version: another edit of it is refused with [code]conflict[/code] ("stale version", signalled by
## [signal edit_failed]) until something is selected again ([method reselect] repeats the last
## selection's steps on the version shown now). Undo an edit with [method ContinuumWorld.undo].
##
## Colours are the values the splats' colour evaluates to, as SplatInstance3D shows them (a
## Color picked in the editor looks the same on the splats); the protocol calls them linear RGB.
## With [member show_selection] the selected splats are drawn as points over the splats, from the
## selection's scores (asked with each selection) and the world's SplatCloud of that version.

## The selection changed: [param count] of the entity's [param total] splats are selected (0
## after [method clear_selection] or a selection that took nothing).
signal selection_changed(entity: String, count: int, total: int)
## An edit made [param asset] (a splat pack's hash) the entity's splat.
signal edit_applied(entity: String, asset: String)
## A selection or an edit was refused or failed: [param code] is the backend's
## ([code]conflict[/code] for a stale version, [code]bad_request[/code], [code]not_found[/code])
## or the session's ([code]not_connected[/code], [code]timeout[/code], [code]disconnected[/code]).
signal edit_failed(code: String, message: String)
## An optimisation of this editor took step [param step] of [param steps] (`splat.progress`).
signal edit_progressed(step: int, steps: int)

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")

## How a selection combines with the last one.
const COMBINES: Array[String] = ["replace", "add", "subtract", "intersect"]
## The ops of [method edit].
const OPS: Array[String] = ["delete", "recolor", "tint", "transform", "duplicate", "optimize"]
## The most views of a masks selection or an optimisation.
const MAX_VIEWS := 16
## The most selection steps [method reselect] repeats.
const MAX_STEPS := 256
## Seconds [method reselect] waits for the world to show the version an edit made.
const RESELECT_WAIT_S := 10.0

## The ContinuumWorld whose entities are edited (its session carries the requests).
@export var world_path: NodePath = NodePath():
	set(value):
		world_path = value
		update_configuration_warnings()
## Seconds an optimisation may take before its request fails with [code]timeout[/code].
@export_range(1.0, 3600.0, 1.0, "suffix:s") var optimize_timeout_s: float = 600.0

@export_group("Highlight")
## Draw the selected splats as points (their scores come with each selection).
@export var show_selection: bool = true:
	set(value):
		show_selection = value
		if is_inside_tree():
			_update_highlight()
## The points' colour.
@export var highlight_color: Color = Color(1.0, 0.55, 0.1):
	set(value):
		highlight_color = value
		if _material != null:
			_material.albedo_color = value
## The points' size on screen.
@export_range(1.0, 16.0, 0.5, "suffix:px") var highlight_point_size: float = 3.0:
	set(value):
		highlight_point_size = value
		if _material != null:
			_material.point_size = value
## The most points drawn; a larger selection is drawn thinned out evenly.
@export_range(1, 1000000, 1) var max_highlight_points: int = 65536

## The last selection's id ([code]splat.select[/code]'s [code]selection[/code]); null when none.
var selection: Variant = null
## The entity the last selection is of; "" when none.
var selection_entity: String = ""
## The version (pack hash) the last selection is of.
var selection_base: String = ""
## Splats selected, and the entity's splats, in the last selection.
var selection_count: int = 0
var selection_total: int = 0
## The last selection's score per splat (0..1; hard selections 0 or 1), when they came with it
## ([member show_selection], [method fetch_scores]); empty otherwise.
var scores: PackedFloat32Array = PackedFloat32Array()

var _world: ContinuumWorldScript
var _session: ContinuumSessionScript
var _queue := _Queue.new()
var _steps: Array[Dictionary] = []  # the selection requests since the last replace
var _optimizing: String = ""  # the entity an optimisation of this editor is running for
var _stale: bool = false  # an edit of this editor came after the selection
var _edited_to: String = ""  # the version that edit made
var _overlay: MultiMeshInstance3D
var _points := PackedVector3Array()  # the centres the overlay draws (entity frame)
var _material: StandardMaterial3D


func _ready() -> void:
	_bind()


func _process(_delta: float) -> void:
	if _overlay != null and _overlay.visible:
		var node := _splat_node(selection_entity)
		if node != null:
			_overlay.global_transform = node.global_transform


func _get_configuration_warnings() -> PackedStringArray:
	if is_inside_tree() and get_world() == null:
		return PackedStringArray(["Set world_path to a ContinuumWorld."])
	return PackedStringArray()


## The ContinuumWorld this editor works on, or null.
func get_world() -> ContinuumWorldScript:
	if not is_inside_tree() or world_path.is_empty():
		return null
	return get_node_or_null(world_path) as ContinuumWorldScript


## The version of [param entity]'s splats a selection is made of now: the pack its node shows,
## else the one its splat component names; "" when the entity has no splats.
func current_base(entity: String) -> String:
	var world := get_world()
	if world == null:
		return ""
	var shown: Variant = world.splat_hashes.get(entity)
	if shown is String:
		return shown
	var node := _splat_node(entity)
	return str(node.get_meta("continuum_splat", {}).get("asset", "")) if node != null else ""


## The ids of the world's entities that have splats, in the world's order.
func splat_entities() -> PackedStringArray:
	var ids := PackedStringArray()
	var world := get_world()
	if world != null:
		for id in world.entity_ids:
			if not current_base(id).is_empty():
				ids.append(id)
	return ids


## The entity with splats whose bounds the ray from [param origin] along [param direction]
## (world) meets first; with a zero [param direction], the one whose bounds hold [param origin]
## (the nearest bounds' centre). "" when none; entities whose pack is not loaded are skipped.
func pick_entity(origin: Vector3, direction: Vector3 = Vector3.ZERO) -> String:
	var world := get_world()
	if world == null:
		return ""
	var best := ""
	var best_distance := INF
	var clouds := world.get_splat_clouds()
	for id: String in clouds:
		var node := _splat_node(id)
		if node == null:
			continue
		var box: AABB = clouds[id].aabb
		var inverse := node.global_transform.affine_inverse()
		var local := inverse * origin
		var distance := INF
		if direction == Vector3.ZERO:
			if box.has_point(local):
				distance = local.distance_to(box.get_center())
		else:
			var local_direction := (inverse.basis * direction).normalized()
			var hit: Variant = box.intersects_ray(local, local_direction)
			if box.has_point(local):
				distance = 0.0
			elif hit != null:
				distance = (node.global_transform * (hit as Vector3)).distance_to(origin)
		if distance < best_distance:
			best_distance = distance
			best = id
	return best


## Selects the splats of [param entity] whose centres lie in the box at [param center] with
## [param half_size] along its axes, turned by [param rotation] (all world). A coroutine;
## returns [code]{selection, count, total, base}[/code] or [code]{error, message}[/code].
func select_box(
	entity: String, center: Vector3, half_size: Vector3, rotation := Quaternion.IDENTITY,
	combine := "replace"
) -> Dictionary:
	var frame := _frame(entity)
	if frame.has("error"):
		return _fail(frame.error, frame.message)
	var to_entity: Transform3D = frame.inverse
	var turned: Quaternion = (frame.rotation.inverse() * rotation).normalized()
	return await _select(entity, {
		"mode": "box", "center": _vec(to_entity * center),
		"half_size": _vec(half_size.abs() / frame.scale), "rotation": _quat(turned),
	}, combine)


## Selects the splats of [param entity] whose centres lie within [param radius] of
## [param center] (world). A coroutine; returns as [method select_box].
func select_sphere(
	entity: String, center: Vector3, radius: float, combine := "replace"
) -> Dictionary:
	var frame := _frame(entity)
	if frame.has("error"):
		return _fail(frame.error, frame.message)
	return await _select(entity, {
		"mode": "sphere", "center": _vec(frame.inverse * center), "radius": radius / frame.scale,
	}, combine)


## The brush: selects the splats of [param entity] within [param radius] of where the ray from
## [param origin] along [param direction] (world) first meets them ([param max_distance] along
## it when above 0); nothing when it meets none. A coroutine; returns as [method select_box].
func select_ray(
	entity: String, origin: Vector3, direction: Vector3, radius: float, combine := "replace",
	max_distance := 0.0
) -> Dictionary:
	var frame := _frame(entity)
	if frame.has("error"):
		return _fail(frame.error, frame.message)
	var to_entity: Transform3D = frame.inverse
	var fields := {
		"mode": "ray", "origin": _vec(to_entity * origin),
		"direction": _vec((to_entity.basis * direction).normalized()),
		"radius": radius / frame.scale,
	}
	if max_distance > 0.0:
		fields["max_distance"] = max_distance / frame.scale
	return await _select(entity, fields, combine)


## Selects the splats of [param entity] that [param masks] cover as seen by [param cameras]
## (one mask per camera, nonzero luminance = selected, the view being the mask's size; see
## [method camera_view]); a splat is selected where the masks' vote, weighted by how much of it
## each view sees, passes [param threshold]. A coroutine; returns as [method select_box].
func select_masks(
	entity: String, cameras: Array[Camera3D], masks: Array[Image], combine := "replace",
	threshold := 0.5
) -> Dictionary:
	var frame := _frame(entity)
	if frame.has("error"):
		return _fail(frame.error, frame.message)
	if cameras.size() != masks.size() or cameras.is_empty() or cameras.size() > MAX_VIEWS:
		return _fail("bad_request", "select_masks takes 1..%d cameras and one mask each, got %d"
			% [MAX_VIEWS, cameras.size()] + " cameras and %d masks" % masks.size())
	var views: Array = []
	var blobs: Array = []
	for i in cameras.size():
		var blob := mask_blob(masks[i])
		if blob.has("error"):
			return _fail(blob.error, "mask %d: %s" % [i, blob.message])
		var view := camera_view(cameras[i], frame.transform, Vector2i(
			masks[i].get_width(), masks[i].get_height()))
		if view.has("error"):
			return _fail(view.error, "camera %d: %s" % [i, view.message])
		views.append({"camera": view})
		blobs.append(blob)
	return await _select(entity, {"mode": "masks", "views": views, "threshold": threshold},
		combine, blobs)


## Repeats the last selection's steps (since its last [code]replace[/code]) on the version of
## the entity's splats shown now, after an edit say. A coroutine; returns as [method select_box]
## ([code]not_found[/code] when nothing was selected).
func reselect() -> Dictionary:
	if _steps.is_empty():
		return _fail("not_found", "nothing was selected to select again")
	var deadline := Time.get_ticks_msec() + int(RESELECT_WAIT_S * 1000.0)
	while _stale and current_base(selection_entity) == selection_base \
			and selection_base != _edited_to and Time.get_ticks_msec() < deadline \
			and is_inside_tree():
		await get_tree().process_frame  # The world shows the edit's version soon.
	var steps := _steps.duplicate()
	var result := {}
	for step: Dictionary in steps:
		result = await _select(step.entity, step.fields, step.combine, step.blobs)
		if result.has("error"):
			break
	return result


## Forgets the selection (the backend keeps it until it is among the oldest).
func clear_selection() -> void:
	var entity := selection_entity
	_set_selection(entity, "", null, 0, selection_total if not entity.is_empty() else 0)
	_steps.clear()


## Asks `splat.selection` for the last selection's scores (into [member scores]) and draws them.
## A coroutine; returns the scores, empty on failure.
func fetch_scores() -> PackedFloat32Array:
	if selection == null:
		return PackedFloat32Array()
	var reply: Dictionary = await _request("splat.selection", {"selection": selection})
	if reply.kind != "splat.selection":
		_report(reply)
		return PackedFloat32Array()
	if reply.header.get("selection") == selection and not reply.blobs.is_empty():
		scores = _scores(reply)
		_update_highlight()
	return scores


## The selected splats' centres drawn now (in the entity's frame; thinned out past
## [member max_highlight_points]); empty when the selection is not drawn.
func get_highlight_points() -> PackedVector3Array:
	return _points if _overlay != null and _overlay.visible else PackedVector3Array()


## Applies [param op] to the last selection: [code]delete[/code]; [code]recolor[/code]
## ([code]color: Color[/code]); [code]tint[/code] ([code]color[/code], [code]amount[/code] 0..1);
## [code]transform[/code] ([code]translation: Vector3[/code], [code]rotation: Quaternion[/code],
## [code]scale: Vector3[/code] or a float, [code]pivot: Vector3[/code], each optional, world:
## a rotation turns the splats about the pivot (default their centre) as it turns things in the
## world, and a scale is along the world's axes, which the entity's frame takes as the diagonal of
## the scale in its axes, exact for a uniform scale or axes that line up); [code]duplicate[/code]
## ([code]offset: Vector3[/code], world); [code]optimize[/code] ([code]cameras:
## Array[Camera3D][/code] and either [code]targets: Array[Image][/code], one per camera at the
## view's size, or [code]instruction: String[/code] with an optional [code]size: Vector2i[/code]
## (default each camera's viewport), then [code]steps[/code], [code]lr[/code]). Other fields
## pass as they are (the protocol's, in the entity's frame). A coroutine; returns
## [code]{asset, splat, changed, seq}[/code] ([code]asset[/code] the new pack's hash,
## [code]splat[/code] the component) or [code]{error, message}[/code]; [signal edit_applied] or
## [signal edit_failed] follows.
func edit(op: String, fields := {}) -> Dictionary:
	if not op in OPS:
		return _fail("bad_request", "edit: op must be one of %s, got '%s'" % [OPS, op])
	await _queue.acquire()
	var result := await _send_edit(op, fields)
	_queue.release()
	return result


## The protocol's camera ([code]{fx, fy, cx, cy, width, height, world_to_camera}[/code], section
## 16) of what [param camera] sees in an image of [param size] pixels (zero: its viewport's size),
## for splats in the frame of an entity at [param entity_transform] (world); or
## [code]{error, message}[/code] for an orthogonal camera.
## [br][br]
## Godot's camera looks down -Z with +Y up; OpenCV's looks down +z with +y down, so a point
## (X, Y, Z) in Godot's camera axes is (X, -Y, -Z) in OpenCV's: F = diag(1, -1, -1). With E the
## entity's transform and C the camera's (each to the world, C without scale), an entity-frame
## point p is at F C^-1 E p in OpenCV camera axes. [code]world_to_camera[/code] (row-major) is
## that map divided by the entity's scale s: the backend wants a rigid matrix, and a camera-space
## point divided by s lands on the same pixel (the pinhole divides by depth).
## [br][br]
## With the camera's projection P for the image's aspect (columns x, y, z, w), a camera point
## lands at NDC x = P.x.x X / -Z - P.z.x and NDC y = P.y.y Y / -Z - P.z.y, and Godot puts NDC on
## pixels as u = (x + 1) W / 2, v = (1 - y) H / 2. In OpenCV axes (x = X, y = -Y, z = -Z):
## u = fx x / z + cx and v = fy y / z + cy with fx = P.x.x W / 2, cx = (1 - P.z.x) W / 2,
## fy = P.y.y H / 2, cy = (1 + P.z.y) H / 2: pixel centres at +0.5, as gsplat's and
## [method Camera3D.unproject_position] have them.
static func camera_view(
	camera: Camera3D, entity_transform: Transform3D, size: Vector2i = Vector2i.ZERO
) -> Dictionary:
	if camera == null:
		return MessageCodec.failure("bad_request", "no camera")
	if size.x <= 0 or size.y <= 0:
		var viewport := camera.get_viewport()
		if viewport == null:
			return MessageCodec.failure("bad_request", "camera '%s' is not in a viewport; give a "
				% camera.name + "size")
		size = Vector2i(viewport.get_visible_rect().size)
	var projection := _projection(camera, float(size.x) / float(size.y))
	if projection == null:
		return MessageCodec.failure("bad_request", "camera '%s' is orthogonal; views are " % (
			camera.name) + "pinhole cameras (perspective or frustum)")
	var pose := camera.get_camera_transform() if camera.is_inside_tree() else camera.transform
	pose.basis = pose.basis.orthonormalized()
	var to_camera := pose.affine_inverse() * entity_transform
	var scale := _uniform_scale(entity_transform.basis)
	to_camera.basis = to_camera.basis * (1.0 / scale)
	to_camera.origin /= scale
	var rows: Array = []
	var flip := [1.0, -1.0, -1.0]
	for i in 3:
		rows.append_array([flip[i] * to_camera.basis.x[i], flip[i] * to_camera.basis.y[i],
			flip[i] * to_camera.basis.z[i], flip[i] * to_camera.origin[i]])
	rows.append_array([0.0, 0.0, 0.0, 1.0])
	return {
		"fx": projection.x.x * size.x / 2.0,
		"fy": projection.y.y * size.y / 2.0,
		"cx": (1.0 - projection.z.x) * size.x / 2.0,
		"cy": (1.0 + projection.z.y) * size.y / 2.0,
		"width": size.x,
		"height": size.y,
		"world_to_camera": rows,
	}


## [param mask] as one mask blob of a masks selection: [code]u8 [height, width][/code], its
## luminance (a copy converted when it is in another format). Returns a message_codec.gd blob,
## or [code]{"error": "bad_image", "message": text}[/code].
static func mask_blob(mask: Image) -> Dictionary:
	if mask == null or mask.is_empty():
		return MessageCodec.failure("bad_image", "the mask is empty")
	var gray := mask
	if mask.get_format() != Image.FORMAT_L8 or mask.has_mipmaps() or mask.is_compressed():
		gray = Image.new()
		gray.copy_from(mask)
		if gray.is_compressed() and gray.decompress() != OK:
			return MessageCodec.failure("bad_image", "cannot decompress the mask (format %d)"
				% mask.get_format())
		gray.clear_mipmaps()
		gray.convert(Image.FORMAT_L8)
	return MessageCodec.make_blob("u8", [gray.get_height(), gray.get_width()], gray.get_data())


func _bind() -> void:
	var world := get_world()
	if world != _world:
		SessionLookup.reconnect(_world, world, &"splat_updated", _on_world_splat_updated)
		_world = world
	var session := world.get_session() if world != null else null
	if session != _session:
		SessionLookup.reconnect(_session, session, &"message_received", _on_session_message)
		_session = session


# One selection request, after the ones before it: its fields as the protocol has them.
func _select(entity: String, fields: Dictionary, combine: String, blobs: Array = []) -> Dictionary:
	if not combine in COMBINES:
		return _fail("bad_request", "combine must be one of %s, got '%s'" % [COMBINES, combine])
	await _queue.acquire()
	var result := await _send_select(entity, fields, combine, blobs)
	_queue.release()
	return result


func _send_select(entity: String, fields: Dictionary, combine: String, blobs: Array) -> Dictionary:
	var base := current_base(entity)
	if base.is_empty():
		return _fail("not_found", "entity '%s' shows no splats in the world" % entity)
	var header := fields.duplicate()
	header.merge({"entity": entity, "base": base})
	if show_selection:
		header["labels"] = true
	var chained := selection != null and selection_entity == entity and selection_base == base
	var step := {"entity": entity, "fields": fields, "combine": combine, "blobs": blobs}
	if combine != "replace" and chained:
		header.merge({"combine": combine, "selection": selection})
	elif combine in ["subtract", "intersect"]:
		# Nothing of this version is selected: so is nothing after.
		_set_selection(entity, base, null, 0, selection_total if selection_entity == entity else 0)
		_steps.clear()
		return {"selection": null, "count": 0, "total": selection_total, "base": base}
	var reply: Dictionary = await _request("splat.select", header, blobs)
	if reply.kind != "splat.select":
		return _report(reply)
	var got: Dictionary = reply.header
	var count := int(got.get("count", 0))
	var total := int(got.get("total", 0))
	scores = _scores(reply) if not reply.blobs.is_empty() else PackedFloat32Array()
	if not chained or combine == "replace":
		_steps.clear()
	if _steps.size() < MAX_STEPS:
		_steps.append(step)
	_stale = false
	_set_selection(entity, base, got.get("selection"), count, total)
	return {"selection": selection, "count": count, "total": total, "base": base}


func _set_selection(entity: String, base: String, id: Variant, count: int, total: int) -> void:
	var whole: bool = typeof(id) == TYPE_FLOAT and is_finite(id) and id == floorf(id)
	selection = int(id) if whole else id  # JSON numbers come as floats.
	selection_entity = entity
	selection_base = base
	selection_count = count
	selection_total = total
	if id == null:
		scores = PackedFloat32Array()
	_update_highlight()
	selection_changed.emit(entity, count, total)


func _send_edit(op: String, fields: Dictionary) -> Dictionary:
	if selection == null:
		return _fail("bad_request", "edit %s: nothing is selected; select some splats first" % op)
	var entity := selection_entity
	var frame := _frame(entity)
	if frame.has("error"):
		return _fail(frame.error, frame.message)
	var made := _edit_fields(op, fields, frame)
	if made.has("error"):
		return _fail(made.error, "edit %s: %s" % [op, made.message])
	var header: Dictionary = made.header
	header.merge({"entity": entity, "selection": selection, "base": selection_base, "op": op})
	_optimizing = entity if op == "optimize" else ""
	var reply: Dictionary = await _request("splat.edit", header, made.blobs,
		optimize_timeout_s if op == "optimize" else 0.0)
	_optimizing = ""
	var splat: Variant = reply.header.get("asset")
	var hash: Variant = splat.get("asset") if splat is Dictionary else null
	if reply.kind != "splat.edit":
		return _report(reply)
	if not hash is String:
		return _fail("bad_message", "a splat.edit reply without a splat asset: %s" % [reply.header])
	_stale = true
	_edited_to = hash
	if _overlay != null:
		_overlay.visible = false  # The points are of the version before.
	edit_applied.emit(entity, hash)
	return {"asset": hash, "splat": splat, "changed": int(reply.header.get("changed", 0)),
		"seq": int(reply.header.get("seq", -1))}


# The fields of op [param op] as the protocol has them, from [param fields] (world, Godot types)
# and the entity's [param frame]: {header, blobs} or {error, message}.
func _edit_fields(op: String, fields: Dictionary, frame: Dictionary) -> Dictionary:
	var header := {}
	var blobs: Array = []
	var to_entity: Transform3D = frame.inverse
	var turn: Quaternion = frame.rotation
	for key: String in fields:
		var value: Variant = fields[key]
		match [key, typeof(value)]:
			["color", TYPE_COLOR]:
				header[key] = [clampf(value.r, 0, 1), clampf(value.g, 0, 1), clampf(value.b, 0, 1)]
			["translation", TYPE_VECTOR3], ["offset", TYPE_VECTOR3]:
				header[key] = _vec(to_entity.basis * value)
			["pivot", TYPE_VECTOR3]:
				header[key] = _vec(to_entity * value)
			["rotation", TYPE_QUATERNION]:
				header[key] = _quat((turn.inverse() * value * turn).normalized())
			["scale", TYPE_VECTOR3], ["scale", TYPE_FLOAT], ["scale", TYPE_INT]:
				var factors: Vector3 = value if value is Vector3 else Vector3.ONE * float(value)
				header[key] = _vec(_scale_in(Basis(turn), factors))
			["cameras", TYPE_ARRAY], ["targets", TYPE_ARRAY], ["size", TYPE_VECTOR2I]:
				pass  # With the views, below.
			_:
				header[key] = value
	if op == "optimize" and fields.has("cameras"):
		var views := _views(fields, frame.transform)
		if views.has("error"):
			return views
		header["views"] = views.views
		blobs = views.blobs
	return {"header": header, "blobs": blobs}


# The views of an optimisation: {views, blobs} (the targets') or {error, message}.
func _views(fields: Dictionary, entity_transform: Transform3D) -> Dictionary:
	var cameras: Array = fields.cameras
	var targets: Array = fields.get("targets", [])
	if cameras.is_empty() or cameras.size() > MAX_VIEWS:
		return MessageCodec.failure("bad_request", "1..%d cameras, got %d" % [
			MAX_VIEWS, cameras.size()])
	if not fields.has("instruction") and targets.size() != cameras.size():
		return MessageCodec.failure("bad_request", "one target image per camera (or an "
			+ "instruction), got %d for %d cameras" % [targets.size(), cameras.size()])
	var views: Array = []
	var blobs: Array = []
	for i in cameras.size():
		var size: Vector2i = fields.get("size", Vector2i.ZERO)
		if i < targets.size() and targets[i] is Image:
			size = Vector2i(targets[i].get_width(), targets[i].get_height())
			var blob := ContinuumGeneratorScript.image_blob(targets[i])
			if blob.has("error"):
				return MessageCodec.failure(blob.error, "target %d: %s" % [i, blob.message])
			blobs.append(blob)
		var view := camera_view(cameras[i] as Camera3D, entity_transform, size)
		if view.has("error"):
			return MessageCodec.failure(view.error, "camera %d: %s" % [i, view.message])
		views.append({"camera": view})
	if fields.has("instruction"):
		blobs.clear()
	return {"views": views, "blobs": blobs}


# Entity [param entity]'s frame: {transform (entity -> world), inverse, rotation, scale}, or
# {error, message}.
func _frame(entity: String) -> Dictionary:
	_bind()
	var world := get_world()
	if world == null:
		return MessageCodec.failure("not_connected", "ContinuumSplatEditor '%s' has no world (set "
			% name + "world_path)")
	var node := world.get_entity_node(entity)
	if node == null:
		return MessageCodec.failure("not_found", "the world has no entity '%s'" % entity)
	var transform := node.global_transform
	return {
		"transform": transform,
		"inverse": transform.affine_inverse(),
		"rotation": transform.basis.get_rotation_quaternion(),
		"scale": _uniform_scale(transform.basis),
	}


func _request(kind: String, fields: Dictionary, blobs: Array = [], timeout_s := 0.0) -> Dictionary:
	_bind()
	if _session == null:
		var none: Array[PackedByteArray] = []
		return {"kind": "error", "header": {"re": null, "code": "not_connected",
			"message": "ContinuumSplatEditor '%s' has no session (its world has none)" % name},
			"blobs": none}
	return await _session.request(kind, fields, blobs, timeout_s)


# Signals an error reply and returns it as {error, message}.
func _report(reply: Dictionary) -> Dictionary:
	var header: Dictionary = reply.get("header", {})
	return _fail(str(header.get("code", reply.get("kind"))), str(header.get("message", "")))


func _fail(code: String, message: String) -> Dictionary:
	edit_failed.emit(code, message)
	return MessageCodec.failure(code, message)


func _splat_node(entity: String) -> SplatInstance3D:
	var world := get_world()
	var node := world.get_entity_node(entity) if world != null else null
	return EntityBuilder.find_splat_node(node) if node != null else null


# Draws the selected splats as points when the world holds the version they were selected of.
func _update_highlight() -> void:
	var world := get_world()
	var cloud: SplatCloud = world.get_splat_cloud(selection_entity) if world != null else null
	var usable: bool = show_selection and selection != null and cloud != null \
		and world.splat_hashes.get(selection_entity) == selection_base \
		and scores.size() == cloud.count and selection_count > 0
	if not usable:
		_points = PackedVector3Array()
		if _overlay != null:
			_overlay.visible = false
			_overlay.multimesh.instance_count = 0
		return
	var picked := PackedInt32Array()
	for i in scores.size():
		if scores[i] > 0.5:
			picked.append(i)
	var stride := maxi(1, ceili(picked.size() / float(max_highlight_points)))
	var positions := cloud.get_positions()
	var buffer := PackedFloat32Array()
	buffer.resize(ceili(picked.size() / float(stride)) * 12)
	var at := 0
	for k in range(0, picked.size(), stride):
		var p := positions[picked[k]]
		buffer[at] = 1.0
		buffer[at + 3] = p.x
		buffer[at + 5] = 1.0
		buffer[at + 7] = p.y
		buffer[at + 10] = 1.0
		buffer[at + 11] = p.z
		at += 12
	_points = PackedVector3Array()
	for k in range(0, picked.size(), stride):
		_points.append(positions[picked[k]])
	var overlay := _get_overlay()
	overlay.multimesh.instance_count = at / 12
	if at > 0:
		overlay.multimesh.buffer = buffer
	overlay.visible = true
	overlay.global_transform = _splat_node(selection_entity).global_transform


## The point overlay that shows the selection (made on first use); for tests and tools.
func _get_overlay() -> MultiMeshInstance3D:
	if _overlay != null:
		return _overlay
	_material = StandardMaterial3D.new()
	_material.shading_mode = BaseMaterial3D.SHADING_MODE_UNSHADED
	_material.use_point_size = true
	_material.point_size = highlight_point_size
	_material.albedo_color = highlight_color
	_material.no_depth_test = true
	_material.render_priority = 1
	var points := PointMesh.new()
	points.material = _material
	var multimesh := MultiMesh.new()
	multimesh.transform_format = MultiMesh.TRANSFORM_3D
	multimesh.mesh = points
	_overlay = MultiMeshInstance3D.new()
	_overlay.name = "SelectionPoints"
	_overlay.multimesh = multimesh
	_overlay.top_level = true
	_overlay.cast_shadow = GeometryInstance3D.SHADOW_CASTING_SETTING_OFF
	add_child(_overlay, false, Node.INTERNAL_MODE_BACK)
	return _overlay


func _on_world_splat_updated(entity: String, _hash: String) -> void:
	if entity == selection_entity:
		_update_highlight()  # Hidden when the version shown is not the selection's.


func _on_session_message(kind: String, header: Dictionary, _blobs: Array) -> void:
	if kind != "splat.progress" or _optimizing.is_empty() or header.get("entity") != _optimizing:
		return
	var step: Variant = header.get("step")
	var steps: Variant = header.get("steps")
	if typeof(step) in [TYPE_INT, TYPE_FLOAT] and typeof(steps) in [TYPE_INT, TYPE_FLOAT]:
		edit_progressed.emit(int(step), int(steps))


static func _scores(reply: Dictionary) -> PackedFloat32Array:
	var descriptors: Variant = reply.header.get("blobs")
	if not descriptors is Array or descriptors.is_empty() or descriptors[0].get("dtype") != "f32":
		return PackedFloat32Array()
	return (reply.blobs[0] as PackedByteArray).to_float32_array()


# The projection [param camera] renders with at [param aspect]; null for an orthogonal one.
static func _projection(camera: Camera3D, aspect: float) -> Variant:
	var flip := camera.keep_aspect == Camera3D.KEEP_WIDTH
	match camera.projection:
		Camera3D.PROJECTION_PERSPECTIVE:
			return Projection.create_perspective(camera.fov, aspect, camera.near, camera.far, flip)
		Camera3D.PROJECTION_FRUSTUM:
			return Projection.create_frustum_aspect(camera.size, aspect, camera.frustum_offset,
				camera.near, camera.far, flip)
	return null


# The scale of [param basis] taken as uniform: the cube root of its volume factor.
static func _uniform_scale(basis: Basis) -> float:
	return maxf(pow(absf(basis.determinant()), 1.0 / 3.0), 1e-12)


# A scale by [param factors] along the world's axes, in the axes of an entity turned by
# [param turn]: the diagonal of R^T S R (entity axis i takes sum_j R[j][i]^2 s_j).
static func _scale_in(turn: Basis, factors: Vector3) -> Vector3:
	var out := Vector3()
	for i in 3:
		var axis: Vector3 = turn[i]
		out[i] = axis.x * axis.x * factors.x + axis.y * axis.y * factors.y \
			+ axis.z * axis.z * factors.z
	return out


static func _vec(v: Vector3) -> Array:
	return [v.x, v.y, v.z]


static func _quat(q: Quaternion) -> Array:
	return [q.x, q.y, q.z, q.w]


## Runs this editor's requests one at a time, in the order they were asked.
class _Queue:
	extends RefCounted

	## The request running ended; the next may start.
	signal released

	var busy: bool = false

	## Waits until no request runs, then holds the queue.
	func acquire() -> void:
		while busy:
			await released
		busy = true

	## Lets the next request start.
	func release() -> void:
		busy = false
		released.emit()
