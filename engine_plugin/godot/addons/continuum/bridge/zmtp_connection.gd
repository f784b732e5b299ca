extends RefCounted
## One ZMTP 3.1 client socket (DEALER or SUB) over StreamPeerTCP, NULL mechanism.
##
## Call [method poll] once per frame; it never blocks: it drives connect, greeting and READY,
## reads every octet available, answers PING, writes what the socket accepts and keeps the rest
## queued. After a drop, a refused connect, a protocol violation or [member silence_timeout_s]
## without an octet from the peer, it reconnects with exponential backoff. Problems come out as
## signals, never as crashes.

## The handshake finished: the peer's READY [param properties] (name -> PackedByteArray).
signal opened(properties: Dictionary)
## A connection or an attempt ended; a reconnect is scheduled unless [method close] was called.
signal closed(reason: String)
## A complete multipart message arrived (the frame bodies in order).
signal message_received(frames: Array[PackedByteArray])
## The peer broke the protocol ([param code] is a PROTOCOL.md error code); [signal closed] follows,
## or, for [code]too_large[/code] messages that were skipped, the connection stays up.
signal error_reported(code: String, message: String)

enum Status { IDLE, RESOLVING, CONNECTING, HANDSHAKING, READY, WAITING }

const ZmtpCodec = preload("zmtp_codec.gd")

## Peer socket types that may answer each of ours (ZMTP RFC 28/29 pairs this protocol uses).
const PEER_TYPES := {"DEALER": ["ROUTER"], "SUB": ["PUB", "XPUB"]}
## Frames in one message: kind, header and at most 64 blobs (PROTOCOL.md section 7).
const DEFAULT_MAX_MESSAGE_FRAMES := 66
const DEFAULT_MAX_MESSAGE_BYTES := 256 << 20
# put_partial_data gets at most this much at once, so a big message is copied only once.
const _WRITE_CHUNK := 1 << 20

## "DEALER" or "SUB".
var socket_type: String
## The peer's address (an IP or a host name, resolved without blocking); set by [method open].
var host: String = "127.0.0.1"
var port: int = 0
## A frame announcing more closes the connection (too_large) before anything is allocated.
var max_frame_bytes: int = ZmtpCodec.DEFAULT_MAX_FRAME_BYTES
## A message with more frames, or more octets, is skipped and reported as too_large.
var max_message_frames: int = DEFAULT_MAX_MESSAGE_FRAMES
var max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
## Without an octet from the peer for this long the connection counts as lost (PROTOCOL.md 2.3);
## it also bounds connecting and the handshake.
var silence_timeout_s: float = 6.0
## After this much silence a ZMTP PING (TTL 0) asks the peer for a PONG.
var keepalive_s: float = 2.0
## The reconnect delay starts here, doubles per failed attempt up to the max, and resets once a
## handshake succeeds.
var backoff_min_s: float = 0.1
var backoff_max_s: float = 2.0
## Most octets read in one [method poll], so a flood cannot stall a frame forever.
var max_read_per_poll: int = 256 << 20
## Where the connection is; read-only.
var status: Status = Status.IDLE
## The peer's READY properties while [constant Status.READY].
var peer_properties: Dictionary = {}
## Connection attempts since [method open].
var attempts: int = 0
## The delay before the next reconnect.
var retry_delay_s: float = 0.1

var _tcp: StreamPeerTCP = null
var _decoder := ZmtpCodec.FrameDecoder.new()
var _greeting := PackedByteArray()
var _greeted := false
var _parts: Array[PackedByteArray] = []
var _parts_bytes := 0
var _skipping := ""
var _out: Array[PackedByteArray] = []
var _out_offset := 0
var _topics: Array[PackedByteArray] = []
var _resolve_id := -1
var _since_ms := 0
var _last_rx_ms := 0
var _last_ping_ms := 0
var _retry_at_ms := 0
# Bumped on every drop, so events queued for an older connection are not delivered.
var _generation := 0
var _events: Array[Callable] = []
var _failure := {}


func _init(p_socket_type: String = "DEALER") -> void:
	socket_type = p_socket_type


## Starts connecting to [param p_host]:[param p_port] and keeps the connection up until
## [method close].
func open(p_host: String, p_port: int) -> void:
	close()
	host = p_host
	port = p_port
	attempts = 0
	retry_delay_s = backoff_min_s
	_start_attempt()


## Closes for good, silently; queued output is discarded.
func close() -> void:
	_close_socket()
	status = Status.IDLE


## Drops the current connection and retries after the backoff, silently.
func reconnect() -> void:
	if status != Status.IDLE:
		_close_socket()
		_schedule_retry()


## True once the handshake is done and messages can be sent.
func is_ready() -> bool:
	return status == Status.READY


## Queues a multipart message and writes what the socket takes now. Returns ERR_UNAVAILABLE
## unless the connection is ready.
func send(frames: Array) -> Error:
	if status != Status.READY:
		return ERR_UNAVAILABLE
	_out.append(ZmtpCodec.encode_multipart(frames))
	# A write failure closes the StreamPeerTCP; the next poll notices and reconnects.
	_flush()
	return OK


## SUB only: selects messages whose first frame starts with [param topic]; kept across
## reconnects.
func subscribe(topic: PackedByteArray) -> void:
	if topic in _topics:
		return
	_topics.append(topic)
	if status == Status.READY:
		_queue_and_flush(ZmtpCodec.subscribe(topic))


## SUB only: undoes [method subscribe].
func unsubscribe(topic: PackedByteArray) -> void:
	var at := _topics.find(topic)
	if at < 0:
		return
	_topics.remove_at(at)
	if status == Status.READY:
		_queue_and_flush(ZmtpCodec.cancel(topic))


## Octets queued and not yet taken by the socket.
func pending_output() -> int:
	var total := -_out_offset
	for chunk in _out:
		total += chunk.size()
	return total


## Drives the connection; call once per frame. Signals are emitted from here.
func poll() -> void:
	var now := Time.get_ticks_msec()
	match status:
		Status.WAITING:
			if now >= _retry_at_ms:
				_start_attempt()
		Status.RESOLVING:
			_poll_resolve()
		Status.CONNECTING, Status.HANDSHAKING, Status.READY:
			_poll_socket(now)


func _start_attempt() -> void:
	attempts += 1
	_since_ms = Time.get_ticks_msec()
	if host.is_valid_ip_address():
		_connect_ip(host)
		return
	# Name lookup runs on Godot's resolver thread so the frame never waits for DNS. IPv4, as the
	# backend binds 127.0.0.1 by default and "localhost" may list ::1 first; give an IPv6
	# address literally.
	_resolve_id = IP.resolve_hostname_queue_item(host, IP.TYPE_IPV4)
	status = Status.RESOLVING


func _poll_resolve() -> void:
	var resolved := IP.get_resolve_item_status(_resolve_id)
	if resolved == IP.RESOLVER_STATUS_WAITING:
		return
	var address := IP.get_resolve_item_address(_resolve_id)
	IP.erase_resolve_item(_resolve_id)
	_resolve_id = -1
	if resolved == IP.RESOLVER_STATUS_DONE and not address.is_empty():
		_connect_ip(address)
	else:
		_drop("cannot resolve host '%s'" % host)


func _connect_ip(address: String) -> void:
	_tcp = StreamPeerTCP.new()
	var err := _tcp.connect_to_host(address, port)
	if err != OK:
		_drop("cannot connect to %s:%d (%s)" % [address, port, error_string(err)])
		return
	status = Status.CONNECTING


func _poll_socket(now: int) -> void:
	_tcp.poll()
	var tcp_status := _tcp.get_status()
	if status == Status.CONNECTING:
		if tcp_status == StreamPeerTCP.STATUS_CONNECTING:
			if now - _since_ms > silence_timeout_s * 1000.0:
				_drop("connecting to %s:%d timed out" % [host, port])
			return
		if tcp_status != StreamPeerTCP.STATUS_CONNECTED:
			_drop("cannot connect to %s:%d" % [host, port])
			return
		_begin_handshake(now)
	if tcp_status != StreamPeerTCP.STATUS_CONNECTED:
		_drop("the peer closed the connection")
		return
	_read(now)
	var generation := _generation
	_deliver()
	if generation != _generation or status == Status.IDLE or status == Status.WAITING:
		return
	_flush()
	_check_silence(now)


func _begin_handshake(now: int) -> void:
	# Small requests must not wait for Nagle's algorithm.
	_tcp.set_no_delay(true)
	status = Status.HANDSHAKING
	_last_rx_ms = now
	_queue(ZmtpCodec.greeting())
	_queue(ZmtpCodec.ready_command(socket_type))


func _check_silence(now: int) -> void:
	var quiet_ms := now - _last_rx_ms
	if status == Status.HANDSHAKING and now - _since_ms > silence_timeout_s * 1000.0:
		_drop("the ZMTP handshake with %s:%d timed out" % [host, port])
	elif quiet_ms > silence_timeout_s * 1000.0:
		_drop("no data from %s:%d for %.1f s" % [host, port, quiet_ms / 1000.0])
	elif status == Status.READY and quiet_ms > keepalive_s * 1000.0:
		if now - _last_ping_ms > keepalive_s * 1000.0:
			_last_ping_ms = now
			_queue_and_flush(ZmtpCodec.ping())


# Reads every octet available (up to max_read_per_poll) and queues the resulting events.
func _read(now: int) -> void:
	var budget := max_read_per_poll
	while budget > 0 and _failure.is_empty():
		var available := _tcp.get_available_bytes()
		if available <= 0:
			break
		var got := _tcp.get_partial_data(mini(available, budget))
		if got[0] != OK:
			_fail("", "reading from the peer failed (%s)" % error_string(got[0]))
			break
		var chunk: PackedByteArray = got[1]
		budget -= chunk.size()
		_last_rx_ms = now
		_consume(chunk)


func _consume(chunk: PackedByteArray) -> void:
	if not _greeted and not chunk.is_empty():
		var need := ZmtpCodec.GREETING_SIZE - _greeting.size()
		_greeting.append_array(chunk.slice(0, need))
		chunk = chunk.slice(need) if chunk.size() > need else PackedByteArray()
		# Reject a non-ZMTP peer (say, an HTTP server) as soon as its first octet shows.
		if _greeting[0] != 0xFF or (_greeting.size() >= 10 and _greeting[9] != 0x7F):
			_fail("bad_message", "greeting signature is not FF ... 7F: not a ZMTP peer")
			return
		if _greeting.size() < ZmtpCodec.GREETING_SIZE:
			return
		var parsed := ZmtpCodec.parse_greeting(_greeting)
		if parsed.has("error"):
			_fail(parsed.error, parsed.message)
			return
		_greeted = true
	for frame in _decoder.feed(chunk):
		_on_frame(frame.flags, frame.body)
		if not _failure.is_empty():
			return
	if not _decoder.error.is_empty():
		_fail(_decoder.error, _decoder.error_message)


func _on_frame(flags: int, body: PackedByteArray) -> void:
	if flags & ZmtpCodec.FLAG_COMMAND:
		if flags & ZmtpCodec.FLAG_MORE:
			_fail("bad_message", "a command frame has MORE set")
		else:
			_on_command(body)
	elif status != Status.READY:
		_fail("bad_message", "a message frame arrived before READY")
	else:
		_on_message_frame(body, flags & ZmtpCodec.FLAG_MORE != 0)


func _on_command(body: PackedByteArray) -> void:
	var command := ZmtpCodec.parse_command(body)
	if command.has("error"):
		_fail(command.error, command.message)
		return
	match command.name:
		"READY":
			_on_ready(command.data)
		"PING":
			var ping := ZmtpCodec.parse_ping(command.data)
			if ping.has("error"):
				_fail(ping.error, ping.message)
			else:
				_queue(ZmtpCodec.pong(ping.context))
		"ERROR":
			# The peer says why it closes; a reason to drop, not a violation of ours to report.
			var data: PackedByteArray = command.data
			var reason := data.slice(1, 1 + data[0]) if not data.is_empty() else PackedByteArray()
			_fail("", "the peer sent ERROR: %s" % reason.get_string_from_utf8())
	# PONG and unknown commands need nothing (PROTOCOL.md 2.3).


func _on_ready(data: PackedByteArray) -> void:
	if status != Status.HANDSHAKING:
		_fail("bad_message", "a second READY after the handshake")
		return
	var parsed := ZmtpCodec.parse_properties(data)
	if parsed.has("error"):
		_fail(parsed.error, parsed.message)
		return
	var properties: Dictionary = parsed.properties
	var peer_type: String = properties.get("Socket-Type", PackedByteArray()).get_string_from_ascii()
	if not peer_type in PEER_TYPES.get(socket_type, []):
		_fail("bad_message", "a %s needs a %s peer, got Socket-Type '%s'" % [
			socket_type, " or ".join(PEER_TYPES.get(socket_type, [])), peer_type])
		return
	status = Status.READY
	peer_properties = properties
	retry_delay_s = backoff_min_s
	for topic in _topics:
		_queue(ZmtpCodec.subscribe(topic))
	_events.append(opened.emit.bind(properties))


func _on_message_frame(body: PackedByteArray, more: bool) -> void:
	_parts_bytes += body.size()
	if _skipping.is_empty():
		if _parts.size() >= max_message_frames:
			_skipping = "a message of more than %d frames was skipped" % max_message_frames
		elif _parts_bytes > max_message_bytes:
			_skipping = "a message of more than %d octets was skipped" % max_message_bytes
		else:
			_parts.append(body)
	if more:
		return
	if _skipping.is_empty():
		_events.append(message_received.emit.bind(_parts))
	else:
		_events.append(error_reported.emit.bind("too_large", _skipping))
	_parts = []
	_parts_bytes = 0
	_skipping = ""


# Ends this connection after the poll's events; an empty code drops without an error report.
func _fail(code: String, message: String) -> void:
	_failure = {"code": code, "message": message}


# Emits the events of this poll in order, then the failure that ended it, if any.
func _deliver() -> void:
	var generation := _generation
	var events := _events
	_events = []
	for event in events:
		event.call()
		if generation != _generation:
			return
	if not _failure.is_empty():
		var failure := _failure
		_failure = {}
		if not failure.code.is_empty():
			error_reported.emit(failure.code, failure.message)
		if generation == _generation:
			_drop(failure.message)


func _queue(data: PackedByteArray) -> void:
	_out.append(data)


func _queue_and_flush(data: PackedByteArray) -> void:
	_out.append(data)
	_flush()


func _flush() -> void:
	while not _out.is_empty() and _tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED:
		var head := _out[0]
		var chunk := head
		if _out_offset > 0 or head.size() > _WRITE_CHUNK:
			chunk = head.slice(_out_offset, _out_offset + _WRITE_CHUNK)
		var result := _tcp.put_partial_data(chunk)
		if result[0] != OK:
			return
		var sent: int = result[1]
		_out_offset += sent
		if _out_offset >= head.size():
			_out.pop_front()
			_out_offset = 0
		if sent < chunk.size():
			return


func _drop(reason: String) -> void:
	_close_socket()
	_schedule_retry()
	closed.emit(reason)


func _schedule_retry() -> void:
	status = Status.WAITING
	_retry_at_ms = Time.get_ticks_msec() + int(retry_delay_s * 1000.0)
	retry_delay_s = minf(retry_delay_s * 2.0, backoff_max_s)


func _close_socket() -> void:
	_generation += 1
	if _tcp != null:
		_tcp.disconnect_from_host()
		_tcp = null
	if _resolve_id >= 0:
		IP.erase_resolve_item(_resolve_id)
		_resolve_id = -1
	_decoder = ZmtpCodec.FrameDecoder.new(max_frame_bytes)
	_greeting = PackedByteArray()
	_greeted = false
	_parts = []
	_parts_bytes = 0
	_skipping = ""
	_out = []
	_out_offset = 0
	_events = []
	_failure = {}
	peer_properties = {}
