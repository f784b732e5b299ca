extends "res://tests/test_case.gd"
## Tests of addons/continuum/splats/splat_sorter.gd: the fast sort against a plain comparison
## sort, ties, empty input, and the worker-thread run.

const SplatSorter = preload("res://addons/continuum/splats/splat_sorter.gd")


func test_order_matches_a_plain_sort_by_depth() -> void:
	var rng := RandomNumberGenerator.new()
	rng.seed = 3
	var positions := PackedVector3Array()
	for i in 5000:
		positions.append(Vector3(rng.randf_range(-2, 2), rng.randf_range(-1, 1), rng.randf_range(-3, 3)))
	var bounds := AABB(Vector3(-2, -1, -3), Vector3(4, 2, 6))
	for direction: Vector3 in [Vector3.FORWARD, Vector3(1, -2, 0.5), Vector3(-0.3, 0.1, 4)]:
		var order := SplatSorter.sort_positions(positions, bounds, direction)
		var dir := direction.normalized()
		var expected := range(positions.size())
		expected.sort_custom(func(a: int, b: int) -> bool:
			return dir.dot(positions[a]) > dir.dot(positions[b]))
		var same := 0
		var monotone := true
		for i in order.size():
			same += int(int(order[i]) == expected[i])
			if i > 0:
				var step := dir.dot(positions[int(order[i])]) - dir.dot(positions[int(order[i - 1])])
				monotone = monotone and step <= 1e-5
		assert_true(monotone, "farthest first along %s" % direction)
		# Only quantisation ties (depths within ~1e-12 of the range) may swap places.
		assert_true(same >= positions.size() - 2, "%d of %d slots as the plain sort" % [
			same, positions.size()])


func test_every_index_appears_once_and_ties_keep_index_order() -> void:
	var positions := PackedVector3Array()
	for i in 10:
		positions.append(Vector3(float(i % 2), 0, 0))  # two depths, five splats each
	var order := SplatSorter.sort_positions(positions, AABB(Vector3.ZERO, Vector3.ONE), Vector3.RIGHT)
	assert_eq(Array(order), [1.0, 3.0, 5.0, 7.0, 9.0, 0.0, 2.0, 4.0, 6.0, 8.0])


func test_empty_cloud_sorts_to_nothing() -> void:
	assert_eq(SplatSorter.sort_positions(PackedVector3Array(), AABB(), Vector3.FORWARD).size(), 0)


func test_worker_sort_reports_once_with_its_tag() -> void:
	var sorter := SplatSorter.new()
	var positions := PackedVector3Array([Vector3(0, 0, -1), Vector3(0, 0, -3), Vector3(0, 0, -2)])
	var bounds := AABB(Vector3(0, 0, -3), Vector3(0, 0, 2))
	assert_true(sorter.start(positions, bounds, Vector3.FORWARD, "v1"), "started")
	assert_true(await wait_until(func() -> bool: return not sorter.is_running()), "finished")
	var result := sorter.take_result()
	assert_eq(Array(result.order), [1.0, 2.0, 0.0], "farthest (z = -3) first")
	assert_eq(result.tag, "v1")
	assert_true(sorter.take_result().is_empty(), "a result is taken once")
