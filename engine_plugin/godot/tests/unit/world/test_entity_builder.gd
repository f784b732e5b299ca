extends "res://tests/test_case.gd"
## Tests of addons/continuum/world/entity_builder.gd: scene.schema.json entities to nodes.

const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")

var _builder: EntityBuilder
var _built: Array[Node3D] = []


func before_each() -> void:
	_builder = EntityBuilder.new()
	_builder.report_warnings = false


func after_each() -> void:
	for node: Node3D in _built:
		if is_instance_valid(node):
			node.free()
	_built.clear()


func test_hello_scene_builds_one_node_per_entity() -> void:
	var entities := _hello_entities()
	if not assert_eq(entities.size(), 7, "scenes/hello/scene.json has 7 entities"):
		return
	var roots := _build(entities)
	assert_eq(_builder.warnings, PackedStringArray(), "hello has no bad entries")
	assert_eq(_builder.nodes_by_id.keys(), entities.map(func(e: Dictionary) -> String: return e.id))
	assert_eq(roots.size(), 6, "every entity but the sign is a root")
	for id: String in _builder.nodes_by_id:
		assert_eq(_builder.nodes_by_id[id].get_meta("continuum_id", ""), id, "metadata of " + id)
	assert_eq(_node("cube").name, &"Cube", "nodes are named by the entity's name")
	assert_eq(_node("floor").get_meta("continuum_tags"), PackedStringArray(["static"]))


func test_hello_scene_node_types_and_meshes() -> void:
	_build(_hello_entities())
	assert_true(_mesh("floor") is PlaneMesh, "floor is a plane")
	assert_eq((_mesh("floor") as PlaneMesh).size, Vector2(8, 8))
	assert_true(_mesh("cube") is BoxMesh, "cube is a box")
	assert_eq((_mesh("cube") as BoxMesh).size, Vector3.ONE)
	assert_true(_mesh("ball") is SphereMesh, "ball is a sphere")
	assert_almost_eq((_mesh("ball") as SphereMesh).radius, 0.6)
	assert_almost_eq((_mesh("ball") as SphereMesh).height, 1.2)
	assert_true(_mesh("pillar") is CylinderMesh, "pillar is a cylinder")
	assert_almost_eq((_mesh("pillar") as CylinderMesh).top_radius, 0.35)
	assert_almost_eq((_mesh("pillar") as CylinderMesh).bottom_radius, 0.35)
	assert_almost_eq((_mesh("pillar") as CylinderMesh).height, 1.5)
	var sign := _node("sign") as Label3D
	if assert_true(sign != null, "sign is a Label3D"):
		assert_eq(sign.text, "Hello from Continuum")
		assert_almost_eq(sign.font_size * sign.pixel_size, 0.25, 1e-6, "text height in metres")
	var sun := _node("sun") as DirectionalLight3D
	if assert_true(sun != null, "sun is a DirectionalLight3D"):
		assert_almost_eq(sun.light_energy, 1.2)
		assert_true(sun.light_color.is_equal_approx(Color(1, 0.96, 0.9)), "sun colour")
	var camera := _node("camera") as Camera3D
	if assert_true(camera != null, "camera is a Camera3D"):
		assert_almost_eq(camera.fov, 60.0)
		assert_almost_eq(camera.near, 0.05)
		assert_almost_eq(camera.far, 100.0)


func test_hello_scene_transforms() -> void:
	_build(_hello_entities())
	assert_true(_node("floor").transform.is_equal_approx(Transform3D.IDENTITY), "floor at origin")
	var cube := _node("cube")
	assert_true(cube.position.is_equal_approx(Vector3(-1.5, 0.5, 0)), "cube position")
	assert_true(
		cube.quaternion.is_equal_approx(Quaternion(0, 0.3826834, 0, 0.9238795)), "cube rotation"
	)
	assert_almost_eq(cube.rotation_degrees.y, 45.0, 1e-3, "45 degrees about +Y")
	assert_true(cube.scale.is_equal_approx(Vector3.ONE), "default scale")
	var camera := _node("camera")
	assert_true(camera.position.is_equal_approx(Vector3(0, 2.2, 5.5)), "camera position")
	var forward := -camera.transform.basis.z
	assert_almost_eq(forward.y, -sin(deg_to_rad(20.0)), 1e-4, "camera looks 20 degrees down")
	var sun_direction := -_node("sun").transform.basis.z
	assert_true(sun_direction.y < -0.5, "the sun shines downwards")


func test_hello_scene_parenting() -> void:
	_build(_hello_entities())
	var sign := _node("sign")
	assert_eq(sign.get_parent(), _node("pillar"), "sign is under pillar")
	assert_true(sign.position.is_equal_approx(Vector3(0, 1.1, 0)), "sign position is local")
	var global := _node("pillar").transform * sign.transform
	assert_true(global.origin.is_equal_approx(Vector3(1.6, 1.85, -0.3)), "sign global position")


func test_hello_scene_materials() -> void:
	_build(_hello_entities())
	var cube := _material("cube")
	assert_true(cube.albedo_color.is_equal_approx(Color(0.85, 0.3, 0.25, 1)), "cube colour")
	var ball := _material("ball")
	assert_true(ball.albedo_color.is_equal_approx(Color(0.25, 0.55, 0.9, 1)), "ball colour")
	assert_almost_eq(ball.metallic, 0.2)
	assert_almost_eq(ball.roughness, 0.4)
	assert_almost_eq(_material("floor").roughness, 0.9)
	assert_eq(_material("floor").transparency, BaseMaterial3D.TRANSPARENCY_DISABLED)


func test_camera_becomes_current_in_the_tree() -> void:
	var roots := _build([{"id": "cam", "components": {"camera": {"fov_deg": 50}}}])
	add_child(roots[0])
	assert_true((roots[0] as Camera3D).current, "the scene's camera is made current")


func test_children_listed_before_their_parents() -> void:
	var roots := _build([
		{"id": "leaf", "parent": "mid", "transform": {"position": [0, 0, 1]}},
		{"id": "mid", "parent": "top", "transform": {"position": [0, 1, 0]}},
		{"id": "top", "transform": {"position": [1, 0, 0]}},
	])
	assert_eq(roots.size(), 1, "one root")
	assert_eq(_node("leaf").get_parent(), _node("mid"))
	assert_eq(_node("mid").get_parent(), _node("top"))
	assert_eq(roots[0], _node("top"))
	assert_eq(_builder.warnings, PackedStringArray())


func test_shapes_lights_and_alpha() -> void:
	_build([
		{"id": "pill", "components": {"shape": {"type": "capsule", "radius": 0.2, "height": 1}}},
		{"id": "glass", "components": {
			"shape": {"type": "box", "size": [1, 2, 3]}, "material": {"color": [1, 1, 1, 0.5]}}},
		{"id": "bulb", "components": {"light": {"type": "omni", "range": 4, "energy": 2}}},
		{"id": "spot", "components": {"light": {"type": "spot", "range": 6, "color": [1, 0, 0]}}},
		{"id": "lamp", "components": {
			"shape": {"type": "sphere", "radius": 0.1}, "light": {"type": "omni"}}},
		{"id": "empty", "transform": {"scale": [2, 2, 2]}},
	])
	var pill := _mesh("pill") as CapsuleMesh
	if assert_true(pill != null, "capsule mesh"):
		assert_almost_eq(pill.radius, 0.2)
		assert_almost_eq(pill.height, 1.0)
	assert_eq((_mesh("glass") as BoxMesh).size, Vector3(1, 2, 3))
	assert_eq(_material("glass").transparency, BaseMaterial3D.TRANSPARENCY_ALPHA)
	var bulb := _node("bulb") as OmniLight3D
	if assert_true(bulb != null, "omni light"):
		assert_almost_eq(bulb.omni_range, 4.0)
		assert_almost_eq(bulb.light_energy, 2.0)
	var spot := _node("spot") as SpotLight3D
	if assert_true(spot != null, "spot light"):
		assert_almost_eq(spot.spot_range, 6.0)
		assert_true(spot.light_color.is_equal_approx(Color.RED), "spot colour")
	var lamp := _node("lamp")
	assert_true(lamp is MeshInstance3D, "the shape makes the entity's node")
	assert_eq(lamp.get_child_count(), 1, "the light is a child")
	assert_true(lamp.get_child(0) is OmniLight3D, "the second component is a child node")
	assert_eq(_node("empty").get_class(), "Node3D", "no component: a plain Node3D")
	assert_true(_node("empty").scale.is_equal_approx(Vector3(2, 2, 2)), "scale")


func test_unknown_components_are_kept_as_metadata() -> void:
	_build([{"id": "thing", "components": {
		"smell": {"of": "roses"}, "shape": {"type": "sphere", "radius": 1}}}])
	assert_eq(_builder.warnings, PackedStringArray(), "unknown components are not errors")
	assert_true(_node("thing") is MeshInstance3D, "known components still build")
	assert_eq(_node("thing").get_meta("continuum_components"), {"smell": {"of": "roses"}})


func test_splat_component_makes_a_splat_node() -> void:
	var splat := {"asset": "ab".repeat(32), "bytes": 100, "count": 3, "sh_degree": 1,
		"aabb": [-1, -1, -1, 1, 1, 1]}
	_build([
		{"id": "cloud", "components": {"splat": splat}},
		{"id": "both", "components": {"shape": {"type": "box", "size": [1, 1, 1]}, "splat": splat}},
	])
	assert_eq(_builder.warnings, PackedStringArray())
	assert_true(_node("cloud") is SplatInstance3D, "a splat entity is a SplatInstance3D")
	assert_eq(_node("cloud").get_meta("continuum_splat"), splat)
	assert_false(_node("cloud").has_meta("continuum_components"), "a known component")
	assert_eq(_builder.splats_by_id, {"cloud": splat, "both": splat})
	assert_true(_node("both") is MeshInstance3D, "shape comes first")
	assert_eq(EntityBuilder.find_splat_node(_node("both")), _node("both").get_node("Splat"))
	assert_eq(EntityBuilder.find_splat_node(_node("cloud")), _node("cloud"))


func test_physics_components_are_listed_and_kept_as_metadata() -> void:
	var ball := {"mass": 0.5, "restitution": 0.6}
	var floor_body := {"body": "static"}
	_build([
		{"id": "ball", "components": {"shape": {"type": "sphere", "radius": 0.1}, "physics": ball}},
		{"id": "floor", "components": {"shape": {"type": "plane", "size": [4, 4]},
			"physics": floor_body}},
		{"id": "deco", "components": {"shape": {"type": "box", "size": [1, 1, 1]}}},
		{"id": "odd", "components": {"physics": "heavy"}},
	])
	assert_eq(_builder.warnings, PackedStringArray())
	assert_eq(_builder.physics_by_id, {"ball": ball, "floor": floor_body}, "objects only")
	assert_eq(_node("ball").get_meta("continuum_components"), {"physics": ball})
	assert_true(_node("ball") is MeshInstance3D, "physics makes no node of its own")


func test_bad_splat_components_are_skipped() -> void:
	var good := {"asset": "ab".repeat(32), "bytes": 100}
	var cases: Array = [
		{"asset": "AB".repeat(32)}, {"asset": "ab".repeat(31)}, {"asset": "xy".repeat(32)},
		{"bytes": -1}, {"bytes": 1.5}, {"bytes": "100"}, {"count": -2}, {"sh_degree": 4},
		{"aabb": [0, 0, 0]},
	]
	var entities: Array = []
	for i in cases.size():
		var splat := good.duplicate()
		splat.merge(cases[i], true)
		entities.append({"id": "e%d" % i, "components": {"splat": splat}})
	_build(entities)
	assert_eq(_builder.warnings.size(), cases.size(), "one warning each: %s" % _builder.warnings)
	assert_eq(_builder.nodes_by_id.size(), 0)
	assert_eq(EntityBuilder.check_splat(good), "")


func test_bad_entries_are_skipped_with_one_warning_each() -> void:
	var bad: Array = [
		42,
		"cube",
		{},
		{"name": "no id"},
		{"id": 7},
		{"id": "has space"},
		{"id": "x".repeat(65)},
		{"id": "pos", "transform": {"position": [1, 2]}},
		{"id": "rot", "transform": {"rotation": [0, 0, 0, 0]}},
		{"id": "scale", "transform": {"scale": [1, 0, 1]}},
		{"id": "nan", "transform": {"position": [NAN, 0, 0]}},
		{"id": "tr", "transform": "up"},
		{"id": "nm", "name": 5},
		{"id": "tags", "tags": "a,b"},
		{"id": "comps", "components": []},
		{"id": "shape", "components": {"shape": {"type": "torus"}}},
		{"id": "box", "components": {"shape": {"type": "box", "size": [1, -1, 1]}}},
		{"id": "ball", "components": {"shape": {"type": "sphere", "radius": "big"}}},
		{"id": "mat", "components": {"material": {"color": [1, 0]}}},
		{"id": "metal", "components": {"material": {"metallic": 2}}},
		{"id": "light", "components": {"light": {"type": "area"}}},
		{"id": "cam", "components": {"camera": {"near": 10, "far": 1}}},
		{"id": "fov", "components": {"camera": {"fov_deg": 180}}},
		{"id": "label", "components": {"label": {"size": 1}}},
		{"id": "shape2", "components": {"shape": [1, 2]}},
	]
	var entities: Array = bad.duplicate()
	entities.append({"id": "good", "components": {"shape": {"type": "box", "size": [1, 1, 1]}}})
	entities.append({"id": "good", "name": "duplicate"})
	var roots := _build(entities)
	assert_eq(roots.size(), 1, "only the good entity is built")
	assert_eq(_builder.nodes_by_id.keys(), ["good"])
	assert_eq(_builder.warnings.size(), bad.size() + 1, "one warning per bad entry: %s" % [
		"\n".join(_builder.warnings)])


func test_bad_references_go_to_the_root() -> void:
	var roots := _build([
		{"id": "orphan", "parent": "missing"},
		{"id": "self", "parent": "self"},
		{"id": "a", "parent": "b"},
		{"id": "b", "parent": "a"},
	])
	assert_eq(roots.size(), 3, "orphan, self and one of the cycle are roots")
	assert_eq(_builder.nodes_by_id.size(), 4, "no entity is lost")
	assert_eq(_builder.warnings.size(), 3, "one warning each")
	assert_eq(_node("a").get_parent(), _node("b"), "the cycle is broken once")


func test_not_an_array_builds_nothing() -> void:
	assert_eq(_build({"entities": []}).size(), 0)
	assert_eq(_build(null).size(), 0)
	assert_eq(_builder.warnings.size(), 1)
	assert_eq(_build([]).size(), 0)
	assert_eq(_builder.warnings.size(), 0, "warnings are per build")


func _build(entities: Variant) -> Array[Node3D]:
	var roots := _builder.build(entities)
	_built.append_array(roots)
	return roots


func _node(id: String) -> Node3D:
	return _builder.nodes_by_id.get(id)


func _mesh(id: String) -> Mesh:
	var instance := _node(id) as MeshInstance3D
	return instance.mesh if instance != null else null


func _material(id: String) -> StandardMaterial3D:
	var mesh := _mesh(id) as PrimitiveMesh
	return mesh.material as StandardMaterial3D if mesh != null else null


static func _hello_entities() -> Array:
	var path := ProjectSettings.globalize_path("res://").path_join("../../scenes/hello/scene.json")
	var scene: Variant = JSON.parse_string(FileAccess.get_file_as_string(path.simplify_path()))
	return scene.get("entities", []) if scene is Dictionary else []
