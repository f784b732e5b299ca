extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend with an event-sourced world for the world tests: fake_backend.gd (hello, ping)
## that also answers world.get, world.edit, world.undo, world.redo, world.events, world.list,
## world.open and world.fork like bridge/PROTOCOL.md section 13, and pushes world.changed and
## world.reset to every peer. Its world is a plain list of entities that the events change;
## undo takes back an edit by events that restore what it changed.

## The served world's entities (scene.schema.json), as events leave them.
var entities: Array = []
## The served world's name; null for a world that is not persistent.
var world_name: Variant = "main"
## The served world's last event seq.
var seq: int = 0
## Persistent worlds by name: {seq, entities}; null: the backend has no worlds folder.
var worlds: Variant = {}
## world.changed headers pushed so far.
var pushed: Array = []

var _undo: Array = []  # edits that can be taken back: [events, inverse events]
var _redo: Array = []


## The world's description (13.1).
func info() -> Dictionary:
	return {
		"name": world_name, "persistent": world_name != null, "seq": seq, "tick": 0,
		"undo": _undo.size(), "redo": _redo.size(), "physics": null}


## The entity [param id], or an empty Dictionary.
func entity(id: String) -> Dictionary:
	for e: Dictionary in entities:
		if e.id == id:
			return e
	return {}


## Applies [param events] as the backend's own change (not undoable) and pushes them; returns
## the entries pushed.
func change(events: Array) -> Array:
	var entries := _append(events)
	_push_changed(entries)
	return entries


## Pushes world.changed with [param entries] as they are (seen or not), without applying them.
func push_raw(entries: Array, at_seq: int = -1) -> void:
	var header := {"events": entries, "seq": seq if at_seq < 0 else at_seq, "world": info()}
	pushed.append(header)
	router.send_reply("world.changed", header)


## Counts [param count] backend-only events (physics), which are never pushed.
func skip(count: int) -> void:
	seq += count


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	match message.kind:
		"world.get":
			router.send_reply("world", {
				"re": re, "world": info(), "scene": {"name": "fake", "description": ""},
				"entities": entities.duplicate(true)}, [], peer)
		"world.edit":
			var problem := _check(header.get("events"))
			if not problem.is_empty():
				_error(peer, re, "conflict", problem)
				return
			var inverse := _inverse(header.events)
			var entries := _append(header.events)
			_undo.append([header.events, inverse])
			_redo.clear()
			router.send_reply("world.edit", {"re": re, "seq": seq, "world": info()}, [], peer)
			_push_changed(entries)
		"world.undo", "world.redo":
			_serve_history(peer, re, message.kind)
		"world.events":
			_error(peer, re, "bad_request", "the fake keeps no event log")
		"world.list", "world.open", "world.fork":
			_serve_worlds(peer, re, message.kind, header)
		_:
			super._handle(peer, re, message)


func _serve_history(peer: int, re: Variant, kind: String) -> void:
	var stack: Array = _undo if kind == "world.undo" else _redo
	if stack.is_empty():
		_error(peer, re, "conflict", "nothing to %s" % kind.get_slice(".", 1))
		return
	var step: Array = stack.pop_back()
	var events: Array = step[1] if kind == "world.undo" else step[0]
	var entries := _append(events)
	(_redo if kind == "world.undo" else _undo).append(step)
	router.send_reply(kind, {"re": re, "seq": seq, "events": entries.size(), "world": info()},
		[], peer)
	_push_changed(entries)


func _serve_worlds(peer: int, re: Variant, kind: String, header: Dictionary) -> void:
	if worlds == null:
		_error(peer, re, "unavailable", "this backend has no worlds folder")
		return
	_store()
	var target: Variant = header.get("name")
	match kind:
		"world.list":
			var listed: Array = []
			for key: String in worlds:
				listed.append({"name": key, "seq": worlds[key].seq, "tick": 0,
					"entities": worlds[key].entities.size(), "bytes": 100,
					"open": key == world_name})
			router.send_reply(kind, {"re": re, "worlds": listed}, [], peer)
		"world.open":
			if not worlds.has(target):
				_error(peer, re, "not_found", "no world '%s'" % target)
				return
			_serve_open(target)
			router.send_reply(kind, {"re": re, "world": info()}, [], peer)
			router.send_reply("world.reset", {"world": info()})
		"world.fork":
			if worlds.has(target):
				_error(peer, re, "conflict", "a world '%s' exists" % target)
				return
			worlds[target] = {"seq": seq, "entities": entities.duplicate(true)}
			if header.get("open", false):
				_serve_open(target)
			router.send_reply(kind, {"re": re, "name": target, "seq": seq, "world": info()}, [],
				peer)
			if header.get("open", false):
				router.send_reply("world.reset", {"world": info()})


func _serve_open(target: String) -> void:
	world_name = target
	seq = worlds[target].seq
	entities = worlds[target].entities.duplicate(true)
	_undo.clear()
	_redo.clear()


func _store() -> void:
	if world_name != null:
		worlds[world_name] = {"seq": seq, "entities": entities.duplicate(true)}


func _push_changed(entries: Array) -> void:
	push_raw(entries)


# Applies [param events] (already checked) and numbers them; returns their entries.
func _append(events: Array) -> Array:
	var entries: Array = []
	for event: Dictionary in events:
		seq += 1
		var stamped := event.duplicate(true)
		stamped.merge({"version": 1, "seq": seq, "tick": 0, "time": 1.0}, true)
		_apply(stamped)
		entries.append({"seq": seq, "event": stamped})
	return entries


func _apply(event: Dictionary) -> void:
	match event.kind:
		"entity_added":
			entities.append(event.entity.duplicate(true))
		"entity_removed":
			entities = entities.filter(func(e: Dictionary) -> bool: return e.id != event.id)
		"transform_set":
			var e := entity(event.id)
			var transform: Dictionary = e.get("transform", {})
			transform.merge(event.transform, true)
			e["transform"] = transform
		"component_set":
			var e := entity(event.id)
			var components: Dictionary = e.get("components", {})
			components[event.name] = event.value
			e["components"] = components
		"component_removed":
			entity(event.id).get("components", {}).erase(event.name)
		"tags_set":
			entity(event.id)["tags"] = event.tags


# "" when the events fit the world in order, else why not (checked on a copy).
func _check(events: Variant) -> String:
	if not events is Array or events.is_empty():
		return "events must be a non-empty list"
	var ids := {}
	for e: Dictionary in entities:
		ids[e.id] = true
	for event: Variant in events:
		var kind: Variant = event.get("kind") if event is Dictionary else null
		if kind == "entity_added":
			if ids.has(event.entity.id):
				return "entity '%s' exists" % event.entity.id
			ids[event.entity.id] = true
		elif not ids.has(event.get("id")):
			return "no entity '%s'" % event.get("id")
		elif kind == "entity_removed":
			ids.erase(event.id)
	return ""


# The events that take back [param events] from the world as it is now.
func _inverse(events: Array) -> Array:
	var saved := entities.duplicate(true)
	var inverse: Array = []
	for event: Dictionary in events:
		var before := entity(event.get("id", "")).duplicate(true)
		match event.kind:
			"entity_added":
				inverse.push_front({"kind": "entity_removed", "id": event.entity.id})
			"entity_removed":
				inverse.push_front({"kind": "entity_added", "entity": before})
			"transform_set":
				var old := {}
				for key: String in event.transform:
					old[key] = before.get("transform", {}).get(key, _default(key))
				inverse.push_front({"kind": "transform_set", "id": event.id, "transform": old})
			"component_set", "component_removed":
				var components: Dictionary = before.get("components", {})
				if components.has(event.name):
					inverse.push_front({"kind": "component_set", "id": event.id,
						"name": event.name, "value": components[event.name]})
				else:
					inverse.push_front({"kind": "component_removed", "id": event.id,
						"name": event.name})
			"tags_set":
				inverse.push_front({"kind": "tags_set", "id": event.id,
					"tags": before.get("tags", [])})
		_apply(event)
	entities = saved
	return inverse


static func _default(key: String) -> Array:
	return {"position": [0, 0, 0], "rotation": [0, 0, 0, 1], "scale": [1, 1, 1]}[key]
