extends "res://tests/test_case.gd"
## Tests of addons/continuum/splats/splat_cloud_builder.gd against a plain per-splat reference.

const SplatCloudBuilder = preload("res://addons/continuum/splats/splat_cloud_builder.gd")

const SECTIONS := ["means", "rotations", "scales", "colors", "sh"]
const WIDTHS := {"means": 4, "rotations": 4, "scales": 3, "colors": 3}


func test_matches_the_plain_reference_in_float_and_octet_blocks() -> void:
	# Past one block of rows, with a partial last block; SH degree 2 (24 values, 6 texels).
	var n := SplatCloudBuilder.ROWS_PER_BLOCK + 37
	var values := _values(n, 2, 1)
	var expected := _reference(values, n, 2)
	for stride_pad: int in [0, 1]:
		var laid := _lay_out(values, n, stride_pad, 2)
		var built := SplatCloudBuilder.build(laid.sources, n, laid.columns, 2)
		if not assert_false(built.has("error"), str(built.get("message"))):
			continue
		var cloud: SplatCloud = built.cloud
		var label := "aligned rows" if stride_pad == 0 else "unaligned rows (octet blocks)"
		assert_eq([cloud.count, cloud.sh_degree, cloud.sh_texels], [n, 2, 6], label)
		assert_eq(cloud.check(), {}, label)
		for name: String in SECTIONS:
			assert_true(cloud.get(name) == expected[name], "%s of %s" % [name, label])


func test_bounds_hold_every_splat_out_to_three_sigma() -> void:
	var n := 3000
	var values := _values(n, 0, 2)
	var laid := _lay_out(values, n, 0, 0)
	var cloud: SplatCloud = SplatCloudBuilder.build(laid.sources, n, laid.columns, 0).cloud
	var lo := Vector3.INF
	var hi := -Vector3.INF
	for i in n:
		var m: PackedFloat32Array = values.means
		var s: PackedFloat32Array = values.scales
		var reach := 3.0 * exp(maxf(s[3 * i], maxf(s[3 * i + 1], s[3 * i + 2])))
		var centre := Vector3(m[4 * i], m[4 * i + 1], m[4 * i + 2])
		lo = lo.min(centre - Vector3.ONE * reach)
		hi = hi.max(centre + Vector3.ONE * reach)
	for axis in 3:
		assert_almost_eq(cloud.aabb.position[axis], lo[axis], 1e-5, "min %d" % axis)
		assert_almost_eq(cloud.aabb.end[axis], hi[axis], 1e-5, "max %d" % axis)


func test_an_empty_cloud_has_the_packs_empty_layout() -> void:
	var values := _values(0, 1, 3)
	var laid := _lay_out(values, 0, 0, 1)
	var built := SplatCloudBuilder.build(laid.sources, 0, laid.columns, 1)
	var cloud: SplatCloud = built.cloud
	assert_eq([cloud.count, cloud.get_height(), cloud.means.size(), cloud.sh.size()],
		[0, 1, 2048 * 16, 0])
	assert_eq(cloud.aabb, AABB())
	assert_eq(cloud.check(), {})


func test_max_splats_keeps_the_most_opaque_in_order() -> void:
	var n := 10
	var values := _values(n, 0, 4)
	var opacity := PackedFloat32Array([0.5, 3.0, -1.0, NAN, 3.0, 2.0, 3.0, -7.0, 9.0, 3.0])
	for i in n:
		values.means[4 * i + 3] = opacity[i]
		values.means[4 * i] = i
	var laid := _lay_out(values, n, 0, 0)
	var cloud: SplatCloud = SplatCloudBuilder.build(laid.sources, n, laid.columns, 0, 4).cloud
	var kept := cloud.get_positions()
	# 9.0 first, then the earliest of the 3.0 ties, in file order.
	assert_eq(Array(kept).map(func(p: Vector3) -> int: return int(p.x)), [1, 4, 6, 8])
	var all: SplatCloud = SplatCloudBuilder.build(laid.sources, n, laid.columns, 0, 10).cloud
	assert_eq(all.count, 10, "max_splats at the count keeps every one")


func test_bad_input_is_an_error_value() -> void:
	var values := _values(5, 1, 5)
	var laid := _lay_out(values, 5, 0, 1)
	var short := SplatCloudBuilder.build(laid.sources, 6, laid.columns, 1)
	assert_eq(short.get("error"), "truncated")
	var columns: Dictionary = laid.columns.duplicate(true)
	columns.sh.pop_back()
	assert_eq(SplatCloudBuilder.build(laid.sources, 5, columns, 1).get("error"), "bad_input")
	columns = laid.columns.duplicate(true)
	columns.means[0] = Vector2i(0, 1 << 20)
	assert_eq(SplatCloudBuilder.build(laid.sources, 5, columns, 1).get("error"), "bad_input")
	assert_eq(SplatCloudBuilder.build(laid.sources, 5, laid.columns, 5).get("error"), "bad_input")
	assert_true(SplatCloudBuilder.fits(3, 4, 12) and not SplatCloudBuilder.fits(4, 4, 12))
	assert_false(SplatCloudBuilder.fits(1 << 62, 248, 1 << 20), "no overflow")


# Random values per section: {means: n x 4, rotations: n x 4, scales: n x 3, colors: n x 3,
# sh: n x 3 (K - 1)}.
static func _values(n: int, degree: int, seed_value: int) -> Dictionary:
	var rng := RandomNumberGenerator.new()
	rng.seed = seed_value
	var widths := WIDTHS.duplicate()
	widths["sh"] = 3 * ((degree + 1) * (degree + 1) - 1)
	var values := {}
	for name: String in widths:
		var floats := PackedFloat32Array()
		floats.resize(n * widths[name])
		for i in floats.size():
			floats[i] = rng.randfn() * (0.5 if name == "sh" else 2.0) - (4.0 if name == "scales"
				else 0.0)
		values[name] = floats
	return values


# The values laid out as two sources the way a file might hold them: source 0 has the means,
# scales and SH (channel-major, as a PLY) among filler values, in a shuffled order; source 1 the
# rotations and colours. [param pad] octets before each row of source 0 make it unaligned.
static func _lay_out(values: Dictionary, n: int, pad: int, degree: int) -> Dictionary:
	var rest: int = values.sh.size() / maxi(n, 1) if n > 0 else 3 * ((degree + 1) ** 2 - 1)
	var k := rest / 3
	# Source 0 slots: filler, means 3..0, scales, SH channel-major, filler.
	var slots0: Array = [["filler", 0]]
	for j in [2, 0, 1, 3]:
		slots0.append(["means", j])
	for j in 3:
		slots0.append(["scales", j])
	for channel in 3:
		for coefficient in k:
			slots0.append(["sh", coefficient * 3 + channel])
	slots0.append(["filler", 1])
	var slots1: Array = [["colors", 0], ["colors", 1], ["colors", 2], ["rotations", 0],
		["rotations", 1], ["rotations", 2], ["rotations", 3]]
	var columns := {"means": [], "rotations": [], "scales": [], "colors": [], "sh": []}
	for name: String in WIDTHS:
		columns[name].resize(WIDTHS[name])
	columns.sh.resize(rest)
	var sources := []
	for s in 2:
		var slots: Array = slots0 if s == 0 else slots1
		var lead := pad if s == 0 else 0
		var stride := lead + 4 * slots.size()
		var data := PackedByteArray()
		data.resize(stride * n + 8)
		for slot in slots.size():
			var name: String = slots[slot][0]
			if name != "filler":
				columns[name][slots[slot][1]] = Vector2i(s, lead + 4 * slot)
		for i in n:
			for slot in slots.size():
				var name: String = slots[slot][0]
				var value := 1234.5
				if name != "filler":
					var width: int = WIDTHS.get(name, rest)
					value = values[name][i * width + slots[slot][1]]
				data.encode_float(8 + i * stride + lead + 4 * slot, value)
		sources.append({"data": data, "start": 8, "stride": stride})
	return {"sources": sources, "columns": columns}


# The sections a plain per-splat loop writes (halves by PackedByteArray.encode_half).
static func _reference(values: Dictionary, n: int, degree: int) -> Dictionary:
	var height := maxi(1, ceili(n / 2048.0))
	var means := PackedFloat32Array()
	means.resize(height * 2048 * 4)
	for i in values.means.size():
		means[i] = values.means[i]
	var out := {"means": means.to_byte_array()}
	for name: String in ["rotations", "scales", "colors"]:
		var octets := PackedByteArray()
		octets.resize(height * 2048 * 8)
		var width: int = WIDTHS[name]
		for i in n:
			for j in width:
				octets.encode_half(8 * i + 2 * j, values[name][i * width + j])
		out[name] = octets
	var sh := PackedByteArray()
	if degree > 0:
		var per := SplatCloud.sh_texels_for(degree)
		var rest: int = values.sh.size() / n
		sh.resize(ceili(n / 512.0) * 512 * per * 8)
		for i in n:
			for j in rest:
				sh.encode_half(per * 8 * i + 2 * j, values.sh[i * rest + j])
	out["sh"] = sh
	return out
