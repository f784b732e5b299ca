@tool
extends RefCounted
## Decodes an antimatter15 .splat file (github.com/antimatter15/splat) into a SplatCloud.
##
## No header; 32 octets per splat, little-endian:
## [codeblock]
## position  3 x float32
## scale     3 x float32, linear (exp of the log-scale)
## colour    4 x u8: RGB = (0.5 + C0 f_dc) 255, A = sigmoid(opacity) 255
## rotation  4 x u8: the normalised quaternion (w, x, y, z) 128 + 128
## [/codeblock]
## SH degree 0 only. Decoded as python_backend/continuum/splats/formats/splat.py does: the log of
## |scale| (a zero scale as the smallest float32), opacity bytes 0 and 255 as the finite logits of
## 0.25/255 and 254.75/255. Positions go to the builder as they lie in the file; one loop per
## splat turns the rest into float32 rows (the scales need a log).

const SplatCloudBuilder = preload("res://addons/continuum/splats/splat_cloud_builder.gd")

## Octets per splat.
const RECORD_BYTES := 32
## SH band 0 constant: colour = 0.5 + C0 f_dc.
const C0 := 0.28209479177387814

# The smallest normal float32: log gives -87.3.
const _TINY := 1.1754943508222875e-38
const _OPACITY_EDGE := 0.25 / 255.0
# Decoded rows: opacity, w, x, y, z, 3 log-scales, 3 DC.
const _ROW_FLOATS := 11


## The cloud in [param data] (a whole .splat file): [code]{"cloud": SplatCloud}[/code] or the
## error value ([code]truncated[/code] when the size is no multiple of 32, [code]corrupt[/code]
## for a NaN scale, [code]too_large[/code] past SplatCloud.MAX_SPLATS). Options as
## ply_decoder.gd ([code]sh_degree[/code] has nothing to drop here; [code]max_splats[/code] keeps
## the most opaque).
static func decode(data: PackedByteArray, options: Dictionary = {}) -> Dictionary:
	if data.size() % RECORD_BYTES != 0:
		return _failure("truncated", "size %d is not a multiple of the %d-octet record (%d whole "
			% [data.size(), RECORD_BYTES, data.size() / RECORD_BYTES]
			+ "records and %d octets over); the file is truncated or no .splat" % (
				data.size() % RECORD_BYTES))
	var n := data.size() / RECORD_BYTES
	# 1. Lookup tables for the octets, computed as numpy does in float32 where splat.py does.
	var colour := PackedFloat32Array()
	var opacity := PackedFloat32Array()
	var quaternion := PackedFloat32Array()
	colour.resize(256)
	opacity.resize(256)
	quaternion.resize(256)
	var scratch := PackedFloat32Array([0.0])
	for octet in 256:
		scratch[0] = octet / 255.0
		scratch[0] = scratch[0] - 0.5
		colour[octet] = scratch[0] / _f32(C0)
		var p := clampf(octet / 255.0, _OPACITY_EDGE, 1.0 - _OPACITY_EDGE)
		opacity[octet] = log(p / (1.0 - p))
		quaternion[octet] = (octet - 128) / 128.0
	# 2. One row of float32 values per splat.
	var floats := data.to_float32_array()
	var rows := PackedFloat32Array()
	rows.resize(n * _ROW_FLOATS)
	for i in n:
		var at := RECORD_BYTES * i
		var f := 8 * i
		var r := _ROW_FLOATS * i
		var sx := floats[f + 3]
		var sy := floats[f + 4]
		var sz := floats[f + 5]
		if is_nan(sx) or is_nan(sy) or is_nan(sz):
			return _failure("corrupt", "splat %d has scale (%s, %s, %s)" % [i, sx, sy, sz])
		rows[r] = opacity[data[at + 27]]
		rows[r + 1] = quaternion[data[at + 28]]
		rows[r + 2] = quaternion[data[at + 29]]
		rows[r + 3] = quaternion[data[at + 30]]
		rows[r + 4] = quaternion[data[at + 31]]
		rows[r + 5] = log(maxf(absf(sx), _TINY))
		rows[r + 6] = log(maxf(absf(sy), _TINY))
		rows[r + 7] = log(maxf(absf(sz), _TINY))
		rows[r + 8] = colour[data[at + 24]]
		rows[r + 9] = colour[data[at + 25]]
		rows[r + 10] = colour[data[at + 26]]
	# 3. The cloud: positions from the file, the rest from the rows.
	var sources := [
		{"data": data, "start": 0, "stride": RECORD_BYTES},
		{"data": rows.to_byte_array(), "start": 0, "stride": _ROW_FLOATS * 4},
	]
	var columns := {
		"means": [Vector2i(0, 0), Vector2i(0, 4), Vector2i(0, 8), Vector2i(1, 0)],
		"rotations": [Vector2i(1, 4), Vector2i(1, 8), Vector2i(1, 12), Vector2i(1, 16)],
		"scales": [Vector2i(1, 20), Vector2i(1, 24), Vector2i(1, 28)],
		"colors": [Vector2i(1, 32), Vector2i(1, 36), Vector2i(1, 40)],
		"sh": [],
	}
	return SplatCloudBuilder.build(sources, n, columns, 0, int(options.get("max_splats", 0)))


# value rounded to float32.
static func _f32(value: float) -> float:
	return PackedFloat32Array([value])[0]


static func _failure(code: String, message: String) -> Dictionary:
	return SplatCloudBuilder.failure(code, message)
