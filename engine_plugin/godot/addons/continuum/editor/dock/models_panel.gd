@tool
extends VBoxContainer
## The "Models" and "Jobs" parts of the Continuum dock (bridge/PROTOCOL.md section 14), over the
## dock's session and a ContinuumGenerator on it (connection_dock.gd makes all three).
##
## Models: one row per slot (its name, the model bound, its state: ready, loading or failed, the
## error as the tooltip), filled by `models.list` when the session connects and kept current by
## the `models.changed` pushes (whoever bound). A slot picked in the list and a model folder on
## the backend's disk (or "builtin") typed beside it are bound with Bind (`models.bind`); how the
## bind ends shows in the slot's row.
##
## Jobs: a progress bar with a Cancel button per job of the dock's session not yet ended; Try
## runs a tiny text_to_image of the prompt typed and shows the image. A lost backend, or one that
## serves no generation, disables it all.

## A bind asked with Bind was answered: the slot and the reply.
signal bind_finished(slot: String, reply: Dictionary)
## A Try ended: the generator's result ([code]{image, ...}[/code] or [code]{error, message}[/code]).
signal try_finished(result: Dictionary)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)

const NONE_TEXT := "-"
const STATE_COLORS: Dictionary = {
	"ready": Color(0.4, 0.85, 0.45),
	"loading": Color(0.95, 0.75, 0.3),
	"failed": Color(0.95, 0.4, 0.35),
}
## What Try asks for: small and quick, whatever model serves the slot.
const TRY_PARAMS: Dictionary = {"width": 128, "height": 128, "steps": 8}

var _session: ContinuumSessionScript
var _generator: ContinuumGeneratorScript
var _slot_grid: GridContainer
var _slot_option: OptionButton
var _folder_edit: LineEdit
var _bind_button: Button
var _job_list: VBoxContainer
var _prompt_edit: LineEdit
var _try_button: Button
var _try_image: TextureRect
var _note: Label
var _available: bool = false  # the backend answered models.list
var _binding: bool = false  # a models.bind is in flight
var _trying: bool = false  # a Try is running


func _init(
	session: ContinuumSessionScript = null, generator: ContinuumGeneratorScript = null
) -> void:
	name = "Models"
	_session = session
	_generator = generator
	_build_ui()
	if _session != null:
		_session.connected.connect(_on_session_connected)
		_session.disconnected.connect(_on_session_disconnected)
	if _generator != null:
		_generator.models_changed.connect(_on_models_changed)
		_generator.job_progressed.connect(func(_j: int, _s: int, _n: int) -> void: refresh())
		_generator.job_finished.connect(func(_j: int, _r: Dictionary) -> void: refresh())
		_generator.job_failed.connect(func(_j: int, _c: String, _m: String) -> void: refresh())
	refresh()


## The generator the panel works through.
func get_generator() -> ContinuumGeneratorScript:
	return _generator


## The note under the parts (what the last action came to).
func get_note_text() -> String:
	return _note.text


## Asks `models.list` and shows every slot. A coroutine; returns the reply.
func refresh_models() -> Dictionary:
	var reply: Dictionary = await _generator.list_models()
	_available = reply.kind == "models.list"
	var code: Variant = reply.header.get("code")
	if code == "unknown_kind":
		_note.text = "No generation: this backend does not serve models.list (protocol 1.4)"
	elif not _available and code != "disconnected":
		_note.text = "No generation: models.list: %s" % reply.header.get("message", code)
	_fill_slots()
	refresh()
	return reply


## Binds [param slot] to the model folder [param folder] on the backend's disk ("builtin" for
## the slot's built-in model). A coroutine; shows and returns the reply (the bind's end arrives
## as `models.changed`).
func bind(slot: String, folder: String) -> Dictionary:
	_binding = true
	refresh()
	var reply: Dictionary = await _generator.bind_model(slot, {"model": folder})
	_binding = false
	if reply.kind == "models.bind":
		_note.text = "Loading %s for %s ..." % [folder, slot]
	else:
		_note.text = "models.bind: %s" % reply.header.get("message", reply.header.get("code"))
	_fill_slots()
	refresh()
	bind_finished.emit(slot, reply)
	return reply


## Runs a tiny text_to_image of [param prompt] and shows its image. A coroutine; returns the
## generator's result.
func try_prompt(prompt: String) -> Dictionary:
	_trying = true
	_note.text = "Generating \"%s\" ..." % prompt
	refresh()
	var params := TRY_PARAMS.duplicate()
	params["prompt"] = prompt
	var started := Time.get_ticks_msec()
	var result: Dictionary = await _generator.generate("text_to_image", params)
	_trying = false
	if result.get("image") is Image:
		_try_image.texture = ImageTexture.create_from_image(result.image)
		_note.text = "Made by %s in %.1f s" % [result.model.get("name", "the model"),
			(Time.get_ticks_msec() - started) / 1000.0]
	else:
		_note.text = "Try failed: %s: %s" % [result.get("error"), result.get("message", "")]
	refresh()
	try_finished.emit(result)
	return result


## Shows the session's state: enables what can be asked now, and one row per running job.
func refresh() -> void:
	var online := _session != null and _session.is_backend_connected()
	var usable := online and _available and _generator != null
	_slot_option.disabled = not usable
	_folder_edit.editable = usable
	_bind_button.disabled = not usable or _binding or _folder_edit.text.strip_edges().is_empty()
	_prompt_edit.editable = usable
	_try_button.disabled = not usable or _trying or _prompt_edit.text.strip_edges().is_empty()
	_sync_jobs()


func _build_ui() -> void:
	var separator := HSeparator.new()
	separator.name = "ModelsSeparator"
	add_child(separator)
	_slot_grid = GridContainer.new()
	_slot_grid.name = "SlotGrid"
	_slot_grid.columns = 3
	add_child(_slot_grid)
	_slot_option = OptionButton.new()
	_slot_option.name = "SlotOption"
	for slot in ContinuumGeneratorScript.SLOTS:
		_slot_option.add_item(slot)
		_add_slot_row(slot)
	var bind_row := HBoxContainer.new()
	bind_row.name = "BindRow"
	add_child(bind_row)
	bind_row.add_child(_slot_option)
	_folder_edit = LineEdit.new()
	_folder_edit.name = "FolderEdit"
	_folder_edit.placeholder_text = "model folder, or builtin"
	_folder_edit.tooltip_text = "A diffusers model folder on the backend's disk, or builtin"
	_folder_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_folder_edit.text_changed.connect(func(_text: String) -> void: refresh())
	_folder_edit.text_submitted.connect(func(_text: String) -> void: _on_bind_pressed())
	bind_row.add_child(_folder_edit)
	_bind_button = _add_button(bind_row, "BindButton", "Bind", _on_bind_pressed)
	_bind_button.tooltip_text = "Load the folder for the slot (the model serving goes on meanwhile)"
	_job_list = VBoxContainer.new()
	_job_list.name = "JobList"
	add_child(_job_list)
	var try_row := HBoxContainer.new()
	try_row.name = "TryRow"
	add_child(try_row)
	_prompt_edit = LineEdit.new()
	_prompt_edit.name = "PromptEdit"
	_prompt_edit.placeholder_text = "a prompt to try"
	_prompt_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_prompt_edit.text_changed.connect(func(_text: String) -> void: refresh())
	_prompt_edit.text_submitted.connect(func(_text: String) -> void: _on_try_pressed())
	try_row.add_child(_prompt_edit)
	_try_button = _add_button(try_row, "TryButton", "Try", _on_try_pressed)
	_try_button.tooltip_text = "Generate a small image of the prompt with text_to_image"
	_try_image = TextureRect.new()
	_try_image.name = "TryImage"
	_try_image.custom_minimum_size = Vector2(0, 96)
	_try_image.expand_mode = TextureRect.EXPAND_IGNORE_SIZE
	_try_image.stretch_mode = TextureRect.STRETCH_KEEP_ASPECT_CENTERED
	add_child(_try_image)
	_note = Label.new()
	_note.name = "GenerationNote"
	_note.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_note.custom_minimum_size = Vector2(120, 0)
	_note.modulate = Color(1, 1, 1, 0.7)
	add_child(_note)


func _add_slot_row(slot: String) -> void:
	for part: String in ["Name", "Model", "State"]:
		var label := Label.new()
		label.name = "%s%s" % [slot.to_pascal_case(), part]
		label.text = slot if part == "Name" else NONE_TEXT
		label.mouse_filter = Control.MOUSE_FILTER_PASS
		if part == "Model":
			label.size_flags_horizontal = Control.SIZE_EXPAND_FILL
			label.clip_text = true
			label.text_overrun_behavior = TextServer.OVERRUN_TRIM_ELLIPSIS
		_slot_grid.add_child(label)


func _add_button(parent: Control, button_name: String, text: String, action: Callable) -> Button:
	var button := Button.new()
	button.name = button_name
	button.text = text
	button.pressed.connect(action)
	parent.add_child(button)
	return button


# Shows every slot's status as the generator last heard it ("-" for none, or all when
# [param clear]).
func _fill_slots(clear: bool = false) -> void:
	for slot in ContinuumGeneratorScript.SLOTS:
		var status: Dictionary = {}
		if _generator != null and not clear:
			status = _generator.slots.get(slot, {})
		var model := _slot_grid.get_node("%sModel" % slot.to_pascal_case()) as Label
		var state := _slot_grid.get_node("%sState" % slot.to_pascal_case()) as Label
		var model_info: Variant = status.get("model")
		var spec: Variant = status.get("spec")
		model.text = str(model_info.get("name", NONE_TEXT)) if model_info is Dictionary \
			else NONE_TEXT
		model.tooltip_text = str(spec.get("model", "")) if spec is Dictionary else ""
		state.text = str(status.get("state", NONE_TEXT))
		state.add_theme_color_override("font_color", STATE_COLORS.get(state.text, Color.WHITE))
		var loading: Variant = status.get("loading")
		if status.get("error") is String:
			state.tooltip_text = status.error
		elif loading is Dictionary:
			state.tooltip_text = "loading %s" % loading.get("model")
		else:
			state.tooltip_text = ""


# One row per job of the generator not yet ended: a progress bar and a Cancel button.
func _sync_jobs() -> void:
	var running: Dictionary = _generator.running_jobs() if _generator != null else {}
	for row: Node in _job_list.get_children():
		if not running.has(int(row.get_meta("job", -1))):
			_job_list.remove_child(row)
			row.queue_free()
	for job: int in running:
		var row := _job_list.get_node_or_null("Job%d" % job) as HBoxContainer
		if row == null:
			row = _add_job_row(job, running[job].slot)
		var bar := row.get_node("Progress") as ProgressBar
		bar.max_value = maxi(int(running[job].steps), 1)
		bar.value = int(running[job].step)


func _add_job_row(job: int, slot: String) -> HBoxContainer:
	var row := HBoxContainer.new()
	row.name = "Job%d" % job
	row.set_meta("job", job)
	var label := Label.new()
	label.name = "Label"
	label.text = "%d %s" % [job, slot]
	row.add_child(label)
	var bar := ProgressBar.new()
	bar.name = "Progress"
	bar.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	bar.size_flags_vertical = Control.SIZE_SHRINK_CENTER
	row.add_child(bar)
	var cancel := _add_button(row, "Cancel", "Cancel", func() -> void: _cancel(job))
	cancel.tooltip_text = "Stop the job at its next step"
	_job_list.add_child(row)
	return row


func _cancel(job: int) -> void:
	var row := _job_list.get_node_or_null("Job%d" % job)
	if row != null:
		(row.get_node("Cancel") as Button).disabled = true
	var reply: Dictionary = await _generator.cancel(job)
	if reply.kind == "error":
		_note.text = "gen.cancel: %s" % reply.header.get("message", reply.header.get("code"))


func _on_bind_pressed() -> void:
	var folder := _folder_edit.text.strip_edges()
	if not folder.is_empty() and not _bind_button.disabled:
		bind(_slot_option.get_item_text(_slot_option.selected), folder)


func _on_try_pressed() -> void:
	var prompt := _prompt_edit.text.strip_edges()
	if not prompt.is_empty() and not _try_button.disabled:
		try_prompt(prompt)


func _on_session_connected(_welcome: Dictionary) -> void:
	refresh_models()


func _on_session_disconnected(_reason: String) -> void:
	_available = false
	_note.text = ""
	_fill_slots(true)
	refresh()


func _on_models_changed(status: Dictionary) -> void:
	_fill_slots()
	var state: Variant = status.get("state")
	if state == "failed":
		_note.text = "%s: %s" % [status.get("slot"), status.get("error")]
	elif state == "ready":
		_note.text = "%s serves %s" % [status.get("slot"), status.get("model", {}).get("name")]
