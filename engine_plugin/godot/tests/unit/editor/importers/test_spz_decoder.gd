extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/importers/spz_decoder.gd: the real SPZ file of
## shared/data/splats and small streams written here, versions 2 and 3.

const SpzDecoder = preload("res://addons/continuum/editor/importers/spz_decoder.gd")

var _scratch := PackedByteArray([0, 0])


func test_reads_the_real_file() -> void:
	var folder := splat_data_dir()
	if folder.is_empty():
		skip("the real splat files (shared/data/splats) are not there")
		return
	var data := FileAccess.get_file_as_bytes(folder.path_join("spz/yashica-t4-top8192.spz"))
	var result := SpzDecoder.decode(data)
	if not assert_false(result.has("error"), str(result.get("message"))):
		return
	var cloud: SplatCloud = result.cloud
	assert_eq([cloud.count, cloud.sh_degree, cloud.sh_texels], [8192, 3, 12])
	var means := cloud.means.to_float32_array()
	var smallest_logit := INF
	for i in 8192:
		for axis in 3:
			if absf(means[4 * i + axis]) > 0.2501:
				fail("splat %d lies outside the +-0.25 crop: %s" % [i, means[4 * i + axis]])
				return
		smallest_logit = minf(smallest_logit, means[4 * i + 3])
	# Alpha octets 213..255 (MANIFEST.md).
	assert_almost_eq(smallest_logit, log(213.0 / 42.0), 1e-4, "the least opaque splat")
	var images := cloud.create_images()
	var scales: Image = images.scales
	for i in [0, 100, 8191]:
		var log_scale := scales.get_pixel(i % 2048, i / 2048)
		assert_true(log_scale.r >= -10.0 and log_scale.r <= -3.3, "log-scale %s" % log_scale.r)
	assert_true(cloud.aabb.has_point(Vector3.ZERO), "the box holds the crop's centre")


func test_decodes_each_plane_as_spz_py() -> void:
	for version in [2, 3]:
		var points := [
			{"position": [0x000800, -0x000800, 0], "alpha": 255, "colour": [128, 0, 255],
				"scale": [160, 0, 255], "rotation": _identity(version),
				"sh": [128, 192, 64, 0, 255, 128, 128, 128, 128]},
			{"position": [0x7fffff, -0x800000, 1], "alpha": 0, "colour": [1, 2, 3],
				"scale": [1, 2, 3], "rotation": _w_half(version), "sh": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
		]
		var result := SpzDecoder.decode(_spz(version, points, 1, 12))
		if not assert_false(result.has("error"), str(result.get("message"))):
			continue
		var cloud: SplatCloud = result.cloud
		var label := "v%d" % version
		assert_eq([cloud.count, cloud.sh_degree], [2, 1], label)
		var means := cloud.means.to_float32_array()
		assert_eq([means[0], means[1], means[2]], [0.5, -0.5, 0.0], label + " fixed point")
		assert_eq([means[4], means[5]], [0x7fffff / 4096.0, -2048.0], label + " 24-bit ends")
		var edge := 0.25 / 255.0
		assert_almost_eq(means[3], log((1 - edge) / edge), 1e-5, label + " alpha 255")
		assert_almost_eq(means[7], log(edge / (1 - edge)), 1e-5, label + " alpha 0")
		_assert_half(cloud.colors, 0, (128 / 255.0 - 0.5) / 0.15, label + " colour")
		_assert_half(cloud.colors, 2, (255 / 255.0 - 0.5) / 0.15, label + " colour 255")
		_assert_half(cloud.scales, 0, 0.0, label + " scale 160")
		_assert_half(cloud.scales, 1, -10.0, label + " scale 0")
		var axis := 128 / 127.5 - 1.0
		_assert_half(cloud.rotations, 0, 1.0 if version == 3 else sqrt(1 - 3 * axis * axis),
			label + " identity w")
		for j in [1, 2, 3]:
			_assert_half(cloud.rotations, j, 0.0 if version == 3 else 128 / 127.5 - 1.0,
				label + " identity %d" % j)
		_assert_half(cloud.sh, 0, 0.0, label + " sh 128")
		_assert_half(cloud.sh, 1, 0.5, label + " sh 192")
		_assert_half(cloud.sh, 3, -1.0, label + " sh 0")
		_assert_half(cloud.sh, cloud.sh_texels * 4 + 8, (9 - 128) / 128.0, label + " last sh")
		assert_true(absf(cloud.rotations.decode_half(8) - sqrt(0.5)) < 5e-3,
			label + " w of the second: %s" % cloud.rotations.decode_half(8))


func test_sh_fast_path_matches_the_plain_formula() -> void:
	var octets := PackedByteArray()
	for i in 256 * 3:
		octets.append(i % 256)
	var values := SpzDecoder.dequantise_sh(octets).to_float32_array()
	assert_eq(values.size(), 768)
	for i in 768:
		if values[i] != ((i % 256) - 128) / 128.0:
			fail("octet %d gave %s" % [i % 256, values[i]])
			return


func test_options_cut_sh_and_splats() -> void:
	var points := []
	for alpha in [10, 250, 30, 200]:
		points.append({"position": [alpha, 0, 0], "alpha": alpha, "colour": [0, 0, 0],
			"scale": [0, 0, 0], "rotation": _identity(3), "sh": range(24).map(
				func(i: int) -> int: return 100 + i)})
	var data := _spz(3, points, 2, 0)
	var cut: SplatCloud = SpzDecoder.decode(data, {"sh_degree": 1, "max_splats": 2}).cloud
	assert_eq([cut.count, cut.sh_degree, cut.sh_texels], [2, 1, 3])
	assert_eq(Array(cut.get_positions()), [Vector3(250, 0, 0), Vector3(200, 0, 0)])
	_assert_half(cut.sh, 8, (108 - 128) / 128.0, "the degree-1 coefficients are the first nine")
	_assert_half(cut.sh, 9, 0.0, "then padding")


func test_refuses_a_broken_file_by_name() -> void:
	var point := {"position": [0, 0, 0], "alpha": 9, "colour": [0, 0, 0], "scale": [0, 0, 0],
		"rotation": _identity(2), "sh": []}
	var good := _spz(2, [point, point], 0, 12)
	var raw := good.decompress_dynamic(-1, FileAccess.COMPRESSION_GZIP)
	var cases := {
		"not gzip": [raw, "corrupt", "not gzip"],
		"bad magic": [_recompressed(raw, 0, 0x11), "corrupt", "bad magic"],
		"version 1": [_recompressed(raw, 4, 1, true), "unsupported", "version 1"],
		"degree 4": [_recompressed(raw, 12, 4), "unsupported", "SH degree 4"],
		"extensions": [_recompressed(raw, 14, 2), "unsupported", "extensions"],
		"more points than there": [_recompressed(raw, 8, 3, true), "truncated", "promises 3 points"],
		"fewer points than there": [_recompressed(raw, 8, 1, true), "corrupt", "more than"],
		"a count no stream can hold": [_recompressed(raw, 8, 0xfffffff, true), "corrupt",
			"cannot inflate"],
		"cut stream": [good.slice(0, good.size() - 6), "corrupt", "gzip stream"],
		"no header": [PackedByteArray([0x1f, 0x8b]), "corrupt", "header"],
	}
	for label: String in cases:
		var result := SpzDecoder.decode(cases[label][0])
		if assert_true(result.has("error"), label + " is refused"):
			assert_eq(result.error, cases[label][1], label)
			assert_true(str(result.message).contains(cases[label][2]),
				"%s: '%s' should mention %s" % [label, result.message, cases[label][2]])


func test_survives_fuzzing() -> void:
	var rng := RandomNumberGenerator.new()
	rng.seed = 8
	var points := []
	for i in 30:
		points.append({"position": [rng.randi_range(-9999, 9999), 5, 6], "alpha": i,
			"colour": [i, 2, 3], "scale": [4, 5, i], "rotation": rng.randi_range(0, 0xffffffff),
			"sh": range(9).map(func(j: int) -> int: return (i * j) % 256)})
	var raw := _spz(3, points, 1, 10).decompress_dynamic(-1, FileAccess.COMPRESSION_GZIP)
	var outcomes := {"cloud": 0, "error": 0}
	# Mutate the stream inside the gzip, so the planes (not the checksum) meet the damage.
	for round in 120:
		var mutated := raw.duplicate()
		if round % 2 == 0:
			mutated = raw.slice(0, rng.randi_range(0, raw.size() - 1))
		else:
			for i in rng.randi_range(1, 4):
				mutated[rng.randi_range(0, mini(mutated.size(), 40) - 1)] = rng.randi_range(0, 255)
		var result := SpzDecoder.decode(mutated.compress(FileAccess.COMPRESSION_GZIP))
		outcomes["error" if result.has("error") else "cloud"] += 1
		if not result.has("error"):
			assert_eq(result.cloud.check(), {})
	assert_true(outcomes.error > 40 and outcomes.cloud > 10, str(outcomes))


func _assert_half(section: PackedByteArray, index: int, value: float, label: String) -> void:
	_scratch.encode_half(0, value)
	assert_eq(section.decode_u16(2 * index), _scratch.decode_u16(0), "%s (%s)" % [label, value])


# The rotation field of the identity quaternion: v2 x, y, z octets; v3 the largest (w, index 3)
# and three zero fields.
static func _identity(version: int) -> Variant:
	return [128, 128, 128] if version == 2 else 3 << 30


# A rotation with w = sqrt(1/2), x = sqrt(1/2).
static func _w_half(version: int) -> Variant:
	if version == 2:
		return [218, 128, 128]
	return (3 << 30) | (511 << 20)


# An SPZ stream (gzip) of [param points]: {position: 3 ints, alpha, colour: 3, scale: 3,
# rotation: 3 octets (v2) or a u32 (v3), sh: 3 ((degree + 1)^2 - 1) octets}.
static func _spz(version: int, points: Array, degree: int, fractional_bits: int) -> PackedByteArray:
	var head := PackedByteArray()
	head.resize(16)
	head.encode_u32(0, SpzDecoder.MAGIC)
	head.encode_u32(4, version)
	head.encode_u32(8, points.size())
	head[12] = degree
	head[13] = fractional_bits
	var planes := [PackedByteArray(), PackedByteArray(), PackedByteArray(), PackedByteArray(),
		PackedByteArray(), PackedByteArray()]
	for point: Dictionary in points:
		for value: int in point.position:
			planes[0].append_array([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff])
		planes[1].append(point.alpha)
		planes[2].append_array(point.colour)
		planes[3].append_array(point.scale)
		if version == 2:
			planes[4].append_array(point.rotation)
		else:
			var field := PackedByteArray([0, 0, 0, 0])
			field.encode_u32(0, point.rotation)
			planes[4].append_array(field)
		planes[5].append_array(point.sh)
	for plane: PackedByteArray in planes:
		head.append_array(plane)
	return head.compress(FileAccess.COMPRESSION_GZIP)


# The stream [param raw] with the octet (or u32) at [param at] set to [param value], gzipped
# again.
static func _recompressed(
	raw: PackedByteArray, at: int, value: int, word: bool = false
) -> PackedByteArray:
	var out := raw.duplicate()
	if word:
		out.encode_u32(at, value)
	else:
		out[at] = value
	return out.compress(FileAccess.COMPRESSION_GZIP)
