extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend with a memory for the memory tests: fake_backend.gd (hello, ping) that also
## answers memory.add/query/summarize like bridge/PROTOCOL.md section 15, checking their fields.
##
## Its text similarity is the share of the query's words found in a record's text; a query's
## score is that similarity (without text: 0) plus the record's importance / 10. Summaries fold
## the records at least older_than_s old into one record per group, their texts joined.

const QUERY_FIELDS: Array[String] = ["text", "who", "what", "near", "radius", "since", "until",
	"k"]

## The records kept, oldest first.
var records: Array[Dictionary] = []

var _next_id: int = 1


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	var reply: Dictionary
	match message.kind:
		"memory.add":
			reply = _add(header)
		"memory.query":
			reply = _query(header)
		"memory.summarize":
			reply = _summarize(header)
		_:
			super._handle(peer, re, message)
			return
	var fields: Dictionary = reply.header
	fields["re"] = re
	router.send_reply(reply.kind, fields, [], peer)


func _add(header: Dictionary) -> Dictionary:
	for field: String in ["who", "what", "text"]:
		if not header.get(field) is String or header[field].is_empty():
			return _refusal("bad_request", "memory.add: '%s' must be a non-empty string" % field)
	var where: Variant = header.get("where")
	if where != null and not _is_place(where):
		return _refusal("bad_request", "memory.add: 'where' must be [x, y, z], got %s" % [where])
	var importance: Variant = header.get("importance", 0.5)
	if not typeof(importance) in [TYPE_INT, TYPE_FLOAT] or importance < 0 or importance > 1:
		return _refusal("bad_request", "memory.add: 'importance' must be in 0..1")
	var record := _record(header.who, header.what, header.text, where, float(importance), false)
	records.append(record)
	return {"kind": "memory.add", "header": {"record": record}}


func _query(header: Dictionary) -> Dictionary:
	for key: String in header:
		if not key in QUERY_FIELDS and key != "id":
			return _refusal("bad_request", "memory.query: unknown field '%s'" % key)
	var near: Variant = header.get("near")
	if near != null and (not _is_place(near) or not header.has("radius")):
		return _refusal("bad_request", "memory.query: 'near' is [x, y, z], with a radius")
	var hits: Array = []
	for record in records:
		if header.has("who") and record.who != header.who:
			continue
		if header.has("what") and record.what != header.what:
			continue
		if header.has("since") and record.when < float(header.since):
			continue
		if header.has("until") and record.when > float(header.until):
			continue
		if near != null and (record.where == null or _distance(record.where, near) > float(
				header.radius)):
			continue
		var similarity := _words(str(header.get("text", "")), record.text)
		hits.append({"record": record, "score": similarity + record.importance / 10.0,
			"similarity": similarity if header.has("text") else null, "recency": 1.0})
	hits.sort_custom(func(a: Dictionary, b: Dictionary) -> bool: return a.score > b.score)
	return {"kind": "memory.query", "header": {"records": hits.slice(0, int(header.get("k",
		10)))}}


func _summarize(header: Dictionary) -> Dictionary:
	var group_by: Variant = header.get("group_by", "who")
	var older_than_s: Variant = header.get("older_than_s")
	if not group_by in ["who", "what"] or not typeof(older_than_s) in [TYPE_INT, TYPE_FLOAT]:
		return _refusal("bad_request", "memory.summarize: older_than_s, group_by who or what")
	var cutoff := Time.get_unix_time_from_system() - float(older_than_s)
	var groups := {}
	var kept: Array[Dictionary] = []
	for record in records:
		if record.when <= cutoff and not record.summary:
			var key: String = record[group_by]
			if not groups.has(key):
				groups[key] = []
			groups[key].append(record)
		else:
			kept.append(record)
	var summaries: Array = []
	var folded := 0
	for key: String in groups:
		var texts: Array = groups[key].map(func(r: Dictionary) -> String: return r.text)
		var first: Dictionary = groups[key][0]
		var summary := _record(first.who if group_by == "who" else "several",
			first.what if group_by == "what" else "summary", " / ".join(texts), null, 1.0, true)
		summaries.append(summary)
		kept.append(summary)
		folded += groups[key].size()
	records = kept
	return {"kind": "memory.summarize", "header": {"summarized": folded,
		"summaries": summaries}}


func _record(
	who: String, what: String, text: String, where: Variant, importance: float, summary: bool
) -> Dictionary:
	var record := {"id": "m-%d" % _next_id, "who": who, "what": what, "where": where,
		"when": Time.get_unix_time_from_system(), "tick": 0, "text": text,
		"importance": importance, "summary": summary}
	_next_id += 1
	return record


static func _is_place(value: Variant) -> bool:
	return value is Array and value.size() == 3 and value.all(
		func(v: Variant) -> bool: return typeof(v) in [TYPE_INT, TYPE_FLOAT])


static func _distance(a: Array, b: Array) -> float:
	return Vector3(a[0], a[1], a[2]).distance_to(Vector3(b[0], b[1], b[2]))


# The share of the words of [param query] found in [param text].
static func _words(query: String, text: String) -> float:
	var words := query.to_lower().split(" ", false)
	if words.is_empty():
		return 0.0
	var found := 0
	for word in words:
		if word in text.to_lower():
			found += 1
	return float(found) / words.size()


# An error reply ({kind, header}) for the methods that answer with one.
static func _refusal(code: String, text: String) -> Dictionary:
	return {"kind": "error", "header": {"code": code, "message": text}}
