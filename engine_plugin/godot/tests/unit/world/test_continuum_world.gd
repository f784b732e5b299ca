# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## Tests of addons/continuum/world/continuum_world.gd without a backend: building, rebuilding,
## finding the session, configuration warnings; and splat sync against a fake backend
## (fake_asset_backend.gd): fetch and assign, announced versions swapped in while the old one
## stays, a lost backend or a refused pack leaving what is shown; and the world's events
## (bridge/PROTOCOL.md section 13) applied to the built nodes, directly and as world.changed
## pushes from a fake event-sourced backend (fake_world_backend.gd): edits, undo and redo, seen
## events skipped, events that do not fit answered by a reload, world.reset, the worlds requests.

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const FakeAssetBackend = preload("res://tests/unit/bridge/fake_asset_backend.gd")
const PackFixture = preload("res://tests/unit/world/pack_fixture.gd")
const AssetClientTest = preload("res://tests/unit/bridge/test_asset_client.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")
const FakeWorldBackend = preload("res://tests/unit/world/fake_world_backend.gd")

const ENTITIES: Array = [
	{"id": "floor", "components": {"shape": {"type": "plane", "size": [4, 4]}}},
	{"id": "box", "name": "Box", "components": {"shape": {"type": "box", "size": [1, 1, 1]}}},
	{"id": "tag", "parent": "box", "components": {"label": {"text": "hi"}}},
]

const PHYSICS_ENTITIES: Array = [
	{"id": "floor", "components": {"shape": {"type": "plane", "size": [4, 4]},
		"physics": {"body": "static"}}},
	{"id": "ball", "transform": {"position": [0, 1, 0]},
		"components": {"shape": {"type": "sphere", "radius": 0.1}, "physics": {"mass": 1}}},
	{"id": "paddle", "components": {"shape": {"type": "box", "size": [1, 0.1, 1]},
		"physics": {"body": "kinematic"}}},
]

var _world: ContinuumWorldScript
var _loaded_counts: Array[int] = []
var _backend: FakeAssetBackend
var _physics: FakePhysicsBackend
var _worlds: FakeWorldBackend
var _others: Array[Node] = []  # more nodes a test added (a second session and world)
var _changes: Array = []  # the entries of each world_changed
var _session: ContinuumSessionScript
var _cache_dir := ""
var _updates: Array = []
var _failures: Array = []


func before_each() -> void:
	_loaded_counts.clear()
	_updates.clear()
	_failures.clear()
	_changes.clear()
	_world = ContinuumWorldScript.new()
	_world.session_path = ^"NoSuchSession"
	_world.world_loaded.connect(func(count: int) -> void: _loaded_counts.append(count))
	_world.world_changed.connect(func(entries: Array) -> void: _changes.append(entries))


func after_each() -> void:
	await next_frame()  # Not inside a session's signal when its node is freed.
	if is_instance_valid(_world):
		_world.free()
	if is_instance_valid(_session):
		_session.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	_backend = null
	if is_instance_valid(_physics):
		remove_child(_physics)
		_physics.queue_free()
	_physics = null
	for other: Node in _others:
		if is_instance_valid(other):
			other.free()
	_others.clear()
	if is_instance_valid(_worlds):
		remove_child(_worlds)
		_worlds.queue_free()
	_worlds = null
	if not _cache_dir.is_empty():
		AssetClientTest.remove_tree(_cache_dir)
		_cache_dir = ""


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


func test_splat_entity_gets_a_splat_node_without_a_cloud() -> void:
	var pack := PackFixture.make_pack(3)
	_world.build([_splat_entity("cloud", pack)])
	var node := _world.get_entity_node("cloud")
	assert_true(node is SplatInstance3D, "the entity's node draws splats")
	assert_eq((node as SplatInstance3D).cloud, null, "no cloud until the pack is fetched")
	assert_eq(node.get_meta("continuum_splat").get("asset"), AssetClientTest.sha256(pack))
	assert_eq(_world.splat_hashes, {}, "nothing assigned")


func test_fetches_and_assigns_the_splat() -> void:
	var pack := PackFixture.make_pack(5)
	await _serve_world(pack)
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1), "splat_updated")
	var hash := AssetClientTest.sha256(pack)
	assert_eq(_updates, [["cloud", hash]])
	var node := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	assert_true(node.cloud != null and node.cloud.count == 5, "the decoded cloud is assigned")
	assert_eq(_world.get_splat_cloud("cloud"), node.cloud)
	assert_eq(_world.get_splat_clouds(), {"cloud": node.cloud})
	assert_eq(_world.splat_hashes, {"cloud": hash})
	assert_true(FileAccess.file_exists(_world.get_asset_client().cache_path(hash)), "cached")


func test_announced_version_is_swapped_in_and_the_old_one_stays_until_then() -> void:
	await _serve_world(PackFixture.make_pack(5))
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1), "first version")
	var node := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	var old: SplatCloud = node.cloud
	var second := PackFixture.make_pack(7, Vector3(0, 1, 0))
	var hash := _backend.add_asset(second)
	_backend.hold = true
	_backend.announce("cloud", hash)
	assert_true(await wait_until(func() -> bool: return _backend.headers("asset.get").size() == 2))
	await wait_seconds(0.1)
	assert_eq(node.cloud, old, "the old version stays while the new one is fetched")
	assert_eq(_world.splat_hashes.get("cloud"), _updates[0][1], "and stays recorded")
	_backend.hold = false
	_backend.pump_all()
	assert_true(await wait_until(func() -> bool: return _updates.size() == 2), "second version")
	assert_eq(_updates[1], ["cloud", hash])
	var same := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	assert_eq(same, node, "the same node swaps its cloud")
	assert_eq(node.cloud.count, 7)
	assert_eq(_world.splat_hashes, {"cloud": hash})


func test_announcing_the_shown_version_changes_nothing() -> void:
	var pack := PackFixture.make_pack(5)
	await _serve_world(pack)
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1))
	_backend.announce("cloud", AssetClientTest.sha256(pack))
	_backend.announce("nobody", AssetClientTest.sha256(pack))
	_backend.router.send_reply("asset.announce", {"entity": "cloud", "component": "splat",
		"asset": {"hash": "nope", "bytes": 1}})
	await wait_seconds(0.2)
	assert_eq(_updates.size(), 1, "no update")
	assert_eq(_backend.headers("asset.get").size(), 1, "no new fetch")


func test_lost_backend_mid_transfer_keeps_the_old_version() -> void:
	await _serve_world(PackFixture.make_pack(5))
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1), "first version")
	var node := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	var old: SplatCloud = node.cloud
	var hash := _backend.add_asset(PackFixture.make_pack(9))
	_backend.hold = true
	_backend.announce("cloud", hash)
	assert_true(await wait_until(func() -> bool: return _backend.headers("asset.get").size() == 2))
	_backend.router.drop()
	assert_true(await wait_until(func() -> bool: return _failures.size() == 1), "splat_failed")
	assert_eq(_failures[0], ["cloud", hash, "disconnected"])
	assert_eq(node.cloud, old, "the old version stays")
	assert_eq(_world.splat_hashes.get("cloud"), _updates[0][1])


func test_pack_over_the_limit_is_refused() -> void:
	var pack := PackFixture.make_pack(5)
	_cache_dir = "user://continuum_tests/world_%d" % Time.get_ticks_usec()
	_world.get_asset_client().max_bytes = pack.size() - 1
	await _serve_world(pack)
	assert_true(await wait_until(func() -> bool: return _failures.size() == 1), "splat_failed")
	assert_eq(_failures[0][2], "too_large")
	assert_eq(_backend.headers("asset.get").size(), 0, "never asked for")
	assert_true(_world.get_entity_node("cloud") != null, "the entity is there, without splats")


func test_rebuild_reuses_the_clouds_it_holds() -> void:
	var pack := PackFixture.make_pack(5)
	await _serve_world(pack)
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1))
	var cloud: SplatCloud = _world.get_splat_cloud("cloud")
	_world.build(_backend.entities)
	assert_eq(_updates.size(), 2, "assigned at once")
	var node := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	assert_eq(node.cloud, cloud, "the same decoded cloud")
	await wait_seconds(0.1)
	assert_eq(_backend.headers("asset.get").size(), 1, "not fetched again")


func test_undecodable_pack_is_an_error_and_changes_nothing() -> void:
	var junk := "not a pack at all".to_utf8_buffer()
	await _serve_world(junk)
	assert_true(await wait_until(func() -> bool: return _failures.size() == 1), "splat_failed")
	assert_eq(_failures[0][1], AssetClientTest.sha256(junk))
	assert_eq(EntityBuilder.find_splat_node(_world.get_entity_node("cloud")).cloud, null)


func test_physics_entities_are_bound_to_the_pose_stream() -> void:
	_world.build(PHYSICS_ENTITIES)
	var poses := _world.get_pose_stream()
	var bound := poses.bound_ids()
	bound.sort()
	assert_eq(bound, PackedStringArray(["ball", "paddle"]), "dynamic and kinematic, not static")
	poses.set_layout(1, PackedStringArray(["ball", "paddle"]))
	var frame := PackedFloat32Array([0, 0.1, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 1])
	assert_eq(poses.push_frame({"seq": 0, "t": 0.0, "layout": 1, "blobs": [
		{"dtype": "f32", "shape": [2, 7]}]}, frame.to_byte_array(), 0.0), "")
	assert_eq(poses.apply(1.0), 2)
	assert_true(_world.get_entity_node("ball").position.is_equal_approx(Vector3(0, 0.1, 0)))
	assert_true(_world.get_entity_node("paddle").position.is_equal_approx(Vector3(2, 1, 0)))
	assert_true(_world.get_entity_node("floor").position.is_zero_approx(), "static stays")
	_world.build(ENTITIES)
	assert_eq(poses.bound_ids(), PackedStringArray(), "a world without physics binds nothing")


func test_physics_world_follows_the_backend() -> void:
	_physics = FakePhysicsBackend.new()
	_physics.entities = PHYSICS_ENTITIES
	_physics.ids = PackedStringArray(["ball", "paddle"])
	_physics.bodies = _physics.ids
	add_child(_physics)
	var port := _physics.listen()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_world.session_path = ^"../Session"
	var events: Array = []
	_world.physics_event_received.connect(func(k: String, e: PackedStringArray, _m: String) -> void:
		events.append([k, e]))
	add_child(_world)
	_session.connect_to_backend("127.0.0.1", port)
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 1), "loaded")
	assert_true(await wait_until(func() -> bool: return _physics.headers("subscribe").size() == 1))
	await wait_seconds(0.2)  # the SUB socket connects and subscribes
	var ball := _world.get_entity_node("ball")
	for i in 10:  # the ball falls from 1 m to 0.1 m
		_physics.publish(PackedFloat32Array([0, 1.0 - 0.1 * i, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 1]),
			i / 60.0)
		await next_frame()
	assert_true(await wait_until(func() -> bool: return ball.position.y < 0.2),
		"the ball's node fell: y %s" % ball.position.y)
	assert_true(_world.get_entity_node("paddle").position.is_equal_approx(Vector3(2, 1, 0)))
	_physics.router.send_reply("physics.event", {"kind": "diverged", "entities": ["ball"],
		"sim_time": 1.0, "message": "NaN"})
	assert_true(await wait_until(func() -> bool: return events.size() == 1), "physics.event")
	assert_eq(events[0], ["diverged", PackedStringArray(["ball"])])


func test_transform_set_moves_the_node_and_keeps_the_other_fields() -> void:
	_world.build(ENTITIES)
	var box := _world.get_entity_node("box")
	assert_true(_world.apply_events([_entry(1, {"kind": "transform_set", "id": "box",
		"transform": {"rotation": [0, 0.7071068, 0, 0.7071068], "scale": [2, 2, 2]}})]))
	assert_true(_world.apply_events([_entry(2, {"kind": "transform_set", "id": "box",
		"transform": {"position": [1, 2, 3]}})]))
	assert_eq(_world.get_entity_node("box"), box, "the same node")
	assert_true(box.position.is_equal_approx(Vector3(1, 2, 3)), "moved: %s" % box.position)
	assert_true(box.scale.is_equal_approx(Vector3(2, 2, 2)), "the scale stays: %s" % box.scale)
	assert_true(box.quaternion.is_equal_approx(Quaternion(0, 0.7071068, 0, 0.7071068)),
		"the rotation stays: %s" % box.quaternion)
	assert_eq(_world.last_seq, 2)
	assert_eq(_changes.size(), 2, "world_changed per call")
	assert_eq(_changes[1][0].seq, 2)


func test_entity_added_under_its_parent_and_at_the_root() -> void:
	_world.build(ENTITIES)
	assert_true(_world.apply_events([
		_entry(1, {"kind": "entity_added", "entity": {"id": "hat", "parent": "box",
			"transform": {"position": [0, 1, 0]}, "tags": ["wearable"],
			"components": {"shape": {"type": "sphere", "radius": 0.2}}}}),
		_entry(2, {"kind": "entity_added", "entity": {"id": "lamp",
			"components": {"light": {"type": "omni"}}}}),
	]))
	var hat := _world.get_entity_node("hat")
	assert_true(hat is MeshInstance3D, "a mesh")
	assert_eq(hat.get_parent(), _world.get_entity_node("box"), "under its parent")
	assert_true(hat.position.is_equal_approx(Vector3(0, 1, 0)))
	assert_eq(hat.get_meta("continuum_tags"), PackedStringArray(["wearable"]))
	assert_true(_world.get_entity_node("lamp") is OmniLight3D, "a light")
	assert_eq(_world.get_entity_node("lamp").get_parent(), _world, "a root")
	assert_eq(_world.entity_ids, PackedStringArray(["floor", "box", "tag", "hat", "lamp"]))
	assert_eq(_changes[0].size(), 2)
	_world.clear()
	assert_eq(_world.get_child_count(), 0, "clear() frees the added root too")


func test_entity_removed_frees_its_node() -> void:
	_world.build(ENTITIES)
	var tag := _world.get_entity_node("tag")
	assert_true(_world.apply_events([_entry(1, {"kind": "entity_removed", "id": "tag"})]))
	assert_eq(_world.get_entity_node("tag"), null)
	assert_true(tag.is_queued_for_deletion(), "freed")
	assert_eq(_world.get_entity_node("box").get_child_count(), 0, "the box has no child left")
	assert_true(_world.apply_events([_entry(2, {"kind": "entity_removed", "id": "box"})]))
	assert_eq(_world.entity_ids, PackedStringArray(["floor"]))
	assert_eq(_world.get_child_count(), 1)


func test_events_that_do_not_fit_stop_and_say_so() -> void:
	_world.build(ENTITIES)
	var fits := _world.apply_events([
		_entry(1, {"kind": "tags_set", "id": "floor", "tags": ["ground"]}),
		_entry(2, {"kind": "transform_set", "id": "nobody", "transform": {"position": [1, 1, 1]}}),
		_entry(3, {"kind": "tags_set", "id": "box", "tags": ["late"]}),
	])
	assert_false(fits, "an unknown entity")
	assert_eq(_world.last_seq, 1, "applied up to the one that did not fit")
	assert_eq(_changes, [[_entry(1, {"kind": "tags_set", "id": "floor", "tags": ["ground"]})]])
	assert_false(_world.get_entity_node("box").has_meta("continuum_tags"), "not applied")
	assert_false(_world.apply_events([_entry(4, {"kind": "entity_removed", "id": "box"})]),
		"an entity with a child cannot leave")
	assert_false(_world.apply_events([_entry(5, {"kind": "entity_added", "entity": {
		"id": "floor"}})]), "a duplicate id")
	assert_false(_world.apply_events([_entry(6, {"kind": "entity_added", "entity": {
		"id": "x", "parent": "nobody"}})]), "an unknown parent")
	assert_false(_world.apply_events([_entry(7, {"kind": "transform_set", "id": "box",
		"transform": {"position": [1, 2]}})]), "a malformed transform")
	assert_false(_world.apply_events([{"seq": 8}]), "a malformed entry")
	assert_true(_world.get_entity_node("box") != null, "nothing else changed")


func test_seen_events_are_skipped_and_unknown_kinds_passed_over() -> void:
	_world.build(ENTITIES)
	_world.last_seq = 5
	assert_true(_world.apply_events([
		_entry(4, {"kind": "tags_set", "id": "box", "tags": ["old"]}),
		_entry(5, {"kind": "entity_removed", "id": "nobody"}),
		_entry(7, {"kind": "some_future_kind", "id": "nobody"}),
		_entry(9, {"kind": "tags_set", "id": "box", "tags": ["new"]}),
	]))
	assert_eq(_world.get_entity_node("box").get_meta("continuum_tags"), PackedStringArray(["new"]))
	assert_eq(_world.last_seq, 9)
	assert_eq(_changes[0].map(func(e: Dictionary) -> int: return e.seq), [7, 9])


func test_component_set_remakes_the_node_and_keeps_its_children() -> void:
	_world.build(ENTITIES)
	var own := Node3D.new()
	own.name = "Mine"
	_world.get_entity_node("box").add_child(own)
	_world.apply_events([_entry(1, {"kind": "transform_set", "id": "box",
		"transform": {"position": [0, 3, 0]}})])
	assert_true(_world.apply_events([_entry(2, {"kind": "component_set", "id": "box",
		"name": "shape", "value": {"type": "sphere", "radius": 0.5}})]))
	var box := _world.get_entity_node("box")
	assert_true((box as MeshInstance3D).mesh is SphereMesh, "a sphere now")
	assert_eq(str(box.name), "Box")
	assert_eq(box.get_parent(), _world)
	assert_eq(_world.get_child(1), box, "in its old place among the roots")
	assert_true(box.position.is_equal_approx(Vector3(0, 3, 0)), "where it was")
	assert_eq(_world.get_entity_node("tag").get_parent(), box, "its entity child moved over")
	assert_eq(own.get_parent(), box, "and the hand-made one")
	assert_true(_world.apply_events([_entry(3, {"kind": "component_set", "id": "box",
		"name": "material", "value": {"color": [1, 0, 0]}})]))
	var material: StandardMaterial3D = _world.get_entity_node("box").mesh.material
	assert_eq(material.albedo_color, Color(1, 0, 0), "the material applies")
	assert_true(_world.apply_events([_entry(4, {"kind": "component_removed", "id": "tag",
		"name": "label"})]))
	var tag := _world.get_entity_node("tag")
	assert_false(tag is Label3D, "a plain node once the label is gone")
	assert_eq(tag.get_parent(), _world.get_entity_node("box"))
	assert_true(_world.apply_events([_entry(5, {"kind": "component_set", "id": "tag",
		"name": "light", "value": {"type": "spot", "range": 3}})]))
	assert_true(_world.get_entity_node("tag") is SpotLight3D)
	_world.clear()
	assert_eq(_world.get_child_count(), 0, "clear() frees the remade nodes")


func test_unknown_components_and_tags_are_metadata() -> void:
	_world.build(ENTITIES)
	assert_true(_world.apply_events([
		_entry(1, {"kind": "component_set", "id": "floor", "name": "script", "value": "x.py"}),
		_entry(2, {"kind": "tags_set", "id": "floor", "tags": ["a", "b"]}),
	]))
	var floor_node := _world.get_entity_node("floor")
	assert_eq(floor_node.get_meta("continuum_components"), {"script": "x.py"})
	assert_eq(floor_node.get_meta("continuum_tags"), PackedStringArray(["a", "b"]))
	assert_true(_world.apply_events([_entry(3, {"kind": "component_removed", "id": "floor",
		"name": "script"})]))
	assert_false(floor_node.has_meta("continuum_components"))
	assert_eq(_world.get_entity_node("floor"), floor_node, "the same node throughout")


func test_physics_component_changes_rebind_the_pose_stream() -> void:
	_world.build(PHYSICS_ENTITIES)
	var poses := _world.get_pose_stream()
	assert_true(_world.apply_events([
		_entry(1, {"kind": "component_set", "id": "paddle", "name": "physics",
			"value": {"body": "static"}}),
		_entry(2, {"kind": "component_set", "id": "floor", "name": "physics", "value": {}}),
		_entry(3, {"kind": "entity_added", "entity": {"id": "cube", "components": {
			"shape": {"type": "box", "size": [1, 1, 1]}, "physics": {"mass": 2}}}}),
	]))
	var bound := poses.bound_ids()
	bound.sort()
	assert_eq(bound, PackedStringArray(["ball", "cube", "floor"]))
	assert_true(_world.apply_events([
		_entry(4, {"kind": "component_removed", "id": "ball", "name": "physics"}),
		_entry(5, {"kind": "entity_removed", "id": "cube"}),
		_entry(6, {"kind": "transform_set", "id": "floor", "transform": {"scale": [3, 1, 3]}}),
	]))
	assert_eq(poses.bound_ids(), PackedStringArray(["floor"]))
	poses.set_layout(1, PackedStringArray(["floor"]))
	poses.push_frame({"seq": 0, "t": 0.0, "layout": 1, "blobs": [
		{"dtype": "f32", "shape": [1, 7]}]}, PackedFloat32Array([0, 2, 0, 0, 0, 0, 1]).to_byte_array(),
		0.0)
	poses.apply(1.0)
	var floor_node := _world.get_entity_node("floor")
	assert_true(floor_node.position.is_equal_approx(Vector3(0, 2, 0)), "follows its body")
	assert_true(floor_node.scale.is_equal_approx(Vector3(3, 1, 3)), "with its new scale")


func test_a_new_splat_version_is_swapped_in_and_asked_for_once() -> void:
	await _serve_world(PackFixture.make_pack(5))
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1), "first version")
	var node := EntityBuilder.find_splat_node(_world.get_entity_node("cloud"))
	var old: SplatCloud = node.cloud
	var second := PackFixture.make_pack(7, Vector3(0, 1, 0))
	var hash := _backend.add_asset(second)
	_backend.hold = true
	var value := {"asset": hash, "bytes": second.size(), "count": 7, "sh_degree": 0,
		"aabb": [0, 0, 0, 1, 1, 1]}
	# The backend announces the new version and pushes the event that made it.
	_backend.announce("cloud", hash)
	_backend.router.send_reply("world.changed", {"events": [_entry(1, {
		"kind": "component_set", "id": "cloud", "name": "splat", "value": value})], "seq": 1})
	assert_true(await wait_until(func() -> bool: return _changes.size() == 1), "applied")
	assert_eq(node.get_meta("continuum_splat").asset, hash, "the component is noted")
	await wait_seconds(0.1)
	assert_eq(node.cloud, old, "the old version stays while the new one is fetched")
	_backend.hold = false
	_backend.pump_all()
	assert_true(await wait_until(func() -> bool: return _updates.size() == 2), "second version")
	await wait_seconds(0.2)
	assert_eq(_updates.size(), 2, "assigned once")
	assert_eq(_backend.headers("asset.get").size(), 2, "fetched once")
	assert_eq(EntityBuilder.find_splat_node(_world.get_entity_node("cloud")), node, "same node")
	assert_eq(node.cloud.count, 7)


func test_splat_added_and_removed_by_events() -> void:
	var pack := PackFixture.make_pack(4)
	await _serve_world(pack)
	assert_true(await wait_until(func() -> bool: return _updates.size() == 1))
	var cloud: SplatCloud = _world.get_splat_cloud("cloud")
	var value: Dictionary = _splat_entity("x", pack).components.splat
	_backend.router.send_reply("world.changed", {"events": [
		_entry(1, {"kind": "entity_added", "entity": {"id": "box",
			"components": {"shape": {"type": "box", "size": [1, 1, 1]}}}}),
		_entry(2, {"kind": "component_set", "id": "box", "name": "splat", "value": value}),
	], "seq": 2})
	assert_true(await wait_until(func() -> bool: return _updates.size() == 2), "assigned")
	var splat := EntityBuilder.find_splat_node(_world.get_entity_node("box"))
	assert_true(splat != null and splat.get_parent() is MeshInstance3D, "a Splat child")
	assert_eq(splat.cloud, cloud, "the cloud held already")
	assert_eq(_backend.headers("asset.get").size(), 1, "not fetched again")
	_backend.router.send_reply("world.changed", {"events": [
		_entry(3, {"kind": "component_removed", "id": "cloud", "name": "splat"})], "seq": 3})
	assert_true(await wait_until(func() -> bool: return _changes.size() == 2))
	assert_false(_world.get_entity_node("cloud") is SplatInstance3D, "no splat node")
	assert_false(_world.splat_hashes.has("cloud"))
	assert_eq(_world.get_splat_cloud("box"), cloud, "the other entity keeps its cloud")


func test_pushes_move_the_nodes_of_every_session() -> void:
	await _serve_events()
	assert_eq(_world.world_info.get("name"), "main")
	assert_eq(_world.last_seq, 3)
	var other := await _second_world()
	var reply := await _world.edit([
		{"kind": "transform_set", "id": "box", "transform": {"position": [0, 2, 0]}},
		{"kind": "entity_added", "entity": {"id": "new", "parent": "box"}},
		{"kind": "entity_removed", "id": "tag"},
	])
	assert_eq(reply.kind, "world.edit", str(reply.header))
	assert_eq(reply.header.seq, 6)
	assert_eq(_world.world_info.get("undo"), 1, "noted from the reply")
	assert_true(await wait_until(func() -> bool: return _world.last_seq == 6), "pushed")
	assert_true(await wait_until(func() -> bool: return other.last_seq == 6), "to both")
	for world: ContinuumWorldScript in [_world, other]:
		assert_true(world.get_entity_node("box").position.is_equal_approx(Vector3(0, 2, 0)))
		assert_eq(world.get_entity_node("new").get_parent(), world.get_entity_node("box"))
		assert_eq(world.get_entity_node("tag"), null)
		assert_eq(world.world_info.get("seq"), 6)
	assert_eq(_changes.size(), 1)
	assert_eq(_worlds.headers("world.get").size(), 2, "no reload: one world.get per world")


func test_undo_and_redo() -> void:
	await _serve_events()
	await _world.edit([{"kind": "transform_set", "id": "box",
		"transform": {"position": [5, 0, 0]}}])
	assert_true(await wait_until(func() -> bool: return _world.last_seq == 4))
	var undone := await _world.undo()
	assert_eq(undone.kind, "world.undo", str(undone.header))
	assert_eq([undone.header.seq, undone.header.events], [5, 1])
	assert_eq([_world.world_info.undo, _world.world_info.redo], [0, 1])
	assert_true(await wait_until(func() -> bool: return _world.last_seq == 5))
	assert_true(_world.get_entity_node("box").position.is_equal_approx(Vector3(0, 0.5, 0)),
		"back where it was")
	var nothing := await _world.undo()
	assert_eq([nothing.kind, nothing.header.code], ["error", "conflict"], "an error as it came")
	var redone := await _world.redo()
	assert_eq(redone.kind, "world.redo")
	assert_true(await wait_until(func() -> bool: return _world.last_seq == 6))
	assert_true(_world.get_entity_node("box").position.is_equal_approx(Vector3(5, 0, 0)))


func test_a_push_that_does_not_fit_reloads_the_world() -> void:
	await _serve_events()
	_worlds.entities.append({"id": "ghost"})  # changed behind the engine's back
	_worlds.change([{"kind": "tags_set", "id": "ghost", "tags": ["boo"]}])
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 2), "reloaded")
	assert_eq(_world.get_entity_node("ghost").get_meta("continuum_tags"),
		PackedStringArray(["boo"]))
	assert_eq(_world.last_seq, 4)


func test_pushes_during_a_reload_are_held_and_seen_ones_dropped() -> void:
	await _serve_events()
	_world.reload()
	# Before the backend reads the world.get: this push comes before its answer, which has it.
	_worlds.change([{"kind": "transform_set", "id": "box", "transform": {"position": [0, 9, 0]}}])
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 2), "reloaded")
	await wait_seconds(0.1)
	assert_eq(_changes.size(), 0, "held, then dropped as seen")
	assert_eq(_world.last_seq, 4)
	assert_true(_world.get_entity_node("box").position.is_equal_approx(Vector3(0, 9, 0)))
	_worlds.skip(2)  # backend-only events
	_worlds.change([{"kind": "tags_set", "id": "box", "tags": ["x"]}])
	assert_true(await wait_until(func() -> bool: return _world.last_seq == 7), "a seq skip is fine")
	assert_eq(_loaded_counts.size(), 2, "no reload")


func test_worlds_list_fork_and_open() -> void:
	await _serve_events()
	var resets: Array = []
	_world.world_reset.connect(func(info: Dictionary) -> void: resets.append(info))
	var listed := await _world.list_worlds()
	assert_eq(listed.kind, "world.list")
	assert_eq(listed.header.worlds.map(func(w: Dictionary) -> String: return w.name), ["main"])
	var forked := await _world.fork_world("copy")
	assert_eq([forked.header.name, forked.header.seq], ["copy", 3])
	assert_eq(forked.header.world.name, "main", "the world served")
	assert_eq(_world.world_info.name, "main", "a fork not opened is not the served world")
	await _world.edit([{"kind": "entity_removed", "id": "tag"}])
	assert_true(await wait_until(func() -> bool: return _world.get_entity_node("tag") == null))
	var opened := await _world.open_world("copy")
	assert_eq(opened.kind, "world.open", str(opened.header))
	assert_eq(_world.world_info.name, "copy")
	assert_true(await wait_until(func() -> bool: return resets.size() == 1), "world_reset")
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 2), "rebuilt")
	assert_true(_world.get_entity_node("tag") != null, "the fork has the tag")
	assert_eq(_world.last_seq, 3)
	var missing := await _world.open_world("nope")
	assert_eq(missing.header.get("code"), "not_found")
	assert_eq(_worlds.headers("world.open")[0], {"id": _worlds.headers("world.open")[0].id,
		"name": "copy"})
	await _world.fork_world("third", 2, true)
	assert_eq(_worlds.headers("world.fork")[1].at, 2)
	assert_true(_worlds.headers("world.fork")[1].open)
	assert_true(await wait_until(func() -> bool: return resets.size() == 2))
	assert_eq(_world.world_info.name, "third")
	var events := await _world.events_since(1, 10)
	assert_eq(events.kind, "error", "the fake has no log")
	assert_eq(_worlds.headers("world.events")[0].after, 1)
	assert_eq(_worlds.headers("world.events")[0].limit, 10)


func test_world_reset_restarts_the_pose_stream() -> void:
	await _serve_events()
	var poses := _world.get_pose_stream()
	poses.set_layout(1, PackedStringArray(["box"]))
	_worlds.worlds["other"] = {"seq": 0, "entities": PHYSICS_ENTITIES.duplicate(true)}
	await _world.open_world("other")
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 2), "rebuilt")
	assert_eq(poses.layout_ids(1), PackedStringArray(), "the old layout 1 is forgotten")
	assert_true(_world.get_entity_node("ball") != null)


func test_the_world_api_without_a_session_answers_not_connected() -> void:
	var reply := await _world.undo()
	assert_eq([reply.kind, reply.header.code], ["error", "not_connected"])
	add_child(_world)
	reply = await _world.list_worlds()
	assert_eq(reply.header.code, "not_connected")


# A world bound to a session connected to a fake backend whose world is one splat entity.
func _serve_world(pack: PackedByteArray) -> void:
	_backend = FakeAssetBackend.new()
	_backend.add_asset(pack)
	_backend.entities = [_splat_entity("cloud", pack)]
	add_child(_backend)
	_backend.listen()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	if _cache_dir.is_empty():
		_cache_dir = "user://continuum_tests/world_%d" % Time.get_ticks_usec()
	_world.get_asset_client().cache_dir = _cache_dir
	_world.session_path = ^"../Session"
	_world.splat_updated.connect(func(id: String, h: String) -> void: _updates.append([id, h]))
	_world.splat_failed.connect(func(id: String, h: String, c: String) -> void: _failures.append(
		[id, h, c]))
	add_child(_world)
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 1), "loaded")


static func _splat_entity(id: String, pack: PackedByteArray) -> Dictionary:
	return {"id": id, "components": {"splat": {
		"asset": AssetClientTest.sha256(pack), "bytes": pack.size(), "count": 0, "sh_degree": 0,
		"aabb": [0, 0, 0, 0, 0, 0]}}}


# A world bound to a session connected to the fake world backend, serving ENTITIES (a box at
# [0, 0.5, 0]) at seq 3.
func _serve_events() -> void:
	_worlds = FakeWorldBackend.new()
	_worlds.entities = ENTITIES.duplicate(true)
	_worlds.entities[1]["transform"] = {"position": [0, 0.5, 0]}
	_worlds.seq = 3
	add_child(_worlds)
	_worlds.listen()
	_session = _new_session("Session")
	_world.session_path = ^"../Session"
	add_child(_world)
	_session.connect_to_backend("127.0.0.1", _worlds.router.port)
	assert_true(await wait_until(func() -> bool: return _loaded_counts.size() == 1), "loaded")


# A second session and world on the fake world backend.
func _second_world() -> ContinuumWorldScript:
	var session := _new_session("Session2")
	_others.append(session)
	var world: ContinuumWorldScript = ContinuumWorldScript.new()
	world.session_path = ^"../Session2"
	_others.push_front(world)  # freed before its session
	add_child(world)
	session.connect_to_backend("127.0.0.1", _worlds.router.port)
	assert_true(await wait_until(func() -> bool: return world.last_seq >= 0), "loaded")
	return world


func _new_session(session_name: String) -> ContinuumSessionScript:
	var session: ContinuumSessionScript = ContinuumSessionScript.new()
	session.name = session_name
	session.auto_connect = false
	session.ping_interval_s = 0.0
	add_child(session)
	return session


static func _entry(seq: int, event: Dictionary) -> Dictionary:
	return {"seq": seq, "event": event}
