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
##
## The "World" part (bridge/PROTOCOL.md section 13) shows the served world's name and event
## seq, kept current by the `world.changed` and `world.reset` pushes; Undo and Redo send
## `world.undo` and `world.redo` (enabled when the world says there is something to take back or
## do again); the list shows the backend's persistent worlds (`world.list`), and Open and Fork
## send `world.open` for the selected one and `world.fork` under the name typed beside it. A
## backend without a worlds folder says so and keeps the list empty; a lost backend disables it
## all.
##
## The "Models" and "Jobs" parts (section 14, models_panel.gd) show each generation slot's model
## and state, bind a model folder to a slot, follow and cancel the dock's jobs, and Try a small
## text_to_image; they work through a ContinuumGenerator on the dock's session.
##
## The "Splats" part (section 16, splat_edit_panel.gd) selects an entity's splats and deletes,
## recolours, tints, moves or duplicates them, and undoes; it works through a
## ContinuumSplatEditor on a ContinuumWorld of the dock's session that mirrors the backend's world
## (in a SubViewport of its own, so its nodes never show in the editor's views).

## Emitted when a save of the synced splats ended: the paths written and the problems met.
signal splats_saved(paths: PackedStringArray, problems: PackedStringArray)
## A world request of the "World" part was answered: its kind and the reply.
signal world_request_finished(kind: String, reply: Dictionary)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")
const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)
const ModelsPanel = preload("res://addons/continuum/editor/dock/models_panel.gd")
const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")
const SplatEditPanel = preload("res://addons/continuum/editor/dock/splat_edit_panel.gd")
const FacePanel = preload("res://addons/continuum/editor/dock/face_panel.gd")
const ContinuumIdentityScript = preload("res://addons/continuum/identity/continuum_identity.gd")

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
var _world_value: Label
var _undo_button: Button
var _redo_button: Button
var _world_list: ItemList
var _worlds_note: Label
var _refresh_worlds_button: Button
var _open_world_button: Button
var _fork_name_edit: LineEdit
var _fork_button: Button
var _world_info: Dictionary = {}  # the served world's description (13.1)
var _worlds: Array = []  # world.list's worlds
var _worlds_available: bool = false  # the backend has a worlds folder
var _world_busy: bool = false  # a world request is in flight
var _generator: ContinuumGeneratorScript
var _models_panel: ModelsPanel
var _splat_world: ContinuumWorldScript
var _splat_editor: SplatEditorScript
var _splat_panel: SplatEditPanel
var _identity: ContinuumIdentityScript
var _face_panel: FacePanel


func _init() -> void:
	name = "Continuum"
	_build_ui()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.connected.connect(_on_session_connected)
	_session.disconnected.connect(_on_session_disconnected)
	_session.error_reported.connect(_on_session_error_reported)
	_session.message_received.connect(_on_session_message)
	add_child(_session)
	_assets = AssetClient.new()
	_assets.name = "Assets"
	_assets.session = _session
	add_child(_assets, false, Node.INTERNAL_MODE_BACK)
	_generator = ContinuumGeneratorScript.new()
	_generator.name = "Generator"
	_generator.session_path = ^"../Session"
	add_child(_generator, false, Node.INTERNAL_MODE_BACK)
	_models_panel = ModelsPanel.new(_session, _generator)
	add_child(_models_panel)
	move_child(_models_panel, _status_label.get_index())  # Above the status line.
	_add_splat_part()
	_identity = ContinuumIdentityScript.new()
	_identity.name = "Identity"
	_identity.session_path = ^"../Session"
	add_child(_identity, false, Node.INTERNAL_MODE_BACK)
	_face_panel = FacePanel.new(_session, _identity)
	add_child(_face_panel)
	move_child(_face_panel, _status_label.get_index())  # Above the status line.
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


## The "Models" and "Jobs" parts (models_panel.gd).
func get_models_panel() -> ModelsPanel:
	return _models_panel


## The "Splats" part (splat_edit_panel.gd).
func get_splat_edit_panel() -> SplatEditPanel:
	return _splat_panel


## The "Faces" part (face_panel.gd).
func get_face_panel() -> FacePanel:
	return _face_panel


## The ContinuumWorld the "Splats" part edits (the backend's world, mirrored in the editor).
func get_splat_world() -> ContinuumWorldScript:
	return _splat_world


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


## The served world's description (name, persistent, seq, tick, undo, redo, physics) as the dock
## knows it; empty while not connected.
func get_world_info() -> Dictionary:
	return _world_info


## The backend's persistent worlds from the last `world.list` ([code]{name, seq, tick,
## entities, bytes, open}[/code] each); empty without a worlds folder.
func get_worlds() -> Array:
	return _worlds


## Asks `world.get` for the served world's description and shows it. A coroutine; returns the
## reply.
func refresh_world() -> Dictionary:
	var reply: Dictionary = await _session.request("world.get")
	if reply.kind == "world" and reply.header.get("world") is Dictionary:
		_world_info = reply.header.world
	_refresh()
	return reply


## Sends `world.undo`. A coroutine; shows and returns the reply.
func undo() -> Dictionary:
	return await _world_request("world.undo", {})


## Sends `world.redo`. A coroutine; shows and returns the reply.
func redo() -> Dictionary:
	return await _world_request("world.redo", {})


## Asks `world.list` and shows the worlds. A coroutine; returns the reply.
func refresh_worlds() -> Dictionary:
	var reply: Dictionary = await _session.request("world.list")
	_worlds_available = reply.kind == "world.list"
	var worlds: Variant = reply.header.get("worlds", [])
	_worlds = worlds if _worlds_available and worlds is Array else []
	if _worlds_available:
		_worlds_note.text = "" if not _worlds.is_empty() else "No persistent worlds"
	elif reply.header.get("code") == "unavailable":
		_worlds_note.text = "The backend keeps no persistent worlds (no --worlds-dir)"
	else:
		_worlds_note.text = "world.list failed: %s" % reply.header.get("message", reply.kind)
	_fill_world_list()
	_refresh()
	return reply


## Sends `world.open` for [param world_name]: the backend serves it (every engine rebuilds).
## A coroutine; shows and returns the reply.
func open_world(world_name: String) -> Dictionary:
	var reply := await _world_request("world.open", {"name": world_name})
	await refresh_worlds()
	return reply


## Sends `world.fork`: a new persistent world [param world_name], a copy of the served one now.
## A coroutine; shows and returns the reply.
func fork_world(world_name: String) -> Dictionary:
	var reply := await _world_request("world.fork", {"name": world_name})
	if reply.kind == "world.fork":
		_fork_name_edit.text = ""
	await refresh_worlds()
	return reply


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
	_build_world_ui()
	_status_label = Label.new()
	_status_label.name = "StatusLabel"
	_status_label.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_status_label.custom_minimum_size = Vector2(120, 0)
	_status_label.modulate = Color(1, 1, 1, 0.7)
	add_child(_status_label)


# The "Splats" part: a world of the dock's session in a viewport of its own (never drawn), an
# editor on it, and the panel over both.
func _add_splat_part() -> void:
	var holder := SubViewport.new()
	holder.name = "SplatWorld"
	holder.own_world_3d = true
	holder.disable_3d = true
	holder.size = Vector2i(2, 2)
	holder.render_target_update_mode = SubViewport.UPDATE_DISABLED
	add_child(holder, false, Node.INTERNAL_MODE_BACK)
	_splat_world = ContinuumWorldScript.new()
	_splat_world.name = "World"
	_splat_world.sync_in_editor = true
	_splat_world.session_path = ^"../../Session"
	holder.add_child(_splat_world)
	_splat_editor = SplatEditorScript.new()
	_splat_editor.name = "SplatEditor"
	_splat_editor.world_path = ^"../World"
	_splat_editor.show_selection = false  # Nothing draws the dock's world.
	holder.add_child(_splat_editor)
	_splat_panel = SplatEditPanel.new(_session, _splat_editor)
	add_child(_splat_panel)
	move_child(_splat_panel, _status_label.get_index())  # Above the status line.


func _build_world_ui() -> void:
	var separator := HSeparator.new()
	separator.name = "WorldSeparator"
	add_child(separator)
	var grid := GridContainer.new()
	grid.name = "WorldGrid"
	grid.columns = 2
	add_child(grid)
	_world_value = _add_value_row(grid, "World", "WorldValue")
	var history := HBoxContainer.new()
	history.name = "HistoryButtons"
	add_child(history)
	_undo_button = _add_button(history, "UndoButton", "Undo", _on_undo_button_pressed)
	_undo_button.tooltip_text = "Take back the world's newest edit (whoever made it)"
	_redo_button = _add_button(history, "RedoButton", "Redo", _on_redo_button_pressed)
	_redo_button.tooltip_text = "Do the edit undone last again"
	_world_list = ItemList.new()
	_world_list.name = "WorldList"
	_world_list.custom_minimum_size = Vector2(0, 90)
	_world_list.item_selected.connect(func(_index: int) -> void: _refresh())
	_world_list.item_activated.connect(func(_index: int) -> void: _on_open_world_button_pressed())
	add_child(_world_list)
	_worlds_note = Label.new()
	_worlds_note.name = "WorldsNote"
	_worlds_note.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_worlds_note.custom_minimum_size = Vector2(120, 0)
	_worlds_note.modulate = Color(1, 1, 1, 0.7)
	add_child(_worlds_note)
	var list_buttons := HBoxContainer.new()
	list_buttons.name = "WorldListButtons"
	add_child(list_buttons)
	_refresh_worlds_button = _add_button(
		list_buttons, "RefreshWorldsButton", "Refresh", _on_refresh_worlds_button_pressed)
	_open_world_button = _add_button(
		list_buttons, "OpenWorldButton", "Open", _on_open_world_button_pressed)
	_open_world_button.tooltip_text = "Serve the selected world (every engine rebuilds)"
	var fork_row := HBoxContainer.new()
	fork_row.name = "ForkRow"
	add_child(fork_row)
	_fork_name_edit = LineEdit.new()
	_fork_name_edit.name = "ForkNameEdit"
	_fork_name_edit.placeholder_text = "new world name"
	_fork_name_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_fork_name_edit.text_changed.connect(func(_text: String) -> void: _refresh())
	_fork_name_edit.text_submitted.connect(func(_text: String) -> void: _on_fork_button_pressed())
	fork_row.add_child(_fork_name_edit)
	_fork_button = _add_button(fork_row, "ForkButton", "Fork", _on_fork_button_pressed)
	_fork_button.tooltip_text = "Copy the served world, as it is now, under the name typed"


func _add_button(parent: Control, button_name: String, text: String, action: Callable) -> Button:
	var button := Button.new()
	button.name = button_name
	button.text = text
	button.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	button.pressed.connect(action)
	parent.add_child(button)
	return button


func _fill_world_list() -> void:
	var selected := _selected_world()
	_world_list.clear()
	for world: Variant in _worlds:
		if not world is Dictionary:
			continue
		var label := "%s  (seq %d, %d entities%s)" % [
			world.get("name"), int(world.get("seq", 0)), int(world.get("entities", 0)),
			", open" if world.get("open", false) else ""]
		var index := _world_list.add_item(label)
		_world_list.set_item_metadata(index, str(world.get("name")))
		if str(world.get("name")) == selected:
			_world_list.select(index)


# The name of the world selected in the list, or "".
func _selected_world() -> String:
	var selected := _world_list.get_selected_items()
	return str(_world_list.get_item_metadata(selected[0])) if not selected.is_empty() else ""


# Sends a world request; shows the outcome in the status line.
func _world_request(kind: String, fields: Dictionary) -> Dictionary:
	_world_busy = true
	_refresh()
	var reply: Dictionary = await _session.request(kind, fields)
	_world_busy = false
	var info: Variant = reply.header.get("world")
	if reply.kind == kind and info is Dictionary:
		_world_info = info
	if reply.kind == "error":
		_status_label.text = "%s: %s" % [kind, reply.header.get("message", reply.header.get("code"))]
	else:
		match kind:
			"world.undo":
				_status_label.text = "Undone (world at seq %s)" % reply.header.get("seq")
			"world.redo":
				_status_label.text = "Redone (world at seq %s)" % reply.header.get("seq")
			"world.open":
				_status_label.text = "Now serving world '%s'" % fields.name
			"world.fork":
				_status_label.text = "Forked the world as '%s'" % fields.name
	_refresh()
	world_request_finished.emit(kind, reply)
	return reply


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
	_refresh_world_part(online)
	if _models_panel != null:
		_models_panel.refresh()
	if _splat_panel != null:
		_splat_panel.refresh()


func _refresh_world_part(online: bool) -> void:
	var world := NONE_TEXT
	if online and not _world_info.is_empty():
		var world_name: Variant = _world_info.get("name")
		world = "%s, seq %d" % [
			world_name if world_name != null else "(in memory)", int(_world_info.get("seq", 0))]
	_set_text(_world_value, world)
	var can_ask := online and not _world_busy
	_undo_button.disabled = not can_ask or int(_world_info.get("undo", 1)) <= 0
	_redo_button.disabled = not can_ask or int(_world_info.get("redo", 1)) <= 0
	_refresh_worlds_button.disabled = not can_ask
	var selected := _selected_world()
	_open_world_button.disabled = (
		not can_ask or not _worlds_available or selected.is_empty()
		or selected == _world_info.get("name"))
	_fork_name_edit.editable = online and _worlds_available
	_fork_button.disabled = (
		not can_ask or not _worlds_available or _fork_name_edit.text.strip_edges().is_empty())


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


func _on_undo_button_pressed() -> void:
	undo()


func _on_redo_button_pressed() -> void:
	redo()


func _on_refresh_worlds_button_pressed() -> void:
	refresh_worlds()


func _on_open_world_button_pressed() -> void:
	var selected := _selected_world()
	if not selected.is_empty() and not _open_world_button.disabled:
		open_world(selected)


func _on_fork_button_pressed() -> void:
	var fork_name := _fork_name_edit.text.strip_edges()
	if not fork_name.is_empty() and not _fork_button.disabled:
		fork_world(fork_name)


func _on_host_submitted(_text: String) -> void:
	if _session.state == ContinuumSessionScript.State.DISCONNECTED:
		connect_to_backend()


func _on_session_connected(_welcome: Dictionary) -> void:
	_status_label.text = "Connected to %s:%d" % [_session.host, _session.port]
	_refresh()
	await refresh_world()
	if _session.is_backend_connected():
		refresh_worlds()


func _on_session_disconnected(reason: String) -> void:
	_status_label.text = "Disconnected: %s" % reason if not reason.is_empty() else "Disconnected"
	_world_info = {}
	_worlds = []
	_worlds_available = false
	_worlds_note.text = ""
	_fill_world_list()
	_refresh()


func _on_session_message(kind: String, header: Dictionary, _blobs: Array) -> void:
	if not kind in ["world.changed", "world.reset"] or not header.get("world") is Dictionary:
		return
	var info: Dictionary = header.world
	var older: bool = (
		kind == "world.changed" and info.get("name") == _world_info.get("name")
		and int(info.get("seq", 0)) < int(_world_info.get("seq", 0)))
	if not older:
		_world_info = info
	_refresh()
	if kind == "world.reset" and _worlds_available:
		refresh_worlds()


func _on_session_error_reported(code: String, message: String) -> void:
	_status_label.text = "%s: %s" % [code, message]
	_refresh()
