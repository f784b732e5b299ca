extends Node
## A scriptable ZMTP peer on a local TCPServer that plays the backend's ROUTER or PUB in tests,
## well-behaved or not. It polls itself every frame while in the tree; its writes never block.

const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

## Called as on_message.call(peer: int, frames: Array[PackedByteArray]) for every message.
var on_message: Callable = Callable()
## The Socket-Type this peer announces in READY.
var socket_type: String = "ROUTER"
## Send the greeting and READY as soon as a client connects.
var auto_handshake: bool = true
## Answer PING with PONG.
var answer_pings: bool = true
var port: int = 0
## Connections accepted so far.
var accepted: int = 0
## Every message received: [peer, frames].
var messages: Array = []
## Every command received: {peer, name, data}.
var commands: Array = []
## The greetings received, by peer.
var greetings: Array[PackedByteArray] = []

var _server := TCPServer.new()
var _peers: Array[Dictionary] = []


func _process(_delta: float) -> void:
	poll()


func _exit_tree() -> void:
	stop()


## Listens on a free local port; returns it.
func listen() -> int:
	_server.listen(0, "127.0.0.1")
	port = _server.get_local_port()
	return port


func stop() -> void:
	drop()
	_server.stop()


## Peers connected now.
func peer_count() -> int:
	return _peers.filter(func(p: Dictionary) -> bool: return not p.closed).size()


func poll() -> void:
	while _server.is_listening() and _server.is_connection_available():
		var tcp := _server.take_connection()
		tcp.set_no_delay(true)
		accepted += 1
		greetings.append(PackedByteArray())
		_peers.append({
			"tcp": tcp, "greeting": PackedByteArray(), "decoder": ZmtpCodec.FrameDecoder.new(),
			"parts": [], "out": [], "closed": false,
		})
		if auto_handshake:
			handshake(_peers.size() - 1)
	for i in _peers.size():
		if not _peers[i].closed:
			_poll_peer(i)


## Sends greeting and READY to [param peer] with [param type] (default: [member socket_type]).
func handshake(peer: int, type: String = "") -> void:
	var data := ZmtpCodec.greeting(true)
	data.append_array(ZmtpCodec.ready_command(type if not type.is_empty() else socket_type))
	send_raw(data, peer)


## Queues octets for [param peer], or for every peer when -1.
func send_raw(data: PackedByteArray, peer: int = -1) -> void:
	for i in _targets(peer):
		_peers[i].out.append(data)
		_flush(i)


func send_message(frames: Array, peer: int = -1) -> void:
	send_raw(ZmtpCodec.encode_multipart(frames), peer)


## Encodes and sends a Continuum message.
func send_reply(kind: String, header: Dictionary, blobs: Array = [], peer: int = -1) -> void:
	send_message(MessageCodec.encode(kind, header, blobs).frames, peer)


## Closes [param peer], or every peer when -1.
func drop(peer: int = -1) -> void:
	for i in _targets(peer):
		_peers[i].tcp.disconnect_from_host()
		_peers[i].closed = true


## The commands named [param command] received so far.
func commands_named(command: String) -> Array:
	return commands.filter(func(c: Dictionary) -> bool: return c.name == command)


func _targets(peer: int) -> Array:
	if peer >= 0:
		return [peer]
	return range(_peers.size()).filter(func(i: int) -> bool: return not _peers[i].closed)


func _poll_peer(i: int) -> void:
	var state: Dictionary = _peers[i]
	var tcp: StreamPeerTCP = state.tcp
	tcp.poll()
	if tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		state.closed = true
		return
	_flush(i)
	while not state.closed and tcp.get_available_bytes() > 0:
		var got := tcp.get_partial_data(tcp.get_available_bytes())
		if got[0] != OK:
			return
		var chunk: PackedByteArray = got[1]
		if state.greeting.size() < ZmtpCodec.GREETING_SIZE:
			var need: int = ZmtpCodec.GREETING_SIZE - state.greeting.size()
			state.greeting.append_array(chunk.slice(0, need))
			greetings[i] = state.greeting
			chunk = chunk.slice(need)
		for frame: Dictionary in state.decoder.feed(chunk):
			_on_frame(i, frame)


func _on_frame(i: int, frame: Dictionary) -> void:
	if frame.flags & ZmtpCodec.FLAG_COMMAND:
		var command := ZmtpCodec.parse_command(frame.body)
		commands.append({"peer": i, "name": command.name, "data": command.data})
		if command.name == "PING" and answer_pings:
			send_raw(ZmtpCodec.pong(ZmtpCodec.parse_ping(command.data).context), i)
		return
	_peers[i].parts.append(frame.body)
	if frame.flags & ZmtpCodec.FLAG_MORE:
		return
	var frames: Array[PackedByteArray] = []
	frames.assign(_peers[i].parts)
	_peers[i].parts = []
	messages.append([i, frames])
	if on_message.is_valid():
		on_message.call(i, frames)


func _flush(i: int) -> void:
	var state: Dictionary = _peers[i]
	var tcp: StreamPeerTCP = state.tcp
	while not state.out.is_empty() and tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED:
		var head: PackedByteArray = state.out[0]
		var result := tcp.put_partial_data(head)
		if result[0] != OK:
			return
		var sent: int = result[1]
		if sent < head.size():
			state.out[0] = head.slice(sent)
			return
		state.out.pop_front()
