# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## Tests of addons/continuum/identity/continuum_identity.gd: finding the session, decoding
## reference images, capturing without a renderer; and against a fake identity backend
## (fake_identity_backend.gd): banks registered, observed (matches, drift, updates, faces),
## queried and removed with their fields and blobs on the wire, the drift push as a signal,
## reference images fetched (from the backend, then the cache), errors as they come.

const ContinuumIdentityScript = preload("res://addons/continuum/identity/continuum_identity.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeIdentityBackend = preload("res://tests/unit/identity/fake_identity_backend.gd")

var _identity: ContinuumIdentityScript
var _backend: FakeIdentityBackend
var _session: ContinuumSessionScript
var _drifts: Array = []  # [entity, drift, threshold] as drift_detected said
var _cache_dir := ""


func before_each() -> void:
	_drifts.clear()
	_cache_dir = "user://continuum_tests/identity_%d" % Time.get_ticks_usec()
	_identity = ContinuumIdentityScript.new()
	_identity.name = "Identity"
	_identity.session_path = ^"NoSuchSession"
	_identity.drift_detected.connect(func(entity: String, drift: float, threshold: float) -> void: (
		_drifts.append([entity, drift, threshold])))


func after_each() -> void:
	await next_frame()  # Not inside a session's signal when its node is freed.
	if is_instance_valid(_identity):
		_identity.free()
	if is_instance_valid(_session):
		_session.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	_backend = null
	if DirAccess.dir_exists_absolute(_cache_dir):
		for file in DirAccess.get_files_at(_cache_dir):
			DirAccess.remove_absolute(_cache_dir.path_join(file))
		DirAccess.remove_absolute(_cache_dir)


## A [param width] x [param height] image of one [param color].
static func plain(width: int, height: int, color: Color, format := Image.FORMAT_RGB8) -> Image:
	var image := Image.create_empty(width, height, false, format)
	image.fill(color)
	return image


func test_missing_session_is_a_configuration_warning() -> void:
	add_child(_identity)
	assert_eq(_identity.get_session(), null)
	assert_eq(_identity._get_configuration_warnings().size(), 1)


func test_default_session_is_the_autoload() -> void:
	_identity.session_path = NodePath()
	add_child(_identity)
	assert_eq(_identity.get_session(), get_node_or_null(^"/root/Continuum"))


func test_without_a_backend_everything_answers_not_connected() -> void:
	add_child(_identity)
	var red := plain(8, 8, Color.RED)
	var images: Array[Image] = [red]
	var replies := [
		await _identity.register("cat", "appearance", images),
		await _identity.observe("appearance", red),
		await _identity.query("cat"),
		await _identity.list_banks(),
		await _identity.remove("cat"),
	]
	for reply: Dictionary in replies:
		assert_eq([reply.kind, reply.header.code], ["error", "not_connected"])
	assert_eq(await _identity.fetch_reference("0".repeat(64)), null)
	assert_eq(_identity.last_error.error, "not_connected")


func test_decode_reference() -> void:
	var data := PackedByteArray([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
	var decoded := ContinuumIdentityScript.decode_reference(data, {"width": 2, "height": 2})
	assert_eq(decoded.image.get_size(), Vector2i(2, 2))
	assert_eq(decoded.image.get_format(), Image.FORMAT_RGB8)
	assert_eq(decoded.image.get_pixel(1, 1), Color8(10, 11, 12))
	var bad := {
		"no meta": {},
		"wrong size": {"width": 3, "height": 2},
		"not a number": {"width": "2", "height": 2},
		"fractional": {"width": 1.5, "height": 2},
		"zero": {"width": 0, "height": 2},
	}
	for what: String in bad:
		var got := ContinuumIdentityScript.decode_reference(data, bad[what])
		assert_eq(got.get("error"), "bad_blob", what)


func test_capture_without_a_renderer_is_no_image() -> void:
	add_child(_identity)
	var camera := Camera3D.new()
	add_child(camera)
	assert_eq(ContinuumIdentityScript.capture(null), null)
	if not ContinuumIdentityScript.is_headless():
		camera.free()
		skip("a renderer draws here; capture is checked under --headless only")
		return
	assert_eq(ContinuumIdentityScript.capture(camera), null)
	assert_eq(ContinuumIdentityScript.capture(get_viewport()), null)
	var reply := await _identity.observe_camera(camera, "appearance")
	assert_eq([reply.kind, reply.header.code], ["error", "no_image"])
	assert_true("headless" in reply.header.message, reply.header.message)
	camera.free()


func test_register_sends_every_image_as_rgb8() -> void:
	await _serve()
	var rgba := plain(16, 8, Color8(200, 100, 50, 10), Image.FORMAT_RGBA8)
	var images: Array[Image] = [plain(8, 8, Color8(200, 100, 50)), rgba]
	var reply := await _identity.register("cat", "appearance", images, {"source": "test"})
	assert_eq(reply.kind, "identity.register", str(reply.header))
	assert_eq(reply.header.bank.entity, "cat")
	assert_eq(int(reply.header.bank.slots), 2)
	var sent: Dictionary = _backend.headers("identity.register")[0]
	assert_eq([sent.entity, sent.kind, sent.meta], ["cat", "appearance", {"source": "test"}])
	assert_eq(sent.blobs.map(func(b: Dictionary) -> Array: return [b.dtype, b.shape]),
		[["u8", [8, 8, 3]], ["u8", [8, 16, 3]]])
	assert_eq(rgba.get_format(), Image.FORMAT_RGBA8, "the caller's image is left as it was")
	assert_eq(_identity.banks.cat.kind, "appearance")


func test_a_bad_image_is_refused_before_sending() -> void:
	await _serve()
	var images: Array[Image] = [plain(8, 8, Color.RED), Image.new()]
	var reply := await _identity.register("cat", "appearance", images)
	assert_eq([reply.kind, reply.header.code], ["error", "bad_image"])
	assert_true("image 1 of 2" in reply.header.message, reply.header.message)
	reply = await _identity.observe("appearance", null)
	assert_eq(reply.header.code, "bad_image")
	assert_eq(_backend.headers("identity.register").size(), 0, "nothing sent")
	assert_eq(_backend.headers("identity.observe").size(), 0, "nothing sent")


func test_observe_matches_and_updates_the_named_bank() -> void:
	await _serve()
	await _register("red", Color8(250, 10, 10))
	await _register("blue", Color8(10, 10, 250))
	var seen := await _identity.observe("appearance", plain(8, 8, Color8(220, 40, 10)), "red",
		true, {"frame": 3})
	assert_eq(seen.kind, "identity.observe", str(seen.header))
	assert_eq(seen.header.matches.map(func(m: Dictionary) -> String: return m.entity),
		["red", "blue"])
	assert_eq(seen.header.entity, "red")
	assert_true(seen.header.drift < 0.35, "a small drift: %s" % seen.header.drift)
	assert_eq(seen.header.action, "inserted")
	var sent: Dictionary = _backend.headers("identity.observe")[0]
	assert_eq([sent.kind, sent.entity, sent.meta], ["appearance", "red", {"frame": 3}])
	assert_false(sent.has("update"), "the default is left to the backend")
	assert_eq(sent.blobs[0].shape, [8, 8, 3])
	var anonymous := await _identity.observe("appearance", plain(8, 8, Color8(10, 10, 240)), "",
		false)
	assert_eq(anonymous.header.entity, "blue")
	assert_eq(anonymous.header.drift, null)
	sent = _backend.headers("identity.observe")[1]
	assert_false(sent.has("entity"), "no entity named")
	assert_eq(sent.update, false)
	assert_eq(_drifts, [], "no drift past a threshold")


func test_a_drift_past_the_threshold_is_a_signal() -> void:
	await _serve()
	await _register("red", Color8(250, 10, 10))
	var seen := await _identity.observe("appearance", plain(8, 8, Color8(10, 250, 10)), "red")
	assert_true(seen.header.drift > 0.35)
	assert_true(await wait_until(func() -> bool: return not _drifts.is_empty()), "drift_detected")
	assert_eq(_drifts[0][0], "red")
	assert_almost_eq(_drifts[0][1], float(seen.header.drift), 1e-6)
	assert_almost_eq(_drifts[0][2], 0.35, 1e-6)
	assert_almost_eq(float(_identity.banks.red.drift), float(seen.header.drift), 1e-6)
	_backend.push_drift("someone", 0.9, 0.6)
	assert_true(await wait_until(func() -> bool: return _drifts.size() == 2), "any entity's")
	assert_eq(_drifts[1], ["someone", 0.9, 0.6])


func test_faces_carry_their_box_and_landmarks_and_no_face_is_an_error() -> void:
	await _serve()
	var images: Array[Image] = [plain(8, 8, Color8(200, 150, 120))]
	var registered := await _identity.register("ann", "face", images)
	assert_eq(registered.kind, "identity.register")
	var seen := await _identity.observe("face", plain(8, 8, Color8(190, 150, 120)), "ann")
	assert_eq(seen.header.face.box.size(), 4)
	assert_eq(seen.header.face.landmarks.size(), 68)
	var dark := await _identity.observe("face", plain(8, 8, Color.BLACK), "ann")
	assert_eq([dark.kind, dark.header.code], ["error", "no_face"])
	var none: Array[Image] = [plain(8, 8, Color.BLACK)]
	var refused := await _identity.register("bob", "face", none)
	assert_eq(refused.header.code, "no_face")
	assert_false(_identity.banks.has("bob"))


func test_reconstruct_face_sends_the_photo_and_placement_and_reports_progress() -> void:
	await _serve()
	var progress: Array = []
	_identity.face_progressed.connect(func(entity: String, step: int, steps: int) -> void: (
		progress.append([entity, step, steps])))
	var photo := plain(16, 8, Color8(200, 150, 120), Image.FORMAT_RGBA8)
	var reply := await _identity.reconstruct_face("ann", photo, {"name": "Ann", "steps": 2,
		"position": Vector3(1, 2, 3), "rotation": Quaternion(0, 1, 0, 0), "ignored": true})
	assert_eq(reply.kind, "face.reconstruct", str(reply.header))
	var sent: Dictionary = _backend.headers("face.reconstruct")[0]
	assert_eq([sent.entity, sent.name, sent.steps, sent.position, sent.rotation],
		["ann", "Ann", 2, [1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 0.0]])
	assert_false(sent.has("ignored"), "only the documented options go out")
	assert_eq(sent.blobs[0].shape, [8, 16, 3], "the photo as RGB8")
	assert_true(await wait_until(func() -> bool: return progress.size() == 2), "progress")
	assert_eq(progress, [["ann", 1, 2], ["ann", 2, 2]])
	assert_eq(_identity.banks.ann.kind, "face", "the new bank is noted")
	var again := await _identity.reconstruct_face("ann", photo)
	assert_eq([again.kind, again.header.code], ["error", "conflict"])
	var dark := await _identity.reconstruct_face("bob", plain(8, 8, Color.BLACK))
	assert_eq(dark.header.code, "no_face")
	var nothing := await _identity.reconstruct_face("bob", null)
	assert_eq(nothing.header.code, "bad_image")
	assert_eq(_backend.headers("face.reconstruct").size(), 3, "a null photo is not sent")


func test_query_returns_references_and_ranks_against_an_image() -> void:
	await _serve()
	var images: Array[Image] = [plain(8, 8, Color8(250, 10, 10)), plain(8, 8, Color8(10, 10, 250))]
	await _identity.register("duo", "appearance", images)
	var plain_query := await _identity.query("duo", 1)
	assert_eq(plain_query.kind, "identity.query")
	assert_eq(plain_query.header.references.size(), 1, "k")
	var sent: Dictionary = _backend.headers("identity.query")[0]
	assert_eq([sent.entity, sent.k, sent.has("kind"), sent.has("blobs")], ["duo", 1, false, false])
	var ranked := await _identity.query("duo", 4, plain(8, 8, Color8(0, 0, 255)))
	var references: Array = ranked.header.references
	assert_eq(references.size(), 2)
	assert_eq(int(references[0].slot), 1, "the blue slot first")
	sent = _backend.headers("identity.query")[1]
	assert_eq(sent.kind, "appearance", "the bank's kind as registered")
	assert_eq(sent.blobs[0].shape, [8, 8, 3])
	var unknown := await _identity.query("nobody")
	assert_eq([unknown.kind, unknown.header.code], ["error", "not_found"])


func test_fetch_reference_gives_the_image_from_the_backend_then_the_cache() -> void:
	await _serve()
	var gradient := Image.create_empty(12, 9, false, Image.FORMAT_RGB8)
	for y in 9:
		for x in 12:
			gradient.set_pixel(x, y, Color8(x * 20, y * 25, 77))
	var images: Array[Image] = [gradient]
	await _identity.register("grad", "appearance", images)
	var reply := await _identity.query("grad")
	var hash: String = reply.header.references[0].asset
	var image := await _identity.fetch_reference(hash)
	assert_true(image != null, str(_identity.last_error))
	assert_eq(image.get_size(), Vector2i(12, 9))
	assert_eq(image.get_data(), gradient.get_data(), "pixel for pixel")
	assert_eq(_identity.last_error, {})
	var again := await _identity.fetch_reference(hash)
	assert_eq(_backend.headers("asset.get").size(), 1, "the second from the cache")
	assert_eq(again.get_data(), gradient.get_data())
	assert_eq(await _identity.fetch_reference("f".repeat(64)), null)
	assert_eq(_identity.last_error.error, "not_found")


func test_list_and_remove_keep_banks() -> void:
	await _serve()
	await _register("red", Color8(250, 10, 10))
	await _register("blue", Color8(10, 10, 250))
	_identity.banks = {}
	var listed := await _identity.list_banks()
	assert_eq(listed.header.banks.size(), 2)
	assert_eq(_identity.banks.keys(), ["red", "blue"])
	var removed := await _identity.remove("red")
	assert_eq([removed.kind, removed.header.entity], ["identity.remove", "red"])
	assert_eq(_identity.banks.keys(), ["blue"])
	var again := await _identity.remove("red")
	assert_eq(again.header.code, "not_found")
	var orphan := await _identity.observe("appearance", plain(8, 8, Color.RED), "red")
	assert_eq(orphan.header.code, "not_found", "observing a removed entity")


func _serve() -> void:
	_backend = FakeIdentityBackend.new()
	add_child(_backend)
	_backend.listen()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_identity.session_path = ^"../Session"
	add_child(_identity)
	_identity.get_asset_client().cache_dir = _cache_dir
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")


func _register(entity: String, color: Color) -> void:
	var images: Array[Image] = [plain(8, 8, color)]
	var reply := await _identity.register(entity, "appearance", images)
	assert_eq(reply.kind, "identity.register", str(reply.header))
