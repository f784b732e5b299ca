@tool
extends VBoxContainer
## The "Splats" part of the Continuum dock (bridge/PROTOCOL.md section 16), over the dock's
## session and a ContinuumSplatEditor on a ContinuumWorld that mirrors the backend's world
## (connection_dock.gd makes them).
##
## Pick an entity with splats; select all its splats, or those inside a ContinuumSplatBox
## selected in the scene tree (its global transform taken as world coordinates of the backend's
## world), or with any tool working through the same editor; the count shows beside. Then Delete,
## Recolor (the colour picked), Tint (towards it by the amount set), Move or Duplicate (by the
## offset typed, in metres, world axes) the selection, or Undo the world's newest edit. After a
## Recolor or a Tint the same splats are selected again on the new version; after the others,
## select again. An optimisation the editor runs shows its progress. A lost backend disables it
## all.

## An edit asked from the panel ended: the op and the editor's result
## ([code]{asset, ...}[/code] or [code]{error, message}[/code]).
signal edit_finished(op: String, result: Dictionary)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")

const NONE_TEXT := "-"
## Half the side of the box "All" selects with, in the entity's frame (metres).
const ALL_HALF_SIZE := 1.0e5
## The ops after which the same splats are selected again (they stay where they were).
const KEEP_SELECTION_OPS: Array[String] = ["recolor", "tint"]

var _session: ContinuumSessionScript
var _editor: SplatEditorScript
var _entity_option: OptionButton
var _selection_label: Label
var _all_button: Button
var _box_button: Button
var _clear_button: Button
var _delete_button: Button
var _color_picker: ColorPickerButton
var _recolor_button: Button
var _tint_button: Button
var _tint_amount: HSlider
var _move_fields: Array[SpinBox] = []
var _move_button: Button
var _duplicate_button: Button
var _undo_button: Button
var _progress: ProgressBar
var _note: Label
var _busy: bool = false  # a request of the panel is in flight


func _init(session: ContinuumSessionScript = null, editor: SplatEditorScript = null) -> void:
	name = "Splats"
	_session = session
	_editor = editor
	_build_ui()
	if _session != null:
		_session.connected.connect(func(_welcome: Dictionary) -> void: refresh())
		_session.disconnected.connect(_on_session_disconnected)
	if _editor != null:
		_editor.selection_changed.connect(func(_e: String, _c: int, _t: int) -> void: refresh())
		_editor.edit_progressed.connect(_on_edit_progressed)
		_editor.edit_failed.connect(_on_edit_failed)
		_editor.edit_applied.connect(func(_e: String, _a: String) -> void: _hide_progress())
	refresh()


func _ready() -> void:
	var world := _editor.get_world() if _editor != null else null
	if world != null:
		world.world_loaded.connect(func(_count: int) -> void: _fill_entities())
		world.world_changed.connect(func(_events: Array) -> void: _fill_entities())
		world.splat_updated.connect(func(_id: String, _hash: String) -> void: _fill_entities())
	_fill_entities()


## The editor the panel works through.
func get_editor() -> SplatEditorScript:
	return _editor


## The note under the part (what the last action came to).
func get_note_text() -> String:
	return _note.text


## The entity picked in the list, or "".
func get_entity() -> String:
	if _entity_option.selected < 0:
		return ""
	return _entity_option.get_item_text(_entity_option.selected)


## Picks entity [param entity] in the list (false when it is not there).
func pick_entity(entity: String) -> bool:
	for i in _entity_option.item_count:
		if _entity_option.get_item_text(i) == entity:
			_entity_option.select(i)
			refresh()
			return true
	return false


## Selects every splat of [param entity]. A coroutine; returns the editor's result.
func select_all(entity: String) -> Dictionary:
	var node := _editor.get_world().get_entity_node(entity) if _editor.get_world() != null \
		else null
	if node == null:
		return await _run_select(func() -> Dictionary: return await _editor.select_sphere(
			entity, Vector3.ZERO, 1.0))  # The editor says why it cannot.
	var scale := pow(absf(node.global_basis.determinant()), 1.0 / 3.0)
	return await _run_select(func() -> Dictionary: return await _editor.select_box(entity,
		node.global_position, Vector3.ONE * ALL_HALF_SIZE * scale,
		node.global_basis.get_rotation_quaternion()))


## Selects the splats of [param entity] inside [param box] (its global transform taken as world
## coordinates). A coroutine; returns the editor's result.
func select_in_box(entity: String, box: ContinuumSplatBox) -> Dictionary:
	return await _run_select(func() -> Dictionary: return await _editor.select_box(entity,
		box.global_position, box.get_half_size(), box.global_basis.get_rotation_quaternion()))


## Applies [param op] with [param fields] to the selection (ContinuumSplatEditor.edit). A
## coroutine; shows and returns the editor's result.
func apply(op: String, fields: Dictionary = {}) -> Dictionary:
	_busy = true
	_note.text = "%s ..." % op.capitalize()
	refresh()
	var result: Dictionary = await _editor.edit(op, fields)
	if result.has("error"):
		_note.text = "%s: %s: %s" % [op, result.error, result.message]
	else:
		_note.text = "%s: %d splat(s) changed; now %s" % [op.capitalize(), result.changed,
			result.asset.left(12)]
		if op in KEEP_SELECTION_OPS:
			await _editor.reselect()
		else:
			_editor.clear_selection()
	_busy = false
	_progress.visible = false
	refresh()
	edit_finished.emit(op, result)
	return result


## Sends `world.undo` through the editor's world. A coroutine; shows and returns the reply.
func undo() -> Dictionary:
	var world := _editor.get_world() if _editor != null else null
	if world == null:
		_note.text = "Undo: no world"
		return {"kind": "error", "header": {"code": "not_connected", "message": "no world"}}
	_busy = true
	refresh()
	var reply: Dictionary = await world.undo()
	_busy = false
	if reply.kind == "error":
		_note.text = "world.undo: %s" % reply.header.get("message", reply.header.get("code"))
	else:
		_note.text = "Undone (world at seq %s)" % reply.header.get("seq")
	refresh()
	return reply


## Shows the state: what can be asked now, and the selection's count.
func refresh() -> void:
	var online := _session != null and _session.is_backend_connected() and _editor != null
	var entity := get_entity()
	var usable := online and not entity.is_empty() and not _busy
	var selected := usable and _editor.selection != null and _editor.selection_count > 0 \
		and _editor.selection_entity == entity
	_entity_option.disabled = not online or _entity_option.item_count == 0
	_all_button.disabled = not usable
	_box_button.disabled = not usable or _selected_box() == null
	_clear_button.disabled = not selected
	for button: Button in [_delete_button, _recolor_button, _tint_button, _move_button,
			_duplicate_button]:
		button.disabled = not selected
	_color_picker.disabled = not online
	_tint_amount.editable = online
	for field in _move_fields:
		field.editable = online
	_undo_button.disabled = not online or _busy
	var text := NONE_TEXT
	if online and _editor.selection_entity == entity and not entity.is_empty():
		if _editor.selection != null or _editor.selection_total > 0:
			text = "%d of %d selected" % [_editor.selection_count, _editor.selection_total]
	if _selection_label.text != text:
		_selection_label.text = text


func _build_ui() -> void:
	var separator := HSeparator.new()
	separator.name = "SplatsSeparator"
	add_child(separator)
	var entity_row := _add_row("EntityRow")
	var title := Label.new()
	title.name = "EntityLabel"
	title.text = "Splats of"
	entity_row.add_child(title)
	_entity_option = OptionButton.new()
	_entity_option.name = "EntityOption"
	_entity_option.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_entity_option.item_selected.connect(func(_index: int) -> void: refresh())
	entity_row.add_child(_entity_option)
	_selection_label = Label.new()
	_selection_label.name = "SelectionLabel"
	_selection_label.text = NONE_TEXT
	entity_row.add_child(_selection_label)
	var select_row := _add_row("SelectRow")
	_all_button = _add_button(select_row, "AllButton", "All", _on_all_pressed)
	_all_button.tooltip_text = "Select every splat of the entity"
	_box_button = _add_button(select_row, "BoxButton", "In box", _on_box_pressed)
	_box_button.tooltip_text = "Select the splats inside the ContinuumSplatBox selected in the scene"
	_clear_button = _add_button(select_row, "ClearButton", "Clear", _on_clear_pressed)
	var color_row := _add_row("ColorRow")
	_delete_button = _add_button(color_row, "DeleteButton", "Delete",
		func() -> void: apply("delete"))
	_color_picker = ColorPickerButton.new()
	_color_picker.name = "ColorPicker"
	_color_picker.color = Color(1.0, 0.3, 0.2)
	_color_picker.edit_alpha = false
	_color_picker.custom_minimum_size = Vector2(32, 0)
	color_row.add_child(_color_picker)
	_recolor_button = _add_button(color_row, "RecolorButton", "Recolor",
		func() -> void: apply("recolor", {"color": _color_picker.color}))
	_tint_button = _add_button(color_row, "TintButton", "Tint", func() -> void: apply("tint", {
		"color": _color_picker.color, "amount": _tint_amount.value}))
	_tint_amount = HSlider.new()
	_tint_amount.name = "TintAmount"
	_tint_amount.min_value = 0.0
	_tint_amount.max_value = 1.0
	_tint_amount.step = 0.05
	_tint_amount.value = 0.5
	_tint_amount.tooltip_text = "How far Tint goes towards the colour"
	_tint_amount.custom_minimum_size = Vector2(60, 0)
	_tint_amount.size_flags_vertical = Control.SIZE_SHRINK_CENTER
	color_row.add_child(_tint_amount)
	var move_row := _add_row("MoveRow")
	for axis: String in ["X", "Y", "Z"]:
		var field := SpinBox.new()
		field.name = "Move" + axis
		field.min_value = -1000.0
		field.max_value = 1000.0
		field.step = 0.01
		field.prefix = axis.to_lower()
		field.suffix = "m"
		field.size_flags_horizontal = Control.SIZE_EXPAND_FILL
		move_row.add_child(field)
		_move_fields.append(field)
	_move_button = _add_button(move_row, "MoveButton", "Move",
		func() -> void: apply("transform", {"translation": _offset()}))
	_duplicate_button = _add_button(move_row, "DuplicateButton", "Duplicate",
		func() -> void: apply("duplicate", {"offset": _offset()}))
	_duplicate_button.tooltip_text = "Add a copy of the selection, moved by the offset"
	_undo_button = _add_button(self, "UndoButton", "Undo", func() -> void: undo())
	_undo_button.tooltip_text = "Take back the world's newest edit (whoever made it)"
	_progress = ProgressBar.new()
	_progress.name = "OptimizeProgress"
	_progress.visible = false
	add_child(_progress)
	_note = Label.new()
	_note.name = "SplatNote"
	_note.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_note.custom_minimum_size = Vector2(120, 0)
	_note.modulate = Color(1, 1, 1, 0.7)
	add_child(_note)


func _add_row(row_name: String) -> HBoxContainer:
	var row := HBoxContainer.new()
	row.name = row_name
	add_child(row)
	return row


func _add_button(parent: Control, button_name: String, text: String, action: Callable) -> Button:
	var button := Button.new()
	button.name = button_name
	button.text = text
	button.pressed.connect(action)
	parent.add_child(button)
	return button


# Lists the world's entities with splats, keeping the one picked.
func _fill_entities() -> void:
	var picked := get_entity()
	_entity_option.clear()
	var ids := _editor.splat_entities() if _editor != null else PackedStringArray()
	for id in ids:
		_entity_option.add_item(id)
		if id == picked:
			_entity_option.select(_entity_option.item_count - 1)
	if _entity_option.selected < 0 and _entity_option.item_count > 0:
		_entity_option.select(0)
	refresh()


func _offset() -> Vector3:
	return Vector3(_move_fields[0].value, _move_fields[1].value, _move_fields[2].value)


func _run_select(select: Callable) -> Dictionary:
	_busy = true
	refresh()
	var result: Dictionary = await select.call()
	_busy = false
	if result.has("error"):
		_note.text = "Select: %s: %s" % [result.error, result.message]
	else:
		_note.text = ""
	refresh()
	return result


# The ContinuumSplatBox selected in the editor's scene tree, or null (outside the editor too).
func _selected_box() -> ContinuumSplatBox:
	if not Engine.is_editor_hint():
		return null
	var editor := Engine.get_singleton(&"EditorInterface")
	if editor == null:
		return null
	for node: Node in editor.get_selection().get_selected_nodes():
		if node is ContinuumSplatBox:
			return node
	return null


func _on_all_pressed() -> void:
	var entity := get_entity()
	if not entity.is_empty():
		select_all(entity)


func _on_box_pressed() -> void:
	var box := _selected_box()
	if box != null and not get_entity().is_empty():
		select_in_box(get_entity(), box)


func _on_clear_pressed() -> void:
	_editor.clear_selection()
	refresh()


func _on_edit_progressed(step: int, steps: int) -> void:
	_progress.visible = true
	_progress.max_value = maxi(steps, 1)
	_progress.value = step


func _on_edit_failed(code: String, message: String) -> void:
	_hide_progress()
	if code == "conflict":
		_note.text = "The selection is of an older version: select again (%s)" % message


func _hide_progress() -> void:
	_progress.visible = false


func _on_session_disconnected(_reason: String) -> void:
	_busy = false
	_progress.visible = false
	_note.text = ""
	refresh()
