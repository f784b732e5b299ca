extends "res://tests/test_case.gd"
## Tests of addons/continuum/splats/splat_instance_3d.gd under the headless renderer: versions
## swap in whole, the old one stays until the new one is ready, re-sorts follow the view
## direction past the threshold only, and the GPU budget per splat.

const SplatInstanceScript = preload("res://addons/continuum/splats/splat_instance_3d.gd")
const PackFixture = preload("res://tests/unit/world/pack_fixture.gd")

var _node: SplatInstance3D
var _camera: Camera3D
var _swaps: Array = []


func before_each() -> void:
	_swaps.clear()
	_camera = Camera3D.new()
	add_child(_camera)
	_camera.make_current()
	_node = SplatInstanceScript.new()
	_node.cloud_swapped.connect(func(cloud: SplatCloud) -> void: _swaps.append(cloud))
	add_child(_node)


func after_each() -> void:
	_node.free()
	_camera.free()


func test_a_cloud_is_shown_once_prepared() -> void:
	var cloud := _cloud(300)
	_node.cloud = cloud
	assert_true(_node.is_swap_pending(), "pending until prepared")
	assert_true(await wait_until(func() -> bool: return _node.get_shown_cloud() == cloud), "shown")
	assert_eq(_swaps, [cloud], "one swap signal")
	assert_false(_node.is_swap_pending())
	assert_eq(_node.get_sort_count(), 1, "the first order came with the version")


func test_the_old_version_stays_until_the_new_one_is_ready() -> void:
	var first := _cloud(10)
	var second := _cloud(20)
	_node.cloud = first
	await wait_until(func() -> bool: return _node.get_shown_cloud() == first)
	_node.cloud = second
	assert_eq(_node.get_shown_cloud(), first, "still drawing the old version")
	assert_true(await wait_until(func() -> bool: return _node.get_shown_cloud() == second), "swapped")
	assert_eq(_swaps, [first, second])


func test_assigning_while_preparing_ends_on_the_last_cloud() -> void:
	var clouds := [_cloud(5), _cloud(6), _cloud(7)]
	for cloud: SplatCloud in clouds:
		_node.cloud = cloud
	var settled := func() -> bool:
		return _node.get_shown_cloud() == clouds[2] and not _node.is_swap_pending()
	assert_true(await wait_until(settled), "the last assignment wins")


func test_clearing_the_cloud_hides_it() -> void:
	_node.cloud = _cloud(4)
	await wait_until(func() -> bool: return _node.get_shown_cloud() != null)
	_node.cloud = null
	assert_eq(_node.get_shown_cloud(), null)
	assert_eq(_swaps.back(), null, "swapped to nothing")
	assert_false(_node._get_configuration_warnings().is_empty(), "warns without a cloud")


func test_resorts_only_when_the_view_turns_past_the_threshold() -> void:
	_node.resort_angle_deg = 5.0
	_node.cloud = _cloud(50)
	await wait_until(func() -> bool: return _node.get_shown_cloud() != null)
	var sorts := _node.get_sort_count()
	_camera.rotate_y(deg_to_rad(2.0))
	await wait_seconds(0.1)
	assert_eq(_node.get_sort_count(), sorts, "2 degrees: same order")
	_camera.rotate_y(deg_to_rad(6.0))
	assert_true(await wait_until(func() -> bool: return _node.get_sort_count() == sorts + 1),
			"8 degrees from the sorted direction: one new sort")
	await wait_seconds(0.1)
	assert_eq(_node.get_sort_count(), sorts + 1, "and no more")


func test_view_direction_is_in_the_node_frame() -> void:
	_node.rotation = Vector3(0, PI / 2, 0)
	# The camera looks down world -z; the node is turned 90 degrees about y.
	var direction := _node.view_direction()
	assert_true(direction.is_equal_approx(Vector3(1, 0, 0)), "got %s" % direction)


func test_gpu_bytes_per_splat_at_degree_zero() -> void:
	var cloud := _cloud(SplatCloud.TEXTURE_WIDTH * 2)
	_node.cloud = cloud
	await wait_until(func() -> bool: return _node.get_shown_cloud() == cloud)
	# means 16 + rotations 8 + scales 8 + colours 8 + draw order 4, no padding at full rows.
	assert_eq(_node.gpu_bytes_per_splat(), 44.0)


func _cloud(count: int) -> SplatCloud:
	return SplatCloud.from_pack(PackFixture.make_pack(count, Vector3(0, 0, -3))).cloud
