extends RefCounted
## Internal: `physics.control` and `physics.query` requests through a ContinuumSession
## (bridge/PROTOCOL.md), for the grab helpers.
##
## Both are coroutines that answer the reply's header, or [code]{"error": code, "message": m}[/code]
## after emitting [signal request_failed]. Vectors go out as glTF lists (Godot's axes).

## A request failed: [param what] is the op or query type, [param code] the error code.
signal request_failed(what: String, code: String, message: String)

## Where the "Continuum" autoload lives.
const AUTOLOAD_PATH := ^"/root/Continuum"

## The ContinuumSession to send through; null fails every request with not_connected.
var session: Node = null


## The session for a node: the node at [param path] from [param from], or the "Continuum"
## autoload when [param path] is empty; null when there is none.
static func find_session(from: Node, path: NodePath) -> Node:
	if from == null or not from.is_inside_tree():
		return null
	var node := from.get_node_or_null(AUTOLOAD_PATH if path.is_empty() else path)
	return node if node != null and node.has_method("request") else null


## Sends [code]physics.control[/code] with the fields of [param op] (an op of the physics
## contract: teleport, grab, move, release, impulse, force, set, pause, resume, step). A failure
## emits [signal request_failed] unless [param quiet].
func control(op: Dictionary, quiet: bool = false) -> Dictionary:
	return await _send("physics.control", op, str(op.get("op", "?")), quiet)


## Ends the grab of [param entity], throwing it with [param velocity] (and [param spin], a
## Vector3 in rad/s, when given; else the body keeps its own). A body that cannot be thrown (it
## hangs from a joint) is let go without them.
func release(entity: String, velocity: Vector3, spin: Variant = null) -> Dictionary:
	var op := {"op": "release", "entity": entity, "velocity": vec3(velocity)}
	if spin is Vector3:
		op["angular_velocity"] = vec3(spin)
	var reply := await control(op, true)
	if reply.get("error") == "bad_request":
		reply = await control({"op": "release", "entity": entity})
	elif reply.has("error"):
		request_failed.emit("release", reply.error, reply.message)
	return reply


## Sends [code]physics.query[/code] with the fields of [param query] (ray, contacts, nearest).
func query(query: Dictionary) -> Dictionary:
	return await _send("physics.query", query, str(query.get("type", "?")))


## [param v] as a JSON list [x, y, z].
static func vec3(v: Vector3) -> Array:
	return [v.x, v.y, v.z]


## [param q] as a JSON list [x, y, z, w].
static func quat(q: Quaternion) -> Array:
	return [q.x, q.y, q.z, q.w]


## A JSON list of 3 numbers as a Vector3, or [param fallback] when it is not one.
static func to_vec3(value: Variant, fallback: Vector3 = Vector3.ZERO) -> Vector3:
	if typeof(value) != TYPE_ARRAY or value.size() != 3:
		return fallback
	for item: Variant in value:
		if not typeof(item) in [TYPE_INT, TYPE_FLOAT]:
			return fallback
	return Vector3(float(value[0]), float(value[1]), float(value[2]))


func _send(kind: String, fields: Dictionary, what: String, quiet: bool = false) -> Dictionary:
	var reply: Dictionary
	if session == null or not is_instance_valid(session):
		reply = {"kind": "error", "header": {
			"code": "not_connected", "message": "no ContinuumSession to send %s through" % kind}}
	else:
		reply = await session.call("request", kind, fields)
	var header: Dictionary = reply.get("header", {})
	if reply.get("kind") == kind:
		return header
	var code := str(header.get("code", "bad_message"))
	var message := str(header.get("message", "unexpected reply '%s'" % reply.get("kind")))
	if not quiet:
		request_failed.emit(what, code, message)
	return {"error": code, "message": message}
