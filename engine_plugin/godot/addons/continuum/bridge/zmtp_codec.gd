extends RefCounted
## ZMTP 3.1 wire framing (bridge/PROTOCOL.md section 2): greeting, frames, commands.
##
## Pure functions and one incremental decoder; no I/O. Multi-octet integers here are big-endian,
## as ZMTP wants. Failures come back as values: a Dictionary with [code]error[/code] (a
## PROTOCOL.md error code) and [code]message[/code]; success values never have [code]error[/code].

const GREETING_SIZE := 64
const FLAG_MORE := 0x01
const FLAG_LONG := 0x02
const FLAG_COMMAND := 0x04
## The backend's frame limit (PROTOCOL.md section 7); the engine applies the same.
const DEFAULT_MAX_FRAME_BYTES := 64 << 20
const SHORT_MAX := 255
## PING context is at most 16 octets (ZMTP 3.1).
const MAX_PING_CONTEXT := 16

const _KNOWN_FLAGS := FLAG_MORE | FLAG_LONG | FLAG_COMMAND
const _MECHANISM := "NULL"


## The 64-octet greeting for the NULL mechanism.
static func greeting(as_server: bool = false, minor: int = 1) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(GREETING_SIZE)
	out.fill(0)
	out[0] = 0xFF
	out[8] = 0x01
	out[9] = 0x7F
	out[10] = 3
	out[11] = minor
	var mechanism := _MECHANISM.to_ascii_buffer()
	for i in mechanism.size():
		out[12 + i] = mechanism[i]
	out[32] = 1 if as_server else 0
	return out


## Checks a peer's 64-octet greeting. Returns [code]{major, minor, mechanism, as_server}[/code]
## or an error value ([code]bad_message[/code]).
static func parse_greeting(data: PackedByteArray) -> Dictionary:
	if data.size() != GREETING_SIZE:
		return failure("bad_message", "greeting must be 64 octets, got %d" % data.size())
	if data[0] != 0xFF or data[9] != 0x7F:
		return failure("bad_message", "greeting signature is not FF ... 7F: not a ZMTP peer")
	if data[10] != 3:
		return failure("bad_message", "ZMTP major version 3 expected, got %d" % data[10])
	var mechanism := data.slice(12, 32).get_string_from_ascii()
	if mechanism != _MECHANISM or not _zero_padded(data, 12 + _MECHANISM.length(), 32):
		var got := data.slice(12, 32).hex_encode()
		return failure("bad_message", "mechanism NULL expected, got %s" % got)
	return {
		"major": data[10],
		"minor": data[11],
		"mechanism": mechanism,
		"as_server": data[32] != 0,
	}


## One frame: short when the body fits in 255 octets, long otherwise.
static func encode_frame(
	body: PackedByteArray, more: bool = false, command: bool = false
) -> PackedByteArray:
	var flags := (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
	var out := PackedByteArray()
	if body.size() <= SHORT_MAX:
		out.resize(2)
		out[0] = flags
		out[1] = body.size()
	else:
		out.resize(9)
		out[0] = flags | FLAG_LONG
		_put_u64_be(out, 1, body.size())
	out.append_array(body)
	return out


## A whole message from its frame bodies: every frame but the last carries MORE.
static func encode_multipart(parts: Array) -> PackedByteArray:
	var out := PackedByteArray()
	var last := parts.size() - 1
	for i in parts.size():
		out.append_array(encode_frame(parts[i], i < last))
	return out


## A command frame: name-length, name, data.
static func encode_command(
	name: String, data: PackedByteArray = PackedByteArray()
) -> PackedByteArray:
	var raw := name.to_ascii_buffer()
	var body := PackedByteArray([raw.size()])
	body.append_array(raw)
	body.append_array(data)
	return encode_frame(body, false, true)


## READY with [code]Socket-Type[/code] and any further properties (name -> PackedByteArray).
static func ready_command(socket_type: String, properties: Dictionary = {}) -> PackedByteArray:
	var props := {"Socket-Type": socket_type.to_ascii_buffer()}
	props.merge(properties)
	var body := PackedByteArray()
	for key: String in props:
		var name := key.to_ascii_buffer()
		var value: PackedByteArray = props[key]
		body.append(name.size())
		body.append_array(name)
		var size := PackedByteArray()
		size.resize(4)
		_put_u32_be(size, 0, value.size())
		body.append_array(size)
		body.append_array(value)
	return encode_command("READY", body)


## SUBSCRIBE to messages whose first frame starts with [param topic] (empty: all).
static func subscribe(topic: PackedByteArray) -> PackedByteArray:
	return encode_command("SUBSCRIBE", topic)


## CANCEL an earlier SUBSCRIBE.
static func cancel(topic: PackedByteArray) -> PackedByteArray:
	return encode_command("CANCEL", topic)


## PING with a TTL in tenths of a second (0: no TTL) and up to 16 octets of context.
static func ping(ttl_ds: int = 0, context: PackedByteArray = PackedByteArray()) -> PackedByteArray:
	var data := PackedByteArray([(ttl_ds >> 8) & 0xFF, ttl_ds & 0xFF])
	data.append_array(context.slice(0, MAX_PING_CONTEXT))
	return encode_command("PING", data)


## PONG echoing a PING's context.
static func pong(context: PackedByteArray) -> PackedByteArray:
	return encode_command("PONG", context)


## A command frame's body -> [code]{name, data}[/code] or an error value.
static func parse_command(body: PackedByteArray) -> Dictionary:
	if body.is_empty() or body.size() < 1 + body[0]:
		return failure("bad_message", "command frame shorter than its name")
	return {
		"name": body.slice(1, 1 + body[0]).get_string_from_ascii(),
		"data": body.slice(1 + body[0]),
	}


## READY's metadata -> [code]{properties: {name: PackedByteArray}}[/code] or an error value.
static func parse_properties(data: PackedByteArray) -> Dictionary:
	var props := {}
	var i := 0
	while i < data.size():
		var n := data[i]
		if i + 1 + n + 4 > data.size():
			return failure("bad_message", "READY property runs past the command")
		var name := data.slice(i + 1, i + 1 + n).get_string_from_ascii()
		var start := i + 1 + n + 4
		var size := _get_u32_be(data, i + 1 + n)
		if start + size > data.size():
			return failure("bad_message", "READY property '%s' runs past the command" % name)
		props[name] = data.slice(start, start + size)
		i = start + size
	return {"properties": props}


## PING's data -> [code]{ttl_ds, context}[/code] or an error value.
static func parse_ping(data: PackedByteArray) -> Dictionary:
	if data.size() < 2:
		return failure("bad_message", "PING needs a 2-octet TTL, got %d octets" % data.size())
	return {"ttl_ds": (data[0] << 8) | data[1], "context": data.slice(2, 2 + MAX_PING_CONTEXT)}


## The error value every function here returns on failure.
static func failure(code: String, message: String) -> Dictionary:
	return {"error": code, "message": message}


static func _zero_padded(data: PackedByteArray, from: int, to: int) -> bool:
	for i in range(from, to):
		if data[i] != 0:
			return false
	return true


static func _put_u64_be(out: PackedByteArray, offset: int, value: int) -> void:
	for i in 8:
		out[offset + i] = (value >> (56 - 8 * i)) & 0xFF


static func _put_u32_be(out: PackedByteArray, offset: int, value: int) -> void:
	for i in 4:
		out[offset + i] = (value >> (24 - 8 * i)) & 0xFF


static func _get_u32_be(data: PackedByteArray, offset: int) -> int:
	var value := 0
	for i in 4:
		value = (value << 8) | data[offset + i]
	return value


## Incremental frame parser: feed octets as they arrive, take whole frames out.
##
## Keeps a read cursor into one pending buffer so parsing many small frames never re-copies the
## rest, and streams a long frame's body into a buffer preallocated to its announced size. The
## first violation (reserved flag bits, a long size over [member max_frame_bytes]) is sticky: it is
## detected before anything is allocated and stays in [member error] until [method reset].
class FrameDecoder:
	extends RefCounted

	## Largest frame body accepted; larger announced sizes are [code]too_large[/code].
	var max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
	## Empty while healthy; a PROTOCOL.md error code after a violation.
	var error: String = ""
	## Says what was wrong when [member error] is set.
	var error_message: String = ""

	var _buf := PackedByteArray()
	var _pos := 0
	# A long frame whose body is still arriving: written in place, no regrowth.
	var _body: StreamPeerBuffer = null
	var _body_flags := 0
	var _body_missing := 0

	func _init(p_max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> void:
		max_frame_bytes = p_max_frame_bytes

	## Feeds octets; returns the frames completed by them, each [code]{flags, body}[/code]
	## (flags keep MORE and COMMAND; LONG is a matter of encoding). After an error it returns the
	## frames before the violation and then nothing.
	func feed(data: PackedByteArray) -> Array[Dictionary]:
		var frames: Array[Dictionary] = []
		if not error.is_empty() or data.is_empty():
			return frames
		var offset := 0
		if _body != null:
			offset = _fill_body(data, 0, frames)
			if offset >= data.size():
				return frames
		_append(data, offset)
		_parse(frames)
		return frames

	## Octets held for an incomplete frame.
	func pending_bytes() -> int:
		var held := _buf.size() - _pos
		if _body != null:
			held += _body.get_position()
		return held

	## Forgets buffered octets and any error, for a new connection.
	func reset() -> void:
		_buf = PackedByteArray()
		_pos = 0
		_body = null
		_body_missing = 0
		error = ""
		error_message = ""

	func _append(data: PackedByteArray, offset: int) -> void:
		if _pos >= _buf.size():
			# Nothing pending: adopt the chunk itself (copy-on-write, no copy).
			_buf = data if offset == 0 else data.slice(offset)
		else:
			if _pos > 0:
				_buf = _buf.slice(_pos)
			_buf.append_array(data if offset == 0 else data.slice(offset))
		_pos = 0

	func _parse(frames: Array[Dictionary]) -> void:
		var size := _buf.size()
		while size - _pos >= 2:
			var flags := _buf[_pos]
			if flags & ~_KNOWN_FLAGS:
				_fail("bad_message", "frame flags 0x%02x use reserved bits" % flags)
				return
			var start := _pos + 2
			var body_size := _buf[_pos + 1]
			if flags & FLAG_LONG:
				if size - _pos < 9:
					return
				start = _pos + 9
				body_size = _get_u64_be(_buf, _pos + 1)
			# A size of 2^63 or more reads negative: too large as well.
			if body_size < 0 or body_size > max_frame_bytes:
				var shown := str(body_size) if body_size >= 0 else ">= 2^63"
				_fail("too_large", "frame of %s octets exceeds the limit of %d" % [
					shown, max_frame_bytes])
				return
			flags &= FLAG_MORE | FLAG_COMMAND
			if start + body_size <= size:
				frames.append({"flags": flags, "body": _buf.slice(start, start + body_size)})
				_pos = start + body_size
				continue
			if body_size > SHORT_MAX:
				_begin_body(flags, body_size, start)
			return

	func _begin_body(flags: int, body_size: int, start: int) -> void:
		_body = StreamPeerBuffer.new()
		_body.resize(body_size)
		_body.put_data(_buf.slice(start))
		_body_flags = flags
		_body_missing = body_size - (_buf.size() - start)
		_buf = PackedByteArray()
		_pos = 0

	# Copies what belongs to the long body; returns the offset of the first octet after it.
	func _fill_body(data: PackedByteArray, offset: int, frames: Array[Dictionary]) -> int:
		var take := mini(_body_missing, data.size() - offset)
		if offset == 0 and take == data.size():
			_body.put_data(data)
		else:
			_body.put_data(data.slice(offset, offset + take))
		_body_missing -= take
		if _body_missing == 0:
			var body := _body.data_array
			_body = null
			frames.append({"flags": _body_flags, "body": body})
		return offset + take

	func _fail(code: String, message: String) -> void:
		error = code
		error_message = message
		_buf = PackedByteArray()
		_pos = 0

	static func _get_u64_be(data: PackedByteArray, offset: int) -> int:
		var value := 0
		for i in 8:
			value = (value << 8) | data[offset + i]
		return value
