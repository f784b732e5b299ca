extends "res://tests/test_case.gd"
## Tests of addons/continuum/splats/splat_cloud.gd: layout, the engine pack both ways, images.

# What Python's pack_splats writes for 2 splats of SH degree 1 whose box runs from (-1.5, -2, 3)
# to (0.1, 4.25, 7.7) in float32 (tests/integration/test_godot_import.py checks whole packs).
const PYTHON_HEADER := (
	'{"aabb":[-1.5,-2.0,3.0,0.10000000149011612,4.25,7.699999809265137],"count":2,"height":1,'
	+ '"sections":[{"bytes":32768,"format":"rgba32f","name":"means","offset":512},'
	+ '{"bytes":16384,"format":"rgba16f","name":"rotations","offset":33280},'
	+ '{"bytes":16384,"format":"rgba16f","name":"scales","offset":49664},'
	+ '{"bytes":16384,"format":"rgba16f","name":"colors","offset":66048},'
	+ '{"bytes":12288,"format":"rgba16f","name":"sh","offset":82432}],'
	+ '"sh_degree":1,"sh_height":1,"sh_texels":3,"sh_width":1536,"width":2048}'
)
const PYTHON_PACK_BYTES := 94720


func test_layout_sizes() -> void:
	assert_eq([0, 1, 2, 3].map(SplatCloud.sh_texels_for), [0, 3, 6, 12])
	var cloud := SplatCloud.new()
	for case: Array in [[0, 1, 0], [1, 1, 1], [2048, 1, 4], [2049, 2, 5], [4097, 3, 9]]:
		cloud.count = case[0]
		cloud.sh_degree = 2
		assert_eq(cloud.get_height(), case[1], "height of %d" % case[0])
		assert_eq(cloud.get_sh_height(), case[2], "sh height of %d" % case[0])
	cloud.sh_degree = 0
	assert_eq(cloud.get_sh_height(), 0, "no sh rows at degree 0")
	var made := _cloud(3000, 3, 1)
	assert_eq(made.gpu_bytes(), 2 * 2048 * (16 + 3 * 8) + 6 * 512 * 12 * 8)
	assert_eq(made.check(), {})


func test_to_pack_writes_the_header_python_writes() -> void:
	var cloud := _cloud(2, 1, 0)
	cloud.set_bounds(Vector3(-1.5, -2, 3), Vector3(0.1, 4.25, 7.7))
	var pack := cloud.to_pack()
	assert_eq(pack.size(), PYTHON_PACK_BYTES)
	assert_eq(pack.slice(0, 4).get_string_from_ascii(), "CSPK")
	assert_eq(pack.decode_u32(4), 1, "version")
	var length := pack.decode_u32(8)
	assert_eq(pack.slice(12, 12 + length).get_string_from_ascii(), PYTHON_HEADER)
	assert_eq(pack.slice(12 + length, 512), _zeros(512 - 12 - length), "zero padding")
	assert_eq(pack.slice(512, 512 + 32768), cloud.means)
	assert_eq(pack.slice(82432, 82432 + 12288), cloud.sh)


func test_pack_round_trips_byte_for_byte() -> void:
	for degree in 4:
		for n in [0, 1, 2049]:
			var cloud := _cloud(n, degree, degree * 10 + n)
			var pack := cloud.to_pack()
			assert_eq(pack.size() % 16, 0, "pack size is aligned")
			var back := SplatCloud.from_pack(pack)
			if not assert_false(back.has("error"), str(back.get("message"))):
				continue
			var got: SplatCloud = back.cloud
			var label := "degree %d, %d splats" % [degree, n]
			assert_eq([got.count, got.sh_degree, got.sh_texels],
				[n, degree, cloud.sh_texels], label)
			assert_eq(got.aabb, cloud.aabb, label)
			for name: String in ["means", "rotations", "scales", "colors", "sh"]:
				assert_true(got.get(name) == cloud.get(name), "%s of %s" % [name, label])
			assert_true(got.to_pack() == pack, "to_pack(from_pack(p)) == p for " + label)


func test_header_keeps_the_exact_max_corner() -> void:
	var cloud := _cloud(1, 0, 2)
	# position + size in float32 misses 0.0001 by far: the header must not.
	cloud.set_bounds(Vector3(-1000.1, 0, 0), Vector3(0.0001, 1, 1))
	assert_ne(cloud.aabb.end.x, PackedFloat32Array([0.0001])[0], "the AABB alone is lossy")
	var back: SplatCloud = SplatCloud.from_pack(cloud.to_pack()).cloud
	assert_true(back.to_pack() == cloud.to_pack(), "the exact corner survives a round trip")
	assert_true(_header(cloud.to_pack()).contains("9.999999747378752e-05"),
		_header(cloud.to_pack()))
	cloud.aabb = AABB(Vector3.ZERO, Vector3.ONE)
	assert_true(_header(cloud.to_pack()).begins_with('{"aabb":[0.0,0.0,0.0,1.0,1.0,1.0],'),
		"a box set directly is written as it is")


func test_create_images_share_the_sections() -> void:
	var cloud := _cloud(3000, 2, 3)
	var images := cloud.create_images()
	assert_eq(images.keys(), ["means", "rotations", "scales", "colors", "sh"])
	var means: Image = images.means
	assert_eq([means.get_width(), means.get_height(), means.get_format()],
		[2048, 2, Image.FORMAT_RGBAF])
	for name: String in ["rotations", "scales", "colors"]:
		var image: Image = images[name]
		assert_eq([image.get_width(), image.get_height(), image.get_format()],
			[2048, 2, Image.FORMAT_RGBAH], name)
		assert_true(image.get_data() == cloud.get(name), name + " bytes")
	var sh: Image = images.sh
	assert_eq([sh.get_width(), sh.get_height(), sh.get_format()],
		[6 * 512, 6, Image.FORMAT_RGBAH])
	assert_eq(_cloud(10, 0, 4).create_images().keys(), ["means", "rotations", "scales", "colors"])
	assert_false(_cloud(0, 3, 4).create_images().has("sh"), "an empty cloud has no sh rows")


func test_get_positions_reads_the_means_once() -> void:
	var cloud := _cloud(2050, 0, 5)
	var positions := cloud.get_positions()
	var floats := cloud.means.to_float32_array()
	assert_eq(positions.size(), 2050)
	for i in [0, 1, 2047, 2048, 2049]:
		assert_eq(positions[i], Vector3(floats[4 * i], floats[4 * i + 1], floats[4 * i + 2]))
	assert_true(cloud.get_positions() == positions, "cached")
	var moved := cloud.means.duplicate()
	moved.encode_float(0, 123.5)
	cloud.means = moved
	assert_eq(cloud.get_positions()[0].x, 123.5, "a new means section drops the cache")
	assert_eq(_cloud(0, 0, 6).get_positions().size(), 0)


func test_get_positions_from_several_threads_at_once() -> void:
	# SplatInstance3D reads them on a worker while the game reads them too: each caller gets all.
	# The calls race for microseconds, so many small clouds (the old code lost one in a hundred).
	var go := Semaphore.new()  # Posted once all four started, so that their calls meet.
	var short := []
	for attempt in 1000:
		var cloud := _cloud(8, 0, attempt)
		var threads := []
		for t in 4:
			var thread := Thread.new()
			thread.start(func() -> int:
				go.wait()
				return cloud.get_positions().size())
			threads.append(thread)
		for t in 4:
			go.post()
		var sizes := [cloud.get_positions().size()]
		for thread: Thread in threads:
			sizes.append(thread.wait_to_finish())
		if sizes != [8, 8, 8, 8, 8]:
			short.append([attempt, sizes])
	assert_eq(short, [], "attempts where a caller got fewer than the 8 positions")


func test_inconsistent_sections_are_reported_not_used() -> void:
	var cloud := _cloud(10, 1, 7)
	cloud.scales = cloud.scales.slice(8)
	assert_eq(cloud.check().get("error"), "corrupt")
	assert_true(str(cloud.check().get("message")).contains("scales"), str(cloud.check()))
	assert_eq(cloud.create_images(), {})
	assert_eq(cloud.to_pack().size(), 0)
	assert_eq(cloud.get_positions().size(), 0)
	var wrong_texels := _cloud(10, 1, 7)
	wrong_texels.sh_texels = 2
	assert_true(str(wrong_texels.check().get("message")).contains("sh_texels"))


func test_from_pack_refuses_broken_packs_by_name() -> void:
	var pack := _cloud(5, 1, 8).to_pack()
	var length := pack.decode_u32(8)
	var header := _header(pack)
	var cases := {
		"empty": [PackedByteArray(), "CSPK"],
		"bad magic": [_with(pack, 0, 0x58), "CSPK"],
		"version": [_with_u32(pack, 4, 2), "version 2"],
		"header past the end": [_with_u32(pack, 8, pack.size()), "runs past the end"],
		"not json": [_with(pack, 12, 0x5b), "JSON"],
		"non-ascii": [_with(pack, 14, 0xc3), "non-ASCII"],
		"count vs height": [_with_header(pack, header.replace('"height":1', '"height":2')),
			"out of range"],
		"degree 4": [_with_header(pack, header.replace('"sh_degree":1', '"sh_degree":4')),
			"out of range"],
		"section size": [_with_header(pack, header.replace('"bytes":32768', '"bytes":32752')),
			"means"],
		"unaligned offset": [_shifted_offset(pack, header, 4), "outside"],
		"offset past the end": [_shifted_offset(pack, header, pack.size()), "outside"],
		"truncated": [pack.slice(0, pack.size() - 16), "outside"],
		"no aabb": [_with_header(pack, header.replace('"aabb"', '"bbox"')), "aabb"],
	}
	for label: String in cases:
		var result := SplatCloud.from_pack(cases[label][0])
		if assert_true(result.has("error"), label):
			assert_true(str(result.message).contains(cases[label][1]),
				"%s: '%s' should mention %s" % [label, result.message, cases[label][1]])
	assert_eq(length, header.length())


func test_from_pack_survives_fuzzing() -> void:
	var pack := _cloud(40, 2, 9).to_pack()
	var rng := RandomNumberGenerator.new()
	rng.seed = 11
	var outcomes := {"cloud": 0, "error": 0}
	for round in 300:
		var mutated := pack.duplicate()
		match round % 3:
			0:
				mutated = pack.slice(0, rng.randi_range(0, pack.size() - 1))
			1:
				for i in rng.randi_range(1, 8):
					mutated[rng.randi_range(0, mutated.size() - 1)] = rng.randi_range(0, 255)
			2:
				for i in rng.randi_range(1, 3):
					mutated[rng.randi_range(0, 700)] = rng.randi_range(0, 255)
		var result := SplatCloud.from_pack(mutated)
		if result.has("error"):
			outcomes.error += 1
			assert_true(result.error in ["corrupt", "unsupported"], str(result))
		else:
			outcomes.cloud += 1
			assert_eq(result.cloud.check(), {}, "a cloud that reads is consistent")
	assert_true(outcomes.error > 100 and outcomes.cloud > 50, str(outcomes))


# A cloud of n splats of SH degree [param degree] with random section contents (halves as random
# octets), zero padding and a fixed box.
static func _cloud(n: int, degree: int, seed_value: int) -> SplatCloud:
	var rng := RandomNumberGenerator.new()
	rng.seed = seed_value
	var cloud := SplatCloud.new()
	cloud.count = n
	cloud.sh_degree = degree
	cloud.sh_texels = SplatCloud.sh_texels_for(degree)
	var texels := cloud.get_height() * SplatCloud.TEXTURE_WIDTH
	var means := PackedFloat32Array()
	means.resize(texels * 4)
	for i in n * 4:
		means[i] = rng.randfn() * 3.0
	cloud.means = means.to_byte_array()
	for name: String in ["rotations", "scales", "colors"]:
		cloud.set(name, _random_octets(rng, n * 8, texels * 8))
	var sh_octets := cloud.get_sh_height() * SplatCloud.SH_SPLATS_PER_ROW * cloud.sh_texels * 8
	cloud.sh = _random_octets(rng, n * cloud.sh_texels * 8, sh_octets)
	cloud.set_bounds(Vector3(-4, -5, -6), Vector3(4, 5, 6))
	return cloud


static func _random_octets(rng: RandomNumberGenerator, used: int, size: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(size)
	for i in used:
		out[i] = rng.randi_range(0, 255)
	return out


static func _zeros(size: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(size)
	return out


static func _header(pack: PackedByteArray) -> String:
	return pack.slice(12, 12 + pack.decode_u32(8)).get_string_from_ascii()


static func _with(pack: PackedByteArray, at: int, octet: int) -> PackedByteArray:
	var out := pack.duplicate()
	out[at] = octet
	return out


static func _with_u32(pack: PackedByteArray, at: int, value: int) -> PackedByteArray:
	var out := pack.duplicate()
	out.encode_u32(at, value)
	return out


# The pack with its header text replaced by one of the same length.
static func _with_header(pack: PackedByteArray, text: String) -> PackedByteArray:
	var out := pack.duplicate()
	var raw := text.to_ascii_buffer()
	for i in raw.size():
		out[12 + i] = raw[i]
	return out


# The pack with the means offset moved by [param delta] (its digits kept to the same length
# by replacing the whole number with one as long).
static func _shifted_offset(pack: PackedByteArray, header: String, delta: int) -> PackedByteArray:
	var marker := '"name":"means","offset":'
	var start := header.find(marker) + marker.length()
	var digits := header.substr(start, header.find("}", start) - start)
	var moved := str(digits.to_int() + delta)
	if moved.length() != digits.length():
		moved = "9".repeat(digits.length())
	return _with_header(pack, header.left(start) + moved + header.substr(start + digits.length()))
