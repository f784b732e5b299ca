extends RefCounted
## Writes small PLY files for the decoder tests: any properties, types, order and format line.

## Octets of each scalar type the tests write.
const TYPES := {"float": 4, "double": 8, "uchar": 1, "char": 1, "short": 2, "int": 4, "half": 2}


## The 3DGS property names for SH degree [param degree], in the reference trainer's order.
static func gaussian_names(degree: int, normals: bool = true) -> PackedStringArray:
	var names := PackedStringArray(["x", "y", "z"])
	if normals:
		names.append_array(["nx", "ny", "nz"])
	names.append_array(["f_dc_0", "f_dc_1", "f_dc_2"])
	for i in 3 * ((degree + 1) * (degree + 1) - 1):
		names.append("f_rest_%d" % i)
	names.append_array(["opacity", "scale_0", "scale_1", "scale_2"])
	names.append_array(["rot_0", "rot_1", "rot_2", "rot_3"])
	return names


## A PLY of one vertex element: [param properties] as [type, name] pairs, [param rows] of values
## in that order; [param head] lines go after the format line, [param tail] after the vertex
## element's properties (more elements).
static func write(
	properties: Array,
	rows: Array,
	format: String = "binary_little_endian",
	head: String = "",
	tail: String = ""
) -> PackedByteArray:
	var text := "ply\nformat %s 1.0\n%selement vertex %d\n" % [format, head, rows.size()]
	for property: Array in properties:
		text += "property %s %s\n" % [property[0], property[1]]
	text += tail + "end_header\n"
	var out := text.to_ascii_buffer()
	var row_octets := 0
	for property: Array in properties:
		row_octets += TYPES[property[0]]
	var body := PackedByteArray()
	body.resize(rows.size() * row_octets)
	var at := 0
	for row: Array in rows:
		for j in properties.size():
			_encode(body, at, properties[j][0], row[j])
			at += TYPES[properties[j][0]]
	out.append_array(body)
	return out


## Rows of random float values, one per splat, for [param names] (opacity spread out so that
## max_splats has something to choose).
static func random_rows(names: PackedStringArray, n: int, seed_value: int) -> Array:
	var rng := RandomNumberGenerator.new()
	rng.seed = seed_value
	var rows := []
	for i in n:
		var row := []
		for name in names:
			row.append(PackedFloat32Array([rng.randfn() * 2.0])[0])
		rows.append(row)
	return rows


static func _encode(body: PackedByteArray, at: int, type: String, value: Variant) -> void:
	match type:
		"float":
			body.encode_float(at, value)
		"double":
			body.encode_double(at, value)
		"uchar":
			body.encode_u8(at, value)
		"char":
			body.encode_s8(at, value)
		"short":
			body.encode_s16(at, value)
		"int":
			body.encode_s32(at, value)
		"half":
			body.encode_half(at, value)
