extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/dock/connection_dock.gd, without a backend.

const ConnectionDock = preload("res://addons/continuum/editor/dock/connection_dock.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

var _dock: ConnectionDock


func before_each() -> void:
	_dock = ConnectionDock.new()
	add_child(_dock)


func after_each() -> void:
	if is_instance_valid(_dock):
		_dock.free()


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
