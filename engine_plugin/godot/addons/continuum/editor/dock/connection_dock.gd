@tool
extends VBoxContainer
## The Continuum editor dock: connects the editor to a backend and shows the connection.
##
## It owns its own ContinuumSession child (auto_connect off), separate from the "Continuum"
## autoload that a running game uses, and connects only when asked. It shows the connection
## state, the backend's host and port (editable), the protocol version, the session id and the
## round-trip time. A lost backend is shown as a state and the last reason, never as errors.
##
## "Save synced splats to project" fetches the splat pack of every entity of the backend's
## world (through the verified user:// cache, asset_client.gd), decodes it and saves the
## SplatCloud as [code]res://continuum_assets/<entity>.res[/code], then says where.

## Emitted when a save of the synced splats ended: the paths written and the problems met.
signal splats_saved(paths: PackedStringArray, problems: PackedStringArray)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")

## Where the synced splats are saved.
const SPLATS_DIR := "res://continuum_assets"

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
var _save_splats_button: Button
var _status_label: Label
var _since_refresh: float = 0.0
var _assets: AssetClient
var _saving: bool = false


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
	_assets = AssetClient.new()
	_assets.name = "Assets"
	_assets.session = _session
	add_child(_assets, false, Node.INTERNAL_MODE_BACK)
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


## The text of the status line under the buttons.
func get_status_text() -> String:
	return _status_label.text


## Fetches the splat pack of every entity of the backend's world, and saves each as a
## SplatCloud resource [code]<target_dir>/<entity id>.res[/code]. A coroutine; shows and returns
## [code]{"paths": PackedStringArray, "problems": PackedStringArray}[/code], and emits
## [signal splats_saved].
func save_synced_splats(target_dir: String = SPLATS_DIR) -> Dictionary:
	var paths := PackedStringArray()
	var problems := PackedStringArray()
	if _saving:
		problems.append("a save is running already")
	elif not _session.is_backend_connected():
		problems.append("not connected: connect to a backend first")
	else:
		_saving = true
		_refresh()
		_status_label.text = "Fetching the world's splats ..."
		await _save_splats(target_dir, paths, problems)
		_saving = false
	var lines := PackedStringArray()
	if not paths.is_empty():
		lines.append("Saved %d splat cloud(s) to %s: %s" % [
			paths.size(), target_dir, ", ".join(Array(paths).map(
				func(p: String) -> String: return p.get_file()))])
	elif problems.is_empty():
		lines.append("The backend's world has no splats to save")
	for problem in problems:
		lines.append("Not saved: " + problem)
	_status_label.text = "\n".join(lines)
	if not paths.is_empty() and Engine.is_editor_hint():
		EditorInterface.get_resource_filesystem().scan()
	_refresh()
	splats_saved.emit(paths, problems)
	return {"paths": paths, "problems": problems}


## Saves [param cloud] as [code]<target_dir>/<entity_id>.res[/code] (the id made a valid file
## name). Returns [code]{"path": path}[/code] or [code]{"error": code, "message": text}[/code].
static func save_cloud(cloud: Resource, target_dir: String, entity_id: String) -> Dictionary:
	var made := DirAccess.make_dir_recursive_absolute(target_dir)
	var path := target_dir.path_join(entity_id.validate_filename() + ".res")
	var saved := made if made != OK else ResourceSaver.save(cloud, path)
	if saved != OK:
		return {"error": "save_failed", "message": "cannot save %s: %s" % [
			path, error_string(saved)]}
	return {"path": path}


func _save_splats(
	target_dir: String, paths: PackedStringArray, problems: PackedStringArray
) -> void:
	var reply: Dictionary = await _session.request("world.get")
	if reply.kind != "world":
		problems.append("world.get failed: %s" % reply.header.get("message", reply.kind))
		return
	var entities: Variant = reply.header.get("entities", [])
	for entity: Variant in entities if entities is Array else []:
		var components: Variant = entity.get("components") if entity is Dictionary else null
		if not components is Dictionary or not components.get("splat") is Dictionary:
			continue
		var id := str(entity.get("id", ""))
		var splat: Dictionary = components.splat
		var problem := EntityBuilder.check_splat(splat)
		var got: Dictionary = {}
		if problem.is_empty():
			got = await _assets.fetch(splat.asset, int(splat.bytes))
			problem = str(got.get("message", ""))
		if problem.is_empty():
			var decoded: Dictionary = SplatCloud.from_pack(got.data)
			problem = str(decoded.get("message", ""))
			if problem.is_empty():
				var saved := save_cloud(decoded.cloud, target_dir, id)
				problem = str(saved.get("message", ""))
				if problem.is_empty():
					paths.append(saved.path)
		if not problem.is_empty():
			problems.append("%s: %s" % [id, problem])


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
	_save_splats_button = Button.new()
	_save_splats_button.name = "SaveSplatsButton"
	_save_splats_button.text = "Save synced splats to project"
	_save_splats_button.tooltip_text = (
		"Fetch the splats of the backend's world and save each as %s/<entity>.res" % SPLATS_DIR)
	_save_splats_button.pressed.connect(_on_save_splats_button_pressed)
	add_child(_save_splats_button)
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
	_save_splats_button.disabled = not online or _saving


func _set_text(control: Control, text: String) -> void:
	if control.get("text") != text:
		control.set("text", text)


func _on_connect_button_pressed() -> void:
	if _session.state == ContinuumSessionScript.State.DISCONNECTED:
		connect_to_backend()
	else:
		disconnect_from_backend()


func _on_save_splats_button_pressed() -> void:
	save_synced_splats()


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
