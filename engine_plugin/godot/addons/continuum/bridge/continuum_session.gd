@tool
class_name ContinuumSession
extends Node
## The engine's session with the Continuum backend: a DEALER for requests and a SUB for the state
## stream (bridge/PROTOCOL.md).
##
## Registered as the autoload [code]Continuum[/code]. In a running game it connects by itself when
## [member auto_connect] is set; in the editor only through [method connect_to_backend]. It says
## [code]hello[/code] on every (re)connection, re-subscribes the stream topics, pings to keep the
## session alive and measure [member rtt_ms], and reconnects with backoff when the backend goes
## away. Requests are coroutines:
## [codeblock]
## var reply := await Continuum.request("world.get")
## if reply.kind == "error":
##     push_warning(reply.header.message)
## [/codeblock]

## The backend answered [code]hello[/code]; [param welcome] is its header.
signal connected(welcome: Dictionary)
## A connected session was lost (it reconnects by itself), or the session stopped.
signal disconnected(reason: String)
## An unsolicited push on the request channel, or a stream message other than a tick.
signal message_received(kind: String, header: Dictionary, blobs: Array)
## A [code]tick[/code] on the state stream.
signal tick_received(seq: int, time: float, header: Dictionary)
## A transport-level problem, such as garbage from the backend or a refused handshake.
signal error_reported(code: String, message: String)

enum State { DISCONNECTED, CONNECTING, HANDSHAKING, CONNECTED }

const MessageCodec = preload("message_codec.gd")
const ZmtpConnection = preload("zmtp_connection.gd")

const PROTOCOL_VERSION := "1.7"
const CLIENT_NAME := "continuum-godot 0.1.0"
const SETTING_HOST := "continuum/backend/host"
const SETTING_PORT := "continuum/backend/port"
const SETTING_TOKEN := "continuum/backend/token"
const SETTING_AUTO_CONNECT := "continuum/backend/auto_connect"
const SETTING_REQUEST_TIMEOUT := "continuum/backend/request_timeout_s"
## Errors that reconnecting cannot cure: the session stops instead of retrying.
const FATAL_CODES: Array[String] = ["version_mismatch", "unauthorized"]
## The stream topic that only a backend whose world has physics serves (PROTOCOL.md 5, 12).
const POSES_TOPIC := "poses"

## Backend address; [method connect_to_backend] arguments override it.
var host: String = "127.0.0.1"
## The backend's request port; the stream port comes from [code]welcome.pub_port[/code].
var port: int = 5570
## Access token sent in [code]hello[/code] when not empty.
var token: String = ""
## Connect in [method Node._ready] when not in the editor.
var auto_connect: bool = true
## Seconds a request waits for its reply before it fails with [code]timeout[/code].
var request_timeout_s: float = 10.0
## Seconds between keep-alive pings while connected (0 disables them).
var ping_interval_s: float = 1.0
## Where the session is; read-only.
var state: State = State.DISCONNECTED
## The last measured ping round trip in milliseconds; -1 until one is measured.
var rtt_ms: float = -1.0
## The backend's protocol version, from [code]welcome[/code].
var protocol_version: String = ""
## The backend's session id, from [code]welcome[/code].
var session_id: String = ""
## The last [code]welcome[/code] header.
var welcome: Dictionary = {}

var _dealer: ZmtpConnection = ZmtpConnection.new("DEALER")
var _sub: ZmtpConnection = ZmtpConnection.new("SUB")
var _pending: Dictionary = {}
var _next_id := 1
var _topics := PackedStringArray()
var _handshakes := 0
var _next_ping_ms := 0
var _ping_in_flight := false
var _last_warning := ""


func _init() -> void:
	# The bridge keeps running while the game is paused.
	process_mode = Node.PROCESS_MODE_ALWAYS
	load_settings()
	_dealer.opened.connect(_on_dealer_opened)
	_dealer.closed.connect(_on_dealer_closed)
	_dealer.message_received.connect(_on_dealer_message)
	_dealer.error_reported.connect(_report)
	_sub.message_received.connect(_on_stream_message)
	_sub.error_reported.connect(_report)


func _ready() -> void:
	if not Engine.is_editor_hint() and auto_connect:
		connect_to_backend()


func _process(_delta: float) -> void:
	if state == State.DISCONNECTED:
		return
	_dealer.poll()
	_sub.poll()
	var now := Time.get_ticks_msec()
	_expire_requests(now)
	if state == State.CONNECTED and ping_interval_s > 0.0 and not _ping_in_flight:
		if now >= _next_ping_ms:
			_ping()


func _exit_tree() -> void:
	# Quietly: whoever removed the node knows, and listeners may be leaving the tree too.
	if state != State.DISCONNECTED:
		_stop("the session node left the scene tree", false)


## (Re)reads host, port, token, auto_connect and request_timeout_s from the project settings
## ([code]continuum/backend/*[/code]), then from the command line's user arguments
## ([code]--continuum-host=H --continuum-port=N --continuum-token=T[/code]), which win.
func load_settings() -> void:
	_apply_settings(OS.get_cmdline_user_args())


## Connects (and keeps reconnecting) to the backend; empty arguments keep [member host] and
## [member port].
func connect_to_backend(p_host: String = "", p_port: int = 0) -> void:
	if state != State.DISCONNECTED:
		_stop("reconnecting to another address")
	if not p_host.is_empty():
		host = p_host
	if p_port > 0:
		port = p_port
	_last_warning = ""
	state = State.CONNECTING
	_dealer.open(host, port)


## Closes both sockets; pending requests fail with [code]disconnected[/code].
func disconnect_from_backend() -> void:
	if state != State.DISCONNECTED:
		_stop("disconnected by the client")
	_topics = PackedStringArray()


## True while the backend has welcomed this session.
func is_backend_connected() -> bool:
	return state == State.CONNECTED


## Sends a request and waits for its answer: [code]{kind, header, blobs}[/code], where blobs are
## the raw PackedByteArray frames (see message_codec.gd [code]message_blob[/code]). Failures come
## back as kind [code]error[/code] with [code]header.code[/code]: the backend's codes, or
## [code]not_connected[/code], [code]timeout[/code], [code]disconnected[/code] and the encoder's
## [code]bad_message[/code], [code]bad_blob[/code], [code]too_large[/code]. [param blobs] take
## PackedByteArray, PackedFloat32Array, PackedFloat64Array, PackedInt32Array, PackedInt64Array or
## message_codec.gd [code]make_blob()[/code] values. [param timeout_s] above 0 replaces
## [member request_timeout_s] for this request (a long one, such as an optimisation).
func request(
	kind: String, header: Dictionary = {}, blobs: Array = [], timeout_s: float = 0.0
) -> Dictionary:
	if state != State.CONNECTED:
		return _not_connected()
	return await _send_request(kind, header, blobs, timeout_s)


## Subscribes to stream topics: sends [code]subscribe[/code], connects the SUB socket to the
## reply's [code]pub_port[/code] and selects each topic. Returns the reply. Topics are
## re-subscribed after every reconnect.
func subscribe(topics: PackedStringArray) -> Dictionary:
	if state != State.CONNECTED:
		return _not_connected()
	var reply: Dictionary = await _send_request("subscribe", {"topics": Array(topics)}, [])
	if reply.kind == "subscribed":
		for topic in topics:
			if not topic in _topics:
				_topics.append(topic)
		_open_stream(reply.header)
	return reply


## Drops stream topics: they are no longer selected on the stream nor re-subscribed after a
## reconnect. Local only (the protocol has no request for it; the backend publishes anyway).
func unsubscribe(topics: PackedStringArray) -> void:
	for topic in topics:
		var at := _topics.find(topic)
		if at >= 0:
			_topics.remove_at(at)
		_sub.unsubscribe(topic.to_utf8_buffer())


func _apply_settings(args: PackedStringArray) -> void:
	host = str(ProjectSettings.get_setting(SETTING_HOST, "127.0.0.1"))
	port = int(ProjectSettings.get_setting(SETTING_PORT, 5570))
	token = str(ProjectSettings.get_setting(SETTING_TOKEN, ""))
	auto_connect = bool(ProjectSettings.get_setting(SETTING_AUTO_CONNECT, true))
	request_timeout_s = float(ProjectSettings.get_setting(SETTING_REQUEST_TIMEOUT, 10.0))
	for arg in args:
		# Everything after the first "=", so a token may contain "=" too.
		var value := arg.substr(arg.find("=") + 1) if arg.contains("=") else ""
		if arg.begins_with("--continuum-host="):
			host = value
		elif arg.begins_with("--continuum-token="):
			token = value
		elif arg.begins_with("--continuum-port="):
			if value.is_valid_int():
				port = value.to_int()
			else:
				push_warning("[continuum] ignoring %s: the port must be an integer" % arg)


func _send_request(
	kind: String, header: Dictionary, blobs: Array, timeout_s: float = 0.0
) -> Dictionary:
	var id := _next_id
	_next_id += 1
	var fields := header.duplicate()
	fields["id"] = id
	var encoded := MessageCodec.encode(kind, fields, blobs)
	if encoded.has("error"):
		return _error_reply(id, encoded.error, encoded.message)
	if _dealer.send(encoded.frames) != OK:
		return _error_reply(id, "not_connected", "the connection to the backend is down")
	var pending := _Pending.new()
	pending.kind = kind
	pending.timeout_s = timeout_s if timeout_s > 0.0 else request_timeout_s
	pending.deadline_ms = Time.get_ticks_msec() + int(pending.timeout_s * 1000.0)
	_pending[id] = pending
	return await pending.finished


func _handshake() -> void:
	_handshakes += 1
	var attempt := _handshakes
	var fields := {"protocol": PROTOCOL_VERSION, "client": CLIENT_NAME, "capabilities": []}
	if not token.is_empty():
		fields["token"] = token
	var reply: Dictionary = await _send_request("hello", fields, [])
	if attempt != _handshakes or state != State.HANDSHAKING:
		return  # That connection is gone; its loss was handled where it happened.
	var header: Dictionary = reply.header
	var same_major := _major(str(header.get("protocol", ""))) == _major(PROTOCOL_VERSION)
	if reply.kind == "welcome" and same_major:
		_on_welcome(header)
	elif reply.kind == "welcome":
		_report("version_mismatch", "the backend speaks protocol %s, this plugin %s" % [
			header.get("protocol"), PROTOCOL_VERSION])
		_stop("version mismatch")
	elif str(header.get("code")) in FATAL_CODES:
		_report(header.code, str(header.get("message", "")))
		_stop(str(header.get("message", header.code)))
	else:
		_report(str(header.get("code", "bad_message")), "hello failed: %s" % header.get("message"))
		state = State.CONNECTING
		_dealer.reconnect()


func _on_welcome(header: Dictionary) -> void:
	welcome = header
	protocol_version = str(header.get("protocol", ""))
	session_id = str(header.get("session", ""))
	state = State.CONNECTED
	_last_warning = ""
	_next_ping_ms = Time.get_ticks_msec() + int(ping_interval_s * 1000.0)
	if POSES_TOPIC in _topics and not header.get("physics") is Dictionary:
		# This backend's world has no physics: asking for poses would refuse the whole subscribe.
		unsubscribe(PackedStringArray([POSES_TOPIC]))
	if not _topics.is_empty():
		_resubscribe()
	connected.emit(welcome)


func _resubscribe() -> void:
	var reply: Dictionary = await _send_request("subscribe", {"topics": Array(_topics)}, [])
	if reply.kind == "subscribed":
		_open_stream(reply.header)
	elif reply.header.get("code") != "disconnected":
		_report(str(reply.header.get("code")), "re-subscribing %s failed: %s" % [
			_topics, reply.header.get("message")])


func _open_stream(header: Dictionary) -> void:
	var pub_port := int(header.get("pub_port", welcome.get("pub_port", port + 1)))
	if _sub.status == ZmtpConnection.Status.IDLE or _sub.port != pub_port or _sub.host != host:
		_sub.open(host, pub_port)
	for topic in _topics:
		_sub.subscribe(topic.to_utf8_buffer())


func _ping() -> void:
	_ping_in_flight = true
	var started := Time.get_ticks_usec()
	var reply: Dictionary = await _send_request("ping", {}, [])
	_ping_in_flight = false
	if reply.kind == "pong":
		rtt_ms = (Time.get_ticks_usec() - started) / 1000.0
	_next_ping_ms = Time.get_ticks_msec() + int(ping_interval_s * 1000.0)


func _expire_requests(now: int) -> void:
	var expired: Array[int] = []
	for id: int in _pending:
		if now >= _pending[id].deadline_ms:
			expired.append(id)
	for id in expired:
		var pending: _Pending = _pending[id]
		_pending.erase(id)
		pending.finished.emit(_error_reply(id, "timeout", "no reply to '%s' within %.1f s" % [
			pending.kind, pending.timeout_s]))


func _fail_pending(code: String, message: String) -> void:
	var pending := _pending
	_pending = {}
	for id: int in pending:
		pending[id].finished.emit(_error_reply(id, code, message))


func _stop(reason: String, notify: bool = true) -> void:
	state = State.DISCONNECTED
	_dealer.close()
	_sub.close()
	_ping_in_flight = false
	# The signal first, then the waiting requests resume (they may look at the state).
	if notify:
		disconnected.emit(reason)
	_fail_pending("disconnected", reason)


func _on_dealer_opened(_properties: Dictionary) -> void:
	state = State.HANDSHAKING
	_handshake()


func _on_dealer_closed(reason: String) -> void:
	if state == State.DISCONNECTED:
		return
	var was_connected := state == State.CONNECTED
	state = State.CONNECTING
	_ping_in_flight = false
	if was_connected:
		_warn("lost the backend at %s:%d (%s); reconnecting" % [host, port, reason])
		disconnected.emit(reason)
	else:
		_warn("cannot reach the backend at %s:%d (%s); retrying" % [host, port, reason])
	_fail_pending("disconnected", "the connection to the backend was lost: %s" % reason)


func _on_dealer_message(frames: Array[PackedByteArray]) -> void:
	var message := MessageCodec.decode(frames)
	if message.has("error"):
		_report(message.error, "the backend sent a malformed message: %s" % message.message)
		return
	var header: Dictionary = message.header
	var re: Variant = header.get("re")
	if re == null:
		message_received.emit(message.kind, header, message.blobs)
	elif _pending.has(int(re)):
		var pending: _Pending = _pending[int(re)]
		_pending.erase(int(re))
		pending.finished.emit(message)
	# Otherwise a late answer to a request that already timed out: dropped.


func _on_stream_message(frames: Array[PackedByteArray]) -> void:
	var message := MessageCodec.decode(frames)
	if message.has("error"):
		_report(message.error, "malformed message on the state stream: %s" % message.message)
	elif message.kind == "tick":
		var header: Dictionary = message.header
		tick_received.emit(int(header.get("seq", -1)), float(header.get("t", 0.0)), header)
	else:
		message_received.emit(message.kind, message.header, message.blobs)


# A protocol problem is an error (STYLE: the session node is the boundary that reports it);
# a lost or unreachable backend is only a warning, since play goes on without it.
func _report(code: String, message: String) -> void:
	_log("%s: %s" % [code, message], true)
	error_reported.emit(code, message)


# One report per distinct problem, so a backend that keeps failing does not flood the log.
func _warn(message: String) -> void:
	_log(message, false)


func _log(message: String, is_error: bool) -> void:
	if message == _last_warning:
		return
	_last_warning = message
	if is_error:
		push_error("[continuum] " + message)
	else:
		push_warning("[continuum] " + message)


func _not_connected() -> Dictionary:
	return _error_reply(null, "not_connected", "not connected to the backend at %s:%d" % [
		host, port])


static func _error_reply(id: Variant, code: String, message: String) -> Dictionary:
	var blobs: Array[PackedByteArray] = []
	return {"kind": "error", "header": {"re": id, "code": code, "message": message}, "blobs": blobs}


static func _major(version: String) -> int:
	var head := version.get_slice(".", 0)
	return head.to_int() if head.is_valid_int() else -1


## A request waiting for its answer.
class _Pending:
	extends RefCounted

	## Emitted once with the answer (the reply, or a local error).
	signal finished(reply: Dictionary)

	var kind: String = ""
	var timeout_s: float = 0.0
	var deadline_ms: int = 0
