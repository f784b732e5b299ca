@tool
class_name ContinuumWorld
extends Node3D
## Mirrors the backend's world as child nodes, splats included, and keeps them in sync.
##
## Each time its session connects (and on [method reload]) it requests `world.get` and rebuilds
## the children it made from the reply's entities: one Node3D per entity, see
## entity_builder.gd. Children added by hand are left alone. Without a [member session_path] it
## uses the "Continuum" autoload. It builds only in a running game, not in the editor (unless
## [member sync_in_editor]).
##
## An entity with a `splat` component gets a SplatInstance3D whose cloud is set once the pack
## that the component names by hash is fetched (asset_client.gd: verified, cached under user://)
## and decoded. When the backend announces a new version (`asset.announce`), the new pack is
## fetched while the old version stays on screen, then assigned; the node swaps without
## dropping a frame. A failed fetch (a lost backend, a pack over the size limit) leaves the old
## version where it is. [signal splat_updated] follows each assignment.
##
## Entities with a `physics` component (but static ones) follow the backend's simulation: when
## the backend's welcome has `physics`, the world subscribes to the `poses` stream and moves those
## nodes every frame to poses interpolated a little behind the newest frame
## (physics/pose_stream.gd), so motion stays smooth whatever the network does. A node keeps its
## own scale.
##
## The world is event-sourced (bridge/PROTOCOL.md section 13): every change, whoever made it,
## comes as a `world.changed` push whose events are applied to the nodes one by one (an entity
## added or removed, a transform, a component or the tags set), without rebuilding the rest.
## Events already seen ([member last_seq]) are skipped; an event that does not fit the nodes
## (an unknown entity, say) makes the world [method reload] instead. `world.reset` (the backend
## now serves another world) rebuilds everything, the pose stream included. [method edit],
## [method undo], [method redo], [method list_worlds], [method open_world], [method fork_world]
## and [method events_since] send the section's requests:
## [codeblock]
## var reply := await world.edit([{"kind": "transform_set", "id": "cube",
##         "transform": {"position": [0, 1, 0]}}])
## if reply.kind == "error":
##     push_warning(reply.header.message)  # the nodes move when world.changed arrives
## [/codeblock]

## Emitted after the world's nodes were (re)built, with the number of entities built.
signal world_loaded(entity_count: int)
## Entity [param entity_id] was given the splat pack [param hash] (its node now prepares and
## then shows it; the node's [signal SplatInstance3D.cloud_swapped] follows).
signal splat_updated(entity_id: String, hash: String)
## Pack [param hash] for entity [param entity_id] could not be fetched or decoded; [param code]
## is asset_client.gd's error code (or the decoder's). What the entity showed stays.
signal splat_failed(entity_id: String, hash: String, code: String)
## The backend's simulation reported an event ([param kind] "diverged": [param entities] were
## reset to their last good pose).
signal physics_event_received(kind: String, entities: PackedStringArray, message: String)
## The events of a `world.changed` push were applied to the nodes: [param events] are the
## entries [code]{seq, event}[/code] applied (those seen already are left out).
signal world_changed(events: Array)
## The backend serves another world now (`world.reset`, [param info] its description, 13.1);
## the nodes are being rebuilt ([signal world_loaded] follows).
signal world_reset(info: Dictionary)

const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const PoseStream = preload("res://addons/continuum/physics/pose_stream.gd")

## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"

## The ContinuumSession to load the world from; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		if is_inside_tree() and (not Engine.is_editor_hint() or sync_in_editor):
			_bind_session()
		update_configuration_warnings()

## Load and follow the world in the editor too (the editor dock's world does, for splat editing).
## Splat packs are fetched in a running game only: in the editor an entity's splat node names its
## version (meta [code]continuum_splat[/code]) without a cloud.
@export var sync_in_editor: bool = false

## Move the nodes of physics entities as the backend's `poses` stream says.
@export var follow_physics: bool = true:
	set(value):
		follow_physics = value
		if _poses != null:
			_poses.auto_apply = value

## Entity id -> its node, for the last world built.
var entity_nodes: Dictionary = {}
## Entity ids of the last world built, in the order the backend sent them.
var entity_ids: PackedStringArray = []
## The `scene` field of the last `world` reply (name, description).
var scene_info: Dictionary = {}
## Entity id -> the hash of the splat pack assigned to its node.
var splat_hashes: Dictionary = {}
## The served world's description (bridge/PROTOCOL.md 13.1: name, persistent, seq, tick, undo,
## redo, physics), from the last `world` reply, `world.changed` push or reply that carried it;
## empty before the first.
var world_info: Dictionary = {}
## The [code]seq[/code] of the last world event the nodes show (from `world.get` and the
## `world.changed` pushes applied); -1 when unknown. [member world_info]'s may be ahead of it
## for a moment: a reply to an edit comes before the push that carries its events.
var last_seq: int = -1

var _session: ContinuumSessionScript
var _assets: AssetClient
var _poses: PoseStream
var _roots: Array[Node3D] = []
var _load_generation: int = 0
var _wanted: Dictionary = {}  # entity id -> the hash being fetched for it
var _clouds: Dictionary = {}  # hash -> SplatCloud, for the packs assigned now
var _splat_jobs: Dictionary = {}  # hash -> _SplatJob, while its pack is fetched and decoded
var _entities: Dictionary = {}  # entity id -> its entity (scene.schema.json), as events left it
var _loading: bool = false  # a world.get is in flight
var _held: Array[Dictionary] = []  # world.changed headers that came while loading


func _ready() -> void:
	if Engine.is_editor_hint() and not sync_in_editor:
		return
	_bind_session()


func _get_configuration_warnings() -> PackedStringArray:
	return SessionLookup.warnings(self, session_path)


## The session this world loads from, or null when none can be found.
func get_session() -> ContinuumSessionScript:
	return _session if _session != null else _find_session()


## The asset client (asset_client.gd) that fetches this world's splat packs; made on first use.
func get_asset_client() -> AssetClient:
	if _assets == null:
		_assets = AssetClient.new()
		_assets.name = "Assets"
		add_child(_assets, false, Node.INTERNAL_MODE_BACK)
	if _assets.session != get_session():
		_assets.session = get_session()
	return _assets


## The pose stream (physics/pose_stream.gd) that moves the physics entities' nodes; made on
## first use.
func get_pose_stream() -> PoseStream:
	if _poses == null:
		_poses = PoseStream.new()
		_poses.name = "Poses"
		_poses.auto_apply = follow_physics
		add_child(_poses, false, Node.INTERNAL_MODE_BACK)
		if _session != null:
			_poses.attach(_session)
	return _poses


## The SplatCloud assigned to entity [param id], or null.
func get_splat_cloud(id: String) -> SplatCloud:
	return _clouds.get(splat_hashes.get(id, ""))


## Entity id -> SplatCloud, for every entity whose splat pack was assigned.
func get_splat_clouds() -> Dictionary:
	var clouds := {}
	for id: String in splat_hashes:
		if _clouds.has(splat_hashes[id]):
			clouds[id] = _clouds[splat_hashes[id]]
	return clouds


## Shows splat pack [param hash] ([param size] octets, -1 when unknown) on entity [param id]:
## at once when this world holds it already, else after fetching and decoding it, unless
## another version was asked for meanwhile. A coroutine; returns true when it was assigned.
## The entity gets a SplatInstance3D child if its node is none. Calls for a pack that is being
## fetched already wait for that fetch (a pack is fetched and decoded once).
func show_splat(id: String, hash: String, size: int = -1) -> bool:
	var node := get_entity_node(id)
	if node == null:
		return false
	_wanted[id] = hash
	if splat_hashes.get(id) == hash:
		_wanted.erase(id)
		return true  # Shown already.
	if not _clouds.has(hash):
		var loaded: Dictionary
		if _splat_jobs.has(hash):
			loaded = await _splat_jobs[hash].finished
		else:
			loaded = await _load_cloud(id, hash, size)
		if splat_hashes.get(id) == hash:
			return true  # Another call for the same version assigned it meanwhile.
		if _wanted.get(id) != hash:
			return false  # A newer version was asked for meanwhile, or the entity left.
		_wanted.erase(id)
		if loaded.has("error"):
			splat_failed.emit(id, hash, str(loaded.error))
			return false
		_clouds[hash] = loaded.cloud
	_wanted.erase(id)
	return _assign_splat(id, hash)


## Requests the world again and rebuilds the children. Returns true when it was rebuilt.
## `world.changed` pushes that come meanwhile are held, then applied when they are newer than
## the world received.
func reload() -> bool:
	var session := get_session()
	if session == null or not session.is_backend_connected():
		push_warning("[continuum] ContinuumWorld.reload: not connected to a backend")
		return false
	_load_generation += 1
	var generation := _load_generation
	_loading = true
	var reply: Dictionary = await session.request("world.get")
	if generation != _load_generation or not is_inside_tree():
		return false  # A newer load superseded this one, or this node left the tree.
	_loading = false
	var header: Dictionary = reply.get("header", {})
	if reply.get("kind") != "world":
		_held.clear()
		push_warning(
			"[continuum] world.get failed: %s: %s"
			% [header.get("code", reply.get("kind")), header.get("message", "")]
		)
		return false
	var scene: Variant = header.get("scene", {})
	scene_info = scene if scene is Dictionary else {}
	var info: Variant = header.get("world")
	world_info = info if info is Dictionary else {}
	last_seq = int(world_info.get("seq", -1)) if _is_number(world_info.get("seq")) else -1
	build(header.get("entities", []))
	var held := _held
	_held = []
	for changed: Dictionary in held:
		_on_world_changed(changed)
	return true


## Replaces the children made from the last world with nodes for [param entities] (the
## scene.schema.json entity list), and emits [signal world_loaded]. Splat packs this world holds
## already are assigned at once; the others are fetched.
func build(entities: Variant) -> void:
	clear()
	var builder := EntityBuilder.new()
	_roots = builder.build(entities)
	for root: Node3D in _roots:
		add_child(root)
	entity_nodes = builder.nodes_by_id
	entity_ids = PackedStringArray(entity_nodes.keys())
	for entity: Variant in entities if entities is Array else []:
		if entity is Dictionary and entity.get("id") is String and not _entities.has(entity.id):
			_entities[entity.id] = entity.duplicate(true)
	_bind_bodies(builder.physics_by_id)
	var wanted := {}
	for id: String in builder.splats_by_id:
		wanted[builder.splats_by_id[id].asset] = true
	for hash: String in _clouds.keys():
		if not wanted.has(hash):
			_clouds.erase(hash)  # No entity shows it any more.
	for id: String in builder.splats_by_id:
		var splat: Dictionary = builder.splats_by_id[id]
		if _clouds.has(splat.asset):
			_assign_splat(id, splat.asset)
	world_loaded.emit(entity_ids.size())
	for id: String in builder.splats_by_id:
		var splat: Dictionary = builder.splats_by_id[id]
		if not splat_hashes.has(id) and is_inside_tree() and not Engine.is_editor_hint():
			show_splat(id, splat.asset, int(splat.bytes))


## Applies world events to the nodes: [param events] are entries [code]{seq, event}[/code] as in
## `world.changed` (bridge/PROTOCOL.md 13.2). Entries whose seq is not above [member last_seq]
## were seen already and are skipped; event kinds this plugin does not know are passed over.
## Emits [signal world_changed] with the entries applied. Returns false when an event did not
## fit (an unknown entity, a malformed field): the nodes then lag behind the backend's world,
## and the caller should [method reload] (a push does so by itself).
func apply_events(events: Array) -> bool:
	var applied: Array = []
	var ok := true
	for entry: Variant in events:
		var seq: Variant = entry.get("seq") if entry is Dictionary else null
		var event: Variant = entry.get("event") if entry is Dictionary else null
		if not _is_number(seq) or not event is Dictionary:
			push_warning("[continuum] a malformed world event entry: %s" % [entry])
			ok = false
			break
		if last_seq >= 0 and int(seq) <= last_seq:
			continue  # Seen already.
		var problem := _apply_event(event)
		if not problem.is_empty():
			push_warning("[continuum] world event %d (%s) does not fit: %s" % [
				int(seq), event.get("kind"), problem])
			ok = false
			break
		last_seq = int(seq)
		applied.append(entry)
	if not applied.is_empty():
		world_changed.emit(applied)
	return ok


## Sends `world.edit` with [param events] (each [code]{kind, ...the kind's fields}[/code],
## bridge/PROTOCOL.md 13.2) and returns the reply ([code]{kind, header, blobs}[/code]; an error
## as it came). The nodes change when the `world.changed` push that follows is applied.
func edit(events: Array) -> Dictionary:
	return await _world_request("world.edit", {"events": events})


## Sends `world.undo`: the newest edit still undoable is taken back (by whoever it was made).
## Returns the reply; `conflict` when there is nothing to undo.
func undo() -> Dictionary:
	return await _world_request("world.undo", {})


## Sends `world.redo`: the edit undone last is done again. Returns the reply; `conflict` when
## there is nothing to redo.
func redo() -> Dictionary:
	return await _world_request("world.redo", {})


## Sends `world.list`; the reply's [code]worlds[/code] lists the backend's persistent worlds
## ([code]{name, seq, tick, entities, bytes, open}[/code]); `unavailable` without a worlds folder.
func list_worlds() -> Dictionary:
	return await _world_request("world.list", {})


## Sends `world.open`: the backend serves world [param world_name] (made from its scene when
## missing and [param create]); every session then gets `world.reset` and the nodes are rebuilt.
## Returns the reply.
func open_world(world_name: String, create: bool = false) -> Dictionary:
	var fields := {"name": world_name}
	if create:
		fields["create"] = true
	return await _world_request("world.open", fields)


## Sends `world.fork`: a new persistent world [param world_name], a copy of the served one as
## it was at seq [param at] (-1: now), opened at once when [param open]. Returns the reply: the
## fork's [code]name[/code] and [code]seq[/code], and the [code]world[/code] served (the fork
## when opened).
func fork_world(world_name: String, at: int = -1, open: bool = false) -> Dictionary:
	var fields := {"name": world_name}
	if at >= 0:
		fields["at"] = at
	if open:
		fields["open"] = true
	return await _world_request("world.fork", fields)


## Sends `world.events`: the entity events after seq [param after] (at most [param limit], 0 for
## the backend's default). Returns the reply ([code]events[/code], [code]seq[/code],
## [code]more[/code]); the nodes are not changed (see [method apply_events]).
func events_since(after: int, limit: int = 0) -> Dictionary:
	var fields := {"after": after}
	if limit > 0:
		fields["limit"] = limit
	return await _world_request("world.events", fields)


## Frees the children made from the last world.
func clear() -> void:
	for root: Node3D in _roots:
		if is_instance_valid(root):
			remove_child(root)
			root.queue_free()
	_roots.clear()
	if _poses != null:
		_poses.unbind_all()
	entity_nodes = {}
	entity_ids = PackedStringArray()
	splat_hashes = {}
	_wanted = {}
	_entities = {}


## The node of entity [param id], or null.
func get_entity_node(id: String) -> Node3D:
	var node: Variant = entity_nodes.get(id)
	return node if is_instance_valid(node) else null


func _find_session() -> ContinuumSessionScript:
	return SessionLookup.find(self, session_path)


func _bind_session() -> void:
	var session := _find_session()
	if session != _session:
		if _session != null and _session.connected.is_connected(_on_session_connected):
			_session.connected.disconnect(_on_session_connected)
			_session.message_received.disconnect(_on_session_message)
		_session = session
		if _assets != null:
			_assets.session = _session
		if _session != null or _poses != null:
			get_pose_stream().attach(_session)
		if _session != null:
			_session.connected.connect(_on_session_connected)
			_session.message_received.connect(_on_session_message)
			if _session.is_backend_connected():
				reload()
	if _session == null:
		push_warning(
			"[continuum] ContinuumWorld '%s': no ContinuumSession at %s; nothing will load"
			% [name, AUTOLOAD_PATH if session_path.is_empty() else session_path]
		)


# Gives entity [param id] the cloud of [param hash] (held in _clouds) and records it.
func _assign_splat(id: String, hash: String) -> bool:
	var node := get_entity_node(id)
	if node == null:
		return false
	var splat_node := EntityBuilder.find_splat_node(node)
	if splat_node == null:
		splat_node = EntityBuilder.make_splat_node({"asset": hash})
		node.add_child(splat_node)
	splat_node.cloud = _clouds[hash]
	var component: Dictionary = splat_node.get_meta("continuum_splat", {})
	component["asset"] = hash
	splat_node.set_meta("continuum_splat", component)
	var previous: Variant = splat_hashes.get(id)
	splat_hashes[id] = hash
	if previous != null and previous != hash and not previous in splat_hashes.values():
		_clouds.erase(previous)  # No entity shows the version this one showed before.
	splat_updated.emit(id, hash)
	return true


# Binds the nodes of the physics entities (static ones never move) to the pose stream.
func _bind_bodies(physics_by_id: Dictionary) -> void:
	if physics_by_id.is_empty() and _poses == null:
		return
	var poses := get_pose_stream()
	poses.unbind_all()
	for id: String in physics_by_id:
		if physics_by_id[id].get("body", "dynamic") != "static":
			poses.bind_node(id, entity_nodes[id])


# Binds or unbinds entity [param id]'s node to the pose stream as its physics component says.
func _bind_body(id: String) -> void:
	var components: Variant = _entities.get(id, {}).get("components", {})
	var physics: Variant = components.get("physics") if components is Dictionary else null
	var node := get_entity_node(id)
	if node != null and physics is Dictionary and physics.get("body", "dynamic") != "static":
		get_pose_stream().bind_node(id, node)
	elif _poses != null:
		_poses.unbind_node(id)


# Fetches and decodes pack [param hash] once for every caller: {cloud} or {error}.
func _load_cloud(id: String, hash: String, size: int) -> Dictionary:
	var job := _SplatJob.new()
	_splat_jobs[hash] = job
	var got: Dictionary = await get_asset_client().fetch(hash, size)
	var loaded: Dictionary = {"error": got.get("error")}
	if got.has("data"):
		loaded = SplatCloud.from_pack(got.data)
		if loaded.has("error"):
			push_error("[continuum] entity '%s': splat pack %s is not usable: %s" % [
				id, hash.left(12), loaded.get("message", loaded.error)])
	_splat_jobs.erase(hash)
	job.finished.emit(loaded)
	return loaded


# Sends a section-13 request through the session; notes the world it describes.
func _world_request(kind: String, fields: Dictionary) -> Dictionary:
	var session := get_session()
	if session == null:
		var blobs: Array[PackedByteArray] = []
		return {"kind": "error", "header": {"re": null, "code": "not_connected",
			"message": "ContinuumWorld '%s' has no session" % name}, "blobs": blobs}
	var reply: Dictionary = await session.request(kind, fields)
	var info: Variant = reply.get("header", {}).get("world")
	if reply.get("kind") == kind and info is Dictionary:
		if kind == "world.open" or (kind == "world.fork" and fields.get("open", false)):
			world_info = info  # Another world is served now.
		else:
			_note_world(info)
	return reply


# Takes [param info] as the world's description unless it is older than the one held.
func _note_world(info: Dictionary) -> void:
	var seq: Variant = info.get("seq")
	var held: Variant = world_info.get("seq")
	var same_world: bool = info.get("name") == world_info.get("name")
	if same_world and _is_number(seq) and _is_number(held) and int(seq) < int(held):
		return  # A reply overtaken by a newer push.
	world_info = info


func _on_world_changed(header: Dictionary) -> void:
	if _loading:
		_held.append(header)  # The world.get answer decides whether they are news.
		return
	var info: Variant = header.get("world")
	if info is Dictionary:
		_note_world(info)
	var events: Variant = header.get("events")
	var ok := events is Array and apply_events(events)
	if not events is Array:
		push_warning("[continuum] a malformed world.changed push: events is %s" % [events])
	if not ok:
		reload()
		return
	if _is_number(header.get("seq")):
		last_seq = maxi(last_seq, int(header.seq))


func _on_world_reset(header: Dictionary) -> void:
	var info: Variant = header.get("world")
	world_info = info if info is Dictionary else {}
	last_seq = -1
	_held.clear()
	if _poses != null or world_info.get("physics") is Dictionary:
		get_pose_stream().restart(world_info.get("physics"))
	world_reset.emit(world_info)
	reload()


# Applies one event to the mirror and the nodes; returns "" or why it does not fit.
func _apply_event(event: Dictionary) -> String:
	var kind: Variant = event.get("kind")
	if kind == "entity_added":
		return _add_entity(event.get("entity"))
	if not kind in ["entity_removed", "transform_set", "component_set", "component_removed",
			"tags_set"]:
		return ""  # A kind this plugin does not know: not for it.
	var id: Variant = event.get("id")
	if not id is String or not _entities.has(id):
		return "no entity %s" % [id if id is String else type_string(typeof(id))]
	var problem := ""
	match kind:
		"entity_removed":
			problem = _remove_entity(id)
		"transform_set":
			problem = _set_transform(id, event.get("transform"))
		"component_set":
			problem = _set_component(id, event.get("name"), event.get("value"), true)
		"component_removed":
			problem = _set_component(id, event.get("name"), null, false)
		"tags_set":
			var tags: Variant = event.get("tags")
			if not tags is Array or not tags.all(func(t: Variant) -> bool: return t is String):
				problem = "tags must be a list of strings, got %s" % [tags]
			else:
				_entities[id]["tags"] = tags.duplicate()
				var node := get_entity_node(id)
				if node != null:
					node.set_meta("continuum_tags", PackedStringArray(tags))
	return problem


func _add_entity(entity: Variant) -> String:
	if not entity is Dictionary or not entity.get("id") is String:
		return "entity_added needs an entity with an id, got %s" % [entity]
	var id: String = entity.id
	if _entities.has(id):
		return "entity '%s' exists already" % id
	var parent: Variant = entity.get("parent")
	if parent != null and not (parent is String and _entities.has(parent)):
		return "entity '%s': no parent %s" % [id, parent]
	_entities[id] = entity.duplicate(true)
	if _rebuild_entity(id):
		entity_ids.append(id)
	# Otherwise the builder said why (once); the entity has no node, as after a reload.
	return ""


func _remove_entity(id: String) -> String:
	for other: Dictionary in _entities.values():
		if other.get("parent") == id:
			return "entity '%s' still has the child '%s'" % [id, other.id]
	var node := get_entity_node(id)
	if node != null:
		_roots.erase(node)
		node.get_parent().remove_child(node)
		node.queue_free()
	if _poses != null:
		_poses.unbind_node(id)
	_drop_splat(id)
	_entities.erase(id)
	entity_nodes.erase(id)
	var index := entity_ids.find(id)
	if index >= 0:
		entity_ids.remove_at(index)
	return ""


func _set_transform(id: String, fields: Variant) -> String:
	var problem := EntityBuilder.check_transform(fields)
	if not problem.is_empty():
		return problem
	var transform: Dictionary = _entities[id].get("transform", {}).duplicate()
	transform.merge(fields, true)
	_entities[id]["transform"] = transform
	var node := get_entity_node(id)
	if node != null:
		node.transform = EntityBuilder.make_transform(transform)
		if _poses != null and _poses.bound_ids().has(id):
			_poses.bind_node(id, node)  # Its own scale may have changed.
	return ""


# Sets ([param present]) or removes component [param component] of entity [param id].
func _set_component(id: String, component: Variant, value: Variant, present: bool) -> String:
	if not component is String:
		return "the component name must be a string, got %s" % [component]
	var entity: Dictionary = _entities[id]
	var components: Dictionary = entity.get("components", {}).duplicate()
	if component == "splat":
		return _set_splat(id, components, value, present)
	if present:
		components[component] = value.duplicate(true) if value is Dictionary else value
	elif not components.erase(component):
		return ""  # It had none: nothing changes.
	entity["components"] = components
	if component in EntityBuilder.KNOWN_COMPONENTS:
		if _rebuild_entity(id):
			return ""
		return "entity '%s' could not be built with its new %s" % [id, component]
	var node := get_entity_node(id)
	if node != null:
		var unknown := {}
		for key: Variant in components:
			if not key in EntityBuilder.KNOWN_COMPONENTS:
				unknown[key] = components[key]
		if unknown.is_empty():
			node.remove_meta("continuum_components")
		else:
			node.set_meta("continuum_components", unknown)
	if component == "physics":
		_bind_body(id)
	return ""


# The splat component of entity [param id] becomes [param value] (or goes): a new version of a
# splat shown is fetched while the old one stays; a splat added or removed remakes the node.
func _set_splat(id: String, components: Dictionary, value: Variant, present: bool) -> String:
	var had_splat: bool = components.get("splat") is Dictionary
	if present:
		var problem := EntityBuilder.check_splat(value) if value is Dictionary else "not an object"
		if not problem.is_empty():
			return "entity '%s': a bad splat component: %s" % [id, problem]
		components["splat"] = value.duplicate(true)
	elif not components.erase("splat"):
		return ""
	_entities[id]["components"] = components
	var node := get_entity_node(id)
	var splat_node := EntityBuilder.find_splat_node(node) if node != null else null
	if present and had_splat and splat_node != null:
		splat_node.set_meta("continuum_splat", value.duplicate(true))
		if is_inside_tree() and not Engine.is_editor_hint():
			show_splat(id, value.asset, int(value.bytes))
		return ""
	_drop_splat(id)
	if _rebuild_entity(id):
		return ""
	return "entity '%s' could not be built with its new splat" % id


# (Re)makes entity [param id]'s node from its entity as events left it: in place of its old node
# (whose entity children and hand-made children move over), or under its parent's node. Binds
# its body and shows its splat. Returns false when the builder refused the entity.
func _rebuild_entity(id: String) -> bool:
	var spec: Dictionary = _entities[id].duplicate(true)
	var parent_id: Variant = spec.get("parent")
	spec.erase("parent")
	var builder := EntityBuilder.new()
	var built := builder.build([spec])
	if built.is_empty():
		return false
	var node: Node3D = built[0]
	var old := get_entity_node(id)
	if old != null:
		node.transform = old.transform  # Where it is shown now (a body's pose, say).
		for child: Node in old.get_children():
			if child.has_meta("continuum_id") \
					or not child.name in EntityBuilder.COMPONENT_NODE_NAMES:
				old.remove_child(child)
				node.add_child(child)
		var parent := old.get_parent()
		var index := old.get_index()
		parent.remove_child(old)
		old.queue_free()
		parent.add_child(node)
		parent.move_child(node, index)
		var root_index := _roots.find(old)
		if root_index >= 0:
			_roots[root_index] = node
	elif parent_id is String and get_entity_node(parent_id) != null:
		get_entity_node(parent_id).add_child(node)
	else:
		add_child(node)
		_roots.append(node)
	entity_nodes[id] = node
	_bind_body(id)
	var splat: Variant = spec.get("components", {}).get("splat")
	if splat is Dictionary:
		if splat_hashes.has(id) and _clouds.has(splat_hashes[id]):
			_assign_splat(id, splat_hashes[id])  # The version shown stays.
		elif _clouds.has(splat.asset):
			_assign_splat(id, splat.asset)
		if splat_hashes.get(id) != splat.asset and is_inside_tree() \
				and not Engine.is_editor_hint():
			show_splat(id, splat.asset, int(splat.bytes))
	return true


# Forgets entity [param id]'s splat (and the cloud, unless another entity shows it).
func _drop_splat(id: String) -> void:
	_wanted.erase(id)
	var previous: Variant = splat_hashes.get(id)
	splat_hashes.erase(id)
	if previous != null and not previous in splat_hashes.values():
		_clouds.erase(previous)


func _on_session_connected(_welcome: Dictionary) -> void:
	reload()


func _on_session_message(kind: String, header: Dictionary, _blobs: Array) -> void:
	if kind == "world.changed":
		_on_world_changed(header)
		return
	if kind == "world.reset":
		_on_world_reset(header)
		return
	if kind == "physics.event":
		var entities: Variant = header.get("entities", [])
		physics_event_received.emit(
			str(header.get("kind", "")),
			PackedStringArray(entities) if typeof(entities) == TYPE_ARRAY else PackedStringArray(),
			str(header.get("message", "")))
		return
	if kind != "asset.announce" or header.get("component") != "splat":
		return
	var id: Variant = header.get("entity")
	var asset: Variant = header.get("asset")
	if typeof(id) != TYPE_STRING or typeof(asset) != TYPE_DICTIONARY:
		push_warning("[continuum] ignoring a malformed asset.announce: %s" % [header])
		return
	var splat: Dictionary = asset.duplicate()
	splat["asset"] = splat.get("hash")
	var problem := EntityBuilder.check_splat(splat)
	if not problem.is_empty():
		push_warning("[continuum] ignoring asset.announce for '%s': %s" % [id, problem])
	elif get_entity_node(id) != null:
		show_splat(id, splat.asset, int(splat.bytes))


static func _is_number(value: Variant) -> bool:
	return typeof(value) in [TYPE_INT, TYPE_FLOAT] and is_finite(float(value))


## A splat pack being fetched and decoded, awaited by every show_splat that wants it.
class _SplatJob:
	extends RefCounted

	## Emitted once with {cloud} or {error, message}.
	signal finished(loaded: Dictionary)
