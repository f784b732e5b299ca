extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/dock/connection_dock.gd, without a backend, its "Save
## synced splats to project" against a fake one (fake_asset_backend.gd), its "World" part
## against a fake event-sourced backend (fake_world_backend.gd), and its "Models" and "Jobs"
## parts (models_panel.gd) against a fake generation backend (fake_generation_backend.gd), and
## its "Splats" part (splat_edit_panel.gd) against a fake splat backend (fake_splat_backend.gd).

const ConnectionDock = preload("res://addons/continuum/editor/dock/connection_dock.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeAssetBackend = preload("res://tests/unit/bridge/fake_asset_backend.gd")
const PackFixture = preload("res://tests/unit/world/pack_fixture.gd")
const AssetClientTest = preload("res://tests/unit/bridge/test_asset_client.gd")
const FakeWorldBackend = preload("res://tests/unit/world/fake_world_backend.gd")
const FakeGenerationBackend = preload("res://tests/unit/generation/fake_generation_backend.gd")
const FakeSplatBackend = preload("res://tests/unit/splats/fake_splat_backend.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

var _dock: ConnectionDock
var _backend: FakeAssetBackend
var _worlds: FakeWorldBackend
var _generation: FakeGenerationBackend
var _dir := ""


func before_each() -> void:
	_dock = ConnectionDock.new()
	add_child(_dock)


func after_each() -> void:
	await next_frame()  # Not inside the session's signals when the dock is freed.
	if is_instance_valid(_dock):
		_dock.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	if is_instance_valid(_worlds):
		remove_child(_worlds)
		_worlds.queue_free()
	_worlds = null
	if is_instance_valid(_generation):
		remove_child(_generation)
		_generation.queue_free()
	_generation = null
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


func test_world_part_is_disabled_while_disconnected() -> void:
	assert_eq(_dock.get_node("WorldGrid/WorldValue").text, "-")
	for button: String in ["HistoryButtons/UndoButton", "HistoryButtons/RedoButton",
			"WorldListButtons/RefreshWorldsButton", "WorldListButtons/OpenWorldButton",
			"ForkRow/ForkButton"]:
		assert_true(_dock.get_node(button).disabled, button + " disabled")
	assert_false(_dock.get_node("ForkRow/ForkNameEdit").editable)
	var reply: Dictionary = await _dock.undo()
	assert_eq(reply.header.code, "not_connected", "asked anyway: an error, no crash")


func test_world_part_undo_redo_and_worlds() -> void:
	await _connect_to_worlds({"old": {"seq": 2, "entities": []}})
	assert_eq(_dock.get_node("WorldGrid/WorldValue").text, "main, seq 3")
	var undo_button: Button = _dock.get_node("HistoryButtons/UndoButton")
	var redo_button: Button = _dock.get_node("HistoryButtons/RedoButton")
	assert_true(undo_button.disabled and redo_button.disabled, "nothing to undo or redo yet")
	var names := _dock.get_worlds().map(func(w: Dictionary) -> String: return w.name)
	names.sort()
	assert_eq(names, ["main", "old"])
	assert_eq(_dock.get_node("WorldList").item_count, 2)
	# An edit by another engine: the push updates the seq and enables Undo.
	_worlds.router.send_reply("world.changed", {"events": [], "seq": 4, "world": {
		"name": "main", "persistent": true, "seq": 4, "tick": 0, "undo": 1, "redo": 0}})
	assert_true(await wait_until(func() -> bool: return not undo_button.disabled), "Undo enabled")
	assert_eq(_dock.get_node("WorldGrid/WorldValue").text, "main, seq 4")
	await _dock.get_session().request("world.edit", {"events": [
		{"kind": "tags_set", "id": "box", "tags": ["x"]}]})
	var undone: Dictionary = await _dock.undo()
	assert_eq(undone.kind, "world.undo")
	assert_true(_dock.get_status_text().begins_with("Undone"), _dock.get_status_text())
	assert_false(redo_button.disabled, "Redo enabled")
	assert_true(undo_button.disabled, "nothing left to undo")
	var redone: Dictionary = await _dock.redo()
	assert_eq(redone.kind, "world.redo")
	assert_true(redo_button.disabled and not undo_button.disabled)
	# Fork under the typed name, then open it from the list.
	var fork_edit: LineEdit = _dock.get_node("ForkRow/ForkNameEdit")
	var fork_button: Button = _dock.get_node("ForkRow/ForkButton")
	assert_true(fork_button.disabled, "no name typed")
	fork_edit.text = "copy"
	fork_edit.text_changed.emit("copy")
	assert_false(fork_button.disabled)
	fork_button.pressed.emit()
	assert_true(await wait_until(func() -> bool: return _dock.get_worlds().size() == 3), "listed")
	assert_eq(_worlds.headers("world.fork")[0].name, "copy")
	assert_eq(fork_edit.text, "", "the name is cleared")
	var list: ItemList = _dock.get_node("WorldList")
	var open_button: Button = _dock.get_node("WorldListButtons/OpenWorldButton")
	assert_true(open_button.disabled, "nothing selected")
	for i in list.item_count:
		if list.get_item_metadata(i) == "main":
			list.select(i)
	list.item_selected.emit(0)
	assert_true(open_button.disabled, "the served world cannot be opened again")
	for i in list.item_count:
		if list.get_item_metadata(i) == "copy":
			list.select(i)
	list.item_selected.emit(0)
	assert_false(open_button.disabled)
	open_button.pressed.emit()
	assert_true(await wait_until(func() -> bool: return _dock.get_world_info().get("name") == "copy"))
	assert_true(await wait_until(
		func() -> bool: return _dock.get_node("WorldGrid/WorldValue").text.begins_with("copy")))
	assert_eq(_dock.get_status_text(), "Now serving world 'copy'")
	# A lost backend (it stopped listening too) disables it all.
	_worlds.router.stop()
	var refresh_button: Button = _dock.get_node("WorldListButtons/RefreshWorldsButton")
	assert_false(refresh_button.disabled)
	assert_true(await wait_until(func() -> bool: return refresh_button.disabled), "disabled")
	assert_true(undo_button.disabled and redo_button.disabled and open_button.disabled)
	assert_false(fork_edit.editable)
	assert_eq(_dock.get_node("WorldGrid/WorldValue").text, "-")
	assert_eq(list.item_count, 0)


func test_world_part_without_a_worlds_folder() -> void:
	await _connect_to_worlds(null)
	assert_true(await wait_until(
		func() -> bool: return _dock.get_node("WorldsNote").text.contains("no persistent worlds")))
	assert_eq(_dock.get_node("WorldList").item_count, 0)
	assert_false(_dock.get_node("ForkRow/ForkNameEdit").editable)
	assert_true(_dock.get_node("ForkRow/ForkButton").disabled)
	var nothing: Dictionary = await _dock.undo()
	assert_eq(nothing.header.get("code"), "conflict")
	assert_true(_dock.get_status_text().begins_with("world.undo: nothing to undo"),
		_dock.get_status_text())


func test_models_part_is_disabled_while_disconnected() -> void:
	for slot: String in ["TextToImage", "ImageEdit", "ImageToVideo", "Motion"]:
		assert_eq(_dock.get_node("Models/SlotGrid/%sModel" % slot).text, "-")
		assert_eq(_dock.get_node("Models/SlotGrid/%sState" % slot).text, "-")
	assert_eq(_dock.get_node("Models/SlotGrid/MotionName").text, "motion")
	assert_true(_dock.get_node("Models/BindRow/BindButton").disabled)
	assert_true(_dock.get_node("Models/BindRow/SlotOption").disabled)
	assert_false(_dock.get_node("Models/BindRow/FolderEdit").editable)
	assert_true(_dock.get_node("Models/TryRow/TryButton").disabled)
	assert_false(_dock.get_node("Models/TryRow/PromptEdit").editable)
	assert_eq(_dock.get_node("Models").get_index(), _dock.get_node("StatusLabel").get_index() - 3,
		"above the splats and faces parts and the status line")
	var result: Dictionary = await _dock.get_models_panel().try_prompt("x")
	assert_eq(result.error, "not_connected", "asked anyway: an error, no crash")


func test_models_part_binds_follows_and_cancels_jobs_and_tries() -> void:
	await _connect_to_generation()
	var state: Label = _dock.get_node("Models/SlotGrid/ImageEditState")
	assert_eq(_dock.get_node("Models/SlotGrid/ImageEditModel").text, "builtin image_edit")
	assert_eq(state.text, "ready")
	# Bind a folder to image_edit: loading, then ready with the new model.
	var option: OptionButton = _dock.get_node("Models/BindRow/SlotOption")
	var folder: LineEdit = _dock.get_node("Models/BindRow/FolderEdit")
	var bind_button: Button = _dock.get_node("Models/BindRow/BindButton")
	assert_true(bind_button.disabled, "no folder typed")
	option.select(1)
	folder.text = "/models/pix2pix"
	folder.text_changed.emit(folder.text)
	assert_false(bind_button.disabled)
	bind_button.pressed.emit()
	assert_true(await wait_until(func() -> bool: return state.text == "loading"), "loading")
	assert_true(await wait_until(func() -> bool: return state.text == "ready"), "ready")
	assert_eq(_generation.headers("models.bind")[0].slot, "image_edit")
	assert_eq(_dock.get_node("Models/SlotGrid/ImageEditModel").text, "pix2pix")
	assert_eq(_dock.get_node("Models/SlotGrid/ImageEditModel").tooltip_text, "/models/pix2pix")
	# A folder that cannot load: failed, the error as the tooltip.
	option.select(3)
	await _dock.get_models_panel().bind("motion", "/models/missing")
	var motion_state: Label = _dock.get_node("Models/SlotGrid/MotionState")
	assert_true(await wait_until(func() -> bool: return motion_state.text == "failed"), "failed")
	assert_true(motion_state.tooltip_text.contains("missing"), motion_state.tooltip_text)
	assert_true(_dock.get_models_panel().get_note_text().contains("missing"))
	# Try, cancelled from its job row.
	_generation.auto_run = false
	var prompt: LineEdit = _dock.get_node("Models/TryRow/PromptEdit")
	var try_button: Button = _dock.get_node("Models/TryRow/TryButton")
	assert_true(try_button.disabled, "no prompt typed")
	prompt.text = "a blue sky"
	prompt.text_changed.emit(prompt.text)
	assert_false(try_button.disabled)
	try_button.pressed.emit()
	var jobs: VBoxContainer = _dock.get_node("Models/JobList")
	assert_true(await wait_until(func() -> bool: return jobs.get_child_count() == 1), "a job row")
	assert_true(try_button.disabled, "one Try at a time")
	var row := jobs.get_child(0)
	_generation.step_jobs()
	var bar: ProgressBar = row.get_node("Progress")
	assert_true(await wait_until(func() -> bool: return bar.value == 1), "progress shown")
	assert_eq(bar.max_value, 8.0, "Try's steps")
	row.get_node("Cancel").pressed.emit()
	var cancels := func() -> int: return _generation.headers("gen.cancel").size()
	assert_true(await wait_until(func() -> bool: return cancels.call() == 1), "gen.cancel sent")
	_generation.step_jobs()
	assert_true(await wait_until(func() -> bool: return jobs.get_child_count() == 0), "row gone")
	assert_true(await wait_until(func() -> bool: return not try_button.disabled))
	assert_true(_dock.get_models_panel().get_note_text().contains("cancelled"))
	# Try to the end: the image is shown.
	_generation.auto_run = true
	var result: Dictionary = await _dock.get_models_panel().try_prompt("a blue sky")
	assert_true(result.get("image") is Image, str(result))
	var shown: Texture2D = _dock.get_node("Models/TryImage").texture
	assert_eq(shown.get_size(), Vector2(128, 128))
	assert_eq(_generation.headers("gen.submit")[1].params.prompt, "a blue sky")
	# A lost backend disables it all.
	_generation.router.stop()
	assert_true(await wait_until(func() -> bool: return try_button.disabled), "disabled")
	assert_true(bind_button.disabled)
	assert_eq(state.text, "-")


func test_models_part_of_a_backend_without_generation() -> void:
	await _connect_to_worlds({})
	var panel := _dock.get_models_panel()
	assert_true(await wait_until(func() -> bool: return panel.get_note_text().begins_with(
		"No generation")), panel.get_note_text())
	assert_true(_dock.get_node("Models/TryRow/TryButton").disabled)
	assert_false(_dock.get_node("Models/BindRow/FolderEdit").editable)


func test_splats_part_is_disabled_while_disconnected() -> void:
	var panel := _dock.get_splat_edit_panel()
	assert_eq(panel.get_index(), _dock.get_node("StatusLabel").get_index() - 2,
		"above the faces part and the status line")
	assert_eq(_dock.get_face_panel().get_index(), panel.get_index() + 1)
	assert_true(_dock.get_node("Faces/EntityRow/ReconstructButton").disabled)
	assert_true(_dock.get_node("Splats/SelectRow/AllButton").disabled)
	assert_true(_dock.get_node("Splats/UndoButton").disabled)
	assert_eq(_dock.get_node("Splats/EntityRow/SelectionLabel").text, "-")
	assert_true(_dock.get_splat_world().sync_in_editor, "the dock's world follows in the editor")
	assert_eq(_dock.get_splat_world().get_session(), _dock.get_session())


func test_splats_part_selects_and_recolours() -> void:
	_dir = "user://continuum_tests/dock_splats_%d" % Time.get_ticks_usec()
	_dock.get_splat_world().get_asset_client().cache_dir = _dir
	var backend := FakeSplatBackend.new()
	backend.add_splat_entity("cloud", SplatEditFixture.grid(), SplatEditFixture.POSE)
	add_child(backend)
	backend.listen()
	_dock.get_node("Grid/PortSpin").value = backend.router.port
	_dock.connect_to_backend()
	var panel := _dock.get_splat_edit_panel()
	assert_true(await wait_until(func() -> bool: return panel.get_entity() == "cloud"),
		"the entity with splats listed")
	await panel.select_all("cloud")
	assert_eq(_dock.get_node("Splats/EntityRow/SelectionLabel").text, "64 of 64 selected")
	var made: Dictionary = await panel.apply("recolor", {"color": Color.RED})
	assert_false(made.has("error"), str(made))
	assert_eq(backend.headers("splat.edit")[0].color, [1.0, 0.0, 0.0])
	assert_eq(panel.get_editor().selection_base, made.asset, "selected again on the new version")
	_dock.disconnect_from_backend()
	await next_frame()
	remove_child(backend)
	backend.queue_free()


# Connects the dock to a fake generation backend; waits for the models part to fill.
func _connect_to_generation() -> void:
	_generation = FakeGenerationBackend.new()
	add_child(_generation)
	_generation.listen()
	_dock.get_node("Grid/PortSpin").value = _generation.router.port
	_dock.connect_to_backend()
	assert_true(await wait_until(func() -> bool: return _dock.get_node(
		"Models/SlotGrid/TextToImageState").text == "ready"), "the models part filled")


# Connects the dock to a fake world backend serving "main" at seq 3 ([param worlds]: its other
# persistent worlds, null for no worlds folder); waits for the world part to fill.
func _connect_to_worlds(worlds: Variant) -> void:
	_worlds = FakeWorldBackend.new()
	_worlds.entities = [{"id": "box"}]
	_worlds.seq = 3
	_worlds.worlds = worlds
	if worlds == null:
		_worlds.world_name = null
	add_child(_worlds)
	_worlds.listen()
	_dock.get_node("Grid/PortSpin").value = _worlds.router.port
	_dock.connect_to_backend()
	var filled := func() -> bool: return (
		_worlds.headers("world.list").size() == 1 and not _dock.get_world_info().is_empty())
	assert_true(await wait_until(filled), "the world part filled")
	await wait_seconds(0.1)
