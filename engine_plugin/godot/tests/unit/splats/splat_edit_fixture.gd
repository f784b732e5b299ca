extends Node
## What the splat editing tests stand on: a fake splat backend (fake_splat_backend.gd) serving a
## 4 x 4 x 4 grid of splats (-0.3..0.3, 0.2 apart) as entity "cloud" at [constant POSE], and a
## ContinuumSession, a ContinuumWorld and a ContinuumSplatEditor on it, all children of this
## node. [method start] waits until the world shows the splats; freeing this node ends it all.

const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")
const WorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeSplatBackend = preload("res://tests/unit/splats/fake_splat_backend.gd")
const AssetClientTest = preload("res://tests/unit/bridge/test_asset_client.gd")

## The entity's pose: at (1, 2, 3), turned 90 degrees about +Y, scaled 2.
const POSE := {"position": [1, 2, 3], "rotation": [0, 0.70710678, 0, 0.70710678],
	"scale": [2, 2, 2]}
## Seconds [method start] waits for the splats.
const WAIT_S := 5.0

var backend: FakeSplatBackend
var session: SessionScript
var world: WorldScript
var editor: SplatEditorScript

var _cache_dir := ""


func _exit_tree() -> void:
	if not _cache_dir.is_empty():
		AssetClientTest.remove_tree(_cache_dir)
		_cache_dir = ""


## The grid's points, in the entity's frame.
static func grid() -> PackedVector3Array:
	var points := PackedVector3Array()
	for x in 4:
		for y in 4:
			for z in 4:
				points.append(Vector3(-0.3 + 0.2 * x, -0.3 + 0.2 * y, -0.3 + 0.2 * z))
	return points


## Serves the grid (and [param more] entities as they are) and connects; a coroutine, true once
## the world shows the splats.
func start(more: Array = []) -> bool:
	backend = FakeSplatBackend.new()
	backend.name = "Backend"
	backend.add_splat_entity("cloud", grid(), POSE)
	backend.entities.append_array(more)
	add_child(backend)
	backend.listen()
	session = SessionScript.new()
	session.name = "Session"
	session.auto_connect = false
	session.ping_interval_s = 0.0
	add_child(session)
	world = WorldScript.new()
	world.name = "World"
	world.session_path = ^"../Session"
	_cache_dir = "user://continuum_tests/splat_fixture_%d" % Time.get_ticks_usec()
	world.get_asset_client().cache_dir = _cache_dir
	add_child(world)
	editor = SplatEditorScript.new()
	editor.name = "Editor"
	editor.world_path = ^"../World"
	add_child(editor)
	session.connect_to_backend("127.0.0.1", backend.router.port)
	return await until(func() -> bool: return world.splat_hashes.has("cloud"))


## The world point of [param local], a point of the entity's frame.
func to_world(local: Vector3) -> Vector3:
	return world.get_entity_node("cloud").global_transform * local


## Waits until [param condition] holds (false after [constant WAIT_S]).
func until(condition: Callable) -> bool:
	var deadline := Time.get_ticks_msec() + int(WAIT_S * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await get_tree().process_frame
	return true
