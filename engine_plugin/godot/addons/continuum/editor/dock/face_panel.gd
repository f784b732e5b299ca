@tool
extends VBoxContainer
## The "Faces" part of the Continuum dock (bridge/PROTOCOL.md section 17), over the dock's
## session and a ContinuumIdentity on it (connection_dock.gd makes both).
##
## Pick a photo (a PNG, JPEG or WebP file: a path typed, or Browse in the editor), name the new
## entity, and Reconstruct: the backend turns the face into Gaussians shown by that entity in its
## world, with a face identity made from the photo. The refinement's progress shows under the
## button, then what it came to (Gaussians, how closely it matches the photo, seconds). The
## dock's "Save synced splats to project" saves the new splats as a SplatCloud resource to place
## in a scene. A lost backend disables it.

## A Reconstruct ended: the entity asked for and the reply (or the error, as it came).
signal reconstruct_finished(entity: String, reply: Dictionary)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumIdentityScript = preload("res://addons/continuum/identity/continuum_identity.gd")

## The photo files Browse offers.
const PHOTO_FILTERS: Array[String] = ["*.png, *.jpg, *.jpeg, *.webp ; Photos"]

var _session: ContinuumSessionScript
var _identity: ContinuumIdentityScript
var _photo_edit: LineEdit
var _browse_button: Button
var _entity_edit: LineEdit
var _reconstruct_button: Button
var _progress: ProgressBar
var _note: Label
var _dialog: EditorFileDialog
var _busy: bool = false  # a reconstruction is in flight


func _init(
	session: ContinuumSessionScript = null, identity: ContinuumIdentityScript = null
) -> void:
	name = "Faces"
	_session = session
	_identity = identity
	_build_ui()
	if _session != null:
		_session.connected.connect(func(_welcome: Dictionary) -> void: refresh())
		_session.disconnected.connect(func(_reason: String) -> void: refresh())
	if _identity != null:
		_identity.face_progressed.connect(_on_face_progressed)
	refresh()


## The note under the part (what the last reconstruction came to).
func get_note_text() -> String:
	return _note.text


## Reconstructs the face of the photo file [param path] as new entity [param entity] (the
## fields' values when empty). A coroutine; returns the reply, or an error: the backend's, or
## the identity node's ([code]bad_image[/code] for a file that is not an image).
func reconstruct(path: String = "", entity: String = "") -> Dictionary:
	path = _photo_edit.text.strip_edges() if path.is_empty() else path
	entity = _entity_edit.text.strip_edges() if entity.is_empty() else entity
	var photo := Image.load_from_file(path) if FileAccess.file_exists(path) else null
	_busy = true
	_progress.value = 0.0
	_progress.visible = photo != null
	_note.text = "Reconstructing %s..." % entity
	refresh()
	var reply := await _identity.reconstruct_face(entity, photo)
	_busy = false
	_progress.visible = false
	_note.text = _describe(entity, reply)
	refresh()
	reconstruct_finished.emit(entity, reply)
	return reply


## Enables what can be used now.
func refresh() -> void:
	var online := _session != null and _identity != null and _session.is_backend_connected()
	_reconstruct_button.disabled = not online or _busy
	_browse_button.disabled = _busy


func _build_ui() -> void:
	var title := Label.new()
	title.text = "Faces"
	add_child(title)
	var photo_row := HBoxContainer.new()
	photo_row.name = "PhotoRow"
	add_child(photo_row)
	_photo_edit = LineEdit.new()
	_photo_edit.name = "PhotoEdit"
	_photo_edit.placeholder_text = "photo file (PNG, JPEG, WebP)"
	_photo_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	photo_row.add_child(_photo_edit)
	_browse_button = Button.new()
	_browse_button.name = "BrowseButton"
	_browse_button.text = "Browse"
	_browse_button.pressed.connect(_on_browse_pressed)
	photo_row.add_child(_browse_button)
	var entity_row := HBoxContainer.new()
	entity_row.name = "EntityRow"
	add_child(entity_row)
	_entity_edit = LineEdit.new()
	_entity_edit.name = "EntityEdit"
	_entity_edit.text = "face"
	_entity_edit.tooltip_text = "The new entity's id (it must not exist yet)"
	_entity_edit.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	entity_row.add_child(_entity_edit)
	_reconstruct_button = Button.new()
	_reconstruct_button.name = "ReconstructButton"
	_reconstruct_button.text = "Reconstruct"
	_reconstruct_button.tooltip_text = "Make the photo's face a new entity of Gaussians"
	_reconstruct_button.pressed.connect(func() -> void: reconstruct())
	entity_row.add_child(_reconstruct_button)
	_progress = ProgressBar.new()
	_progress.name = "Progress"
	_progress.max_value = 1.0
	_progress.visible = false
	add_child(_progress)
	_note = Label.new()
	_note.name = "Note"
	_note.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_note.custom_minimum_size = Vector2(120, 0)
	add_child(_note)


func _on_browse_pressed() -> void:
	if not Engine.is_editor_hint():
		return  # EditorFileDialog is the editor's; outside it the path is typed.
	if _dialog == null:
		_dialog = EditorFileDialog.new()
		_dialog.file_mode = EditorFileDialog.FILE_MODE_OPEN_FILE
		_dialog.access = EditorFileDialog.ACCESS_FILESYSTEM
		_dialog.filters = PackedStringArray(PHOTO_FILTERS)
		_dialog.file_selected.connect(func(path: String) -> void: _photo_edit.text = path)
		add_child(_dialog)
	_dialog.popup_file_dialog()


func _on_face_progressed(_entity: String, step: int, steps: int) -> void:
	if _busy and steps > 0:
		_progress.value = float(step) / steps


static func _describe(entity: String, reply: Dictionary) -> String:
	if reply.get("kind") != "face.reconstruct":
		var header: Dictionary = reply.get("header", {})
		return "%s: %s" % [header.get("code", "error"), header.get("message", "")]
	var made: Dictionary = reply.header
	var psnr: Variant = made.get("psnr_db")
	return "%s: %d Gaussians, %s dB against the photo, %.1f s" % [entity,
		int(made.get("gaussians", 0)), "%.1f" % psnr if psnr != null else "-",
		float(made.get("seconds", 0.0))]
