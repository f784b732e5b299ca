# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## zmtp_connection.gd against a local fake peer, polite and misbehaving: the client must survive
## garbage, drops mid-frame, oversized frames and silence, report them and reconnect.

const ZmtpConnection = preload("res://addons/continuum/bridge/zmtp_connection.gd")
const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")
const FakePeer = preload("res://tests/unit/bridge/fake_peer.gd")

var _peer: FakePeer
var _conn: ZmtpConnection
var _received: Array = []
var _errors: Array = []
var _closed: Array = []
var _opened := 0


func before_each() -> void:
	_peer = FakePeer.new()
	add_child(_peer)
	_peer.listen()
	_conn = ZmtpConnection.new("DEALER")
	_received = []
	_errors = []
	_closed = []
	_opened = 0
	_conn.message_received.connect(func(frames: Array) -> void: _received.append(frames))
	_conn.error_reported.connect(func(code: String, message: String) -> void: _errors.append(
		[code, message]))
	_conn.closed.connect(func(reason: String) -> void: _closed.append(reason))
	_conn.opened.connect(func(_p: Dictionary) -> void: _opened += 1)


func after_each() -> void:
	_conn.close()
	_peer.queue_free()


func test_handshake_and_round_trip() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready), "handshake completes")
	assert_eq(_conn.peer_properties["Socket-Type"].get_string_from_ascii(), "ROUTER")
	assert_true(await _until(func() -> bool: return _peer.commands_named("READY").size() == 1))
	assert_eq(ZmtpCodec.parse_greeting(_peer.greetings[0]).get("mechanism"), "NULL")
	var command: Dictionary = _peer.commands_named("READY")[0]
	var properties: Dictionary = ZmtpCodec.parse_properties(command.data).properties
	assert_eq(properties["Socket-Type"].get_string_from_ascii(), "DEALER")
	assert_eq(_conn.send([_bytes("ping"), _bytes("{\"id\":1}")]), OK)
	assert_true(await _until(func() -> bool: return _peer.messages.size() == 1))
	assert_eq(_peer.messages[0][1], [_bytes("ping"), _bytes("{\"id\":1}")])
	_peer.send_message([_bytes("pong"), _bytes("{}"), PackedByteArray()])
	assert_true(await _until(func() -> bool: return _received.size() == 1))
	assert_eq(_received[0], [_bytes("pong"), _bytes("{}"), PackedByteArray()])
	assert_eq(_opened, 1)
	assert_eq(_errors, [])


func test_send_before_ready_is_refused() -> void:
	assert_eq(_conn.send([_bytes("ping")]), ERR_UNAVAILABLE)


func test_answers_ping_with_pong_echoing_context() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	_peer.send_raw(ZmtpCodec.ping(30, _bytes("xy")))
	assert_true(await _until(func() -> bool: return _peer.commands_named("PONG").size() == 1))
	assert_eq(_peer.commands_named("PONG")[0].data, _bytes("xy"))


func test_large_message_arrives_intact() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	var body := PackedByteArray()
	body.resize(8 << 20)
	for i in range(0, body.size(), 1021):
		body[i] = i % 251
	_peer.send_message([_bytes("fill"), _bytes("{}"), body])
	assert_true(await _until(func() -> bool: return _received.size() == 1, 20.0))
	if _received.size() == 1:
		assert_eq(_received[0].size(), 3)
		assert_true(_received[0][2] == body, "8 MiB body intact")


func test_garbage_is_reported_and_the_client_reconnects() -> void:
	_peer.auto_handshake = false
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(func() -> bool: return _peer.accepted == 1))
	_peer.send_raw(_bytes("HTTP/1.1 400 Bad Request\r\n\r\n"))
	assert_true(await _until(func() -> bool: return not _errors.is_empty()))
	assert_eq(_errors[0][0] if _errors else "", "bad_message")
	assert_eq(_closed.size(), 1)
	_peer.auto_handshake = true
	assert_true(await _until(_conn.is_ready), "reconnects after the backoff")
	assert_eq(_peer.accepted, 2)


func test_drop_mid_frame_then_reconnect() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	var frame := ZmtpCodec.encode_frame(PackedByteArray([1, 2, 3, 4, 5, 6, 7, 8]))
	_peer.send_raw(frame.slice(0, 5))
	await wait_seconds(0.1, _conn.poll)
	_peer.drop()
	assert_true(await _until(func() -> bool: return not _closed.is_empty()))
	assert_eq(_received, [], "half a frame is not a message")
	assert_eq(_errors, [], "a drop is not a protocol error")
	assert_true(await _until(_conn.is_ready), "reconnects")
	assert_eq(_peer.accepted, 2)
	# The new connection starts clean: a whole message gets through.
	_peer.send_message([_bytes("a"), _bytes("{}")], 1)
	assert_true(await _until(func() -> bool: return _received.size() == 1))


func test_oversized_frame_closes_before_allocating() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	_peer.send_raw(PackedByteArray([2, 0, 0, 1, 0, 0, 0, 0, 0]))  # 2^40 octets announced
	assert_true(await _until(func() -> bool: return not _errors.is_empty()))
	assert_eq(_errors[0][0] if _errors else "", "too_large")
	assert_true(await _until(_conn.is_ready), "reconnects")


func test_reserved_flags_are_a_protocol_error() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	_peer.send_raw(PackedByteArray([0x08, 1, 0x78]))
	assert_true(await _until(func() -> bool: return not _errors.is_empty()))
	assert_eq(_errors[0][0] if _errors else "", "bad_message")


func test_wrong_peer_socket_type_is_refused() -> void:
	_peer.socket_type = "PUB"
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(func() -> bool: return not _errors.is_empty()))
	assert_eq(_errors[0][0] if _errors else "", "bad_message")
	assert_true(_errors[0][1].contains("ROUTER") if _errors else false, "names what it needs")
	assert_false(_conn.is_ready())


func test_message_before_ready_is_a_protocol_error() -> void:
	_peer.auto_handshake = false
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(func() -> bool: return _peer.accepted == 1))
	var data := ZmtpCodec.greeting(true)
	data.append_array(ZmtpCodec.encode_multipart([_bytes("tick"), _bytes("{}")]))
	_peer.send_raw(data)
	assert_true(await _until(func() -> bool: return not _errors.is_empty()))
	assert_eq(_errors[0][0] if _errors else "", "bad_message")


func test_silence_counts_as_a_lost_connection() -> void:
	_peer.answer_pings = false
	_conn.silence_timeout_s = 0.6
	_conn.keepalive_s = 0.2
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	assert_true(await _until(func() -> bool: return not _closed.is_empty(), 3.0))
	assert_true(_closed[0].begins_with("no data") if _closed else false, str(_closed))
	assert_true(_peer.commands_named("PING").size() >= 1, "asked for a PONG before giving up")


func test_pong_keeps_a_quiet_connection_alive() -> void:
	_conn.silence_timeout_s = 0.6
	_conn.keepalive_s = 0.2
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	await wait_seconds(1.5, _conn.poll)
	assert_eq(_closed, [])
	assert_true(_conn.is_ready())


func test_refused_connect_backs_off_without_hot_looping() -> void:
	_peer.stop()
	_conn.open("127.0.0.1", _peer.port)
	await wait_seconds(1.0, _conn.poll)
	# 0.1 + 0.2 + 0.4 s of backoff fit in one second: about 4 attempts, never hundreds.
	assert_true(_conn.attempts >= 2 and _conn.attempts <= 6, "attempts: %d" % _conn.attempts)
	assert_true(_conn.retry_delay_s >= 0.8, "delay grows: %s" % _conn.retry_delay_s)
	assert_eq(_errors, [])


func test_backoff_is_capped_and_reset_by_success() -> void:
	_conn.backoff_max_s = 0.2
	_peer.stop()
	_conn.open("127.0.0.1", _peer.port)
	await wait_seconds(0.8, _conn.poll)
	assert_almost_eq(_conn.retry_delay_s, 0.2, 1e-9)
	_peer = FakePeer.new()
	add_child(_peer)
	_peer.listen()
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	assert_almost_eq(_conn.retry_delay_s, 0.1, 1e-9)


func test_sub_subscribes_and_resubscribes_after_reconnect() -> void:
	_peer.socket_type = "PUB"
	_conn = ZmtpConnection.new("SUB")
	_conn.subscribe(_bytes("tick"))
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(func() -> bool: return _peer.commands_named("SUBSCRIBE").size() == 1))
	assert_eq(_peer.commands_named("SUBSCRIBE")[0].data, _bytes("tick"))
	_conn.subscribe(_bytes("pose"))
	assert_true(await _until(func() -> bool: return _peer.commands_named("SUBSCRIBE").size() == 2))
	_peer.drop()
	assert_true(await _until(func() -> bool: return _peer.commands_named("SUBSCRIBE").size() == 4))
	var topics := _peer.commands_named("SUBSCRIBE").map(func(c: Dictionary) -> String: return (
		c.data.get_string_from_ascii()))
	assert_eq(topics, ["tick", "pose", "tick", "pose"])
	_conn.unsubscribe(_bytes("pose"))
	assert_true(await _until(func() -> bool: return _peer.commands_named("CANCEL").size() == 1))


func test_too_many_frames_are_skipped_and_the_connection_stays() -> void:
	_conn.max_message_frames = 4
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	var parts := []
	for i in 6:
		parts.append(_bytes("part"))
	_peer.send_message(parts)
	_peer.send_message([_bytes("ok"), _bytes("{}")])
	assert_true(await _until(func() -> bool: return _received.size() == 1))
	assert_eq(_errors.size(), 1)
	assert_eq(_errors[0][0] if _errors else "", "too_large")
	assert_eq(_received[0][0] if _received else null, _bytes("ok"))
	assert_eq(_closed, [])


func test_peer_error_command_closes_and_reconnects() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	var reason := _bytes("go away")
	var data := PackedByteArray([reason.size()])
	data.append_array(reason)
	_peer.send_raw(ZmtpCodec.encode_command("ERROR", data))
	assert_true(await _until(func() -> bool: return not _closed.is_empty()))
	assert_true(_closed[0].contains("go away") if _closed else false, str(_closed))
	assert_true(await _until(_conn.is_ready))


func test_resolves_a_host_name_without_blocking() -> void:
	_conn.open("localhost", _peer.port)
	assert_eq(_conn.status, ZmtpConnection.Status.RESOLVING)
	assert_true(await _until(_conn.is_ready))


func test_close_is_silent_and_final() -> void:
	_conn.open("127.0.0.1", _peer.port)
	assert_true(await _until(_conn.is_ready))
	_conn.close()
	await wait_seconds(0.5, _conn.poll)
	assert_eq(_conn.status, ZmtpConnection.Status.IDLE)
	assert_eq(_closed, [])
	assert_eq(_peer.accepted, 1)


func _until(condition: Callable, timeout_s: float = 5.0) -> bool:
	return await wait_until(condition, timeout_s, _conn.poll)


static func _bytes(text: String) -> PackedByteArray:
	return text.to_utf8_buffer()
