extends "res://tests/test_case.gd"
## addons/continuum/splats/splat_box.gd against a fake splat backend (splat_edit_fixture.gd):
## the box's global transform (turned, scaled) becomes a box selection in the entity's frame, the
## entity found from the box's centre; its mesh follows its size; a box outside every splat
## selects nothing.

const SplatBox = preload("res://addons/continuum/splats/splat_box.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

var _fixture: SplatEditFixture
var _box: SplatBox


func before_each() -> void:
	_fixture = SplatEditFixture.new()
	add_child(_fixture)
	assert_true(await _fixture.start(), "the world shows the splats")
	_box = SplatBox.new()
	_box.editor_path = _fixture.editor.get_path()
	add_child(_box)


func after_each() -> void:
	await next_frame()
	_box.free()
	_fixture.free()


func test_selects_what_the_box_holds() -> void:
	# Over the grid's z = 0.3 layer, turned with the entity, scaled: 4 of its 16 splats.
	var entity := _fixture.world.get_entity_node("cloud").global_transform
	_box.size = Vector3(0.5, 0.5, 0.1)
	_box.global_transform = Transform3D(entity.basis.orthonormalized().scaled_local(
		Vector3(2, 2, 1)), entity * Vector3(0, 0, 0.3))
	assert_true(_box.get_half_size().is_equal_approx(Vector3(0.5, 0.5, 0.05)))
	assert_eq((_box.mesh as BoxMesh).size, Vector3(0.5, 0.5, 0.1))
	var picked := await _box.select()
	assert_eq(picked.count, 4, str(picked))
	var header: Dictionary = _fixture.backend.headers("splat.select")[0]
	assert_eq(header.entity, "cloud", "the entity under the box's centre")
	var half := Vector3(header.half_size[0], header.half_size[1], header.half_size[2])
	assert_true(half.is_equal_approx(Vector3(0.25, 0.25, 0.025)), str(half))
	var added := await _box.select("add")
	assert_eq([added.count, _fixture.backend.headers("splat.select")[1].combine], [4, "add"])


func test_a_box_off_the_splats_selects_nothing() -> void:
	_box.global_position = _fixture.to_world(Vector3(3, 3, 3))
	var missed := await _box.select()
	assert_eq(missed.error, "not_found")
	_box.entity = "cloud"
	var empty := await _box.select()
	assert_eq(empty.count, 0)
	var loose := SplatBox.new()
	add_child(loose)
	assert_eq(loose._get_configuration_warnings().size(), 1)
	assert_eq((await loose.select()).error, "bad_request")
	loose.free()
