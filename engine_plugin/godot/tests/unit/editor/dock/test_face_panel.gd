extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/dock/face_panel.gd: disabled without a backend; against a
## fake identity backend (fake_identity_backend.gd) Reconstruct sends the photo file typed as
## the entity typed, shows the progress pushes and what the reply came to, and explains a photo
## that is not an image and a backend's refusal.

const FacePanel = preload("res://addons/continuum/editor/dock/face_panel.gd")
const ContinuumIdentityScript = preload("res://addons/continuum/identity/continuum_identity.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeIdentityBackend = preload("res://tests/unit/identity/fake_identity_backend.gd")

var _backend: FakeIdentityBackend
var _session: SessionScript
var _identity: ContinuumIdentityScript
var _panel: FacePanel
var _photo := ""


func before_each() -> void:
	_session = SessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_identity = ContinuumIdentityScript.new()
	_identity.name = "Identity"
	_identity.session_path = ^"../Session"
	add_child(_identity)
	_panel = FacePanel.new(_session, _identity)
	add_child(_panel)
	_photo = "user://continuum_tests/face_panel_%d.png" % Time.get_ticks_usec()
	DirAccess.make_dir_recursive_absolute(_photo.get_base_dir())


func after_each() -> void:
	await next_frame()  # Not inside a session's signal when its node is freed.
	for node: Node in [_panel, _identity, _session, _backend]:
		if is_instance_valid(node):
			node.free()
	if FileAccess.file_exists(_photo):
		DirAccess.remove_absolute(_photo)


func test_disabled_without_a_backend() -> void:
	assert_true(_panel.get_node("EntityRow/ReconstructButton").disabled)
	assert_false(_panel.get_node("PhotoRow/BrowseButton").disabled, "a photo can be picked")
	assert_false(_panel.get_node("Progress").visible)


func test_reconstructs_the_photo_typed_as_the_entity_typed() -> void:
	await _serve()
	var button: Button = _panel.get_node("EntityRow/ReconstructButton")
	assert_false(button.disabled)
	var image := Image.create_empty(24, 16, false, Image.FORMAT_RGB8)
	image.fill(Color8(200, 150, 120))
	assert_eq(image.save_png(_photo), OK)
	_panel.get_node("PhotoRow/PhotoEdit").text = _photo
	_panel.get_node("EntityRow/EntityEdit").text = "ann"
	var finished: Array = []
	_panel.reconstruct_finished.connect(func(entity: String, reply: Dictionary) -> void: (
		finished.append([entity, reply])))
	var progress: Array = []
	_identity.face_progressed.connect(func(_e: String, step: int, _steps: int) -> void: (
		progress.append(step)))
	button.pressed.emit()
	assert_true(button.disabled, "busy while it runs")
	assert_true(await wait_until(func() -> bool: return not finished.is_empty()), "finished")
	assert_eq(finished[0][0], "ann")
	assert_eq(finished[0][1].kind, "face.reconstruct", str(finished[0][1].header))
	var sent: Dictionary = _backend.headers("face.reconstruct")[0]
	assert_eq([sent.entity, sent.blobs[0].shape], ["ann", [16, 24, 3]])
	assert_eq(progress, [1, 2, 3], "the fake's three steps")
	assert_eq(_panel.get_note_text(), "ann: 100 Gaussians, 30.0 dB against the photo, 0.1 s")
	assert_false(button.disabled)
	assert_false(_panel.get_node("Progress").visible)
	# The same id again: the backend's refusal, explained.
	var again: Dictionary = await _panel.reconstruct()
	assert_eq(again.header.code, "conflict")
	assert_true(_panel.get_note_text().begins_with("conflict: "), _panel.get_note_text())


func test_a_missing_photo_is_explained_and_nothing_is_sent() -> void:
	await _serve()
	var reply: Dictionary = await _panel.reconstruct("user://no/such/photo.png", "bob")
	assert_eq(reply.header.code, "bad_image")
	assert_true(_panel.get_note_text().begins_with("bad_image: "), _panel.get_note_text())
	assert_eq(_backend.headers("face.reconstruct").size(), 0)


func _serve() -> void:
	_backend = FakeIdentityBackend.new()
	add_child(_backend)
	_backend.listen()
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")
	assert_true(await wait_until(func() -> bool: return not _panel.get_node(
		"EntityRow/ReconstructButton").disabled), "enabled once connected")
