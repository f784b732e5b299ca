extends "res://tests/test_case.gd"
## zmtp_codec.gd against the golden vectors (greeting_*, ready_*, subscribe_*, ping, pong, frame_*)
## and the edge cases around them.

const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")

var _vectors: Array = []


func before_each() -> void:
	if _vectors.is_empty():
		_vectors = load_vectors()


func test_vectors_are_found() -> void:
	assert_true(_vectors.size() >= 25, "bridge/vectors/index.json under %s" % vectors_dir())
	for vector: Dictionary in _vectors:
		assert_false(vector.bytes.is_empty() and vector.name != "frame_empty", vector.file)
		var kinds := ["greeting", "frames", "message", "error"].filter(
			func(key: String) -> bool: return vector.has(key))
		assert_eq(kinds.size(), 1, "%s has exactly one expectation" % vector.name)


func test_greeting_vectors() -> void:
	var checked := 0
	for vector: Dictionary in _vectors:
		if not vector.name.begins_with("greeting"):
			continue
		checked += 1
		var parsed := ZmtpCodec.parse_greeting(vector.bytes)
		if vector.has("error"):
			assert_eq(parsed.get("error"), vector.error, vector.name)
			continue
		assert_eq(parsed, vector.greeting, vector.name)
		var expect: Dictionary = vector.greeting
		assert_eq(ZmtpCodec.greeting(expect.as_server, expect.minor), vector.bytes, vector.name)
	assert_eq(checked, 2)


func test_frame_vectors_decode_and_reencode() -> void:
	var checked := 0
	for vector: Dictionary in _vectors:
		if not vector.has("frames"):
			continue
		checked += 1
		var frames := ZmtpCodec.FrameDecoder.new().feed(vector.bytes)
		assert_eq(_described(frames), vector.frames, vector.name)
		var encoded := PackedByteArray()
		for frame in frames:
			var more: bool = frame.flags & ZmtpCodec.FLAG_MORE
			var command: bool = frame.flags & ZmtpCodec.FLAG_COMMAND
			encoded.append_array(ZmtpCodec.encode_frame(frame.body, more, command))
		assert_eq(encoded, vector.bytes, "%s re-encodes octet for octet" % vector.name)
	assert_eq(checked, 13)


func test_frame_vectors_decode_in_any_pieces() -> void:
	for vector: Dictionary in _vectors:
		if not vector.has("frames"):
			continue
		var data: PackedByteArray = vector.bytes
		for piece in [1, 7, 256, 4096]:
			if piece == 1 and data.size() > 5000:
				continue
			var decoder := ZmtpCodec.FrameDecoder.new()
			var frames: Array[Dictionary] = []
			for start in range(0, data.size(), piece):
				frames.append_array(decoder.feed(data.slice(start, start + piece)))
			assert_eq(_described(frames), vector.frames, "%s in %d-octet pieces" % [
				vector.name, piece])
			assert_eq(decoder.pending_bytes(), 0, vector.name)


func test_frame_error_vectors() -> void:
	var checked := 0
	for vector: Dictionary in _vectors:
		if not (vector.has("error") and vector.name.begins_with("frame")):
			continue
		checked += 1
		var decoder := ZmtpCodec.FrameDecoder.new()
		assert_eq(decoder.feed(vector.bytes), [], vector.name)
		assert_eq(decoder.error, vector.error, vector.name)
		assert_false(decoder.error_message.is_empty(), vector.name)
	assert_eq(checked, 2)


func test_commands_match_vectors() -> void:
	var expected := {
		"ready_dealer": ZmtpCodec.ready_command("DEALER"),
		"ready_sub": ZmtpCodec.ready_command("SUB"),
		"ready_router": ZmtpCodec.ready_command("ROUTER", {"Identity": PackedByteArray()}),
		"ready_pub": ZmtpCodec.ready_command("PUB"),
		"subscribe_tick": ZmtpCodec.subscribe("tick".to_ascii_buffer()),
		"subscribe_all": ZmtpCodec.subscribe(PackedByteArray()),
		"ping": ZmtpCodec.ping(30, "ab".to_ascii_buffer()),
		"pong": ZmtpCodec.pong("ab".to_ascii_buffer()),
	}
	for vector: Dictionary in _vectors:
		if expected.has(vector.name):
			assert_eq(expected[vector.name], vector.bytes, vector.name)
			expected.erase(vector.name)
	assert_eq(expected.keys(), [], "every command vector was present")


func test_parse_ready_and_ping() -> void:
	var frame: Dictionary = ZmtpCodec.FrameDecoder.new().feed(ZmtpCodec.ready_command(
		"ROUTER", {"Identity": PackedByteArray([1, 2])}))[0]
	var command := ZmtpCodec.parse_command(frame.body)
	assert_eq(command.name, "READY")
	var properties: Dictionary = ZmtpCodec.parse_properties(command.data).properties
	assert_eq(properties["Socket-Type"].get_string_from_ascii(), "ROUTER")
	assert_eq(properties["Identity"], PackedByteArray([1, 2]))
	var ping_frame: Dictionary = ZmtpCodec.FrameDecoder.new().feed(
		ZmtpCodec.ping(30, "ab".to_ascii_buffer()))[0]
	var ping := ZmtpCodec.parse_ping(ZmtpCodec.parse_command(ping_frame.body).data)
	assert_eq(ping.ttl_ds, 30)
	assert_eq(ping.context, "ab".to_ascii_buffer())


func test_malformed_commands_are_errors() -> void:
	assert_eq(ZmtpCodec.parse_command(PackedByteArray()).get("error"), "bad_message")
	assert_eq(ZmtpCodec.parse_command(PackedByteArray([5, 0x52])).get("error"), "bad_message")
	# A property claiming 100 octets of value that are not there.
	var data := PackedByteArray([1, 0x41, 0, 0, 0, 100, 1])
	assert_eq(ZmtpCodec.parse_properties(data).get("error"), "bad_message")
	assert_eq(ZmtpCodec.parse_properties(PackedByteArray([9, 0x41])).get("error"), "bad_message")
	assert_eq(ZmtpCodec.parse_ping(PackedByteArray([0])).get("error"), "bad_message")


func test_greeting_rejects_wrong_version_and_mechanism() -> void:
	var greeting := ZmtpCodec.greeting()
	greeting[10] = 2
	assert_eq(ZmtpCodec.parse_greeting(greeting).get("error"), "bad_message")
	greeting = ZmtpCodec.greeting()
	greeting[12] = 0x50  # "PULL"
	assert_eq(ZmtpCodec.parse_greeting(greeting).get("error"), "bad_message")
	greeting = ZmtpCodec.greeting()
	greeting[20] = 1  # junk after "NULL"
	assert_eq(ZmtpCodec.parse_greeting(greeting).get("error"), "bad_message")
	assert_eq(ZmtpCodec.parse_greeting(greeting.slice(0, 63)).get("error"), "bad_message")
	greeting = ZmtpCodec.greeting(true, 0)
	assert_eq(ZmtpCodec.parse_greeting(greeting), {
		"major": 3, "minor": 0, "mechanism": "NULL", "as_server": true})


func test_short_and_long_frames() -> void:
	assert_eq(ZmtpCodec.encode_frame(PackedByteArray()), PackedByteArray([0, 0]))
	var short := PackedByteArray()
	short.resize(255)
	assert_eq(ZmtpCodec.encode_frame(short, true).slice(0, 2), PackedByteArray([1, 255]))
	var long := PackedByteArray()
	long.resize(256)
	assert_eq(ZmtpCodec.encode_frame(long, false, true).slice(0, 9),
		PackedByteArray([6, 0, 0, 0, 0, 0, 0, 1, 0]))
	# A receiver accepts a long encoding of a small body.
	var long_small := PackedByteArray([2, 0, 0, 0, 0, 0, 0, 0, 2, 7, 8])
	var frames := ZmtpCodec.FrameDecoder.new().feed(long_small)
	assert_eq(_described(frames), [{"flags": 0, "body_hex": "0708"}])


func test_multipart_sets_more_on_all_but_last() -> void:
	var parts := [PackedByteArray([1]), PackedByteArray([2]), PackedByteArray([3])]
	var frames := ZmtpCodec.FrameDecoder.new().feed(ZmtpCodec.encode_multipart(parts))
	assert_eq(frames.map(func(f: Dictionary) -> int: return f.flags), [1, 1, 0])
	assert_eq(ZmtpCodec.encode_multipart([PackedByteArray([9])]), PackedByteArray([0, 1, 9]))


func test_oversized_frame_rejected_before_allocating() -> void:
	var decoder := ZmtpCodec.FrameDecoder.new(1000)
	# Announces 1001 octets and sends only the header: rejected at once, nothing buffered.
	assert_eq(decoder.feed(PackedByteArray([2, 0, 0, 0, 0, 0, 0, 3, 0xE9])), [])
	assert_eq(decoder.error, "too_large")
	assert_eq(decoder.pending_bytes(), 0)
	# 2^63 and beyond read as negative sizes; still too large.
	decoder = ZmtpCodec.FrameDecoder.new()
	decoder.feed(PackedByteArray([2, 0xFF, 0, 0, 0, 0, 0, 0, 0]))
	assert_eq(decoder.error, "too_large")


func test_error_is_sticky_until_reset() -> void:
	var decoder := ZmtpCodec.FrameDecoder.new()
	var data := ZmtpCodec.encode_frame("ok".to_ascii_buffer())
	data.append_array(PackedByteArray([0x08, 1, 0x78]))
	data.append_array(ZmtpCodec.encode_frame("lost".to_ascii_buffer()))
	assert_eq(_described(decoder.feed(data)), [{"flags": 0, "body_hex": "6f6b"}])
	assert_eq(decoder.error, "bad_message")
	assert_eq(decoder.feed(ZmtpCodec.encode_frame(PackedByteArray([1]))), [])
	decoder.reset()
	assert_eq(decoder.feed(ZmtpCodec.encode_frame(PackedByteArray([1]))).size(), 1)


func test_large_frame_streams_into_one_body() -> void:
	var body := PackedByteArray()
	body.resize(3 << 20)
	for i in range(0, body.size(), 4093):
		body[i] = i % 251
	var data := ZmtpCodec.encode_multipart([body, "tail".to_ascii_buffer()])
	var decoder := ZmtpCodec.FrameDecoder.new()
	var frames: Array[Dictionary] = []
	for start in range(0, data.size(), 65536):
		frames.append_array(decoder.feed(data.slice(start, start + 65536)))
	assert_eq(frames.size(), 2)
	assert_eq(frames[0].flags, ZmtpCodec.FLAG_MORE)
	assert_true(frames[0].body == body, "the 3 MiB body arrives intact")
	assert_eq(frames[1].body.get_string_from_ascii(), "tail")


static func _described(frames: Array) -> Array:
	return frames.map(func(f: Dictionary) -> Dictionary: return {
		"flags": f.flags, "body_hex": f.body.hex_encode()})
