@tool
extends VBoxContainer
## The Continuum editor dock: connects the editor to a backend and shows the connection.
##
## It owns its own ContinuumSession child (auto_connect off), separate from the "Continuum"
## autoload that a running game uses, and connects only when asked. It shows the connection
## state, the backend's host and port (editable), the protocol version, the session id and the
## round-trip time. A lost backend is shown as a state and the last reason, never as errors.

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

## Seconds between refreshes of the displayed values (the RTT changes without a signal).
const REFRESH_INTERVAL_S := 0.25
const NONE_TEXT := "-"
const STATE_COLORS: Dictionary = {
	"DISCONNECTED": Color(0.62, 0.62, 0.62),
	"CONNECTING": Color(0.95, 0.75, 0.3),
	"HANDSHAKING": Color(0.95, 0.75, 0.3),
	"CONNECTED": Color(0.4, 0.85, 0.45),
}

var _session: ContinuumSessionScript
var _state_value: Label
var _host_edit: LineEdit
var _port_spin: SpinBox
var _protocol_value: Label
var _session_value: Label
var _rtt_value: Label
var _connect_button: Button
var _status_label: Label
var _since_refresh: float = 0.0


func _init() -> void:
	name = "Continuum"
	_build_ui()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.connected.connect(_on_session_connected)
	_session.disconnected.connect(_on_session_disconnected)
	_session.error_reported.connect(_on_session_error_reported)
	add_child(_session)
	_refresh()


func _process(delta: float) -> void:
	_since_refresh += delta
	if _since_refresh >= REFRESH_INTERVAL_S:
		_since_refresh = 0.0
		_refresh()


func _notification(what: int) -> void:
	if what == NOTIFICATION_PREDELETE and is_instance_valid(_session):
		if _session.state != ContinuumSessionScript.State.DISCONNECTED:
			_session.disconnect_from_backend()


## The dock's own session (not the autoload).
func get_session() -> ContinuumSessionScript:
	return _session


## The connection state as shown, for example "DISCONNECTED".
func get_state_text() -> String:
	return _state_value.text


## Connects the dock's session to the host and port in the fields.
func connect_to_backend() -> void:
	var host := _host_edit.text.strip_edges()
	if host.is_empty():
		host = "127.0.0.1"
		_host_edit.text = host
	_status_label.text = "Connecting to %s:%d ..." % [host, int(_port_spin.value)]
	_session.connect_to_backend(host, int(_port_spin.value))
	_refresh()


## Disconnects the dock's session.
func disconnect_from_backend() -> void:
	_session.disconnect_from_backend()
	_refresh()


func _build_ui() -> void:
	var grid := GridContainer.new()
	grid.name = "Grid"
	grid.columns = 2
	grid.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	add_child(grid)
	_state_value = _add_value_row(grid, "State", "StateValue")
	_host_edit = LineEdit.new()
	_host_edit.name = "HostEdit"
	_host_edit.text = str(ProjectSettings.get_setting("continuum/backend/host", "127.0.0.1"))
	_host_edit.placeholder_text = "127.0.0.1"
	_host_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_host_edit.text_submitted.connect(_on_host_submitted)
	_add_row(grid, "Host", _host_edit)
	_port_spin = SpinBox.new()
	_port_spin.name = "PortSpin"
	_port_spin.min_value = 1
	_port_spin.max_value = 65535
	_port_spin.step = 1
	_port_spin.rounded = true
	_port_spin.value = int(ProjectSettings.get_setting("continuum/backend/port", 5570))
	_port_spin.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_add_row(grid, "Port", _port_spin)
	_protocol_value = _add_value_row(grid, "Protocol", "ProtocolValue")
	_session_value = _add_value_row(grid, "Session", "SessionValue")
	_rtt_value = _add_value_row(grid, "RTT", "RttValue")
	_connect_button = Button.new()
	_connect_button.name = "ConnectButton"
	_connect_button.pressed.connect(_on_connect_button_pressed)
	add_child(_connect_button)
	_status_label = Label.new()
	_status_label.name = "StatusLabel"
	_status_label.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_status_label.custom_minimum_size = Vector2(120, 0)
	_status_label.modulate = Color(1, 1, 1, 0.7)
	add_child(_status_label)


func _add_value_row(grid: GridContainer, title: String, value_name: String) -> Label:
	var value := Label.new()
	value.name = value_name
	value.text = NONE_TEXT
	value.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	value.text_overrun_behavior = TextServer.OVERRUN_TRIM_ELLIPSIS
	value.clip_text = true
	value.mouse_filter = Control.MOUSE_FILTER_PASS
	_add_row(grid, title, value)
	return value


func _add_row(grid: GridContainer, title: String, field: Control) -> void:
	var label := Label.new()
	label.name = title + "Label"
	label.text = title
	grid.add_child(label)
	grid.add_child(field)


## Shows the session's current values; sets texts only when they change.
func _refresh() -> void:
	var state: int = _session.state
	var state_name: String = ContinuumSessionScript.State.keys()[state]
	var online := state == ContinuumSessionScript.State.CONNECTED
	_set_text(_state_value, state_name)
	_state_value.add_theme_color_override("font_color", STATE_COLORS.get(state_name, Color.WHITE))
	_set_text(_protocol_value, _session.protocol_version if online else NONE_TEXT)
	_set_text(_session_value, _session.session_id if online else NONE_TEXT)
	_session_value.tooltip_text = _session_value.text
	var rtt := NONE_TEXT
	if online and _session.rtt_ms > 0.0:
		rtt = "%.1f ms" % _session.rtt_ms
	_set_text(_rtt_value, rtt)
	var idle := state == ContinuumSessionScript.State.DISCONNECTED
	_set_text(_connect_button, "Connect" if idle else "Disconnect")
	_host_edit.editable = idle
	_port_spin.editable = idle


func _set_text(control: Control, text: String) -> void:
	if control.get("text") != text:
		control.set("text", text)


func _on_connect_button_pressed() -> void:
	if _session.state == ContinuumSessionScript.State.DISCONNECTED:
		connect_to_backend()
	else:
		disconnect_from_backend()


func _on_host_submitted(_text: String) -> void:
	if _session.state == ContinuumSessionScript.State.DISCONNECTED:
		connect_to_backend()


func _on_session_connected(_welcome: Dictionary) -> void:
	_status_label.text = "Connected to %s:%d" % [_session.host, _session.port]
	_refresh()


func _on_session_disconnected(reason: String) -> void:
	_status_label.text = "Disconnected: %s" % reason if not reason.is_empty() else "Disconnected"
	_refresh()


func _on_session_error_reported(code: String, message: String) -> void:
	_status_label.text = "%s: %s" % [code, message]
	_refresh()
