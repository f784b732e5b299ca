# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## Tests of addons/continuum/splats/splat_editor.gd: the camera of a view checked numerically
## against Camera3D (intrinsics, world_to_camera, a point projected through the dict lands where
## unproject_position puts it) and mask blobs, without a backend; then against a fake backend
## (fake_splat_backend.gd) serving one entity placed, turned and scaled in the world: box,
## sphere, ray and mask selections mapped into the entity's frame, chained combines, edits with
## their fields mapped too, the world swapping to the new version, a stale edit refused, undo,
## optimisation progress, the highlight points, reselect and the failures.

const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")
const WorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeSplatBackend = preload("res://tests/unit/splats/fake_splat_backend.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

var _fixture: SplatEditFixture
var _backend: FakeSplatBackend
var _session: SessionScript
var _world: WorldScript
var _editor: SplatEditorScript
var _others: Array[Node] = []
var _events: Array = []  # [signal name, args...] in the order the editor emitted them


func after_each() -> void:
	await next_frame()
	for node: Variant in [_fixture, _editor] + _others:
		if is_instance_valid(node):
			node.free()
	_others.clear()
	_events.clear()


func test_camera_view_of_a_simple_camera() -> void:
	var camera := _camera_in_viewport(Vector2i(640, 480))
	camera.fov = 90.0  # vertical: tan(45) = 1
	var view := SplatEditorScript.camera_view(camera, Transform3D.IDENTITY)
	assert_eq([view.width, view.height], [640, 480])
	assert_almost_eq(view.fy, 240.0, 1e-3, "fy = H/2 / tan(fov/2)")
	assert_almost_eq(view.fx, 240.0, 1e-3, "square pixels")
	assert_almost_eq(view.cx, 320.0, 1e-4)
	assert_almost_eq(view.cy, 240.0, 1e-4)
	# A camera at the origin looking down -Z: OpenCV axes are x, -y, -z.
	_assert_matrix(view.world_to_camera, [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1])
	var sized := SplatEditorScript.camera_view(camera, Transform3D.IDENTITY, Vector2i(320, 320))
	assert_eq([sized.width, sized.height], [320, 320])
	assert_almost_eq(sized.fy, 160.0, 1e-3, "the fov is vertical: fy follows the height")


func test_camera_view_projects_as_unproject_position() -> void:
	var entity := Transform3D(Basis(Vector3(0.3, 1.0, -0.2).normalized(), 0.7).scaled(
		Vector3.ONE * 1.5), Vector3(0.4, 1.1, -2.0))
	for setup: Array in [[Camera3D.KEEP_HEIGHT, Vector2.ZERO], [Camera3D.KEEP_WIDTH,
			Vector2.ZERO], [Camera3D.KEEP_HEIGHT, Vector2(0.1, -0.05)]]:
		var camera := _camera_in_viewport(Vector2i(640, 360))
		camera.keep_aspect = setup[0]
		if setup[1] != Vector2.ZERO:
			camera.projection = Camera3D.PROJECTION_FRUSTUM
			camera.size = 0.05
			camera.frustum_offset = setup[1]
		camera.fov = 55.0
		camera.look_at_from_position(Vector3(1.5, 2.0, 2.5), Vector3(0.2, 1.0, -1.5))
		var view := SplatEditorScript.camera_view(camera, entity)
		var m: Array = view.world_to_camera
		var rotation := Basis(Vector3(m[0], m[4], m[8]), Vector3(m[1], m[5], m[9]),
			Vector3(m[2], m[6], m[10]))
		assert_true(rotation.is_equal_approx(rotation.orthonormalized()), "rigid")
		assert_almost_eq(rotation.determinant(), 1.0, 1e-5)
		assert_eq([m[12], m[13], m[14], m[15]], [0.0, 0.0, 0.0, 1.0])
		for local: Vector3 in [Vector3.ZERO, Vector3(0.3, -0.2, 0.1), Vector3(-0.5, 0.4, 0.6)]:
			var world := entity * local
			var x: float = m[0] * local.x + m[1] * local.y + m[2] * local.z + m[3]
			var y: float = m[4] * local.x + m[5] * local.y + m[6] * local.z + m[7]
			var z: float = m[8] * local.x + m[9] * local.y + m[10] * local.z + m[11]
			assert_true(z > 0.0, "in front: %s" % z)
			var pixel := Vector2(view.fx * x / z + view.cx, view.fy * y / z + view.cy)
			var godot := camera.unproject_position(world)
			assert_true(pixel.distance_to(godot) < 1e-2, "%s: %s vs Godot's %s" % [
				setup, pixel, godot])
			var depth := (camera.global_transform.affine_inverse() * world).z
			assert_almost_eq(z, -depth / 1.5, 1e-4, "depth in the entity's scale")
		camera.get_parent().free()


func test_an_orthogonal_camera_has_no_view() -> void:
	var camera := _camera_in_viewport(Vector2i(64, 64))
	camera.projection = Camera3D.PROJECTION_ORTHOGONAL
	assert_eq(SplatEditorScript.camera_view(camera, Transform3D.IDENTITY).error, "bad_request")


func test_mask_blob_is_the_luminance() -> void:
	var mask := Image.create_empty(4, 2, false, Image.FORMAT_RGBA8)
	mask.set_pixel(1, 0, Color.WHITE)
	mask.set_pixel(3, 1, Color.WHITE)
	var blob := SplatEditorScript.mask_blob(mask)
	assert_eq([blob.dtype, blob.shape], ["u8", [2, 4]])
	var set_at: Array = []
	for i in blob.data.size():
		if blob.data[i] != 0:
			set_at.append(i)
	assert_eq(set_at, [1, 7], "row-major, one octet a pixel")
	assert_eq(mask.get_format(), Image.FORMAT_RGBA8, "the caller's image is left as it was")
	assert_eq(SplatEditorScript.mask_blob(Image.new()).error, "bad_image")


func test_select_sphere_in_the_entity_frame() -> void:
	await _serve()
	var corner := Vector3(0.3, 0.3, 0.3)
	var picked := await _editor.select_sphere("cloud", _to_world(corner), 0.25)
	assert_eq([picked.count, picked.total], [1, 64])
	assert_eq(picked.base, _world.splat_hashes.cloud)
	var header: Dictionary = _backend.headers("splat.select")[0]
	assert_true(_v(header.center).is_equal_approx(corner), str(header.center))
	assert_almost_eq(header.radius, 0.125, 1e-6, "the radius in the entity's scale")
	assert_eq([header.entity, header.base, header.mode], ["cloud", picked.base, "sphere"])
	assert_false(header.has("combine") or header.has("selection"))
	assert_eq(_events, [["selection_changed", "cloud", 1, 64]])
	var wider := await _editor.select_sphere("cloud", _to_world(corner), 0.45)
	assert_eq(wider.count, 4, "the corner and its three neighbours, 0.2 away")
	assert_eq([_editor.selection, _editor.selection_count], [wider.selection, 4])


func test_select_box_turned_with_the_entity() -> void:
	await _serve()
	var turn := _entity().global_basis.get_rotation_quaternion()
	# The z = 0.3 layer's middle four: the box turns with the entity, so it lines up with its axes.
	var picked := await _editor.select_box("cloud", _to_world(Vector3(0, 0, 0.3)),
		Vector3(0.5, 0.5, 0.1), turn)
	assert_eq(picked.count, 4)
	var header: Dictionary = _backend.headers("splat.select")[0]
	assert_true(_v(header.half_size).is_equal_approx(Vector3(0.25, 0.25, 0.05)))
	assert_true(_q(header.rotation).is_equal_approx(Quaternion.IDENTITY), str(header.rotation))
	assert_true(_v(header.center).is_equal_approx(Vector3(0, 0, 0.3)))
	# A box square to the world is turned back by the entity's turn in its frame.
	await _editor.select_box("cloud", _to_world(Vector3.ZERO), Vector3.ONE)
	var square: Quaternion = _q(_backend.headers("splat.select")[1].rotation)
	assert_true(absf(square.dot(turn.inverse())) > 1.0 - 1e-6, "%s" % square)


func test_select_ray_meets_the_nearest_splat() -> void:
	await _serve()
	var origin := _to_world(Vector3(0.3, 0.3, 2.0))
	var direction := _entity().global_basis * Vector3(0, 0, -1)
	var picked := await _editor.select_ray("cloud", origin, direction, 0.1, "replace", 10.0)
	assert_eq(picked.count, 1, "the first splat along the ray only")
	var header: Dictionary = _backend.headers("splat.select")[0]
	assert_true(_v(header.direction).is_equal_approx(Vector3(0, 0, -1)), str(header.direction))
	assert_true(_v(header.origin).is_equal_approx(Vector3(0.3, 0.3, 2.0)))
	assert_almost_eq(header.radius, 0.05, 1e-6)
	assert_almost_eq(header.max_distance, 5.0, 1e-6)
	assert_eq(_editor.scores[_index(Vector3(0.3, 0.3, 0.3))], 1.0, "scores came with it")
	var missed := await _editor.select_ray("cloud", origin, -direction, 0.1)
	assert_eq(missed.count, 0, "pointing away meets nothing")


func test_combines_chain_on_the_last_selection() -> void:
	await _serve()
	var a := _to_world(Vector3(0.3, 0.3, 0.3))
	var b := _to_world(Vector3(-0.3, -0.3, -0.3))
	var first := await _editor.select_sphere("cloud", a, 0.25)
	var added := await _editor.select_sphere("cloud", b, 0.25, "add")
	assert_eq(added.count, 2)
	var headers := _backend.headers("splat.select")
	assert_eq([headers[1].combine, headers[1].selection], ["add", first.selection])
	var taken := await _editor.select_sphere("cloud", a, 0.25, "subtract")
	assert_eq(taken.count, 1)
	assert_eq(_backend.headers("splat.select")[2].selection, added.selection, "chained")
	var both := await _editor.select_sphere("cloud", b, 0.25, "intersect")
	assert_eq(both.count, 1)
	_editor.clear_selection()
	assert_eq([_editor.selection, _editor.selection_count], [null, 0])
	var nothing := await _editor.select_sphere("cloud", b, 0.25, "subtract")
	assert_eq([nothing.selection, nothing.count], [null, 0], "nothing minus anything")
	assert_eq(_backend.headers("splat.select").size(), 4, "without asking the backend")
	var fresh := await _editor.select_sphere("cloud", b, 0.25, "add")
	assert_eq(fresh.count, 1, "an add to nothing is a new selection")
	assert_false(_backend.headers("splat.select")[4].has("selection"))
	var counts := _events.filter(func(e: Array) -> bool: return e[0] == "selection_changed").map(
		func(e: Array) -> int: return e[2])
	assert_eq(counts, [1, 2, 1, 1, 0, 0, 1])


func test_requests_go_one_at_a_time() -> void:
	await _serve()
	var a := _to_world(Vector3(0.3, 0.3, 0.3))
	var b := _to_world(Vector3(-0.3, -0.3, -0.3))
	_editor.select_sphere("cloud", a, 0.25)
	_editor.select_sphere("cloud", b, 0.25, "add")  # asked before the first is answered
	var last := await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.1)), 0.05,
		"add")
	assert_eq(last.count, 3, "each chained on the one before")
	var headers := _backend.headers("splat.select")
	assert_eq(headers[2].selection, _editor.selection - 1)


func test_select_masks_lifts_a_mask_through_the_camera() -> void:
	await _serve()
	var camera := _camera_in_viewport(Vector2i(64, 48))
	camera.look_at_from_position(_to_world(Vector3(0.5, 0.2, 3.0)), _to_world(Vector3.ZERO))
	var mask := Image.create_empty(64, 48, false, Image.FORMAT_L8)
	mask.fill_rect(Rect2i(0, 0, 32, 48), Color.WHITE)
	var cameras: Array[Camera3D] = [camera]
	var masks: Array[Image] = [mask]
	var picked := await _editor.select_masks("cloud", cameras, masks)
	var expected := 0
	var positions: PackedVector3Array = _backend.versions[_editor.selection_base].positions
	for i in positions.size():
		var pixel := camera.unproject_position(_to_world(positions[i]))
		var inside := Rect2(0, 0, 64, 48).has_point(pixel) and pixel.x < 32.0
		expected += 1 if inside else 0
		assert_eq(_editor.scores[i], 1.0 if inside else 0.0, "splat %d at %s" % [i, pixel])
	assert_true(expected > 0 and expected < 64, "%d of 64 left of the middle" % expected)
	assert_eq(picked.count, expected)
	var header: Dictionary = _backend.headers("splat.select")[0]
	assert_eq(header.views.size(), 1)
	assert_eq(header.blobs[0].shape, [48, 64])
	masks = []
	var refused := await _editor.select_masks("cloud", cameras, masks)
	assert_eq(refused.error, "bad_request", "one mask per camera")


func test_recolor_swaps_the_version_and_a_stale_edit_is_refused() -> void:
	await _serve()
	var old_hash: String = _world.splat_hashes.cloud
	var old_cloud := _world.get_splat_cloud("cloud")
	var corner := _index(Vector3(0.3, 0.3, 0.3))
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	var updates: Array = []
	_world.splat_updated.connect(func(id: String, h: String) -> void: updates.append([id, h]))
	var made := await _editor.edit("recolor", {"color": Color(1, 0, 0)})
	assert_false(made.has("error"), str(made))
	var header: Dictionary = _backend.headers("splat.edit")[0]
	assert_eq([header.op, header.color, header.base, header.selection],
		["recolor", [1.0, 0.0, 0.0], old_hash, _editor.selection])
	assert_eq(made.changed, 1)
	assert_true(_events.has(["edit_applied", "cloud", made.asset]), str(_events))
	assert_true(await wait_until(func() -> bool: return updates.has(["cloud", made.asset])),
		"the world swaps to the new version")
	var cloud := _world.get_splat_cloud("cloud")
	for i in cloud.count:
		var before := FakeSplatBackend.cloud_color(old_cloud, i)
		var after := FakeSplatBackend.cloud_color(cloud, i)
		if i == corner:
			var off := Vector3(after.r - 1.0, after.g, after.b).length()
			assert_true(off < 2e-3, "recoloured (half floats): %s" % after)
		else:
			assert_eq(after, before, "splat %d is left as it was" % i)
	var stale := await _editor.edit("tint", {"color": Color(0, 0, 1), "amount": 0.5})
	assert_eq(stale.error, "conflict", "the selection is of the version before")
	assert_eq(_events[-1][0], "edit_failed")
	assert_eq(_events[-1][1], "conflict")
	var undone := await _world.undo()
	assert_eq(undone.kind, "world.undo")
	assert_true(await wait_until(func() -> bool: return _world.splat_hashes.cloud == old_hash),
		"undo shows the old version again")


func test_edit_fields_are_mapped_into_the_entity_frame() -> void:
	await _serve()
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	var basis := _entity().global_basis
	await _editor.edit("transform", {"translation": basis * Vector3(0.1, 0, 0),
		"rotation": Quaternion(Vector3.RIGHT, deg_to_rad(30.0)), "scale": Vector3(2, 1, 1),
		"pivot": _to_world(Vector3(0.1, 0.2, 0.3))})
	var header: Dictionary = _backend.headers("splat.edit")[0]
	assert_true(_v(header.translation).is_equal_approx(Vector3(0.1, 0, 0)), str(header))
	assert_true(_v(header.pivot).is_equal_approx(Vector3(0.1, 0.2, 0.3)), str(header.pivot))
	# The entity is turned 90 degrees about +Y: the world's +X is its +Z.
	var turn := _q(header.rotation)
	assert_true(absf(turn.dot(Quaternion(Vector3.BACK, deg_to_rad(30.0)))) > 1.0 - 1e-6,
		"%s" % turn)
	assert_true(_v(header.scale).is_equal_approx(Vector3(1, 1, 2)), str(header.scale))
	await _until_shown(_backend.current.cloud)
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	var offset := Vector3(0.2, -0.4, 0.6)
	var made := await _editor.edit("duplicate", {"offset": offset})
	var duplicate: Dictionary = _backend.headers("splat.edit")[1]
	assert_true(_v(duplicate.offset).is_equal_approx(basis.inverse() * offset))
	assert_eq(_backend.versions[made.asset].positions.size(), 65, "one more splat")
	await _until_shown(made.asset)
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	made = await _editor.edit("delete")
	assert_eq(_backend.versions[made.asset].positions.size(), 64)
	assert_eq(_backend.headers("splat.edit")[2].op, "delete")


func test_optimize_sends_views_and_reports_progress() -> void:
	await _serve()
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.45)
	var camera := _camera_in_viewport(Vector2i(32, 24))
	camera.look_at_from_position(_to_world(Vector3(0, 0, 3)), _to_world(Vector3.ZERO))
	var target := Image.create_empty(32, 24, false, Image.FORMAT_RGBA8)
	target.fill(Color.RED)
	var made := await _editor.edit("optimize", {"cameras": [camera], "targets": [target],
		"steps": 4})
	assert_false(made.has("error"), str(made))
	var header: Dictionary = _backend.headers("splat.edit")[0]
	assert_eq(header.views.size(), 1)
	assert_eq([header.views[0].camera.width, header.views[0].camera.height], [32, 24])
	assert_eq(header.blobs[0].shape, [24, 32, 3], "the target, RGB8")
	assert_eq(header.steps, 4)
	var progress := _events.filter(func(e: Array) -> bool: return e[0] == "edit_progressed")
	assert_eq(progress, [["edit_progressed", 1, 4], ["edit_progressed", 2, 4],
		["edit_progressed", 3, 4], ["edit_progressed", 4, 4]])
	assert_eq(made.changed, 4)
	await _until_shown(made.asset)
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.45)
	await _editor.edit("optimize", {"cameras": [camera], "instruction": "make it gold",
		"size": Vector2i(16, 16), "steps": 1})
	var instructed: Dictionary = _backend.headers("splat.edit")[1]
	assert_eq(instructed.instruction, "make it gold")
	assert_false(instructed.has("blobs"), "no targets with an instruction")
	assert_eq(instructed.views[0].camera.width, 16)


func test_the_selection_is_drawn_as_points() -> void:
	await _serve()
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.45)
	var overlay := _editor._get_overlay()
	assert_true(overlay.visible)
	assert_eq(overlay.multimesh.instance_count, 4)
	assert_true(overlay.global_transform.is_equal_approx(_entity().global_transform))
	var drawn := _editor.get_highlight_points()
	assert_eq(drawn.size(), 4)
	for p in drawn:
		assert_true(p.distance_to(Vector3(0.3, 0.3, 0.3)) < 0.21, "%s is selected" % p)
	_editor.max_highlight_points = 2
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.45)
	assert_eq(overlay.multimesh.instance_count, 2, "thinned out")
	_editor.show_selection = false
	assert_false(overlay.visible)
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.45)
	assert_false(_backend.headers("splat.select")[-1].has("labels"), "no scores asked")
	assert_eq(_editor.scores.size(), 0)
	_editor.show_selection = true
	var scores := await _editor.fetch_scores()
	assert_eq(scores.size(), 64)
	assert_eq(overlay.multimesh.instance_count, 2)
	assert_true(overlay.visible)
	await _editor.edit("recolor", {"color": Color.BLUE})
	assert_false(overlay.visible, "the points were of the version before")
	_editor.clear_selection()
	assert_false(overlay.visible)


func test_reselect_repeats_the_steps_on_the_new_version() -> void:
	await _serve()
	await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	await _editor.select_sphere("cloud", _to_world(Vector3(-0.3, -0.3, -0.3)), 0.25, "add")
	var made := await _editor.edit("recolor", {"color": Color.GREEN})
	var again := await _editor.reselect()
	assert_eq([again.count, again.base], [2, made.asset], "the same splats of the new version")
	var headers := _backend.headers("splat.select")
	assert_eq(headers.size(), 4)
	assert_false(headers[2].has("selection"), "the first step starts afresh")
	assert_eq(headers[3].combine, "add")
	var tinted := await _editor.edit("tint", {"color": Color.WHITE, "amount": 0.5})
	assert_false(tinted.has("error"), str(tinted))


func test_reselect_after_an_edit_that_changed_nothing() -> void:
	await _serve()
	var picked := await _editor.select_sphere("cloud", _to_world(Vector3(0.3, 0.3, 0.3)), 0.25)
	var made := await _editor.edit("recolor", {"color": Color(0.5, 0.5, 0.5)})
	assert_eq(made.asset, picked.base, "the same colour: the same pack")
	var started := Time.get_ticks_msec()
	var again := await _editor.reselect()
	assert_eq([again.count, again.base], [1, picked.base])
	assert_true(Time.get_ticks_msec() - started < 2000, "no wait for a version that never comes")


func test_pick_entity_by_ray_and_by_point() -> void:
	await _serve()
	var centre := _to_world(Vector3.ZERO)
	assert_eq(_editor.pick_entity(centre + Vector3(0, 0, 5), Vector3(0, 0, -1)), "cloud")
	assert_eq(_editor.pick_entity(centre + Vector3(0, 0, 5), Vector3(0, 0, 1)), "")
	assert_eq(_editor.pick_entity(centre), "cloud")
	assert_eq(_editor.pick_entity(centre + Vector3(5, 0, 0)), "")
	assert_eq(_editor.splat_entities(), PackedStringArray(["cloud"]))


func test_failures_are_signalled() -> void:
	_editor = SplatEditorScript.new()
	add_child(_editor)
	_watch(_editor)
	var no_world := await _editor.select_sphere("cloud", Vector3.ZERO, 1.0)
	assert_eq(no_world.error, "not_connected")
	assert_eq(_editor._get_configuration_warnings().size(), 1)
	_editor.free()
	_events.clear()
	await _serve()
	var unknown := await _editor.select_sphere("nobody", Vector3.ZERO, 1.0)
	assert_eq(unknown.error, "not_found")
	var nothing := await _editor.edit("delete")
	assert_eq(nothing.error, "bad_request", "nothing selected")
	var bad_op := await _editor.edit("paint")
	assert_eq(bad_op.error, "bad_request")
	var bad_combine := await _editor.select_sphere("cloud", Vector3.ZERO, 1.0, "xor")
	assert_eq(bad_combine.error, "bad_request")
	var empty := await _editor.select_sphere("cloud", _to_world(Vector3(5, 5, 5)), 0.1)
	assert_eq(empty.count, 0)
	var refused := await _editor.edit("delete")
	assert_eq(refused.error, "bad_request", "the backend refuses an empty selection")
	var codes := _events.filter(func(e: Array) -> bool: return e[0] == "edit_failed").map(
		func(e: Array) -> String: return e[1])
	assert_eq(codes, ["not_found", "bad_request", "bad_request", "bad_request", "bad_request"])
	_session.disconnect_from_backend()
	var offline := await _editor.select_sphere("cloud", _to_world(Vector3.ZERO), 1.0)
	assert_eq(offline.error, "not_connected")


# The fixture's world (splat_edit_fixture.gd): entity "cloud" at its POSE, shown.
func _serve() -> void:
	_fixture = SplatEditFixture.new()
	add_child(_fixture)
	assert_true(await _fixture.start(), "the world shows the splats")
	_backend = _fixture.backend
	_session = _fixture.session
	_world = _fixture.world
	_editor = _fixture.editor
	_watch(_editor)


func _until_shown(hash: String) -> void:
	assert_true(await wait_until(func() -> bool: return _world.splat_hashes.get("cloud") == hash),
		"the world shows %s" % hash.left(8))


func _watch(editor: SplatEditorScript) -> void:
	editor.selection_changed.connect(func(id: String, count: int, total: int) -> void: (
		_events.append(["selection_changed", id, count, total])))
	editor.edit_applied.connect(func(id: String, asset: String) -> void: _events.append(
		["edit_applied", id, asset]))
	editor.edit_failed.connect(func(code: String, message: String) -> void: _events.append(
		["edit_failed", code, message]))
	editor.edit_progressed.connect(func(step: int, steps: int) -> void: _events.append(
		["edit_progressed", step, steps]))


func _camera_in_viewport(size: Vector2i) -> Camera3D:
	var viewport := SubViewport.new()
	viewport.size = size
	viewport.render_target_update_mode = SubViewport.UPDATE_DISABLED
	add_child(viewport)
	_others.append(viewport)
	var camera := Camera3D.new()
	viewport.add_child(camera)
	camera.current = true
	return camera


func _entity() -> Node3D:
	return _world.get_entity_node("cloud")


func _to_world(local: Vector3) -> Vector3:
	return _entity().global_transform * local


# The index of the grid splat at [param local].
func _index(local: Vector3) -> int:
	var positions: PackedVector3Array = _backend.versions[_world.splat_hashes.cloud].positions
	for i in positions.size():
		if positions[i].is_equal_approx(local):
			return i
	return -1


func _assert_matrix(got: Array, expected: Array) -> void:
	var close := got.size() == expected.size()
	for i in mini(got.size(), expected.size()):
		close = close and absf(got[i] - expected[i]) < 1e-6
	assert_true(close, "expected %s, got %s" % [expected, got])


static func _v(values: Array) -> Vector3:
	return Vector3(values[0], values[1], values[2])


static func _q(values: Array) -> Quaternion:
	return Quaternion(values[0], values[1], values[2], values[3])
