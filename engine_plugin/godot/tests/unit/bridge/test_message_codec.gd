extends "res://tests/test_case.gd"
## message_codec.gd against the golden vectors (msg_*) and the limits of PROTOCOL.md 3 and 7.

const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")

var _vectors: Array = []


func before_each() -> void:
	if _vectors.is_empty():
		_vectors = load_vectors()


func test_message_vectors_decode() -> void:
	var checked := 0
	for vector: Dictionary in _vectors:
		if not vector.has("message"):
			continue
		checked += 1
		var message := MessageCodec.decode(_frame_bodies(vector.bytes))
		var expect: Dictionary = vector.message
		assert_false(message.has("error"), "%s: %s" % [vector.name, message.get("message")])
		assert_eq(message.get("kind"), expect.kind, vector.name)
		assert_eq(message.get("header"), expect.header, vector.name)
		var blobs_hex: Array = message.get("blobs", []).map(
			func(b: PackedByteArray) -> String: return b.hex_encode())
		assert_eq(blobs_hex, expect.blobs_hex, vector.name)
	assert_eq(checked, 11)


func test_message_vectors_reencode_octet_for_octet() -> void:
	for vector: Dictionary in _vectors:
		if not vector.has("message"):
			continue
		var expect: Dictionary = vector.message
		var blobs := []
		var descriptors: Array = expect.header.get("blobs", [])
		for i in descriptors.size():
			blobs.append(MessageCodec.make_blob(descriptors[i].dtype, descriptors[i].shape,
				expect.blobs_hex[i].hex_decode()))
		var encoded := MessageCodec.encode(expect.kind, expect.header, blobs)
		assert_false(encoded.has("error"), "%s: %s" % [vector.name, encoded.get("message")])
		var wire := ZmtpCodec.encode_multipart(encoded.get("frames", []))
		assert_eq(wire.hex_encode(), vector.bytes.hex_encode(), vector.name)


func test_message_error_vectors() -> void:
	var checked := 0
	for vector: Dictionary in _vectors:
		if not (vector.has("error") and vector.name.begins_with("msg")):
			continue
		checked += 1
		var decoded := MessageCodec.decode(_frame_bodies(vector.bytes))
		assert_eq(decoded.get("error"), vector.error, vector.name)
		assert_false(str(decoded.get("message", "")).is_empty(), vector.name)
	assert_eq(checked, 1)


func test_blobs_become_natural_arrays() -> void:
	var message := _decoded("msg_echo_blobs")
	var floats: PackedFloat32Array = MessageCodec.message_blob(message, 0)
	assert_eq(floats, PackedFloat32Array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25]))
	var ints: PackedInt32Array = MessageCodec.message_blob(message, 1)
	assert_eq(ints, PackedInt32Array([-1, 0, 1, 2147483647]))
	var empty: PackedByteArray = MessageCodec.message_blob(message, 2)
	assert_eq(empty.size(), 0)
	var fill: PackedByteArray = MessageCodec.message_blob(_decoded("msg_fill_long"), 0)
	assert_eq(fill.size(), 1000)
	# The vector's octets are (i mod 256) mod 251 (numpy wraps to u8 first), so compare a prefix.
	assert_eq([fill[0], fill[250], fill[251], fill[255]], [0, 250, 0, 4])


func test_packed_arrays_encode_with_their_dtype() -> void:
	var blobs := [
		PackedByteArray([1, 2]),
		PackedFloat32Array([0.5, -1.0]),
		PackedFloat64Array([0.1]),
		PackedInt32Array([-1, 7]),
		PackedInt64Array([1 << 40]),
	]
	var encoded := MessageCodec.encode("echo", {"id": 3}, blobs)
	var message := MessageCodec.decode(encoded.frames)
	assert_eq(message.header.blobs, [
		{"dtype": "u8", "shape": [2]}, {"dtype": "f32", "shape": [2]},
		{"dtype": "f64", "shape": [1]}, {"dtype": "i32", "shape": [2]},
		{"dtype": "i64", "shape": [1]}])
	for i in blobs.size():
		assert_eq(MessageCodec.message_blob(message, i), blobs[i], "blob %d round-trips" % i)


func test_other_dtypes_widen() -> void:
	var data := PackedByteArray([0xFF, 0xFF, 0x01, 0x00])
	assert_eq(MessageCodec.blob_to_array(data, "u16"), PackedInt32Array([65535, 1]))
	assert_eq(MessageCodec.blob_to_array(data, "i16"), PackedInt32Array([-1, 1]))
	assert_eq(MessageCodec.blob_to_array(data, "u32"), PackedInt64Array([0x0001FFFF]))
	assert_eq(MessageCodec.blob_to_array(PackedByteArray([0x00, 0x3C]), "f16"),
		PackedFloat32Array([1.0]))
	assert_eq(MessageCodec.blob_to_array(data, "i8"), data)


func test_header_is_canonical_json() -> void:
	var header := {
		"n": [0.1, 1e-05, 12.5, -2.5e-07, 123456.789, 1.0 / 3.0, 1e22, 7.0, -0.0, 1.5e16],
		"a": "x/y",
		"\u00e9": "\u00fc\n\t\u0001\"\\",
		"z": null,
		"b": true,
		"": 1,
		"ids": PackedStringArray(["tick"]),
	}
	assert_eq(MessageCodec.to_json(header),
		"{\"\":1,\"a\":\"x/y\",\"b\":true,\"ids\":[\"tick\"],\"n\":[0.1,1e-05,12.5,-2.5e-07,"
		+ "123456.789,0.3333333333333333,1e+22,7,0,15000000000000000],\"z\":null,"
		+ "\"\u00e9\":\"\u00fc\\n\\t\\u0001\\\"\\\\\"}")
	assert_eq(MessageCodec.to_json({"v": NAN}), "")
	assert_eq(MessageCodec.to_json({"v": INF}), "")
	assert_eq(MessageCodec.to_json({"v": Vector3.ONE}), "")


func test_json_numbers_survive_parse_and_reencode() -> void:
	var text := "{\"id\":9007199254740991,\"t\":12.5,\"x\":[1,2.25]}"
	var parsed := MessageCodec.parse_header(text.to_utf8_buffer())
	assert_eq(MessageCodec.to_json(parsed.header), text)


func test_encode_rejects_what_the_wire_cannot_carry() -> void:
	assert_eq(MessageCodec.encode("Bad").get("error"), "bad_message")
	assert_eq(MessageCodec.encode("").get("error"), "bad_message")
	assert_eq(MessageCodec.encode("x".repeat(33)).get("error"), "bad_message")
	assert_eq(MessageCodec.encode("w\u00e9").get("error"), "bad_message")
	assert_eq(MessageCodec.encode("ok", {"f": NAN}).get("error"), "bad_message")
	assert_eq(MessageCodec.encode("ok", {"s": "x".repeat(70000)}).get("error"), "too_large")
	var many := []
	many.resize(65)
	many.fill(PackedByteArray())
	assert_eq(MessageCodec.encode("ok", {}, many).get("error"), "too_large")
	assert_eq(MessageCodec.encode("ok", {}, ["text"]).get("error"), "bad_blob")
	var short := MessageCodec.make_blob("f32", [3], PackedByteArray([0, 0, 0, 0]))
	assert_eq(MessageCodec.encode("ok", {}, [short]).get("error"), "bad_blob")
	var bad_dtype := MessageCodec.make_blob("f128", [1], PackedByteArray())
	assert_eq(MessageCodec.encode("ok", {}, [bad_dtype]).get("error"), "bad_blob")
	var deep := MessageCodec.make_blob("u8", [1, 1, 1, 1, 1, 1, 1, 1, 1], PackedByteArray([1]))
	assert_eq(MessageCodec.encode("ok", {}, [deep]).get("error"), "bad_blob")
	assert_eq(MessageCodec.encode("a.b_9", {}).get("frames", []).size(), 2)


func test_encode_replaces_given_descriptors() -> void:
	var encoded := MessageCodec.encode("ping", {"id": 1, "blobs": ["stale"]})
	assert_eq(encoded.frames[1].get_string_from_utf8(), "{\"id\":1}")


func test_decode_errors_carry_protocol_codes() -> void:
	var kind := "echo".to_ascii_buffer()
	var cases := [
		[[kind], "bad_message"],
		[[PackedByteArray(), _utf8("{}")], "bad_message"],
		[["Echo".to_ascii_buffer(), _utf8("{}")], "bad_message"],
		[[PackedByteArray([0x61, 0]), _utf8("{}")], "bad_message"],
		[[kind, _utf8("[1]")], "bad_message"],
		[[kind, _utf8("{\"a\":")], "bad_message"],
		[[kind, PackedByteArray([0x7B, 0xFF, 0x7D])], "bad_message"],
		[[kind, _utf8("{\"blobs\":5}"), PackedByteArray()], "bad_blob"],
		[[kind, _utf8("{}"), PackedByteArray()], "bad_blob"],
		[[kind, _utf8("{\"blobs\":[{\"dtype\":\"f32\"}]}"), PackedByteArray()], "bad_blob"],
		[[kind, _utf8("{\"blobs\":[{\"dtype\":\"f32\",\"shape\":[-1]}]}"), PackedByteArray()],
			"bad_blob"],
		[[kind, _utf8("{\"blobs\":[{\"dtype\":\"f32\",\"shape\":[1.5]}]}"), PackedByteArray()],
			"bad_blob"],
		[[kind, _utf8("{\"blobs\":[{\"dtype\":\"u8\",\"shape\":[true]}]}"), PackedByteArray()],
			"bad_blob"],
		[[kind, _utf8("{\"blobs\":[{\"dtype\":\"u8\",\"shape\":[268435456,268435456]}]}"),
			PackedByteArray()], "bad_blob"],
		[[kind, _utf8("{\"s\":\"%s\"}" % "x".repeat(65536))], "too_large"],
	]
	for case: Array in cases:
		var decoded := MessageCodec.decode(case[0])
		assert_eq(decoded.get("error"), case[1], "frames %s" % str(case[0]).left(120))
	var frames: Array = [kind, _utf8("{}")]
	for i in 65:
		frames.append(PackedByteArray())
	assert_eq(MessageCodec.decode(frames).get("error"), "too_large")


func test_decode_accepts_any_valid_object() -> void:
	var spaced := _utf8(" { \"seq\" : 1 , \"x\" : \"\\u00e9\" } ")
	var decoded := MessageCodec.decode([_utf8("tick"), spaced])
	assert_eq(decoded.get("header"), {"seq": 1, "x": "\u00e9"})
	decoded = MessageCodec.decode([_utf8("a"), _utf8("{\"blobs\":[]}")])
	assert_eq(decoded.get("blobs"), [])


func _decoded(vector_name: String) -> Dictionary:
	for vector: Dictionary in _vectors:
		if vector.name == vector_name:
			return MessageCodec.decode(_frame_bodies(vector.bytes))
	fail("no vector named %s" % vector_name)
	return {}


func _frame_bodies(data: PackedByteArray) -> Array[PackedByteArray]:
	var bodies: Array[PackedByteArray] = []
	var frames := ZmtpCodec.FrameDecoder.new().feed(data)
	for i in frames.size():
		var more := i < frames.size() - 1
		assert_eq(frames[i].flags, ZmtpCodec.FLAG_MORE if more else 0, "MORE on all but the last")
		bodies.append(frames[i].body)
	return bodies


static func _utf8(text: String) -> PackedByteArray:
	return text.to_utf8_buffer()


func test_floats_are_written_as_python_writes_them() -> void:
	var header := {"a": 0.1, "b": 1e-7, "c": 123456789.123, "d": 1.5e-10, "e": -0.3, "f": 1.0 / 3.0}
	# json.dumps(header, separators=(",", ":"), sort_keys=True) in Python (integral numbers
	# would be written without a fraction: PROTOCOL.md 3).
	assert_eq(MessageCodec.to_json(header),
			'{"a":0.1,"b":1e-07,"c":123456789.123,"d":1.5e-10,"e":-0.3,"f":0.3333333333333333}')
