extends Node
## What every fake backend of the unit tests stands on: a ROUTER (fake_peer.gd) that keeps every
## request, answers hello with [method _welcome]'s fields and ping with pong like
## bridge/PROTOCOL.md, and hands every other kind to [method _handle], whose default answers
## unknown_kind. A fake extends this and overrides [method _handle] (and [method _welcome]).

const FakePeer = preload("res://tests/unit/bridge/fake_peer.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

## Every request received: [kind, header].
var requests: Array = []
var router: FakePeer


func _init() -> void:
	router = FakePeer.new()
	router.on_message = _serve
	add_child(router)


func _exit_tree() -> void:
	router.on_message = Callable()  # Late requests must not be answered.


## Listens on a free local port; returns it.
func listen() -> int:
	return router.listen()


## The headers of the requests of [param kind].
func headers(kind: String) -> Array:
	return requests.filter(func(r: Array) -> bool: return r[0] == kind).map(
		func(r: Array) -> Dictionary: return r[1])


# The welcome's fields for [param peer], without "re".
func _welcome(peer: int) -> Dictionary:
	return {"protocol": "1.7", "server": "fake 0", "session": "s%d" % peer, "capabilities": [],
		"pub_port": 1, "tick_hz": 30, "limits": {}}


# Serves [param message] ({kind, header, blobs}) from [param peer]; [param re] is its id.
func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	_error(peer, re, "unknown_kind", "no '%s'" % message.kind)


# Sends [param peer] an error reply to request [param re].
func _error(peer: int, re: Variant, code: String, text: String) -> void:
	router.send_reply("error", {"re": re, "code": code, "message": text}, [], peer)


func _serve(peer: int, frames: Array[PackedByteArray]) -> void:
	var message := MessageCodec.decode(frames)
	var header: Dictionary = message.header
	requests.append([message.kind, header])
	var re: Variant = header.get("id")
	match message.kind:
		"hello":
			var welcome := _welcome(peer)
			welcome["re"] = re
			router.send_reply("welcome", welcome, [], peer)
		"ping":
			router.send_reply("pong", {"re": re, "t": 1.0}, [], peer)
		_:
			_handle(peer, re, message)
