# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## continuum_session.gd against a fake backend (a ROUTER and a PUB played by fake_peer.gd):
## handshake, requests, errors, timeouts, drops, reconnects, stream topics, settings.

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const FakePeer = preload("res://tests/unit/bridge/fake_peer.gd")

var _router: FakePeer
var _pub: FakePeer
var _session: SessionScript
var _events: Array = []
var _requests: Array = []
## How the fake answers hello: "welcome", "version_mismatch", "unauthorized", "v2", "silent".
var _hello_mode := "welcome"
var _sessions := 0


func before_each() -> void:
	_router = FakePeer.new()
	_pub = FakePeer.new()
	_pub.socket_type = "PUB"
	add_child(_router)
	add_child(_pub)
	_router.listen()
	_pub.listen()
	_router.on_message = _serve
	_hello_mode = "welcome"
	_sessions = 0
	_requests = []
	_events = []
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	_session.request_timeout_s = 5.0
	_session.connected.connect(func(w: Dictionary) -> void: _events.append(["connected", w]))
	_session.disconnected.connect(func(r: String) -> void: _events.append(["disconnected", r]))
	_session.error_reported.connect(func(c: String, m: String) -> void: _events.append(
		["error", c, m]))
	_session.message_received.connect(func(k: String, h: Dictionary, b: Array) -> void: (
		_events.append(["message", k, h, b])))
	_session.tick_received.connect(func(s: int, t: float, h: Dictionary) -> void: _events.append(
		["tick", s, t, h]))
	add_child(_session)


func after_each() -> void:
	_session.queue_free()
	_router.queue_free()
	_pub.queue_free()


func test_does_not_connect_by_itself_when_auto_connect_is_off() -> void:
	await wait_seconds(0.2)
	assert_eq(_session.state, SessionScript.State.DISCONNECTED)
	assert_eq(_router.accepted, 0)


func test_connects_says_hello_and_emits_connected() -> void:
	_session.token = "s3cret"
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_eq(_session.state, SessionScript.State.CONNECTING)
	assert_true(await _connected_count(1), "connected")
	assert_true(_session.is_backend_connected())
	assert_eq(_session.protocol_version, "1.0")
	assert_eq(_session.session_id, "s1")
	assert_eq(_session.welcome.get("pub_port"), _pub.port)
	var hello: Dictionary = _requests[0]
	assert_eq(hello.kind, "hello")
	assert_eq(hello.header, {
		"id": 1, "protocol": "1.7", "client": "continuum-godot 0.1.0", "capabilities": [],
		"token": "s3cret"})


func test_request_round_trips_blobs() -> void:
	await _connect()
	var floats := PackedFloat32Array([1.5, -2.0, 0.25])
	var reply: Dictionary = await _session.request("echo", {"note": "hi"}, [
		floats, PackedInt32Array([7]), PackedByteArray([1, 2, 3])])
	assert_eq(reply.kind, "echo")
	assert_eq(reply.header.get("note"), "hi")
	assert_eq(reply.header.get("re"), _requests[-1].header.id)
	assert_eq(MessageCodec.message_blob(reply, 0), floats)
	assert_eq(MessageCodec.message_blob(reply, 1), PackedInt32Array([7]))
	assert_eq(reply.blobs[2], PackedByteArray([1, 2, 3]))


func test_request_ids_are_increasing_ints() -> void:
	await _connect()
	await _session.request("echo")
	await _session.request("echo")
	var ids: Array = _requests.map(func(r: Dictionary) -> Variant: return r.header.id)
	assert_eq(ids, [1, 2, 3])


func test_backend_errors_come_back_as_replies() -> void:
	await _connect()
	var reply: Dictionary = await _session.request("warp")
	assert_eq(reply.kind, "error")
	assert_eq(reply.header.get("code"), "unknown_kind")


func test_local_errors() -> void:
	var reply: Dictionary = await _session.request("ping")
	assert_eq([reply.kind, reply.header.code], ["error", "not_connected"])
	await _connect()
	reply = await _session.request("Bad Kind")
	assert_eq(reply.header.code, "bad_message")
	reply = await _session.request("echo", {}, ["not a blob"])
	assert_eq(reply.header.code, "bad_blob")


func test_request_times_out() -> void:
	await _connect()
	_session.request_timeout_s = 0.3
	var started := Time.get_ticks_msec()
	var reply: Dictionary = await _session.request("slow")
	assert_eq(reply.header.get("code"), "timeout")
	assert_true(Time.get_ticks_msec() - started >= 250, "waited for the timeout")
	assert_true(_session.is_backend_connected(), "a timeout does not drop the session")
	# A request of its own timeout: longer or shorter than the session's.
	started = Time.get_ticks_msec()
	reply = await _session.request("slow", {}, [], 0.6)
	assert_eq(reply.header.get("code"), "timeout")
	assert_true(Time.get_ticks_msec() - started >= 550, "waited for its own timeout")
	assert_true(str(reply.header.message).contains("0.6 s"), reply.header.message)
	started = Time.get_ticks_msec()
	reply = await _session.request("slow", {}, [], 0.1)
	assert_true(Time.get_ticks_msec() - started < 280, "a shorter one")


func test_pending_requests_fail_when_the_connection_drops_and_it_reconnects() -> void:
	await _connect()
	var reply: Dictionary = await _session.request("drop")
	assert_eq(reply.header.get("code"), "disconnected")
	assert_has(_events.map(func(e: Array) -> String: return e[0]), "disconnected")
	assert_true(await _connected_count(2), "re-hello after the reconnect")
	assert_eq(_session.session_id, "s2")
	assert_eq(_requests.filter(func(r: Dictionary) -> bool: return r.kind == "hello").size(), 2)
	reply = await _session.request("echo")
	assert_eq(reply.kind, "echo")


func test_version_mismatch_stops_without_hot_looping() -> void:
	_hello_mode = "version_mismatch"
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_true(await wait_until(func() -> bool: return _session.state == (
		SessionScript.State.DISCONNECTED)))
	assert_has(_events.map(func(e: Array) -> String: return e[0]), "disconnected")
	var errors := _events.filter(func(e: Array) -> bool: return e[0] == "error")
	assert_eq(errors[0][1] if errors else "", "version_mismatch")
	await wait_seconds(1.0)
	assert_eq(_router.accepted, 1, "no reconnect loop")


func test_unauthorized_stops() -> void:
	_hello_mode = "unauthorized"
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_true(await wait_until(func() -> bool: return _session.state == (
		SessionScript.State.DISCONNECTED)))
	var errors := _events.filter(func(e: Array) -> bool: return e[0] == "error")
	assert_eq(errors[0][1] if errors else "", "unauthorized")


func test_welcome_with_another_major_is_a_version_mismatch() -> void:
	_hello_mode = "v2"
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_true(await wait_until(func() -> bool: return _session.state == (
		SessionScript.State.DISCONNECTED)))
	var errors := _events.filter(func(e: Array) -> bool: return e[0] == "error")
	assert_eq(errors[0][1] if errors else "", "version_mismatch")


func test_unanswered_hello_retries() -> void:
	_hello_mode = "silent"
	_session.request_timeout_s = 0.2
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_true(await wait_until(func() -> bool: return _router.accepted >= 2), "reconnects")
	_hello_mode = "welcome"
	assert_true(await _connected_count(1))


func test_subscribe_streams_ticks() -> void:
	await _connect()
	var reply: Dictionary = await _session.subscribe(PackedStringArray(["tick"]))
	assert_eq(reply.kind, "subscribed")
	assert_true(await _subscribes(1))
	assert_eq(_pub.commands_named("SUBSCRIBE")[0].data, "tick".to_utf8_buffer())
	for seq in 3:
		_pub.send_reply("tick", {"seq": seq, "t": 0.5 * seq, "hz": 30})
	_pub.send_reply("pose", {"seq": 0})
	assert_true(await wait_until(func() -> bool: return _events.filter(
		func(e: Array) -> bool: return e[0] == "tick").size() == 3))
	var ticks := _events.filter(func(e: Array) -> bool: return e[0] == "tick")
	assert_eq(ticks.map(func(e: Array) -> int: return e[1]), [0, 1, 2])
	assert_eq(ticks[2][2], 1.0)
	assert_eq(ticks[2][3].get("hz"), 30)
	assert_true(await wait_until(func() -> bool: return _events.any(
		func(e: Array) -> bool: return e[0] == "message" and e[1] == "pose")))


func test_resubscribes_after_a_backend_restart() -> void:
	await _connect()
	await _session.subscribe(PackedStringArray(["tick"]))
	assert_true(await _subscribes(1))
	_router.drop()
	_pub.drop()
	assert_true(await _connected_count(2))
	assert_true(await wait_until(func() -> bool: return _requests.filter(
		func(r: Dictionary) -> bool: return r.kind == "subscribe").size() == 2), "re-sent")
	assert_true(await _subscribes(2))
	_pub.send_reply("tick", {"seq": 9, "t": 1.0, "hz": 30})
	assert_true(await wait_until(func() -> bool: return _events.any(
		func(e: Array) -> bool: return e[0] == "tick" and e[1] == 9)))


func test_unsubscribed_topics_are_not_resubscribed() -> void:
	await _connect()
	await _session.subscribe(PackedStringArray(["tick", "other"]))
	assert_true(await _subscribes(2))
	_session.unsubscribe(PackedStringArray(["other"]))
	assert_true(await wait_until(func() -> bool: return _pub.commands_named("CANCEL").size() == 1))
	assert_eq(_pub.commands_named("CANCEL")[0].data, "other".to_utf8_buffer())
	_router.drop()
	_pub.drop()
	assert_true(await _connected_count(2))
	var subscribes := func() -> Array: return _requests.filter(
		func(r: Dictionary) -> bool: return r.kind == "subscribe")
	assert_true(await wait_until(func() -> bool: return subscribes.call().size() == 2), "re-sent")
	assert_eq(subscribes.call()[1].header.topics, ["tick"], "other dropped")


func test_poses_are_not_resubscribed_to_a_backend_without_physics() -> void:
	await _connect()
	await _session.subscribe(PackedStringArray(["tick", "poses"]))
	_router.drop()  # the fake's welcome has no physics
	assert_true(await _connected_count(2))
	var subscribes := func() -> Array: return _requests.filter(
		func(r: Dictionary) -> bool: return r.kind == "subscribe")
	assert_true(await wait_until(func() -> bool: return subscribes.call().size() == 2), "re-sent")
	assert_eq(subscribes.call()[1].header.topics, ["tick"], "only what the backend streams")


func test_garbage_from_the_backend_is_reported_and_survived() -> void:
	await _connect()
	_router.send_raw("garbage!".to_utf8_buffer())
	assert_true(await wait_until(func() -> bool: return _events.any(
		func(e: Array) -> bool: return e[0] == "error")))
	var errors := _events.filter(func(e: Array) -> bool: return e[0] == "error")
	assert_eq(errors[0][1] if errors else "", "bad_message")
	assert_true(await _connected_count(2), "reconnected")


func test_malformed_message_is_reported_and_the_session_stays() -> void:
	await _connect()
	_router.send_message(["echo".to_utf8_buffer(), "{not json".to_utf8_buffer()])
	assert_true(await wait_until(func() -> bool: return _events.any(
		func(e: Array) -> bool: return e[0] == "error")))
	assert_true(_session.is_backend_connected())
	var reply: Dictionary = await _session.request("echo")
	assert_eq(reply.kind, "echo")


func test_pushes_are_messages() -> void:
	await _connect()
	_router.send_reply("notice", {"text": "hi"})
	assert_true(await wait_until(func() -> bool: return _events.any(
		func(e: Array) -> bool: return e[0] == "message" and e[1] == "notice")))


func test_pings_measure_rtt() -> void:
	_session.ping_interval_s = 0.05
	await _connect()
	assert_true(await wait_until(func() -> bool: return _session.rtt_ms >= 0.0), "rtt measured")
	assert_true(_requests.any(func(r: Dictionary) -> bool: return r.kind == "ping"))


func test_disconnect_fails_pending_and_stops() -> void:
	await _connect()
	_session.request_timeout_s = 5.0
	var late := {}
	var waiter := func() -> void: late.merge(await _session.request("slow"))
	waiter.call()
	await next_frame()
	_session.disconnect_from_backend()
	assert_eq(late.get("header", {}).get("code"), "disconnected")
	assert_eq(_session.state, SessionScript.State.DISCONNECTED)
	assert_eq(_events[-1][0], "disconnected")
	await wait_seconds(0.3)
	assert_eq(_router.accepted, 1)


func test_settings_from_command_line_override_project_settings() -> void:
	_session._apply_settings(PackedStringArray())
	assert_eq(_session.host, ProjectSettings.get_setting("continuum/backend/host", "127.0.0.1"))
	assert_eq(_session.port, ProjectSettings.get_setting("continuum/backend/port", 5570))
	_session._apply_settings(PackedStringArray([
		"--continuum-host=10.1.2.3", "--continuum-port=6001", "--continuum-token=a=b", "--other"]))
	assert_eq([_session.host, _session.port, _session.token], ["10.1.2.3", 6001, "a=b"])


func _connect() -> void:
	_session.connect_to_backend("127.0.0.1", _router.port)
	assert_true(await _connected_count(1), "connected")


func _subscribes(count: int) -> bool:
	return await wait_until(func() -> bool: return _pub.commands_named("SUBSCRIBE").size() == count)


func _connected_count(count: int) -> bool:
	return await wait_until(func() -> bool: return _events.filter(
		func(e: Array) -> bool: return e[0] == "connected").size() >= count)


# The fake backend: answers like PROTOCOL.md section 5, plus "slow" (never) and "drop".
func _serve(peer: int, frames: Array[PackedByteArray]) -> void:
	var message := MessageCodec.decode(frames)
	_requests.append(message)
	var header: Dictionary = message.header
	var re: Variant = header.get("id")
	match message.kind:
		"hello":
			_answer_hello(peer, re)
		"ping":
			_router.send_reply("pong", {"re": re, "t": 1.0}, [], peer)
		"echo":
			var fields := header.duplicate()
			fields.erase("id")
			fields["re"] = re
			var blobs := []
			for i in message.blobs.size():
				var d: Dictionary = header.blobs[i]
				blobs.append(MessageCodec.make_blob(d.dtype, d.shape, message.blobs[i]))
			_router.send_reply("echo", fields, blobs, peer)
		"subscribe":
			_router.send_reply("subscribed", {
				"re": re, "topics": header.topics, "pub_port": _pub.port, "seq": {}}, [], peer)
		"slow":
			pass
		"drop":
			_router.drop(peer)
		_:
			var error := {"re": re, "code": "unknown_kind", "message": "no '%s'" % message.kind}
			_router.send_reply("error", error, [], peer)


func _answer_hello(peer: int, re: Variant) -> void:
	match _hello_mode:
		"welcome", "v2":
			_sessions += 1
			_router.send_reply("welcome", {
				"re": re, "protocol": "2.0" if _hello_mode == "v2" else "1.0",
				"server": "fake 0", "session": "s%d" % _sessions, "capabilities": [],
				"pub_port": _pub.port, "tick_hz": 30}, [], peer)
		"version_mismatch", "unauthorized":
			_router.send_reply("error", {"re": re, "code": _hello_mode, "message": "no"}, [], peer)
