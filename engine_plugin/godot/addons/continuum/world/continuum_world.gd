@tool
class_name ContinuumWorld
extends Node3D
## Mirrors the backend's world as child nodes, splats included, and keeps them in sync.
##
## Each time its session connects (and on [method reload]) it requests `world.get` and rebuilds
## the children it made from the reply's entities: one Node3D per entity, see
## entity_builder.gd. Children added by hand are left alone. Without a [member session_path] it
## uses the "Continuum" autoload. It builds only in a running game, not in the editor.
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

const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const PoseStream = preload("res://addons/continuum/physics/pose_stream.gd")

## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"

## The ContinuumSession to load the world from; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		if is_inside_tree() and not Engine.is_editor_hint():
			_bind_session()
		update_configuration_warnings()

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

var _session: ContinuumSessionScript
var _assets: AssetClient
var _poses: PoseStream
var _roots: Array[Node3D] = []
var _load_generation: int = 0
var _wanted: Dictionary = {}  # entity id -> the hash being fetched for it
var _clouds: Dictionary = {}  # hash -> SplatCloud, for the packs assigned now


func _ready() -> void:
	if Engine.is_editor_hint():
		return
	_bind_session()


func _get_configuration_warnings() -> PackedStringArray:
	var problems := PackedStringArray()
	if session_path.is_empty():
		if not ProjectSettings.has_setting("autoload/Continuum") and _find_session() == null:
			problems.append(
				"No session: set session_path to a ContinuumSession, or enable the Continuum "
				+ "plugin (it adds the \"Continuum\" autoload)."
			)
	elif is_inside_tree() and _find_session() == null:
		problems.append("session_path does not point to a ContinuumSession node.")
	return problems


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
## The entity gets a SplatInstance3D child if its node is none.
func show_splat(id: String, hash: String, size: int = -1) -> bool:
	var node := get_entity_node(id)
	if node == null:
		return false
	_wanted[id] = hash
	if splat_hashes.get(id) == hash:
		_wanted.erase(id)
		return true  # Shown already.
	if not _clouds.has(hash):
		var got: Dictionary = await get_asset_client().fetch(hash, size)
		if _wanted.get(id) != hash:
			return false  # A newer version was asked for meanwhile.
		var decoded: Dictionary = {"error": got.get("error")}
		if got.has("data"):
			decoded = SplatCloud.from_pack(got.data)
			if decoded.has("error"):
				push_error("[continuum] entity '%s': splat pack %s is not usable: %s" % [
					id, hash.left(12), decoded.get("message", decoded.error)])
		if decoded.has("error"):
			_wanted.erase(id)
			splat_failed.emit(id, hash, str(decoded.error))
			return false
		_clouds[hash] = decoded.cloud
	_wanted.erase(id)
	return _assign_splat(id, hash)


## Requests the world again and rebuilds the children. Returns true when it was rebuilt.
func reload() -> bool:
	var session := get_session()
	if session == null or not session.is_backend_connected():
		push_warning("[continuum] ContinuumWorld.reload: not connected to a backend")
		return false
	_load_generation += 1
	var generation := _load_generation
	var reply: Dictionary = await session.request("world.get")
	if generation != _load_generation or not is_inside_tree():
		return false  # A newer load superseded this one, or this node left the tree.
	var header: Dictionary = reply.get("header", {})
	if reply.get("kind") != "world":
		push_warning(
			"[continuum] world.get failed: %s: %s"
			% [header.get("code", reply.get("kind")), header.get("message", "")]
		)
		return false
	var scene: Variant = header.get("scene", {})
	scene_info = scene if scene is Dictionary else {}
	build(header.get("entities", []))
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


## The node of entity [param id], or null.
func get_entity_node(id: String) -> Node3D:
	var node: Variant = entity_nodes.get(id)
	return node if is_instance_valid(node) else null


func _find_session() -> ContinuumSessionScript:
	if not is_inside_tree():
		return null
	var path := AUTOLOAD_PATH if session_path.is_empty() else session_path
	return get_node_or_null(path) as ContinuumSessionScript


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


func _on_session_connected(_welcome: Dictionary) -> void:
	reload()


func _on_session_message(kind: String, header: Dictionary, _blobs: Array) -> void:
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
