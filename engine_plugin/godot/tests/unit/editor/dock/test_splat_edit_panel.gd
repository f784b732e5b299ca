extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/dock/splat_edit_panel.gd: disabled without a backend; against
## a fake splat backend (splat_edit_fixture.gd) the entities with splats listed, All and a box
## selecting, Recolor, Tint, Move, Duplicate and Delete sending their edits (fields from the
## colour picker, the slider and the offset fields, in world terms), the selection kept after a
## colour edit, Undo, an optimisation's progress, a stale edit explained, a lost backend.

const SplatEditPanel = preload("res://addons/continuum/editor/dock/splat_edit_panel.gd")
const SplatEditorScript = preload("res://addons/continuum/splats/splat_editor.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

var _fixture: SplatEditFixture
var _panel: SplatEditPanel
var _finished: Array = []  # [op, result] of each edit_finished


func after_each() -> void:
	await next_frame()
	if is_instance_valid(_panel):
		_panel.free()
	if is_instance_valid(_fixture):
		_fixture.free()
	_finished.clear()


func test_disabled_without_a_backend() -> void:
	var session := SessionScript.new()
	session.auto_connect = false
	var editor := SplatEditorScript.new()
	_panel = SplatEditPanel.new(session, editor)
	add_child(_panel)
	for button: String in ["SelectRow/AllButton", "SelectRow/BoxButton", "SelectRow/ClearButton",
			"ColorRow/DeleteButton", "ColorRow/RecolorButton", "ColorRow/TintButton",
			"MoveRow/MoveButton", "MoveRow/DuplicateButton", "UndoButton"]:
		assert_true(_panel.get_node(button).disabled, button + " disabled")
	assert_true(_panel.get_node("EntityRow/EntityOption").disabled)
	assert_eq(_panel.get_node("EntityRow/SelectionLabel").text, "-")
	assert_false(_panel.get_node("OptimizeProgress").visible)
	assert_eq(_panel.get_entity(), "")
	var reply: Dictionary = await _panel.undo()
	assert_eq(reply.header.code, "not_connected", "asked anyway: an error, no crash")
	_panel.free()
	editor.free()
	session.free()


func test_selects_edits_and_undoes() -> void:
	await _serve()
	var option: OptionButton = _panel.get_node("EntityRow/EntityOption")
	assert_eq([option.item_count, _panel.get_entity()], [1, "cloud"], "only entities with splats")
	assert_false(option.disabled)
	var recolor: Button = _panel.get_node("ColorRow/RecolorButton")
	assert_true(recolor.disabled, "nothing selected yet")
	# All: a box over everything.
	_panel.get_node("SelectRow/AllButton").pressed.emit()
	var label: Label = _panel.get_node("EntityRow/SelectionLabel")
	assert_true(await wait_until(func() -> bool: return label.text == "64 of 64 selected"),
		label.text)
	assert_eq(_fixture.backend.headers("splat.select")[0].mode, "box")
	assert_false(recolor.disabled)
	# Recolor with the picked colour: the same splats stay selected, of the new version.
	(_panel.get_node("ColorRow/ColorPicker") as ColorPickerButton).color = Color(0, 1, 0)
	recolor.pressed.emit()
	assert_true(await wait_until(func() -> bool: return _finished.size() == 1), "recoloured")
	var made: Dictionary = _finished[0][1]
	assert_eq(_fixture.backend.headers("splat.edit")[0].color, [0.0, 1.0, 0.0])
	assert_eq(_fixture.editor.selection_base, made.asset, "selected again on the new version")
	assert_eq(label.text, "64 of 64 selected")
	assert_true(_panel.get_note_text().begins_with("Recolor: 64 splat(s) changed"),
		_panel.get_note_text())
	# Tint by the slider's amount.
	(_panel.get_node("ColorRow/ColorPicker") as ColorPickerButton).color = Color(0, 0, 1)
	(_panel.get_node("ColorRow/TintAmount") as HSlider).value = 0.25
	_panel.get_node("ColorRow/TintButton").pressed.emit()
	assert_true(await wait_until(func() -> bool: return _finished.size() == 2), "tinted")
	assert_eq(_fixture.backend.headers("splat.edit")[1].amount, 0.25)
	# Move by the offset typed (world): mapped into the entity's frame; the selection goes.
	(_panel.get_node("MoveRow/MoveX") as SpinBox).value = 0.2
	_panel.get_node("MoveRow/MoveButton").pressed.emit()
	assert_true(await wait_until(func() -> bool: return _finished.size() == 3), "moved")
	var moved: Dictionary = _fixture.backend.headers("splat.edit")[2]
	var basis := _fixture.world.get_entity_node("cloud").global_basis
	var translation := Vector3(moved.translation[0], moved.translation[1], moved.translation[2])
	assert_true(translation.is_equal_approx(basis.inverse() * Vector3(0.2, 0, 0)),
		str(translation))
	assert_true(recolor.disabled, "select again after a move")
	# Duplicate everything, then Undo it.
	await _fixture.until(func() -> bool: return _fixture.world.splat_hashes.cloud == (
		_finished[2][1].asset))
	var before_duplicate: String = _fixture.world.splat_hashes.cloud
	await _panel.select_all("cloud")
	_panel.get_node("MoveRow/DuplicateButton").pressed.emit()
	assert_true(await wait_until(func() -> bool: return _finished.size() == 4), "duplicated")
	var duplicated: String = _finished[3][1].asset
	assert_eq(_fixture.backend.versions[duplicated].positions.size(), 128)
	assert_true(await _fixture.until(func() -> bool: return (
		_fixture.world.splat_hashes.cloud == duplicated)))
	_panel.get_node("UndoButton").pressed.emit()
	assert_true(await _fixture.until(func() -> bool: return (
		_fixture.world.splat_hashes.cloud == before_duplicate)), "undone")
	assert_true(_panel.get_note_text().begins_with("Undone"), _panel.get_note_text())
	# Delete, and a stale edit explained.
	await _panel.select_all("cloud")
	var stale_selection: Variant = _fixture.editor.selection
	var deleted: Dictionary = await _panel.apply("delete")
	assert_eq(_fixture.backend.versions[deleted.asset].positions.size(), 0)
	_fixture.editor.selection = stale_selection
	_fixture.editor.selection_count = 64
	var stale: Dictionary = await _panel.apply("recolor", {"color": Color.RED})
	assert_eq(stale.error, "conflict")
	assert_true(_panel.get_note_text().contains("conflict"), _panel.get_note_text())


func test_progress_and_a_lost_backend() -> void:
	await _serve()
	await _panel.select_all("cloud")
	var camera := Camera3D.new()
	add_child(camera)
	camera.look_at_from_position(_fixture.to_world(Vector3(0, 0, 3)), _fixture.to_world(
		Vector3.ZERO))
	var bar: ProgressBar = _panel.get_node("OptimizeProgress")
	var seen: Array = []
	_fixture.editor.edit_progressed.connect(func(step: int, _steps: int) -> void: seen.append(
		[step, bar.visible, bar.max_value, bar.value]))
	var made := await _fixture.editor.edit("optimize", {"cameras": [camera],
		"instruction": "brighter", "size": Vector2i(16, 16), "steps": 3})
	assert_false(made.has("error"), str(made))
	assert_eq(seen, [[1, true, 3.0, 1.0], [2, true, 3.0, 2.0], [3, true, 3.0, 3.0]])
	assert_false(bar.visible, "hidden when it ends")
	camera.free()
	_fixture.backend.router.stop()
	var all_button: Button = _panel.get_node("SelectRow/AllButton")
	assert_true(await wait_until(func() -> bool: return all_button.disabled), "disabled")
	assert_true(_panel.get_node("UndoButton").disabled)


func test_select_in_a_box() -> void:
	await _serve()
	var box := ContinuumSplatBox.new()
	add_child(box)
	box.size = Vector3(1, 1, 1)
	box.global_position = _fixture.to_world(Vector3(0.3, 0.3, 0.3))
	var picked: Dictionary = await _panel.select_in_box("cloud", box)
	assert_eq(picked.count, 8, "the corner's 2 x 2 x 2 (the box is 0.25 wide in the frame)")
	assert_eq(_panel.get_node("EntityRow/SelectionLabel").text, "8 of 64 selected")
	_panel.get_node("SelectRow/ClearButton").pressed.emit()
	assert_eq(_panel.get_node("EntityRow/SelectionLabel").text, "0 of 64 selected")
	box.free()


func _serve() -> void:
	_fixture = SplatEditFixture.new()
	add_child(_fixture)
	assert_true(await _fixture.start([{"id": "plain"}]), "the world shows the splats")
	_panel = SplatEditPanel.new(_fixture.session, _fixture.editor)
	_panel.edit_finished.connect(func(op: String, result: Dictionary) -> void: _finished.append(
		[op, result]))
	add_child(_panel)
