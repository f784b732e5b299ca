extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend with physics for the physics tests: fake_backend.gd (hello, its welcome with
## `physics`, and ping) that also answers world.get, subscribe, physics.layout,
## physics.control and physics.query like bridge/PROTOCOL.md, and a PUB that sends `poses`
## frames on demand ([method publish]).

## The entities world.get answers with.
var entities: Array = []
## welcome.physics.publish_hz; 0 leaves `physics` out of the welcome.
var publish_hz: float = 60.0
## The current layout and its ids (physics.layout's answer).
var layout: int = 1
var ids: PackedStringArray = []
## Entities physics.control and physics.query know; others are not_found.
var bodies: PackedStringArray = []
## Bodies that hang from a joint: a release with a velocity is bad_request.
var jointed: PackedStringArray = []
## The answer to a ray query (its fields); {"hit": false} for a miss.
var ray_answer: Dictionary = {"hit": false}
## The answer to a nearest query.
var nearest_answer: Dictionary = {"entity": null, "distance": null}
var pub: FakePeer

var _seq: int = 0


func _init() -> void:
	super()
	pub = FakePeer.new()
	pub.socket_type = "PUB"
	add_child(pub)


## Listens on free local ports; returns the request port.
func listen() -> int:
	pub.listen()
	return super.listen()


## The physics.control requests with op [param op].
func controls(op: String) -> Array:
	return headers("physics.control").filter(func(h: Dictionary) -> bool: return h.op == op)


## Publishes one `poses` frame: [param poses] has 7 floats per body of [param frame_layout]
## (default: the current layout), at backend time [param time].
func publish(poses: PackedFloat32Array, time: float, frame_layout: int = -1) -> void:
	var count := poses.size() / 7
	var header := {
		"seq": _seq, "t": time, "sim_time": time, "step": _seq,
		"layout": layout if frame_layout < 0 else frame_layout}
	_seq += 1
	var encoded := MessageCodec.encode(
		"poses", header, [MessageCodec.make_blob("f32", [count, 7], poses.to_byte_array())])
	var frames: Array = encoded.frames
	pub.send_message(frames)


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	match message.kind:
		"subscribe":
			router.send_reply("subscribed", {
				"re": re, "topics": header.topics, "pub_port": pub.port, "seq": {}}, [], peer)
		"world.get":
			router.send_reply("world", {"re": re, "scene": {"name": "fake", "description": ""},
				"entities": entities}, [], peer)
		"physics.layout":
			router.send_reply("physics.layout", {"re": re, "layout": layout, "ids": Array(ids)},
				[], peer)
		"physics.control":
			_serve_control(peer, re, header)
		"physics.query":
			var answer: Dictionary = ray_answer if header.get("type") == "ray" else nearest_answer
			var reply := answer.duplicate()
			reply["re"] = re
			router.send_reply("physics.query", reply, [], peer)
		_:
			super._handle(peer, re, message)


func _welcome(peer: int) -> Dictionary:
	var welcome := super._welcome(peer)
	welcome.merge({"protocol": "1.2", "session": "s1", "pub_port": pub.port,
		"capabilities": ["physics.control", "physics.layout", "physics.query"]}, true)
	if publish_hz > 0.0:
		welcome["physics"] = {"dt": 0.002, "publish_hz": publish_hz}
	return welcome


func _serve_control(peer: int, re: Variant, header: Dictionary) -> void:
	var entity: Variant = header.get("entity")
	if entity != null and not entity in bodies:
		_error(peer, re, "not_found", "physics.control %s: no entity '%s'" % [header.op, entity])
		return
	if header.op == "release" and entity in jointed and header.has("velocity"):
		_error(peer, re, "bad_request", "release: '%s' is not a free body" % entity)
		return
	var reply := {"re": re, "sim_time": 1.0, "step": 500}
	if header.op == "grab":
		reply["grab"] = entity
	router.send_reply("physics.control", reply, [], peer)
