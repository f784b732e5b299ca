extends "res://tests/script_main.gd"
## Splat editing (bridge/PROTOCOL.md section 16) against a real backend serving scenes/splats,
## driven by pytest (tests/integration/test_godot_splat_edit.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/splat_edit_probe.gd \
##         -- --continuum-port=N --scenario=edit [--timeout=S]
##
## A ContinuumSession, a ContinuumWorld and a ContinuumSplatEditor, as a game would use them, on
## entity "cloud" (a torus placed and turned in the world). Prints result lines
## "CONTINUUM_RESULT {json}" (the last one has "ok") and quits with 0 when the scenario passed,
## 1 when not, 2 on bad arguments.
##
## Scenario "edit":
##   select   a sphere, a box and a ray brush, in world coordinates, against what the plugin's
##            SplatCloud says lies there; masks through a Camera3D (the left or the right half of
##            its image) against where Camera3D.unproject_position puts the splats
##   recolor  the sphere's splats red: edit_applied with the new pack, the world swaps to it
##            (splat_updated), the selected splats' colours changed and every other splat's
##            octets identical (the decoded SplatCloud sections before and after)
##   stale    another edit of the same selection: edit_failed "conflict"
##   undo     world.undo: the world shows the old version again, its octets as before
##   optimize the sphere's splats fitted for 20 steps to a red image seen by the scene's camera:
##            edit_progressed as `splat.progress` pushes come, then a new version

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")

const SCENARIOS := ["edit"]
const ENTITY := "cloud"
## Seconds to wait for the world to show a version.
const SHOW_WAIT_S := 30.0
## The masks' camera: the scene's camera, in a viewport this size.
const VIEW_SIZE := Vector2i(160, 120)
const SH_C0 := 0.28209479177387814

var _session: SessionScript
var _world: ContinuumWorldScript
var _editor: SplatEditorScript
var _signals: Array = []  # [name, ...] in the order the editor and the world emitted them
var _errors: Array = []


func _main() -> void:
	var scenario := scenario_arg(SCENARIOS)
	if scenario.is_empty():
		return
	var timeout_s := float(args.get("timeout", "150"))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"signals": _signals, "errors": _errors}))
	OS.low_processor_usage_mode_sleep_usec = 1000
	_session = probe_session(60.0, _errors)
	_session.message_received.connect(func(kind: String, header: Dictionary, _b: Array) -> void:
		if kind == "splat.progress":
			_signals.append(["splat.progress", header.get("step"), header.get("steps")]))
	_world = ContinuumWorldScript.new()
	_world.name = "World"
	_world.session_path = _session.get_path()
	_world.get_asset_client().cache_dir = "user://continuum_tests/splat_edit_probe_%d" % (
		Time.get_ticks_usec())
	_world.splat_updated.connect(func(id: String, hash: String) -> void: _signals.append(
		["splat_updated", id, hash]))
	root.add_child(_world)
	_editor = SplatEditorScript.new()
	_editor.name = "SplatEditor"
	_editor.world_path = _world.get_path()
	_editor.selection_changed.connect(func(id: String, count: int, total: int) -> void: (
		_signals.append(["selection_changed", id, count, total])))
	_editor.edit_applied.connect(func(id: String, asset: String) -> void: _signals.append(
		["edit_applied", id, asset]))
	_editor.edit_failed.connect(func(code: String, message: String) -> void: _signals.append(
		["edit_failed", code, message]))
	_editor.edit_progressed.connect(func(step: int, steps: int) -> void: _signals.append(
		["edit_progressed", step, steps]))
	root.add_child(_editor)
	_session.connect_to_backend()
	if not await _until(func() -> bool: return _world.splat_hashes.has(ENTITY)):
		finish(1, {"scenario": scenario, "ok": false, "error": "the world never showed the "
			+ "splats", "errors": _errors})
		return
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	result["signals"] = _signals.filter(func(s: Array) -> bool: return s[0] != "selection_changed")
	finish(0 if result.get("ok", false) else 1, result)


func _run_edit() -> Dictionary:
	var node := _world.get_entity_node(ENTITY)
	var entity := node.global_transform
	var old_hash: String = _world.splat_hashes[ENTITY]
	var old_cloud := _world.get_splat_cloud(ENTITY)
	var positions := old_cloud.get_positions()
	# 1. A sphere about a point of the ring (world), a box turned with the entity, a ray brush.
	var centre := entity * Vector3(0.55, 0.0, 0.0)
	var sphere := await _editor.select_sphere(ENTITY, centre, 0.2)
	var sphere_scores := _editor.scores
	var box_centre := Vector3(0.0, 0.55, 0.0)
	var box := await _editor.select_box(ENTITY, entity * box_centre, Vector3(0.3, 0.2, 0.4),
		entity.basis.get_rotation_quaternion())
	var camera := _scene_camera()
	var target := 700  # a splat of the ring's front, facing the camera
	var aim := entity * positions[target]
	var from := camera.global_position
	var ray := await _editor.select_ray(ENTITY, from, aim - from, 0.05)
	var ray_scores := _editor.scores
	var ray_nearest := INF
	for i in positions.size():
		if ray_scores.size() == positions.size() and ray_scores[i] > 0.5:
			ray_nearest = minf(ray_nearest, (entity * positions[i]).distance_to(aim))
	# 2. Masks: the left half, then the right half, of the scene camera's image.
	var masks := {}
	for side: String in ["left", "right"]:
		masks[side] = await _mask_selection(camera, side, entity, positions)
	# 3. Recolour the sphere's splats red.
	sphere = await _editor.select_sphere(ENTITY, centre, 0.2)
	sphere_scores = _editor.scores
	var selected := PackedInt32Array()
	for i in sphere_scores.size():
		if sphere_scores[i] > 0.5:
			selected.append(i)
	var made := await _editor.edit("recolor", {"color": Color(1, 0, 0)})
	var new_hash: String = made.get("asset", "")
	var shown := await _until(func() -> bool: return _world.splat_hashes[ENTITY] == new_hash)
	var new_cloud := _world.get_splat_cloud(ENTITY)
	var diff := _compare(old_cloud, new_cloud, selected)
	# 4. The same selection again: of the version before.
	var stale := await _editor.edit("tint", {"color": Color(0, 0, 1), "amount": 0.5})
	# 5. Undo.
	var undone := await _world.undo()
	var back := await _until(func() -> bool: return _world.splat_hashes[ENTITY] == old_hash)
	var again := _world.get_splat_cloud(ENTITY)
	var same_again := again != null and again.colors == old_cloud.colors \
		and again.sh == old_cloud.sh and again.means == old_cloud.means
	# 6. Fit the sphere's splats to a red view.
	var refit := await _editor.select_sphere(ENTITY, centre, 0.2)
	var red := Image.create_empty(VIEW_SIZE.x, VIEW_SIZE.y, false, Image.FORMAT_RGB8)
	red.fill(Color(1, 0, 0))
	var started := Time.get_ticks_msec()
	var fitted := await _editor.edit("optimize", {"cameras": [camera], "targets": [red],
		"steps": 20})
	var fit_s := (Time.get_ticks_msec() - started) / 1000.0
	await create_timer(1.0).timeout  # Pushes that come after the reply are noted too.
	return {
		"ok": shown and back and not made.has("error") and not fitted.has("error"),
		"old_hash": old_hash,
		"total": positions.size(),
		"sh_degree": old_cloud.sh_degree,
		"sphere": sphere,
		"sphere_expected": _count_near(positions, entity.affine_inverse() * centre, 0.2),
		"box": box,
		"box_expected": _count_in_box(positions, box_centre, Vector3(0.3, 0.2, 0.4)),
		"ray": ray,
		"ray_nearest_to_aim": ray_nearest,
		"masks": masks,
		"selected": Array(selected),
		"recolor": made,
		"new_hash": new_hash,
		"shown": shown,
		"diff": diff,
		"stale": stale,
		"undo": {"kind": undone.kind, "code": undone.header.get("code")},
		"back": back,
		"same_again": same_again,
		"refit": refit,
		"optimize": fitted,
		"optimize_s": fit_s,
	}


# The scene's camera pose, as a Camera3D in a viewport of VIEW_SIZE.
func _scene_camera() -> Camera3D:
	var viewport := SubViewport.new()
	viewport.size = VIEW_SIZE
	viewport.render_target_update_mode = SubViewport.UPDATE_DISABLED
	root.add_child(viewport)
	var camera := Camera3D.new()
	viewport.add_child(camera)
	camera.current = true
	var scene_camera := _world.get_entity_node("camera")
	camera.global_transform = scene_camera.global_transform
	camera.fov = 50.0
	camera.near = 0.05
	return camera


# Selects with a mask of [param side] of the camera's image; how the selection agrees with
# where Camera3D puts the splats: precision (selected splats that project on that side),
# the selected count, and the splats that project there.
func _mask_selection(
	camera: Camera3D, side: String, entity: Transform3D, positions: PackedVector3Array
) -> Dictionary:
	var mask := Image.create_empty(VIEW_SIZE.x, VIEW_SIZE.y, false, Image.FORMAT_L8)
	var half := VIEW_SIZE.x / 2
	mask.fill_rect(Rect2i(0 if side == "left" else half, 0, half, VIEW_SIZE.y), Color.WHITE)
	var cameras: Array[Camera3D] = [camera]
	var images: Array[Image] = [mask]
	var picked := await _editor.select_masks(ENTITY, cameras, images)
	var scores := _editor.scores
	var inside := 0
	var on_side := 0
	var in_view := 0
	for i in positions.size():
		var pixel := camera.unproject_position(entity * positions[i])
		var seen := Rect2(Vector2.ZERO, Vector2(VIEW_SIZE)).has_point(pixel)
		var there := seen and (pixel.x < half if side == "left" else pixel.x >= half)
		in_view += 1 if seen else 0
		on_side += 1 if there else 0
		if scores.size() == positions.size() and scores[i] > 0.5 and there:
			inside += 1
	return {"reply": picked, "selected_on_side": inside, "projected_on_side": on_side,
		"in_view": in_view}


# How the new cloud differs from the old: per splat, whether its colour texel, SH octets and
# mean changed, split by selected and not; the selected splats' new base colour.
func _compare(old: SplatCloud, new: SplatCloud, selected: PackedInt32Array) -> Dictionary:
	if new == null or new.count != old.count:
		return {"error": "the new cloud has %s splats" % (new.count if new != null else "no")}
	var picked := {}
	for i in selected:
		picked[i] = true
	var sh_bytes := old.sh_texels * 8
	var changed := {"selected_color": 0, "selected_sh_zero": 0, "other_color": 0, "other_sh": 0,
		"other_mean": 0, "selected_mean": 0}
	var colors: Array = []
	for i in old.count:
		var color_changed := old.colors.slice(i * 8, i * 8 + 8) != new.colors.slice(i * 8, i * 8 + 8)
		var old_sh := old.sh.slice(i * sh_bytes, (i + 1) * sh_bytes)
		var new_sh := new.sh.slice(i * sh_bytes, (i + 1) * sh_bytes)
		var mean_changed := old.means.slice(i * 16, i * 16 + 16) != new.means.slice(
			i * 16, i * 16 + 16)
		if picked.has(i):
			changed.selected_color += 1 if color_changed else 0
			changed.selected_mean += 1 if mean_changed else 0
			var zero := true
			for k in range(0, new_sh.size(), 2):
				zero = zero and absf(new_sh.decode_half(k)) == 0.0
			changed.selected_sh_zero += 1 if zero else 0
			if colors.size() < 5:
				colors.append([new.colors.decode_half(i * 8) * SH_C0 + 0.5,
					new.colors.decode_half(i * 8 + 2) * SH_C0 + 0.5,
					new.colors.decode_half(i * 8 + 4) * SH_C0 + 0.5])
		else:
			changed.other_color += 1 if color_changed else 0
			changed.other_sh += 1 if old_sh != new_sh else 0
			changed.other_mean += 1 if mean_changed else 0
	changed["selected_colors"] = colors
	return changed


static func _count_near(positions: PackedVector3Array, centre: Vector3, radius: float) -> int:
	var count := 0
	for p in positions:
		count += 1 if p.distance_to(centre) <= radius else 0
	return count


static func _count_in_box(positions: PackedVector3Array, centre: Vector3, half: Vector3) -> int:
	var count := 0
	for p in positions:
		var d := (p - centre).abs()
		count += 1 if d.x <= half.x and d.y <= half.y and d.z <= half.z else 0
	return count


func _until(condition: Callable) -> bool:
	var until := Time.get_ticks_msec() + int(SHOW_WAIT_S * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > until:
			return false
		await process_frame
	return true
