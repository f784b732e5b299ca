extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/importers/ply_decoder.gd: the real files of
## shared/data/splats and small PLYs written here (any order, other types, broken ones).

const PlyDecoder = preload("res://addons/continuum/editor/importers/ply_decoder.gd")
const PlyWriter = preload("res://tests/unit/editor/importers/ply_writer.gd")

var _scratch := PackedByteArray([0, 0])


func test_reads_the_reference_layout() -> void:
	var data := _real("ply/pc_short.ply")
	if data.is_empty():
		return
	var cloud := _decoded(data)
	if cloud == null:
		return
	assert_eq([cloud.count, cloud.sh_degree, cloud.sh_texels], [100, 3, 12])
	var table := _float_table(data)
	for i in [0, 1, 50, 99]:
		_assert_splat(cloud, i, table, 3, "pc_short splat %d" % i)


func test_maps_alphabetical_properties_by_name() -> void:
	var data := _real("ply/yashica-t4-top8192.ply")
	if data.is_empty():
		return
	var cloud := _decoded(data)
	if cloud == null:
		return
	assert_eq([cloud.count, cloud.sh_degree], [8192, 3])
	var table := _float_table(data)
	assert_eq(Array(table.names.slice(0, 5)), ["f_dc_0", "f_dc_1", "f_dc_2", "f_rest_0", "f_rest_1"])
	for i in [0, 4095, 8191]:
		_assert_splat(cloud, i, table, 3, "yashica splat %d" % i)


func test_reads_degree_zero_without_normals() -> void:
	var data := _real("ply/v3dg-donut-fused.ply")
	if data.is_empty():
		return
	var cloud := _decoded(data)
	if cloud == null:
		return
	assert_eq([cloud.count, cloud.sh_degree, cloud.sh_texels, cloud.sh.size()], [45624, 0, 0, 0])
	var table := _float_table(data)
	for i in [0, 45623]:
		_assert_splat(cloud, i, table, 0, "donut splat %d" % i)
	assert_true(cloud.aabb.has_point(cloud.get_positions()[0]), "the box holds the splats")


func test_any_order_and_other_property_types() -> void:
	var names := PlyWriter.gaussian_names(1, false)
	var rows := PlyWriter.random_rows(names, 5, 1)
	# Reverse the order and put a uchar, a double and a short among the float properties.
	var properties := [["uchar", "red"]]
	var order := range(names.size())
	order.reverse()
	for j in order:
		properties.append(["float", names[j]])
		if j == 4:
			properties.append(["double", "confidence"])
	properties.append(["short", "label"])
	var file_rows := []
	for row: Array in rows:
		var file_row := [200]
		for j in order:
			file_row.append(row[j])
			if j == 4:
				file_row.append(0.25)
		file_row.append(-7)
		file_rows.append(file_row)
	var cloud := _decoded(PlyWriter.write(properties, file_rows))
	if cloud == null:
		return
	var table := {"names": names, "rows": rows}
	for i in 5:
		_assert_splat(cloud, i, table, 1, "splat %d" % i)


func test_options_cut_sh_and_splats() -> void:
	var names := PlyWriter.gaussian_names(3)
	var rows := PlyWriter.random_rows(names, 40, 2)
	var data := PlyWriter.write(_floats(names), rows)
	var table := {"names": names, "rows": rows}
	var one: SplatCloud = PlyDecoder.decode(data, {"sh_degree": 1}).cloud
	assert_eq([one.sh_degree, one.sh_texels], [1, 3])
	_assert_splat(one, 7, table, 1, "degree 1 of a degree-3 file", 3)
	var none: SplatCloud = PlyDecoder.decode(data, {"sh_degree": 0}).cloud
	assert_eq([none.sh_degree, none.sh.size()], [0, 0])
	var more: SplatCloud = PlyDecoder.decode(data, {"sh_degree": 3}).cloud
	assert_eq(more.sh_degree, 3)
	var few: SplatCloud = PlyDecoder.decode(data, {"max_splats": 10}).cloud
	assert_eq(few.count, 10)
	var opacity := names.find("opacity")
	var logits := rows.map(func(row: Array) -> float: return row[opacity])
	logits.sort()
	var kept := few.means.to_float32_array()
	for i in 10:
		assert_true(kept[4 * i + 3] >= logits[30], "splat %d is among the 10 most opaque" % i)


func test_refuses_what_it_cannot_read_by_name() -> void:
	var names := PlyWriter.gaussian_names(0)
	var rows := PlyWriter.random_rows(names, 3, 3)
	var good := PlyWriter.write(_floats(names), rows)
	var double_x := _floats(names)
	double_x[0] = ["double", "x"]
	var mesh := PlyWriter.write([["float", "x"], ["float", "y"], ["float", "z"],
		["uchar", "red"]], [[0.0, 1.0, 2.0, 3]], "binary_little_endian", "",
		"element face 0\nproperty list uchar int vertex_indices\n")
	var ten_rest := _floats(names)
	for i in 10:
		ten_rest.append(["float", "f_rest_%d" % i])
	var cases := {
		"ascii": [PlyWriter.write(_floats(names), [], "ascii"), "unsupported", "ascii"],
		"big-endian": [PlyWriter.write(_floats(names), [], "binary_big_endian"), "unsupported",
			"binary_big_endian"],
		"double x": [PlyWriter.write(double_x, _rows_with(rows, 0, 1.0)), "unsupported",
			"x is double"],
		"mesh": [mesh, "not_splats", "f_dc_0"],
		"compressed": [PlyWriter.write([["int", "packed_position"]], [[1]]), "not_splats",
			"PlayCanvas"],
		"ten f_rest": [PlyWriter.write(ten_rest, []), "corrupt", "f_rest"],
		"truncated": [good.slice(0, good.size() - 1), "truncated", "promises 3 splats"],
		"lying count": [_replaced(good, "vertex 3", "vertex 99999999999999999"), "truncated",
			"promises 99999999999999999"],
		"no end_header": [_replaced(good, "end_header", "end_headxx"), "corrupt", "end_header"],
		"not a ply": [_replaced(good, "ply", "pyl"), "corrupt", "'ply'"],
		"unknown keyword": [PlyWriter.write(_floats(names), [], "binary_little_endian",
			"texture x\n"), "corrupt", "unknown keyword"],
		"twice": [PlyWriter.write(_floats(names) + [["float", "x"]], []), "corrupt", "twice"],
		"list before vertex": [_element_first(good, "element edge 1\nproperty list uchar int v\n"),
			"unsupported", "edge"],
		"no vertex": [_replaced(good, "element vertex", "element points"), "not_splats",
			"no vertex element"],
	}
	for label: String in cases:
		var result := PlyDecoder.decode(cases[label][0])
		if assert_true(result.has("error"), label + " is refused"):
			assert_eq(result.error, cases[label][1], label)
			assert_true(str(result.message).contains(cases[label][2]),
				"%s: '%s' should mention %s" % [label, result.message, cases[label][2]])


func test_skips_fixed_elements_before_the_vertex_one() -> void:
	var names := PlyWriter.gaussian_names(0)
	var rows := PlyWriter.random_rows(names, 4, 4)
	var data := PlyWriter.write(_floats(names), rows)
	# Two 2-octet rows of an element declared first, placed before the vertex rows.
	var text := data.get_string_from_ascii()
	var body := text.find("end_header\n") + 11
	var with_camera := _element_first(data, "element camera 2\nproperty short id\n")
	var shift := with_camera.size() - data.size()
	var moved := with_camera.slice(0, body + shift)
	moved.append_array(PackedByteArray([1, 0, 2, 0]))
	moved.append_array(data.slice(body))
	var cloud := _decoded(moved)
	if cloud != null:
		_assert_splat(cloud, 3, {"names": names, "rows": rows}, 0, "after a camera element")


func test_survives_fuzzing() -> void:
	# The real file where it is there (no skip: the written one is fuzzed anyway).
	var folder := splat_data_dir()
	var real := PackedByteArray() if folder.is_empty() else FileAccess.get_file_as_bytes(
		folder.path_join("ply/pc_short.ply"))
	var names := PlyWriter.gaussian_names(1)
	var small := PlyWriter.write(_floats(names), PlyWriter.random_rows(names, 20, 5))
	var rng := RandomNumberGenerator.new()
	rng.seed = 6
	var outcomes := {"cloud": 0, "error": 0}
	var rounds := 0
	for data: PackedByteArray in [small, real]:
		if data.is_empty():
			continue
		rounds += 150
		for round in 150:
			var mutated := _mutated(data, rng, round)
			var result := PlyDecoder.decode(mutated, {"max_splats": 10 if round % 7 == 0 else 0})
			if result.has("error"):
				outcomes.error += 1
				assert_true(not str(result.message).is_empty(), "an error says what")
			else:
				outcomes.cloud += 1
				assert_eq(result.cloud.check(), {}, "a decoded cloud is consistent")
	assert_true(outcomes.error > rounds / 5 and outcomes.cloud > rounds / 5, str(outcomes))


func _decoded(data: PackedByteArray, options: Dictionary = {}) -> SplatCloud:
	var result := PlyDecoder.decode(data, options)
	if not assert_false(result.has("error"), str(result.get("message"))):
		return null
	return result.cloud


# Checks splat i of the cloud against the file's values (table: {names, rows} or a real file's
# {names, body, stride, data}), SH up to [param degree] of a file of [param file_degree].
func _assert_splat(
	cloud: SplatCloud, i: int, table: Dictionary, degree: int, label: String,
	file_degree: int = -1
) -> void:
	var value := func(name: String) -> float: return _value(table, i, name)
	var expect_means := [value.call("x"), value.call("y"), value.call("z"), value.call("opacity")]
	for j in 4:
		assert_eq(cloud.means.decode_float(16 * i + 4 * j), expect_means[j], "%s mean %d" % [
			label, j])
	var halves := {
		"rotations": ["rot_0", "rot_1", "rot_2", "rot_3"],
		"scales": ["scale_0", "scale_1", "scale_2"], "colors": ["f_dc_0", "f_dc_1", "f_dc_2"],
	}
	for section: String in halves:
		for j in halves[section].size():
			assert_eq(cloud.get(section).decode_u16(8 * i + 2 * j),
				_half_bits(value.call(halves[section][j])), "%s %s %d" % [label, section, j])
	var file_k := (maxi(file_degree, degree) + 1) ** 2
	for k in range(1, (degree + 1) ** 2):
		for channel in 3:
			var name := "f_rest_%d" % (channel * (file_k - 1) + k - 1)
			var at := cloud.sh_texels * 8 * i + 2 * (3 * (k - 1) + channel)
			assert_eq(cloud.sh.decode_u16(at), _half_bits(value.call(name)), "%s %s" % [
				label, name])


func _half_bits(value: float) -> int:
	_scratch.encode_half(0, value)
	return _scratch.decode_u16(0)


static func _value(table: Dictionary, i: int, name: String) -> float:
	var j: int = Array(table.names).find(name)
	if table.has("rows"):
		return table.rows[i][j]
	return table.data.decode_float(table.body + i * table.stride + 4 * j)


# A real file's float properties: {names, data, body, stride}.
static func _float_table(data: PackedByteArray) -> Dictionary:
	var text := data.slice(0, 8192).get_string_from_ascii()
	var names := PackedStringArray()
	for line in text.left(text.find("end_header")).split("\n"):
		if line.begins_with("property float "):
			names.append(line.substr(15).strip_edges())
	return {"names": names, "data": data, "body": text.find("end_header\n") + 11,
		"stride": 4 * names.size()}


func _real(relative: String) -> PackedByteArray:
	var folder := splat_data_dir()
	if folder.is_empty():
		skip("the real splat files (shared/data/splats) are not there")
		return PackedByteArray()
	return FileAccess.get_file_as_bytes(folder.path_join(relative))


static func _floats(names: PackedStringArray) -> Array:
	return Array(names).map(func(name: String) -> Array: return ["float", name])


static func _rows_with(rows: Array, column: int, value: float) -> Array:
	return rows.map(func(row: Array) -> Array:
		var copy := row.duplicate()
		copy[column] = value
		return copy)


# The file with [param old] replaced by [param new] in its header.
static func _replaced(data: PackedByteArray, old: String, new: String) -> PackedByteArray:
	var text := data.get_string_from_ascii()
	var end := text.find("end_header\n") + 11
	var out := text.left(end).replace(old, new).to_ascii_buffer()
	out.append_array(data.slice(end))
	return out


# The file with [param lines] (an element declaration) put before the vertex element.
static func _element_first(data: PackedByteArray, lines: String) -> PackedByteArray:
	var text := data.get_string_from_ascii()
	var end := text.find("end_header\n") + 11
	var out := text.left(end).replace("element vertex", lines + "element vertex").to_ascii_buffer()
	out.append_array(data.slice(end))
	return out


static func _mutated(
	data: PackedByteArray, rng: RandomNumberGenerator, round: int
) -> PackedByteArray:
	var out := data.duplicate()
	match round % 3:
		0:
			return data.slice(0, rng.randi_range(0, data.size() - 1))
		1:
			for i in rng.randi_range(1, 8):
				out[rng.randi_range(0, out.size() - 1)] = rng.randi_range(0, 255)
		2:
			for i in rng.randi_range(1, 3):
				out[rng.randi_range(0, mini(out.size(), 2048) - 1)] = rng.randi_range(0, 255)
	return out
