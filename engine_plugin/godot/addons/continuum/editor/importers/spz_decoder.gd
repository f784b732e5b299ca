@tool
extends RefCounted
## Decodes a Niantic SPZ file (versions 2 and 3) into a SplatCloud.
##
## SPZ is a gzip stream of a 16-octet header and attribute planes (nianticlabs/spz, README.md
## "File Format"), all little-endian:
## [codeblock]
## header     u32 magic 0x5053474e ("NGSP"), u32 version, u32 numPoints, u8 shDegree,
##            u8 fractionalBits, u8 flags (0x1 antialiased, 0x2 extensions), u8 reserved
## positions  N x 3 x 24-bit signed fixed point, value / 2^fractionalBits
## alphas     N x u8, sigmoid(opacity) 255
## colours    N x 3 x u8, f_dc (0.15 255) + 127.5
## scales     N x 3 x u8, (log-scale + 10) 16
## rotations  v2: N x 3 x u8, x, y, z of the unit quaternion with w >= 0, q 127.5 + 127.5
##            v3: N x u32 "smallest three": the top 2 bits the index of the largest of
##            (x, y, z, w); then per other component, in index order, a sign bit and 9 bits of
##            |q_i| / sqrt(1/2) 511
## sh         N x ((degree + 1)^2 - 1) coefficients x 3 channels (channel fastest), u8, v 128 + 128
## [/codeblock]
## Decoded as python_backend/continuum/splats/formats/spz.py does, its float32 arithmetic
## included; the SH plane, already in the pack's coefficient-major order, is dequantised with
## native Image and Transform3D operations, the rest in one loop per splat over lookup tables.
## Version 1, SH degree 4 and extensions (flag 0x2) are refused; the antialiased flag is not kept.
## The header is read (StreamPeerGZIP) and checked against the compressed size before the body is
## inflated, and the body may not grow past what the header promises.

const SplatCloudBuilder = preload("res://addons/continuum/splats/splat_cloud_builder.gd")

## "NGSP" read as a little-endian u32.
const MAGIC := 0x5053474e
## The versions read.
const VERSIONS := [2, 3]
## Octets of the header at the start of the stream.
const HEADER_BYTES := 16
## Deflate cannot expand data by more than about 1032:1.
const MAX_DEFLATE_RATIO := 1032

const _FLAG_EXTENSIONS := 0x2
const _COLOR_SCALE := 0.15
const _SQRT1_2 := 0.7071067811865476
const _OPACITY_EDGE := 0.25 / 255.0
# Decoded rows: x, y, z, opacity, w, x, y, z, 3 log-scales, 3 DC.
const _ROW_FLOATS := 14
# SH texels (3 values) dequantised per Image: a row, under Image's width limit.
const _SH_TEXELS_PER_PASS := 1 << 20


## The cloud in [param data] (a whole .spz file): [code]{"cloud": SplatCloud}[/code] or the error
## value, code one of [code]corrupt[/code] (not gzip, a damaged stream, a bad magic),
## [code]truncated[/code] (fewer points than the header promises), [code]unsupported[/code]
## (version, degree, extensions) and [code]too_large[/code]. Options as ply_decoder.gd.
static func decode(data: PackedByteArray, options: Dictionary = {}) -> Dictionary:
	# 1. The header, read before anything the size of the body is allocated.
	if data.size() < 2 or data[0] != 0x1f or data[1] != 0x8b:
		return _failure("corrupt", "not gzip (SPZ is a gzip stream); it starts %s" % [
			data.slice(0, 4)])
	var head := _peek(data)
	if head.size() < HEADER_BYTES:
		return _failure("corrupt",
			"the gzip stream is damaged or ends within the %d-octet header" % HEADER_BYTES)
	var version := head.decode_u32(4)
	var n := head.decode_u32(8)
	var file_degree := head[12]
	var fractional_bits := head[13]
	var bad := _check_header(head.decode_u32(0), version, file_degree, head[14])
	if not bad.is_empty():
		return bad
	var rest := 3 * ((file_degree + 1) * (file_degree + 1) - 1)
	var point_bytes := 9 + 1 + 3 + 3 + (3 if version == 2 else 4) + rest
	var size := n * point_bytes
	if size > MAX_DEFLATE_RATIO * data.size():
		return _failure("corrupt", "the header promises %d points (%d octets) but %d compressed "
			% [n, size, data.size()] + "octets cannot inflate to that much")
	# 2. The body, exactly as long as the header says.
	var body := data.decompress_dynamic(HEADER_BYTES + size + 1, FileAccess.COMPRESSION_GZIP)
	if body.is_empty():
		return _failure("corrupt", "the gzip stream is corrupt, truncated, or holds more than "
			+ "the %d octets of %d points" % [size, n])
	if body.size() != HEADER_BYTES + size:
		return _failure("truncated" if body.size() < HEADER_BYTES + size else "corrupt",
			"the header promises %d points of %d octets (%d octets) but the stream holds %d "
			% [n, point_bytes, size, body.size() - HEADER_BYTES] + "octets after the header")
	var degree := file_degree
	var wanted_degree := int(options.get("sh_degree", -1))
	if wanted_degree >= 0:
		degree = mini(degree, wanted_degree)
	# 3. Float32 rows of everything but the SH, then the SH plane.
	var rows := _decode_rows(body, n, version, fractional_bits)
	var sources := [{"data": rows, "start": 0, "stride": _ROW_FLOATS * 4}]
	var columns := {
		"means": [Vector2i(0, 0), Vector2i(0, 4), Vector2i(0, 8), Vector2i(0, 12)],
		"rotations": [Vector2i(0, 16), Vector2i(0, 20), Vector2i(0, 24), Vector2i(0, 28)],
		"scales": [Vector2i(0, 32), Vector2i(0, 36), Vector2i(0, 40)],
		"colors": [Vector2i(0, 44), Vector2i(0, 48), Vector2i(0, 52)],
		"sh": [],
	}
	if degree > 0:
		var sh_start := HEADER_BYTES + (point_bytes - rest) * n
		sources.append({"data": dequantise_sh(body.slice(sh_start)), "start": 0,
			"stride": rest * 4})
		for i in 3 * ((degree + 1) * (degree + 1) - 1):
			columns.sh.append(Vector2i(1, 4 * i))
	return SplatCloudBuilder.build(sources, n, columns, degree, int(options.get("max_splats", 0)))


## SPZ SH octets v to float32 (v - 128) / 128 (their count a multiple of 3, as SH rows are),
## with native operations: Image's RGB8 to RGBF conversion gives v / 255, then two Transform3D
## passes scale by 255 (exactly v again, for every octet) and by 1/128 less 1 (exact). Two passes
## and not one of 255/128: a fused multiply-add would round that one differently.
static func dequantise_sh(octets: PackedByteArray) -> PackedByteArray:
	var out := PackedByteArray()
	var texels := octets.size() / 3
	var to_octet := Transform3D(Basis.from_scale(Vector3(255, 255, 255)), Vector3.ZERO)
	var to_value := Transform3D(Basis.from_scale(Vector3.ONE / 128.0), -Vector3.ONE)
	for first in range(0, texels, _SH_TEXELS_PER_PASS):
		var n := mini(_SH_TEXELS_PER_PASS, texels - first)
		var image := Image.create_from_data(n, 1, false, Image.FORMAT_RGB8,
			octets.slice(3 * first, 3 * (first + n)))
		image.convert(Image.FORMAT_RGBF)
		var values := to_value * (to_octet * image.get_data().to_vector3_array())
		out.append_array(values.to_byte_array())
	return out


# The first HEADER_BYTES octets of the stream (fewer when it ends or breaks before them).
static func _peek(data: PackedByteArray) -> PackedByteArray:
	var stream := StreamPeerGZIP.new()
	stream.start_decompression(false, 1 << 16)
	var offset := 0
	var got := PackedByteArray()
	while got.size() < HEADER_BYTES and offset < data.size():
		var chunk := data.slice(offset, mini(offset + 4096, data.size()))
		var put: Array = stream.put_partial_data(chunk)
		if put[0] != OK or put[1] == 0:
			break
		offset += put[1]
		var taken: Array = stream.get_partial_data(HEADER_BYTES - got.size())
		got.append_array(taken[1])
	return got


static func _check_header(magic: int, version: int, degree: int, flags: int) -> Dictionary:
	if magic != MAGIC:
		return _failure("corrupt", "bad magic 0x%08x, expected 0x%08x ('NGSP')" % [magic, MAGIC])
	if not version in VERSIONS:
		return _failure("unsupported", "SPZ version %d is not supported; expected %s" % [
			version, VERSIONS])
	if degree > 3:
		return _failure("unsupported", "SH degree %d is not supported; expected 0..3" % degree)
	if flags & _FLAG_EXTENSIONS:
		return _failure("unsupported", "SPZ extensions (flags bit 0x2) are not supported")
	return {}


# One row of _ROW_FLOATS float32 per point, from the planes before the SH: one loop per point
# over lookup tables that hold spz.py's float32 arithmetic.
static func _decode_rows(
	body: PackedByteArray, n: int, version: int, fractional_bits: int
) -> PackedByteArray:
	var alphas := HEADER_BYTES + 9 * n
	var colours := alphas + n
	var scales := colours + 3 * n
	var rotations := scales + 3 * n
	var tables := _tables(version)
	var opacity: PackedFloat32Array = tables.opacity
	var colour: PackedFloat32Array = tables.colour
	var log_scale: PackedFloat32Array = tables.log_scale
	var component: PackedFloat32Array = tables.component
	var square: PackedFloat32Array = tables.square
	var step := _f32(pow(2.0, -fractional_bits))
	var sum := PackedFloat32Array([0.0])
	var out := PackedFloat32Array()
	out.resize(n * _ROW_FLOATS)
	for i in n:
		var r := _ROW_FLOATS * i
		var at := HEADER_BYTES + 9 * i
		var fixed := body[at] | (body[at + 1] << 8) | (body[at + 2] << 16)
		out[r] = ((fixed ^ 0x800000) - 0x800000) * step
		fixed = body[at + 3] | (body[at + 4] << 8) | (body[at + 5] << 16)
		out[r + 1] = ((fixed ^ 0x800000) - 0x800000) * step
		fixed = body[at + 6] | (body[at + 7] << 8) | (body[at + 8] << 16)
		out[r + 2] = ((fixed ^ 0x800000) - 0x800000) * step
		out[r + 3] = opacity[body[alphas + i]]
		var c3 := 3 * i
		out[r + 8] = log_scale[body[scales + c3]]
		out[r + 9] = log_scale[body[scales + c3 + 1]]
		out[r + 10] = log_scale[body[scales + c3 + 2]]
		out[r + 11] = colour[body[colours + c3]]
		out[r + 12] = colour[body[colours + c3 + 1]]
		out[r + 13] = colour[body[colours + c3 + 2]]
		# Three stored components a, b, c (in index order) and the largest, rebuilt from them as
		# sqrt(1 - a^2 - b^2 - c^2), each step rounded to float32 as numpy does.
		var a: int
		var b: int
		var c: int
		var largest := 3
		if version == 2:
			a = body[rotations + c3]
			b = body[rotations + c3 + 1]
			c = body[rotations + c3 + 2]
		else:
			var packed := body.decode_u32(rotations + 4 * i)
			largest = packed >> 30
			a = (packed >> 20) & 0x3ff
			b = (packed >> 10) & 0x3ff
			c = packed & 0x3ff
		sum[0] = square[a] + square[b]
		sum[0] = sum[0] + square[c]
		sum[0] = 1.0 - sum[0]
		var rebuilt := sqrt(maxf(0.0, sum[0]))
		# (x, y, z, w) with the rebuilt one at index largest, stored as (w, x, y, z).
		match largest:
			3:
				out[r + 4] = rebuilt
				out[r + 5] = component[a]
				out[r + 6] = component[b]
				out[r + 7] = component[c]
			0:
				out[r + 4] = component[c]
				out[r + 5] = rebuilt
				out[r + 6] = component[a]
				out[r + 7] = component[b]
			1:
				out[r + 4] = component[c]
				out[r + 5] = component[a]
				out[r + 6] = rebuilt
				out[r + 7] = component[b]
			2:
				out[r + 4] = component[c]
				out[r + 5] = component[a]
				out[r + 6] = component[b]
				out[r + 7] = rebuilt
	return out.to_byte_array()


# Lookup tables in spz.py's arithmetic (float32 where numpy computes in float32): opacity,
# colour and log_scale by octet; component (a stored rotation component: by octet in version 2,
# by 10-bit field in version 3) and square (its float32 square).
static func _tables(version: int) -> Dictionary:
	var scratch := PackedFloat32Array([0.0])
	var tables := {}
	for name: String in ["opacity", "colour", "log_scale", "component", "square"]:
		tables[name] = PackedFloat32Array()
	for octet in 256:
		var p := clampf(octet / 255.0, _OPACITY_EDGE, 1.0 - _OPACITY_EDGE)
		tables.opacity.append(log(p / (1.0 - p)))
		scratch[0] = octet / 255.0
		scratch[0] = scratch[0] - 0.5
		tables.colour.append(scratch[0] / _f32(_COLOR_SCALE))
		tables.log_scale.append(octet / 16.0 - 10.0)
	if version == 2:
		for octet in 256:
			scratch[0] = octet / _f32(127.5)
			tables.component.append(scratch[0] - 1.0)
	else:
		var unit := _f32(_f32(_SQRT1_2) / 511.0)
		for field in 1024:
			var magnitude := _f32((field & 0x1ff) * unit)
			tables.component.append(-magnitude if field & 0x200 else magnitude)
	for value: float in tables.component:
		tables.square.append(value * value)
	return tables


static func _f32(value: float) -> float:
	return PackedFloat32Array([value])[0]


static func _failure(code: String, message: String) -> Dictionary:
	return SplatCloudBuilder.failure(code, message)
