@tool
class_name ContinuumMemory
extends Node
## Remembers what happened in the world, on the backend (bridge/PROTOCOL.md section 15).
##
## A memory record says who did what, where and when, in a text the backend embeds for
## retrieval: [method add] keeps one, [method query] finds the records that fit a text, a
## person, a kind of event, a place or a time span, best first, and [method summarize] folds old
## records into one summary per person (or kind). Records and summaries persist in the world.
## Without a [member session_path] it uses the "Continuum" autoload.
## [codeblock]
## await memory.add("guard", "said", "The bridge is closed at night.", $Guard.position, 0.8)
## var found := await memory.query({"text": "is the bridge open?", "who": "guard", "k": 3})
## for hit: Dictionary in found.header.get("records", []):
##     print(hit.record.text, " ", hit.score)
## [/codeblock]
## Every request is a coroutine that returns the reply ([code]{kind, header, blobs}[/code]) or
## an error as it came: the backend's ([code]bad_request[/code] names the field) or the
## session's ([code]not_connected[/code], [code]timeout[/code], [code]disconnected[/code]).
## Places go out as [code][x, y, z][/code] in metres, world frame (glTF axes, which are
## Godot's); [method record_position] turns a record's back into a Vector3. Times are seconds
## since the epoch ([method Time.get_unix_time_from_system]).
## A record is [code]{id, who, what, where, when, tick, text, importance, summary}[/code].

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")

## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"

## The ContinuumSession to talk through; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		update_configuration_warnings()


func _get_configuration_warnings() -> PackedStringArray:
	return SessionLookup.warnings(self, session_path)


## The session this node talks through, or null when none can be found.
func get_session() -> ContinuumSessionScript:
	return SessionLookup.find(self, session_path)


## Sends `memory.add`: [param who] (an entity id or a name) did [param what] (a short kind such
## as [code]said[/code], [code]looked_at[/code], [code]touched[/code]), told in [param text]
## (1..4000 characters), at [param where] (a Vector3, [code][x, y, z][/code], or null for
## nowhere in particular), as important as [param importance] (0..1). A coroutine; returns the
## reply, whose [code]header.record[/code] is the record kept (with its id and time).
func add(
	who: String, what: String, text: String, where: Variant = null, importance: float = 0.5
) -> Dictionary:
	var fields := {"who": who, "what": what, "text": text, "importance": importance}
	if where != null:
		fields["where"] = to_wire(where)
	return await _request("memory.add", fields)


## Sends `memory.query` with [param params], any of: [code]text[/code] (ranked by similarity to
## it), [code]who[/code], [code]what[/code], [code]near[/code] (a Vector3 or [code][x, y,
## z][/code]) with [code]radius[/code] (metres), [code]since[/code] and [code]until[/code]
## (seconds since the epoch), [code]k[/code] (1..100, default 10). The filters select, then the
## text similarity, the recency and the importance score. A coroutine; returns the reply:
## [code]header.records[/code] is [code][{record, score, similarity, recency}][/code], best
## first. Other keys go as they are (the backend names what it does not know).
func query(params: Dictionary) -> Dictionary:
	var fields := {}
	for key: Variant in params:
		fields[key] = to_wire(params[key])
	return await _request("memory.query", fields)


## Sends `memory.summarize`: the records older than [param older_than_s] seconds are folded,
## one summary record per [param group_by] ([code]who[/code] or [code]what[/code]). A
## coroutine; returns the reply: [code]header.summarized[/code] (how many records were folded)
## and [code]header.summaries[/code] (the new summary records).
func summarize(older_than_s: float, group_by: String = "who") -> Dictionary:
	return await _request("memory.summarize", {"older_than_s": older_than_s,
		"group_by": group_by})


## [param value] as it goes on the wire: a Vector3 (or Vector3i) as [code][x, y, z][/code],
## anything else as it is.
static func to_wire(value: Variant) -> Variant:
	if value is Vector3 or value is Vector3i:
		return [value.x, value.y, value.z]
	return value


## The place of [param record] (a memory record, or a query hit [code]{record, ...}[/code]) as a
## Vector3, or null when it has none.
static func record_position(record: Dictionary) -> Variant:
	var fields: Dictionary = record.record if record.get("record") is Dictionary else record
	var where: Variant = fields.get("where")
	if not where is Array or where.size() != 3:
		return null
	for value: Variant in where:
		if not typeof(value) in [TYPE_INT, TYPE_FLOAT]:
			return null
	return Vector3(float(where[0]), float(where[1]), float(where[2]))


# Sends a request through the session; a local error reply when there is none.
func _request(kind: String, fields: Dictionary) -> Dictionary:
	var session := get_session()
	if session == null:
		var none: Array[PackedByteArray] = []
		return {"kind": "error", "header": {"re": null, "code": "not_connected",
			"message": "ContinuumMemory '%s' has no session" % name}, "blobs": none}
	return await session.request(kind, fields)
