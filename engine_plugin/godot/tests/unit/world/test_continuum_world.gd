extends "res://tests/test_case.gd"
## Tests of addons/continuum/world/continuum_world.gd without a backend: building, rebuilding,
## finding the session, configuration warnings; and splat sync against a fake backend
## (fake_asset_backend.gd): fetch and assign, announced versions swapped in while the old one
## stays, a lost backend or a refused pack leaving what is shown.

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const FakeAssetBackend = preload("res://tests/unit/bridge/fake_asset_backend.gd")
const PackFixture = preload("res://tests/unit/world/pack_fixture.gd")
const AssetClientTest = preload("res://tests/unit/bridge/test_asset_client.gd")
const FakePhysicsBackend = preload("res://tests/unit/physics/fake_physics_backend.gd")

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
var _session: ContinuumSessionScript
var _cache_dir := ""
var _updates: Array = []
var _failures: Array = []


func before_each() -> void:
	_loaded_counts.clear()
	_updates.clear()
	_failures.clear()
	_world = ContinuumWorldScript.new()
	_world.session_path = ^"NoSuchSession"
	_world.world_loaded.connect(func(count: int) -> void: _loaded_counts.append(count))


func after_each() -> void:
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
