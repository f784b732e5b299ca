@tool
class_name ContinuumWorld
extends Node3D
## Mirrors the backend's world as child nodes.
##
## Each time its session connects (and on [method reload]) it requests `world.get` and rebuilds
## the children it made from the reply's entities: one Node3D per entity, see
## entity_builder.gd. Children added by hand are left alone. Without a [member session_path] it
## uses the "Continuum" autoload. It builds only in a running game, not in the editor.

## Emitted after the world's nodes were (re)built, with the number of entities built.
signal world_loaded(entity_count: int)

const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"

## The ContinuumSession to load the world from; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		if is_inside_tree() and not Engine.is_editor_hint():
			_bind_session()
		update_configuration_warnings()

## Entity id -> its node, for the last world built.
var entity_nodes: Dictionary = {}
## Entity ids of the last world built, in the order the backend sent them.
var entity_ids: PackedStringArray = []
## The `scene` field of the last `world` reply (name, description).
var scene_info: Dictionary = {}

var _session: ContinuumSessionScript
var _roots: Array[Node3D] = []
var _load_generation: int = 0


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
## scene.schema.json entity list), and emits [signal world_loaded].
func build(entities: Variant) -> void:
	clear()
	var builder := EntityBuilder.new()
	_roots = builder.build(entities)
	for root: Node3D in _roots:
		add_child(root)
	entity_nodes = builder.nodes_by_id
	entity_ids = PackedStringArray(entity_nodes.keys())
	world_loaded.emit(entity_ids.size())


## Frees the children made from the last world.
func clear() -> void:
	for root: Node3D in _roots:
		if is_instance_valid(root):
			remove_child(root)
			root.queue_free()
	_roots.clear()
	entity_nodes = {}
	entity_ids = PackedStringArray()


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
		_session = session
		if _session != null:
			_session.connected.connect(_on_session_connected)
			if _session.is_backend_connected():
				reload()
	if _session == null:
		push_warning(
			"[continuum] ContinuumWorld '%s': no ContinuumSession at %s; nothing will load"
			% [name, AUTOLOAD_PATH if session_path.is_empty() else session_path]
		)


func _on_session_connected(_welcome: Dictionary) -> void:
	reload()
