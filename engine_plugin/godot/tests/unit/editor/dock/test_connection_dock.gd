extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/dock/connection_dock.gd, without a backend, and its "Save
## synced splats to project" against a fake one (fake_asset_backend.gd).

const ConnectionDock = preload("res://addons/continuum/editor/dock/connection_dock.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeAssetBackend = preload("res://tests/unit/bridge/fake_asset_backend.gd")
const PackFixture = preload("res://tests/unit/world/pack_fixture.gd")
const AssetClientTest = preload("res://tests/unit/bridge/test_asset_client.gd")

var _dock: ConnectionDock
var _backend: FakeAssetBackend
var _dir := ""


func before_each() -> void:
	_dock = ConnectionDock.new()
	add_child(_dock)


func after_each() -> void:
	if is_instance_valid(_dock):
		_dock.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	if not _dir.is_empty():
		AssetClientTest.remove_tree(_dir)
		_dir = ""


func test_starts_disconnected_with_its_own_session() -> void:
	assert_eq(_dock.get_state_text(), "DISCONNECTED")
	var session := _dock.get_session()
	assert_true(session != null and session.get_parent() == _dock, "the dock owns its session")
	assert_false(session.auto_connect, "the dock's session never connects by itself")
	assert_ne(session, get_node_or_null(^"/root/Continuum"), "not the autoload")
	assert_eq(_dock.get_node("ConnectButton").text, "Connect")
	assert_eq(_dock.get_node("Grid/RttValue").text, "-")
	assert_eq(_dock.get_node("Grid/SessionValue").text, "-")


func test_fields_start_from_the_project_settings() -> void:
	var host: String = ProjectSettings.get_setting("continuum/backend/host", "127.0.0.1")
	var port: int = ProjectSettings.get_setting("continuum/backend/port", 5570)
	assert_eq(_dock.get_node("Grid/HostEdit").text, host)
	assert_eq(int(_dock.get_node("Grid/PortSpin").value), port)


func test_unreachable_backend_is_a_state_not_an_error() -> void:
	# Port 1 on localhost: nothing listens, the connection is refused or never opens.
	_dock.get_node("Grid/PortSpin").value = 1
	_dock.connect_to_backend()
	assert_ne(_dock.get_state_text(), "DISCONNECTED", "connecting")
	assert_eq(_dock.get_node("ConnectButton").text, "Disconnect")
	assert_false(_dock.get_node("Grid/HostEdit").editable, "address locked while connecting")
	await wait_seconds(0.3)
	assert_ne(_dock.get_state_text(), "CONNECTED")
	_dock.disconnect_from_backend()
	assert_eq(_dock.get_state_text(), "DISCONNECTED")
	assert_eq(_dock.get_node("ConnectButton").text, "Connect")
	assert_true(_dock.get_node("Grid/HostEdit").editable)


func test_freeing_the_dock_stops_its_session() -> void:
	_dock.get_node("Grid/PortSpin").value = 1
	_dock.connect_to_backend()
	var session := _dock.get_session()
	_dock.free()
	assert_false(is_instance_valid(session), "the session goes with the dock")


func test_save_splats_needs_a_connection() -> void:
	var button: Button = _dock.get_node("SaveSplatsButton")
	assert_eq(button.text, "Save synced splats to project")
	assert_true(button.disabled, "disabled while disconnected")
	var result: Dictionary = await _dock.save_synced_splats()
	assert_eq(result.paths, PackedStringArray())
	assert_eq(result.problems.size(), 1)
	assert_true(_dock.get_status_text().contains("connect to a backend first"))


func test_save_cloud_writes_a_resource_that_loads_back() -> void:
	_dir = "user://continuum_tests/dock_%d" % Time.get_ticks_usec()
	var decoded: Dictionary = SplatCloud.from_pack(PackFixture.make_pack(4))
	var saved: Dictionary = ConnectionDock.save_cloud(decoded.cloud, _dir, "my/cloud")
	assert_eq(saved.get("path"), _dir.path_join("my_cloud.res"), "a valid file name")
	var loaded := ResourceLoader.load(saved.path, "", ResourceLoader.CACHE_MODE_IGNORE)
	assert_true(loaded is SplatCloud and loaded.count == 4, "a SplatCloud of 4 splats")


func test_saves_every_synced_splat_and_says_where() -> void:
	_dir = "user://continuum_tests/dock_%d" % Time.get_ticks_usec()
	_backend = FakeAssetBackend.new()
	var first := PackFixture.make_pack(3)
	var second := PackFixture.make_pack(6)
	_backend.add_asset(first)
	_backend.add_asset(second)
	_backend.entities = [
		{"id": "a", "components": {"splat": {"asset": AssetClientTest.sha256(first),
			"bytes": first.size()}}},
		{"id": "plain", "components": {}},
		{"id": "b", "components": {"splat": {"asset": AssetClientTest.sha256(second),
			"bytes": second.size()}}},
		{"id": "gone", "components": {"splat": {"asset": "0".repeat(64), "bytes": 10}}},
	]
	add_child(_backend)
	_backend.listen()
	_dock.get_node("Grid/PortSpin").value = _backend.router.port
	_dock.connect_to_backend()
	assert_true(await wait_until(func() -> bool: return _dock.get_state_text() == "CONNECTED"))
	await wait_seconds(0.3)
	assert_false(_dock.get_node("SaveSplatsButton").disabled, "enabled while connected")
	var result: Dictionary = await _dock.save_synced_splats(_dir)
	assert_eq(result.paths, PackedStringArray([_dir.path_join("a.res"), _dir.path_join("b.res")]))
	assert_eq(result.problems.size(), 1, "the missing asset: %s" % result.problems)
	assert_true(result.problems[0].begins_with("gone: "))
	var b := ResourceLoader.load(_dir.path_join("b.res"), "", ResourceLoader.CACHE_MODE_IGNORE)
	assert_true(b is SplatCloud and b.count == 6)
	var status := _dock.get_status_text()
	assert_true(status.contains("Saved 2 splat cloud(s) to " + _dir) and status.contains("a.res"),
		status)
	await next_frame()  # Not inside the session's _process when after_each frees the dock.
