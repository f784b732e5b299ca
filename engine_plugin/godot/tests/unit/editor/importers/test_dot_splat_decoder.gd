extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/importers/dot_splat_decoder.gd on records written here
## (tests/integration/test_godot_import.py compares a whole file with Python's reader).

const DotSplatDecoder = preload("res://addons/continuum/editor/importers/dot_splat_decoder.gd")

var _scratch := PackedByteArray([0, 0])


func test_decodes_each_field_as_splat_py() -> void:
	var data := _records([
		[Vector3(1.5, -2.25, 1e-3), Vector3(0.5, 2.0, 0.0), [255, 0, 128, 0], [192, 128, 128, 64]],
		[Vector3(-7, 8, 9), Vector3(-0.25, 1.0, 3.0), [1, 2, 3, 255], [128, 255, 0, 128]],
	])
	var result := DotSplatDecoder.decode(data)
	if not assert_false(result.has("error"), str(result.get("message"))):
		return
	var cloud: SplatCloud = result.cloud
	assert_eq([cloud.count, cloud.sh_degree, cloud.sh.size()], [2, 0, 0])
	var means := cloud.means.to_float32_array()
	assert_eq([means[0], means[1], means[2], means[4], means[5], means[6]],
		[1.5, -2.25, PackedFloat32Array([1e-3])[0], -7.0, 8.0, 9.0], "positions are exact")
	var edge := 0.25 / 255.0
	assert_almost_eq(means[3], log(edge / (1 - edge)), 1e-5, "alpha 0 -> finite logit")
	assert_almost_eq(means[7], log((1 - edge) / edge), 1e-5, "alpha 255 -> finite logit")
	_assert_half(cloud.scales, 0, log(0.5), "log of a linear scale")
	_assert_half(cloud.scales, 2, log(1.1754943508222875e-38), "a zero scale as the tiniest")
	_assert_half(cloud.scales, 4, log(0.25), "the log of |scale|")
	_assert_half(cloud.colors, 0, (1.0 - 0.5) / DotSplatDecoder.C0, "colour 255")
	_assert_half(cloud.colors, 1, (0.0 - 0.5) / DotSplatDecoder.C0, "colour 0")
	_assert_half(cloud.colors, 3, 0.0, "fourth colour value is zero")
	_assert_half(cloud.rotations, 0, 0.5, "w = (192 - 128) / 128")
	_assert_half(cloud.rotations, 3, -0.5, "z = (64 - 128) / 128")
	_assert_half(cloud.rotations, 5, (255 - 128) / 128.0, "x of the second")


func test_max_splats_keeps_the_most_opaque() -> void:
	var records := []
	for alpha in [10, 250, 30, 200, 90]:
		records.append([Vector3(alpha, 0, 0), Vector3.ONE, [0, 0, 0, alpha], [128, 128, 128, 128]])
	var cloud: SplatCloud = DotSplatDecoder.decode(_records(records), {"max_splats": 2}).cloud
	assert_eq(Array(cloud.get_positions()), [Vector3(250, 0, 0), Vector3(200, 0, 0)])


func test_refuses_a_broken_file_by_name() -> void:
	var data := _records([[Vector3.ZERO, Vector3.ONE, [0, 0, 0, 0], [0, 0, 0, 0]]] as Array)
	var odd := DotSplatDecoder.decode(data.slice(0, 31))
	assert_eq(odd.get("error"), "truncated")
	assert_true(str(odd.get("message")).contains("multiple of the 32-octet record"), str(odd))
	data.encode_float(16, NAN)
	var nan := DotSplatDecoder.decode(data)
	assert_eq(nan.get("error"), "corrupt")
	assert_true(str(nan.get("message")).contains("splat 0 has scale"), str(nan))
	var empty := DotSplatDecoder.decode(PackedByteArray())
	assert_eq(empty.cloud.count, 0, "an empty file is an empty cloud")


func test_survives_fuzzing() -> void:
	var rng := RandomNumberGenerator.new()
	rng.seed = 3
	var records := []
	for i in 40:
		records.append([Vector3(rng.randf(), rng.randf(), rng.randf()), Vector3.ONE * rng.randf(),
			[rng.randi_range(0, 255), 7, 9, rng.randi_range(0, 255)], [1, 2, 3, 4]])
	var data := _records(records)
	var outcomes := {"cloud": 0, "error": 0}
	for round in 120:
		var mutated := data.duplicate()
		if round % 2 == 0:
			mutated = data.slice(0, rng.randi_range(0, data.size() - 1))
		else:
			for i in rng.randi_range(1, 8):
				mutated[rng.randi_range(0, mutated.size() - 1)] = rng.randi_range(0, 255)
		var result := DotSplatDecoder.decode(mutated)
		outcomes["error" if result.has("error") else "cloud"] += 1
		if not result.has("error"):
			assert_eq(result.cloud.check(), {})
	assert_true(outcomes.error > 30 and outcomes.cloud > 30, str(outcomes))


func _assert_half(section: PackedByteArray, index: int, value: float, label: String) -> void:
	_scratch.encode_half(0, value)
	assert_eq(section.decode_u16(2 * index), _scratch.decode_u16(0), "%s (%s)" % [label, value])


# .splat records from [position, linear scale, [r, g, b, a], [w, x, y, z] octets].
static func _records(records: Array) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(32 * records.size())
	for i in records.size():
		var record: Array = records[i]
		for axis in 3:
			out.encode_float(32 * i + 4 * axis, record[0][axis])
			out.encode_float(32 * i + 12 + 4 * axis, record[1][axis])
		for j in 4:
			out[32 * i + 24 + j] = record[2][j]
			out[32 * i + 28 + j] = record[3][j]
	return out
