@tool
extends RefCounted
## Decodes a 3D Gaussian splat PLY, the reference trainer's format (graphdeco-inria), into a
## SplatCloud.
##
## Binary little-endian only. The "vertex" element's properties are mapped by name, in whatever
## order the file has them, and must be float:
## [codeblock]
## x y z                 means
## f_dc_0 f_dc_1 f_dc_2  the SH DC term of channel 0, 1, 2
## f_rest_i              0, 9, 24 or 45 of them (SH degree 0..3), channel-major: f_rest_0 ..
##                       f_rest_(K-2) are the red coefficients 1..K-1, then green, then blue
## opacity               opacity logit
## scale_0..2            log-scales
## rot_0..3              quaternion w, x, y, z as stored
## [/codeblock]
## Other vertex properties of any type (normals, anything) are skipped; elements declared before
## the vertex one are skipped (unless they hold lists), elements after it are never read. The
## vertex rows go to splat_cloud_builder.gd as they lie in the file: no GDScript loop per splat.

const SplatCloudBuilder = preload("res://addons/continuum/splats/splat_cloud_builder.gd")

## The header must end within this many octets.
const MAX_HEADER_BYTES := 1 << 20
## Octets of each PLY scalar type.
const TYPE_SIZES := {
	"char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2,
	"uint16": 2, "half": 2, "float16": 2, "int": 4, "int32": 4, "uint": 4, "uint32": 4,
	"float": 4, "float32": 4, "double": 8, "float64": 8,
}

const _MEANS := ["x", "y", "z", "opacity"]
const _ROTATIONS := ["rot_0", "rot_1", "rot_2", "rot_3"]
const _SCALES := ["scale_0", "scale_1", "scale_2"]
const _COLORS := ["f_dc_0", "f_dc_1", "f_dc_2"]
const _REST_COUNTS := [0, 9, 24, 45]
const _MAX_COUNT_DIGITS := 18


## The cloud in [param data] (a whole .ply file): [code]{"cloud": SplatCloud}[/code] or the error
## value [code]{"error": code, "message": text}[/code], code one of [code]corrupt[/code],
## [code]truncated[/code], [code]unsupported[/code], [code]not_splats[/code] (a PLY without
## 3DGS properties, such as a mesh) and [code]too_large[/code]. Options: [code]sh_degree[/code]
## keeps SH up to that degree (-1, the default, all there is); [code]max_splats[/code] > 0 keeps
## that many of the most opaque splats (0, the default, all).
static func decode(data: PackedByteArray, options: Dictionary = {}) -> Dictionary:
	var header := _parse_header(data)
	if header.has("error"):
		return header
	# 1. Find the vertex element, past the fixed-size elements before it.
	var start: int = header.body
	var vertex := {}
	for element: Dictionary in header.elements:
		var row := _row_octets(element)
		if element.name == "vertex":
			vertex = element
			break
		if row < 0:
			return _failure("unsupported", "element '%s' before the vertex element has a list "
				% element.name + "property; move the vertex element first")
		if not SplatCloudBuilder.fits(element.count, row, data.size() - start):
			return _failure("truncated", "the %s element runs past the end of the file" % (
				element.name))
		start += element.count * row
	if vertex.is_empty():
		return _failure("not_splats", "no vertex element; the elements are %s" % [
			header.elements.map(func(e: Dictionary) -> String: return e.name)])
	# 2. Where each 3DGS property lies in a row.
	var stride := _row_octets(vertex)
	if stride <= 0:
		return _failure("unsupported", "the vertex element has a list property or none at all")
	var offsets := {}
	var offset := 0
	for property: Dictionary in vertex.properties:
		offsets[property.name] = [offset, property.type]
		offset += TYPE_SIZES[property.type]
	var rest := _rest_count(offsets)
	if rest < 0:
		return _failure("corrupt", "expected f_rest_0..f_rest_(m-1) with m in %s (SH degree "
			% [_REST_COUNTS] + "0..3), got %d f_rest properties" % (-rest - 1))
	var missing := (_MEANS.slice(0, 3) + _COLORS + ["opacity"] + _SCALES + _ROTATIONS).filter(
		func(name: String) -> bool: return not offsets.has(name))
	if not missing.is_empty():
		var hint := " (a PlayCanvas compressed PLY; convert it to a 3DGS PLY first)" \
			if offsets.has("packed_position") else " (a mesh or point-cloud PLY?)"
		return _failure("not_splats", "this PLY holds no 3D Gaussian splats: the vertex element "
			+ "lacks %s%s" % [", ".join(missing), hint])
	var file_degree: int = _REST_COUNTS.find(rest)
	var degree := file_degree
	var wanted_degree := int(options.get("sh_degree", -1))
	if wanted_degree >= 0:
		degree = mini(degree, wanted_degree)
	var columns := {"means": [], "rotations": [], "scales": [], "colors": [], "sh": []}
	var groups := {"means": _MEANS, "rotations": _ROTATIONS, "scales": _SCALES, "colors": _COLORS}
	var file_k := (file_degree + 1) * (file_degree + 1)
	var sh_names: Array[String] = []
	for k in range(1, (degree + 1) * (degree + 1)):
		for channel in 3:
			sh_names.append("f_rest_%d" % (channel * (file_k - 1) + k - 1))
	groups["sh"] = sh_names
	for group: String in groups:
		for name: String in groups[group]:
			if offsets[name][1] != "float" and offsets[name][1] != "float32":
				return _failure("unsupported", "property %s is %s; splat properties must be float"
					% [name, offsets[name][1]])
			columns[group].append(Vector2i(0, offsets[name][0]))
	# 3. Every row there, then the cloud.
	if not SplatCloudBuilder.fits(vertex.count, stride, data.size() - start):
		return _failure("truncated", "the header promises %d splats of %d octets but only %d "
			% [vertex.count, stride, data.size() - start]
			+ "octets follow it (room for %d)" % ((data.size() - start) / stride))
	var source := {"data": data, "start": start, "stride": stride}
	return SplatCloudBuilder.build(
		[source], vertex.count, columns, degree, int(options.get("max_splats", 0)))


# {body: octet where the elements start, elements: [{name, count, properties: [{name, type,
# list}]}]} or an error value.
static func _parse_header(data: PackedByteArray) -> Dictionary:
	if data.size() < 4 or data.slice(0, 3).get_string_from_ascii() != "ply":
		return _failure("corrupt", "not a PLY file: it does not start with 'ply'")
	# One character per octet, up to the first zero octet (which the header never holds).
	var text := data.slice(0, mini(data.size(), MAX_HEADER_BYTES)).get_string_from_ascii()
	var end := text.find("\nend_header")
	if end < 0:
		return _failure("corrupt", "no end_header line in the first %d octets" % MAX_HEADER_BYTES)
	var newline := text.find("\n", end + 1)
	if newline < 0:
		return _failure("truncated", "the end_header line has no line end")
	var lines := text.left(end).split("\n")
	if lines[0].strip_edges() != "ply":
		return _failure("corrupt", "the first line is '%s', expected 'ply'" % lines[0].left(40))
	var format := ""
	var elements: Array[Dictionary] = []
	for number in range(1, lines.size()):
		var words := lines[number].strip_edges().split(" ", false)
		var where := "header line %d ('%s')" % [number + 1, lines[number].strip_edges().left(60)]
		if words.is_empty() or words[0] in ["comment", "obj_info"]:
			continue
		match words[0]:
			"format":
				if words.size() != 3:
					return _failure("corrupt", where + ": expected 'format <kind> 1.0'")
				format = words[1]
			"element":
				if words.size() != 3 or not _is_count(words[2]):
					return _failure("corrupt", where + ": expected 'element NAME COUNT'")
				if elements.any(func(e: Dictionary) -> bool: return e.name == words[1]):
					return _failure("corrupt", where + ": element %s is declared twice" % words[1])
				elements.append({"name": words[1], "count": words[2].to_int(), "properties": []})
			"property":
				var property := _parse_property(words)
				if elements.is_empty() or property.is_empty():
					return _failure("corrupt", where + ": expected 'property TYPE NAME' after an "
						+ "element, TYPE one of %s" % ", ".join(TYPE_SIZES.keys()))
				var properties: Array = elements.back().properties
				if properties.any(func(p: Dictionary) -> bool: return p.name == property.name):
					return _failure("corrupt", where + ": property %s is declared twice" % (
						property.name))
				properties.append(property)
			_:
				return _failure("corrupt", where + ": unknown keyword '%s'" % words[0].left(20))
	if format != "binary_little_endian":
		var what := "no format line" if format.is_empty() else "format %s" % format.left(30)
		return _failure("unsupported", "the header has %s; only binary_little_endian PLY is "
			% what + "read (save it as binary little-endian, e.g. with the backend's write_splats)")
	return {"body": newline + 1, "elements": elements}


# {name, type, list} or {} when the words are no property line.
static func _parse_property(words: PackedStringArray) -> Dictionary:
	if words.size() == 3 and TYPE_SIZES.has(words[1]):
		return {"name": words[2], "type": words[1], "list": false}
	if words.size() == 5 and words[1] == "list" and TYPE_SIZES.has(words[2]) \
			and TYPE_SIZES.has(words[3]):
		return {"name": words[4], "type": words[3], "list": true}
	return {}


# Octets per row of a list-free element, -1 when it holds a list.
static func _row_octets(element: Dictionary) -> int:
	var total := 0
	for property: Dictionary in element.properties:
		if property.list:
			return -1
		total += TYPE_SIZES[property.type]
	return total


# m when the f_rest_i are exactly f_rest_0..f_rest_(m-1) with m in _REST_COUNTS, else -1 - m.
static func _rest_count(offsets: Dictionary) -> int:
	var indices: Array[int] = []
	for name: String in offsets:
		if name.begins_with("f_rest_"):
			var digits := name.substr(7)
			if digits.is_empty() or digits.length() > 9 or not digits.is_valid_int() \
					or not digits[0] in "0123456789":
				continue
			indices.append(digits.to_int())
	indices.sort()
	for i in indices.size():
		if indices[i] != i:
			return -1 - indices.size()
	return indices.size() if indices.size() in _REST_COUNTS else -1 - indices.size()


static func _is_count(word: String) -> bool:
	if word.is_empty() or word.length() > _MAX_COUNT_DIGITS:
		return false
	for character in word:
		if not character in "0123456789":
			return false
	return true


static func _failure(code: String, message: String) -> Dictionary:
	return SplatCloudBuilder.failure(code, message)
