extends RefCounted
## The logical bridge message [kind, header, blob...] and its frames (bridge/PROTOCOL.md section 3).
##
## Knows nothing of sockets or ZMTP framing (see zmtp_codec.gd). A header is written as canonical
## JSON (compact, keys sorted, integral numbers without a fraction, non-ASCII as UTF-8, "/" as is)
## so encodings are byte-identical to the Python reference. Failures come back as values: a
## Dictionary with [code]error[/code] (a PROTOCOL.md error code) and [code]message[/code].
##
## A blob is given either as a packed array (PackedByteArray is u8, PackedFloat32Array f32,
## PackedFloat64Array f64, PackedInt32Array i32, PackedInt64Array i64, one dimension) or as
## [code]make_blob(dtype, shape, data)[/code] for any dtype and shape. Decoded blobs are the raw
## PackedByteArray frames; [method blob_to_array] turns one into its natural packed array.

const MAX_HEADER_BYTES := 65536
const MAX_BLOBS := 64
const MAX_MESSAGE_BYTES := 256 << 20
const MAX_DIMS := 8
const MAX_KIND_LENGTH := 32
## Octets per element of each wire dtype; all little-endian.
const ITEMSIZE := {
	"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4,
	"u64": 8, "i64": 8, "f16": 2, "f32": 4, "f64": 8,
}

const FloatRepr = preload("res://addons/continuum/bridge/float_repr.gd")

# Past 2^53 a float no longer holds every integer; ids and dims must stay below.
const _MAX_SAFE_INT := 9007199254740992
# Integral floats below this print as integers; beyond, int() would overflow.
const _MAX_INT_FLOAT := 9.2e18

static var _control_re: RegEx


## Encodes a message into frames [code][kind, header, blob...][/code]. The header gains
## [code]blobs[/code] descriptors when there are blobs (any given ones are replaced). Returns
## [code]{frames: Array[PackedByteArray]}[/code] or an error value.
static func encode(kind: String, header: Dictionary = {}, blobs: Array = []) -> Dictionary:
	var kind_bytes := kind.to_utf8_buffer()
	if not _is_kind(kind_bytes):
		return failure("bad_message", "kind '%s' must be 1..32 characters matching [a-z][a-z0-9_.]*"
			% kind.left(40))
	if blobs.size() > MAX_BLOBS:
		return failure("too_large", "%d blobs exceed the limit of %d" % [blobs.size(), MAX_BLOBS])
	var fields := header.duplicate()
	fields.erase("blobs")
	var frames: Array[PackedByteArray] = [kind_bytes, PackedByteArray()]
	if not blobs.is_empty():
		var descriptors := []
		for i in blobs.size():
			var blob := to_blob(blobs[i])
			if blob.has("error"):
				return failure(blob.error, "blob %d: %s" % [i, blob.message])
			descriptors.append({"dtype": blob.dtype, "shape": blob.shape})
			frames.append(blob.data)
		fields["blobs"] = descriptors
	var raw := to_json(fields).to_utf8_buffer()
	if raw.is_empty():
		return failure("bad_message", "header holds NaN, infinity or a value JSON cannot carry")
	if raw.size() > MAX_HEADER_BYTES:
		return _header_too_large(raw.size())
	frames[1] = raw
	return {"frames": frames}


## Decodes frames into [code]{kind, header, blobs}[/code] (String, Dictionary,
## Array[PackedByteArray]), checking every bound first, or returns an error value
## ([code]bad_message[/code], [code]bad_blob[/code], [code]too_large[/code]). JSON numbers arrive
## as floats.
static func decode(frames: Array) -> Dictionary:
	var checked := _check_frames(frames)
	if checked.has("error"):
		return checked
	var parsed := parse_header(frames[1])
	if parsed.has("error"):
		return parsed
	var header: Dictionary = parsed.header
	var blobs: Array[PackedByteArray] = []
	for i in range(2, frames.size()):
		blobs.append(frames[i])
	var bad := _check_blobs(header, blobs)
	if bad.has("error"):
		return bad
	return {"kind": frames[0].get_string_from_ascii(), "header": header, "blobs": blobs}


## A header frame -> [code]{header: Dictionary}[/code] or an error value.
static func parse_header(raw: PackedByteArray) -> Dictionary:
	if raw.size() > MAX_HEADER_BYTES:
		return _header_too_large(raw.size())
	var text := raw.get_string_from_utf8()
	# Invalid UTF-8 (or a NUL) does not survive the round trip.
	if text.to_utf8_buffer() != raw:
		return failure("bad_message", "header is not UTF-8 text")
	var json := JSON.new()
	if json.parse(text) != OK:
		return failure("bad_message", "header is not valid JSON: %s (line %d)" % [
			json.get_error_message(), json.get_error_line()])
	if typeof(json.data) != TYPE_DICTIONARY:
		return failure("bad_message", "header must be a JSON object, got %s" % type_string(
			typeof(json.data)))
	return {"header": json.data}


## Canonical JSON, byte-identical to Python's
## [code]json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[/code] except that
## integral floats are written as integers (Godot parses every JSON number as a float). Returns ""
## for NaN, infinities and values JSON cannot carry.
static func to_json(value: Variant) -> String:
	var out := PackedStringArray()
	return "".join(out) if _write_json(value, out) else ""


## A blob of any dtype and shape; [param data] holds the little-endian, C-ordered elements.
static func make_blob(dtype: String, shape: Array, data: PackedByteArray) -> Dictionary:
	return {"dtype": dtype, "shape": shape, "data": data}


## A packed array or a [method make_blob] Dictionary -> a checked [code]{dtype, shape, data}[/code],
## or an error value ([code]bad_blob[/code]).
static func to_blob(value: Variant) -> Dictionary:
	var blob := {}
	match typeof(value):
		TYPE_PACKED_BYTE_ARRAY:
			blob = make_blob("u8", [value.size()], value)
		TYPE_PACKED_FLOAT32_ARRAY:
			blob = make_blob("f32", [value.size()], value.to_byte_array())
		TYPE_PACKED_FLOAT64_ARRAY:
			blob = make_blob("f64", [value.size()], value.to_byte_array())
		TYPE_PACKED_INT32_ARRAY:
			blob = make_blob("i32", [value.size()], value.to_byte_array())
		TYPE_PACKED_INT64_ARRAY:
			blob = make_blob("i64", [value.size()], value.to_byte_array())
		TYPE_DICTIONARY:
			blob = _checked_blob(value)
		_:
			blob = failure("bad_blob", "a %s is not a blob; give a PackedByteArray," % type_string(
				typeof(value)) + " PackedFloat32Array, PackedFloat64Array, PackedInt32Array,"
				+ " PackedInt64Array or make_blob()")
	return blob


## A blob's octets -> its natural packed array: f32 PackedFloat32Array, f64 PackedFloat64Array,
## i32 PackedInt32Array, i64 and u64 PackedInt64Array (u64 above 2^63 wraps negative), u16 and i16
## PackedInt32Array, u32 PackedInt64Array, f16 PackedFloat32Array, u8 and i8 the octets as given.
static func blob_to_array(data: PackedByteArray, dtype: String) -> Variant:
	var out: Variant = data
	match dtype:
		"f32":
			out = data.to_float32_array()
		"f64":
			out = data.to_float64_array()
		"i32":
			out = data.to_int32_array()
		"i64", "u64":
			out = data.to_int64_array()
		"u16", "i16", "u32", "f16":
			out = _widen(data, dtype)
	return out


## The natural packed array of a decoded message's blob [param index] (see [method blob_to_array]).
static func message_blob(message: Dictionary, index: int) -> Variant:
	var descriptor: Dictionary = message.header.blobs[index]
	return blob_to_array(message.blobs[index], descriptor.dtype)


## The error value every function here returns on failure.
static func failure(code: String, message: String) -> Dictionary:
	return {"error": code, "message": message}


static func _header_too_large(size: int) -> Dictionary:
	return failure("too_large", "header of %d octets exceeds %d" % [size, MAX_HEADER_BYTES])


static func _is_kind(raw: PackedByteArray) -> bool:
	if raw.is_empty() or raw.size() > MAX_KIND_LENGTH or raw[0] < 0x61 or raw[0] > 0x7A:
		return false
	for c in raw:
		# a-z, 0-9, "_" and "."
		if not ((c >= 0x61 and c <= 0x7A) or (c >= 0x30 and c <= 0x39) or c == 0x5F or c == 0x2E):
			return false
	return true


static func _check_frames(frames: Array) -> Dictionary:
	if frames.size() < 2:
		return failure("bad_message",
			"a message needs at least 2 frames (kind, header), got %d" % frames.size())
	if frames.size() - 2 > MAX_BLOBS:
		return failure("too_large",
			"%d blob frames exceed the limit of %d" % [frames.size() - 2, MAX_BLOBS])
	var total := 0
	for frame: PackedByteArray in frames:
		total += frame.size()
	if total > MAX_MESSAGE_BYTES:
		return failure("too_large", "message of %d octets exceeds %d" % [total, MAX_MESSAGE_BYTES])
	if not _is_kind(frames[0]):
		return failure("bad_message", "kind '%s' must be 1..32 ASCII characters matching"
			% frames[0].slice(0, 40).get_string_from_ascii() + " [a-z][a-z0-9_.]*")
	return {}


static func _check_blobs(header: Dictionary, blobs: Array[PackedByteArray]) -> Dictionary:
	var descriptors: Variant = header.get("blobs", [])
	if typeof(descriptors) != TYPE_ARRAY:
		return failure("bad_blob", "header.blobs must be a list of {dtype, shape}")
	if descriptors.size() != blobs.size():
		return failure("bad_blob", "header.blobs describes %d blobs but %d frames follow" % [
			descriptors.size(), blobs.size()])
	for i in blobs.size():
		var size := _described_size(descriptors[i])
		if size.has("error"):
			return failure("bad_blob", "blob %d: %s" % [i, size.message])
		if size.bytes != blobs[i].size():
			var described: String = descriptors[i].dtype + to_json(descriptors[i].shape)
			return failure("bad_blob", "blob %d: %s needs %d octets, the frame has %d" % [
				i, described, size.bytes, blobs[i].size()])
	return {}


# A descriptor -> {bytes} (capped just above MAX_MESSAGE_BYTES, so no overflow) or an error value.
static func _described_size(descriptor: Variant) -> Dictionary:
	if typeof(descriptor) != TYPE_DICTIONARY or not ITEMSIZE.has(descriptor.get("dtype")):
		return failure("bad_blob", "descriptor needs dtype in %s, got %s" % [
			ITEMSIZE.keys(), str(descriptor).left(80)])
	var shape: Variant = descriptor.get("shape")
	var valid: bool = typeof(shape) == TYPE_ARRAY and shape.size() <= MAX_DIMS
	var count := 1
	if valid:
		for dim: Variant in shape:
			if not _is_dim(dim):
				valid = false
				break
			count = mini(count * int(dim), MAX_MESSAGE_BYTES + 1)
	if not valid:
		return failure("bad_blob", "shape must be a list of at most %d non-negative ints, got %s"
			% [MAX_DIMS, str(shape).left(80)])
	return {"bytes": count * ITEMSIZE[descriptor.dtype]}


static func _is_dim(value: Variant) -> bool:
	var kind := typeof(value)
	if kind != TYPE_INT and kind != TYPE_FLOAT:
		return false
	var number: float = value
	return number >= 0 and number == floorf(number) and number <= MAX_MESSAGE_BYTES


static func _checked_blob(value: Dictionary) -> Dictionary:
	var size := _described_size(value)
	if size.has("error"):
		return size
	if typeof(value.get("data")) != TYPE_PACKED_BYTE_ARRAY:
		return failure("bad_blob", "a blob Dictionary needs data as a PackedByteArray")
	if size.bytes != value.data.size():
		return failure("bad_blob", "%s%s needs %d octets, data has %d" % [
			value.dtype, to_json(value.shape), size.bytes, value.data.size()])
	return make_blob(value.dtype, value.shape, value.data)


static func _widen(data: PackedByteArray, dtype: String) -> Variant:
	var count: int = data.size() / ITEMSIZE[dtype]
	var out: Variant
	match dtype:
		"u16", "i16":
			var ints := PackedInt32Array()
			ints.resize(count)
			for i in count:
				ints[i] = data.decode_u16(2 * i) if dtype == "u16" else data.decode_s16(2 * i)
			out = ints
		"u32":
			var longs := PackedInt64Array()
			longs.resize(count)
			for i in count:
				longs[i] = data.decode_u32(4 * i)
			out = longs
		"f16":
			var floats := PackedFloat32Array()
			floats.resize(count)
			for i in count:
				floats[i] = data.decode_half(2 * i)
			out = floats
	return out


static func _write_json(value: Variant, out: PackedStringArray) -> bool:
	match typeof(value):
		TYPE_NIL:
			out.append("null")
		TYPE_BOOL:
			out.append("true" if value else "false")
		TYPE_INT:
			out.append(str(value))
		TYPE_FLOAT:
			var number := _json_number(value)
			out.append(number)
			return not number.is_empty()
		TYPE_STRING, TYPE_STRING_NAME:
			out.append(_json_string(str(value)))
		TYPE_DICTIONARY:
			return _write_object(value, out)
		TYPE_ARRAY, TYPE_PACKED_STRING_ARRAY, TYPE_PACKED_INT32_ARRAY, TYPE_PACKED_INT64_ARRAY, \
		TYPE_PACKED_FLOAT32_ARRAY, TYPE_PACKED_FLOAT64_ARRAY, TYPE_PACKED_BYTE_ARRAY:
			return _write_array(value, out)
		_:
			return false
	return true


static func _write_object(value: Dictionary, out: PackedStringArray) -> bool:
	var keys := {}
	for key: Variant in value:
		keys[str(key)] = key
	var names := keys.keys()
	# Code point order, as Python's sort_keys.
	names.sort()
	out.append("{")
	for i in names.size():
		if i > 0:
			out.append(",")
		out.append(_json_string(names[i]))
		out.append(":")
		if not _write_json(value[keys[names[i]]], out):
			return false
	out.append("}")
	return true


static func _write_array(value: Variant, out: PackedStringArray) -> bool:
	out.append("[")
	var first := true
	for item: Variant in value:
		if not first:
			out.append(",")
		first = false
		if not _write_json(item, out):
			return false
	out.append("]")
	return true


static func _json_string(text: String) -> String:
	var escaped := text.replace("\\", "\\\\").replace("\"", "\\\"")
	if _control_re == null:
		_control_re = RegEx.create_from_string("[\\x01-\\x1f]")
	if _control_re.search(escaped) != null:
		escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
		escaped = escaped.replace(char(8), "\\b").replace(char(12), "\\f")
		# From 1: a Godot String cannot hold NUL.
		for code in range(1, 32):
			escaped = escaped.replace(char(code), "\\u%04x" % code)
	return "\"" + escaped + "\""


# Python's repr of a float: the shortest digits that read back to the same double, in fixed
# notation for decimal exponents -4..15 and as d.ddde+XX outside; integral values as integers.
static func _json_number(value: float) -> String:
	if is_nan(value) or is_inf(value):
		return ""
	if value == floorf(value) and absf(value) < _MAX_INT_FLOAT:
		return str(int(value))
	return FloatRepr.repr(value)