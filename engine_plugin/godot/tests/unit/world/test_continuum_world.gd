extends "res://tests/test_case.gd"
## Tests of addons/continuum/world/continuum_world.gd without a backend: building, rebuilding,
## finding the session, configuration warnings.

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

const ENTITIES: Array = [
	{"id": "floor", "components": {"shape": {"type": "plane", "size": [4, 4]}}},
	{"id": "box", "name": "Box", "components": {"shape": {"type": "box", "size": [1, 1, 1]}}},
	{"id": "tag", "parent": "box", "components": {"label": {"text": "hi"}}},
]

var _world: ContinuumWorldScript
var _loaded_counts: Array[int] = []


func before_each() -> void:
	_loaded_counts.clear()
	_world = ContinuumWorldScript.new()
	_world.session_path = ^"NoSuchSession"
	_world.world_loaded.connect(func(count: int) -> void: _loaded_counts.append(count))


func after_each() -> void:
	if is_instance_valid(_world):
		_world.free()


func test_build_adds_children_and_emits_world_loaded() -> void:
	_world.build(ENTITIES)
	assert_eq(_loaded_counts, [3] as Array[int], "world_loaded(3)")
	assert_eq(_world.entity_ids, PackedStringArray(["floor", "box", "tag"]))
	assert_eq(_world.get_child_count(), 2, "two roots")
	assert_true(_world.get_entity_node("box") is MeshInstance3D, "box node")
	assert_eq(_world.get_entity_node("tag").get_parent(), _world.get_entity_node("box"))
	assert_eq(_world.get_entity_node("nope"), null)


func test_rebuild_replaces_built_children_but_keeps_others() -> void:
	var own := Node3D.new()
	own.name = "Mine"
	_world.add_child(own)
	_world.build(ENTITIES)
	var old_box := _world.get_entity_node("box")
	_world.build([{"id": "only"}])
	assert_eq(_loaded_counts, [3, 1] as Array[int])
	assert_eq(_world.entity_ids, PackedStringArray(["only"]))
	assert_false(old_box.is_inside_tree() or old_box.get_parent() == _world, "old nodes removed")
	assert_eq(_world.get_child_count(), 2, "the hand-made child and the new root")
	assert_eq(_world.get_node_or_null("Mine"), own, "hand-made children stay")
	_world.clear()
	assert_eq(_world.get_child_count(), 1, "clear() leaves the hand-made child")
	assert_eq(_world.entity_ids.size(), 0)


func test_missing_session_is_a_configuration_warning() -> void:
	add_child(_world)
	assert_eq(_world.get_session(), null)
	assert_eq(_world._get_configuration_warnings().size(), 1, "session_path points nowhere")


func test_session_path_finds_a_session() -> void:
	var session: ContinuumSessionScript = ContinuumSessionScript.new()
	session.auto_connect = false
	session.name = "Session"
	add_child(session)
	_world.session_path = ^"../Session"
	add_child(_world)
	assert_eq(_world.get_session(), session)
	assert_eq(_world._get_configuration_warnings().size(), 0)
	assert_false(await _world.reload(), "reload without a connection does nothing")
	_world.free()
	session.free()


func test_default_session_is_the_autoload() -> void:
	_world.session_path = NodePath()
	add_child(_world)
	var autoload := get_node_or_null(^"/root/Continuum")
	assert_eq(_world.get_session(), autoload, "the Continuum autoload (or null without it)")
	assert_eq(_world._get_configuration_warnings().size(), 0, "the project has the autoload")
