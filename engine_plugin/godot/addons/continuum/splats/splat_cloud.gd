@tool
class_name SplatCloud
extends Resource
## Gaussian splats laid out as the textures the plugin draws them from.
##
## The storage is the engine pack's sections as they are (python_backend/continuum/splats/pack.py,
## bridge/PROTOCOL.md "Splat packs"), so reading a pack copies each section once and
## [method create_images] wraps the bytes without touching a splat. Every section is an image
## [constant TEXTURE_WIDTH] texels wide, one texel per splat in splat order (row-major), its rows
## padded with zero texels to [method get_height] rows:
## [codeblock]
## means      FORMAT_RGBAF  x, y, z, opacity logit
## rotations  FORMAT_RGBAH  quaternion w, x, y, z (not necessarily normalised)
## scales     FORMAT_RGBAH  log sx, log sy, log sz, 0
## colors     FORMAT_RGBAH  SH DC coefficient r, g, b, 0
## sh         FORMAT_RGBAH  sh_degree > 0 only: sh_texels texels per splat holding the 3 (K - 1)
##                          higher coefficients coefficient-major (k1 r, k1 g, k1 b, k2 r ...),
##                          zero padded; SH_SPLATS_PER_ROW splats per row, get_sh_height() rows
## [/codeblock]
## Get one by importing a .ply, .splat or .spz file, or from a pack with [method from_pack].

## Texels per row of the per-splat sections.
const TEXTURE_WIDTH := 2048
## Splats per row of the [member sh] section.
const SH_SPLATS_PER_ROW := 512
## Rows every Godot renderer can sample.
const MAX_TEXTURE_ROWS := 16384
## The most splats one cloud holds.
const MAX_SPLATS := TEXTURE_WIDTH * MAX_TEXTURE_ROWS
## The engine pack version this reads and writes.
const PACK_VERSION := 1

const FloatRepr = preload("res://addons/continuum/bridge/float_repr.gd")

const _PACK_MAGIC := "CSPK"
const _ALIGN := 16
# Name, texel format in the pack, octets per texel; "sh" follows when sh_degree > 0.
const _SECTIONS := [
	["means", "rgba32f", 16], ["rotations", "rgba16f", 8], ["scales", "rgba16f", 8],
	["colors", "rgba16f", 8],
]

## Number of splats.
@export_storage var count := 0:
	set(value):
		count = value
		_drop_positions()
## Spherical-harmonics degree, 0..3: (sh_degree + 1)^2 coefficients per colour channel.
@export_storage var sh_degree := 0
## Texels per splat in [member sh] ([method sh_texels_for] of [member sh_degree]).
@export_storage var sh_texels := 0
## Holds every splat out to 3 standard deviations of its largest axis. [method set_bounds] sets
## it keeping the max corner exact for [method to_pack].
@export_storage var aabb := AABB()
## x, y, z, opacity logit per splat: float32 texels, [constant TEXTURE_WIDTH] by
## [method get_height].
@export_storage var means := PackedByteArray():
	set(value):
		means = value
		_drop_positions()
## Quaternion w, x, y, z per splat: half texels.
@export_storage var rotations := PackedByteArray()
## Log-scales x, y, z and 0 per splat: half texels.
@export_storage var scales := PackedByteArray()
## The SH DC coefficient r, g, b and 0 per splat: half texels.
@export_storage var colors := PackedByteArray()
## The higher SH coefficients: half texels, [member sh_texels] x [constant SH_SPLATS_PER_ROW]
## wide and [method get_sh_height] high; empty at degree 0.
@export_storage var sh := PackedByteArray()
# The max corner as set_bounds got it: aabb.end is position + size in single precision, which
# can miss it by a bit, and to_pack writes the bound as Python does.
@export_storage var _aabb_max := Vector3()

var _positions := PackedVector3Array()
var _positions_cached := false
# SplatInstance3D reads the positions on a worker thread while the game may read them too.
var _positions_lock := Mutex.new()


## Reads an engine pack: [code]{"cloud": SplatCloud}[/code], or the error value
## [code]{"error": code, "message": text}[/code] ([code]corrupt[/code] for anything that is not a
## well-formed pack, [code]unsupported[/code] for another pack version). Every count, size and
## offset is checked against [param data] before anything is allocated.
static func from_pack(data: PackedByteArray) -> Dictionary:
	var header := _read_pack_header(data)
	if header.has("error"):
		return header
	var cloud := SplatCloud.new()
	cloud.count = header.count
	cloud.sh_degree = header.sh_degree
	cloud.sh_texels = sh_texels_for(header.sh_degree)
	var bounds: Array = header.aabb
	cloud.set_bounds(Vector3(bounds[0], bounds[1], bounds[2]),
		Vector3(bounds[3], bounds[4], bounds[5]))
	for name: String in header.sections:
		var section: Array = header.sections[name]
		cloud.set(name, data.slice(section[0], section[0] + section[1]))
	return {"cloud": cloud}


## Texels per splat in the [member sh] section at SH degree [param degree]:
## ceil(3 ((degree + 1)^2 - 1) / 4).
static func sh_texels_for(degree: int) -> int:
	return (3 * ((degree + 1) * (degree + 1) - 1) + 3) / 4


## Rows of the per-splat sections: ceil([member count] / [constant TEXTURE_WIDTH]), at least 1.
func get_height() -> int:
	return maxi(1, (count + TEXTURE_WIDTH - 1) / TEXTURE_WIDTH)


## Rows of the [member sh] section: ceil([member count] / [constant SH_SPLATS_PER_ROW]), 0 at
## degree 0.
func get_sh_height() -> int:
	return 0 if sh_degree == 0 else (count + SH_SPLATS_PER_ROW - 1) / SH_SPLATS_PER_ROW


## Sets [member aabb] to the box from [param lo] to [param hi], keeping [param hi] exact for
## [method to_pack].
func set_bounds(lo: Vector3, hi: Vector3) -> void:
	aabb = AABB(lo, hi - lo)
	_aabb_max = hi


## {} when the sections have the sizes [member count], [member sh_degree] and [member sh_texels]
## call for, else the error value naming the first that does not.
func check() -> Dictionary:
	if count < 0 or count > MAX_SPLATS or sh_degree < 0 or sh_degree > 3:
		return _failure("corrupt", "count %d or sh_degree %d out of range" % [count, sh_degree])
	if sh_texels != sh_texels_for(sh_degree):
		return _failure("corrupt", "sh_texels is %d, sh_degree %d needs %d" % [
			sh_texels, sh_degree, sh_texels_for(sh_degree)])
	var sizes := _section_sizes()
	for name: String in sizes:
		var size: int = get(name).size()
		if size != sizes[name]:
			return _failure("corrupt", "section %s holds %d octets, %d splats need %d" % [
				name, size, count, sizes[name]])
	return {}


## The sections as images, by name: "means" FORMAT_RGBAF, "rotations", "scales" and "colors"
## FORMAT_RGBAH, [constant TEXTURE_WIDTH] x [method get_height]; "sh" FORMAT_RGBAH,
## [member sh_texels] x [constant SH_SPLATS_PER_ROW] wide and [method get_sh_height] high, when
## sh_degree > 0 and count > 0. The images share the sections' bytes (no copy). Empty when
## [method check] fails.
func create_images() -> Dictionary:
	if not check().is_empty():
		return {}
	var height := get_height()
	var images := {
		"means": Image.create_from_data(TEXTURE_WIDTH, height, false, Image.FORMAT_RGBAF, means),
		"rotations":
		Image.create_from_data(TEXTURE_WIDTH, height, false, Image.FORMAT_RGBAH, rotations),
		"scales": Image.create_from_data(TEXTURE_WIDTH, height, false, Image.FORMAT_RGBAH, scales),
		"colors": Image.create_from_data(TEXTURE_WIDTH, height, false, Image.FORMAT_RGBAH, colors),
	}
	if sh_degree > 0 and count > 0:
		images["sh"] = Image.create_from_data(
			sh_texels * SH_SPLATS_PER_ROW, get_sh_height(), false, Image.FORMAT_RGBAH, sh)
	return images


## The [member count] splat centres, read from [member means] once and cached (empty when
## [method check] fails). Safe to call from several threads at once.
func get_positions() -> PackedVector3Array:
	_positions_lock.lock()
	if not _positions_cached:
		_positions = PackedVector3Array()
		if count > 0 and check().is_empty():
			var image := Image.create_from_data(
				TEXTURE_WIDTH, get_height(), false, Image.FORMAT_RGBAF, means)
			image.convert(Image.FORMAT_RGBF)
			_positions = image.get_data().slice(0, count * 12).to_vector3_array()
		_positions_cached = true
	var positions := _positions
	_positions_lock.unlock()
	return positions


## Octets of the sections, what the textures take on the GPU (without the sort order).
func gpu_bytes() -> int:
	return means.size() + rotations.size() + scales.size() + colors.size() + sh.size()


## This cloud as an engine pack, byte-identical to what Python's pack_splats writes for the same
## content (header JSON compact with sorted keys, floats as Python prints them). Empty when
## [method check] fails.
func to_pack() -> PackedByteArray:
	if not check().is_empty():
		return PackedByteArray()
	var sizes := _section_sizes()
	var sections := []
	for spec: Array in _SECTIONS:
		sections.append([spec[0], spec[1], sizes[spec[0]]])
	if sh_degree > 0:
		sections.append(["sh", "rgba16f", sizes.sh])
	# The offsets depend on the header's own length: lay it out until they stop moving.
	var offsets: Array[int] = []
	offsets.resize(sections.size())
	var text := ""
	while true:
		var next := _header_json(sections, offsets)
		var settled := next.length() == text.length()
		text = next
		if settled:
			break
		var offset := _aligned(12 + text.length())
		for i in sections.size():
			offsets[i] = offset
			offset = _aligned(offset + sections[i][2])
	var out := _PACK_MAGIC.to_ascii_buffer()
	out.resize(12)
	out.encode_u32(4, PACK_VERSION)
	out.encode_u32(8, text.length())
	out.append_array(text.to_ascii_buffer())
	for i in sections.size():
		out.resize(offsets[i])
		out.append_array(get(sections[i][0]))
	out.resize(_aligned(out.size()))
	return out


func _drop_positions() -> void:
	_positions_lock.lock()
	_positions_cached = false
	_positions_lock.unlock()


func _section_sizes() -> Dictionary:
	var texels := get_height() * TEXTURE_WIDTH
	var sizes := {}
	for spec: Array in _SECTIONS:
		sizes[spec[0]] = texels * spec[2]
	sizes["sh"] = get_sh_height() * SH_SPLATS_PER_ROW * sh_texels * 8
	return sizes


func _header_json(sections: Array, offsets: Array[int]) -> String:
	var lo := aabb.position
	var hi := _aabb_max if AABB(lo, _aabb_max - lo) == aabb else aabb.end
	var bounds := PackedStringArray()
	for value: float in [lo.x, lo.y, lo.z, hi.x, hi.y, hi.z]:
		bounds.append(FloatRepr.repr(value))
	var parts := PackedStringArray()
	for i in sections.size():
		parts.append('{"bytes":%d,"format":"%s","name":"%s","offset":%d}' % [
			sections[i][2], sections[i][1], sections[i][0], offsets[i]])
	var text := '{"aabb":[%s],"count":%d,"height":%d,"sections":[%s],"sh_degree":%d' % [
		",".join(bounds), count, get_height(), ",".join(parts), sh_degree]
	if sh_degree > 0:
		text += ',"sh_height":%d,"sh_texels":%d,"sh_width":%d' % [
			get_sh_height(), sh_texels, sh_texels * SH_SPLATS_PER_ROW]
	return text + ',"width":%d}' % TEXTURE_WIDTH


# {count, sh_degree, aabb: Array of 6 floats, sections: {name: [offset, bytes]}} or an error
# value; reads nothing past what it has checked.
static func _read_pack_header(data: PackedByteArray) -> Dictionary:
	if data.size() < 12 or data.slice(0, 4).get_string_from_ascii() != _PACK_MAGIC:
		return _failure("corrupt", "not a Continuum splat pack: it does not start with CSPK")
	var version := data.decode_u32(4)
	if version != PACK_VERSION:
		return _failure("unsupported", "splat pack version %d; this plugin reads %d" % [
			version, PACK_VERSION])
	var length := data.decode_u32(8)
	if 12 + length > data.size():
		return _failure("corrupt", "splat pack header of %d octets runs past the end (%d)" % [
			length, data.size()])
	var raw := data.slice(12, 12 + length)
	# Python's json.dumps writes ASCII only; anything else is damage (and would not decode).
	for octet in raw:
		if octet < 0x20 or octet > 0x7e:
			return _failure("corrupt", "splat pack header holds a non-ASCII octet %d" % octet)
	var json := JSON.new()
	if json.parse(raw.get_string_from_ascii()) != OK or typeof(json.data) != TYPE_DICTIONARY:
		return _failure("corrupt", "splat pack header is not a JSON object: %s" % (
			json.get_error_message()))
	var header: Dictionary = json.data
	var n := _header_int(header, "count", MAX_SPLATS)
	var degree := _header_int(header, "sh_degree", 3)
	var height := _header_int(header, "height", MAX_TEXTURE_ROWS)
	if n < 0 or degree < 0 or height != maxi(1, (n + TEXTURE_WIDTH - 1) / TEXTURE_WIDTH) \
			or _header_int(header, "width", TEXTURE_WIDTH) != TEXTURE_WIDTH:
		return _failure("corrupt", "splat pack header out of range: count %s, sh_degree %s, "
			% [header.get("count"), header.get("sh_degree")] + "width %s, height %s" % [
			header.get("width"), header.get("height")])
	var bounds: Variant = header.get("aabb")
	if typeof(bounds) != TYPE_ARRAY or bounds.size() != 6 \
			or not bounds.all(func(v: Variant) -> bool: return typeof(v) in [TYPE_FLOAT, TYPE_INT]):
		return _failure("corrupt", "splat pack aabb must be 6 numbers, got %s" % str(bounds).left(80))
	var listed: Variant = header.get("sections")
	if typeof(listed) != TYPE_ARRAY:
		return _failure("corrupt", "splat pack header has no sections list")
	var sections := {}
	var expected := {}
	var texels := height * TEXTURE_WIDTH
	for spec: Array in _SECTIONS:
		expected[spec[0]] = [spec[1], texels * spec[2]]
	if degree > 0:
		var sh_rows := (n + SH_SPLATS_PER_ROW - 1) / SH_SPLATS_PER_ROW
		expected["sh"] = ["rgba16f", sh_rows * SH_SPLATS_PER_ROW * sh_texels_for(degree) * 8]
	for name: String in expected:
		var found := _find_section(listed, name)
		var fmt: String = expected[name][0]
		var size: int = expected[name][1]
		if found.is_empty() or found.get("format") != fmt \
				or _header_int(found, "bytes", size) != size:
			return _failure("corrupt", "splat pack section %s should be %s of %d octets, got %s" % [
				name, fmt, size, str(found).left(120)])
		var offset := _header_int(found, "offset", data.size())
		if offset < 12 + length or offset % _ALIGN != 0 or offset + size > data.size():
			return _failure("corrupt", "splat pack section %s lies outside the pack" % name)
		sections[name] = [offset, size]
	return {"count": n, "sh_degree": degree, "aabb": bounds, "sections": sections}


# header[key] as an int in 0..most, or -1 when absent, not integral or out of range.
static func _header_int(header: Dictionary, key: String, most: int) -> int:
	var value: Variant = header.get(key)
	if typeof(value) != TYPE_FLOAT and typeof(value) != TYPE_INT:
		return -1
	var number: float = value
	if number != floorf(number) or number < 0 or number > most:
		return -1
	return int(number)


static func _find_section(listed: Array, name: String) -> Dictionary:
	for item: Variant in listed:
		if typeof(item) == TYPE_DICTIONARY and item.get("name") == name:
			return item
	return {}


static func _aligned(offset: int) -> int:
	return (offset + _ALIGN - 1) / _ALIGN * _ALIGN


static func _failure(code: String, message: String) -> Dictionary:
	return {"error": code, "message": message}
