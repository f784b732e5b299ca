# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## Tests of addons/continuum/generation/continuum_generator.gd: finding the session, decoding
## results and encoding input images without a backend; and against a fake generation backend
## (fake_generation_backend.gd): models listed and bound (models.changed), jobs submitted with
## their progress in order and exactly one end, every result kind decoded, cancel, bad params,
## a lost backend, other jobs of the session left alone, a result that cannot be decoded.

const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const FakeGenerationBackend = preload("res://tests/unit/generation/fake_generation_backend.gd")

var _generator: ContinuumGeneratorScript
var _backend: FakeGenerationBackend
var _session: ContinuumSessionScript
var _events: Array = []  # [signal name, args...] in the order the generator emitted them
var _others: Array[Node] = []


func before_each() -> void:
	_events.clear()
	_generator = ContinuumGeneratorScript.new()
	_generator.name = "Generator"
	_generator.session_path = ^"NoSuchSession"
	_generator.job_progressed.connect(func(job: int, step: int, steps: int) -> void: _events.append(
		["progressed", job, step, steps]))
	_generator.job_finished.connect(func(job: int, result: Dictionary) -> void: _events.append(
		["finished", job, result]))
	_generator.job_failed.connect(func(job: int, code: String, message: String) -> void: (
		_events.append(["failed", job, code, message])))
	_generator.models_changed.connect(func(status: Dictionary) -> void: _events.append(
		["models", status]))


func after_each() -> void:
	await next_frame()  # Not inside a session's signal when its node is freed.
	for other: Node in _others:
		if is_instance_valid(other):
			other.free()
	_others.clear()
	if is_instance_valid(_generator):
		_generator.free()
	if is_instance_valid(_session):
		_session.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	_backend = null


func test_missing_session_is_a_configuration_warning() -> void:
	add_child(_generator)
	assert_eq(_generator.get_session(), null)
	assert_eq(_generator._get_configuration_warnings().size(), 1)


func test_default_session_is_the_autoload() -> void:
	_generator.session_path = NodePath()
	add_child(_generator)
	assert_eq(_generator.get_session(), get_node_or_null(^"/root/Continuum"))


func test_without_a_backend_everything_answers_not_connected() -> void:
	add_child(_generator)
	var listed := await _generator.list_models()
	assert_eq([listed.kind, listed.header.code], ["error", "not_connected"])
	var job := await _generator.submit("text_to_image", {"prompt": "x"})
	assert_eq(job, -1)
	assert_eq(_generator.last_error.error, "not_connected")
	var result := await _generator.generate("text_to_image", {"prompt": "x"})
	assert_eq(result.error, "not_connected")
	var cancelled := await _generator.cancel(1)
	assert_eq(cancelled.header.code, "not_connected")
	assert_eq(_events, [])


func test_image_blob_is_rgb8_of_any_image() -> void:
	var rgba := Image.create_empty(4, 2, true, Image.FORMAT_RGBA8)
	rgba.fill(Color8(10, 20, 30, 40))
	var blob := ContinuumGeneratorScript.image_blob(rgba)
	assert_eq([blob.dtype, blob.shape], ["u8", [2, 4, 3]])
	assert_eq(blob.data.size(), 24, "no alpha, no mipmaps")
	assert_eq(blob.data.slice(0, 3), PackedByteArray([10, 20, 30]))
	assert_eq(rgba.get_format(), Image.FORMAT_RGBA8, "the caller's image is left as it was")
	var gray := Image.create_empty(2, 2, false, Image.FORMAT_L8)
	gray.fill(Color8(50, 50, 50))
	assert_eq(ContinuumGeneratorScript.image_blob(gray).data.slice(0, 3),
		PackedByteArray([50, 50, 50]))
	assert_eq(ContinuumGeneratorScript.image_blob(Image.new()).error, "bad_image")
	assert_eq(ContinuumGeneratorScript.image_blob(null).error, "bad_image")


func test_decodes_each_result_kind() -> void:
	var pixels := PackedByteArray([1, 2, 3, 4, 5, 6])
	var image := ContinuumGeneratorScript.decode_result(_done("image", [1, 2, 3]), [pixels])
	assert_eq([image.image.get_width(), image.image.get_height()], [2, 1])
	assert_eq(image.image.get_format(), Image.FORMAT_RGB8)
	assert_eq(image.image.get_pixel(1, 0), Color8(4, 5, 6))
	assert_eq([image.job, image.slot, image.model], [7, "s", {"name": "m"}])
	var video := ContinuumGeneratorScript.decode_result(
		_done("video", [2, 1, 1, 3], {"fps": 12}), [pixels])
	assert_eq(video.frames.size(), 2)
	assert_eq(video.frames[1].get_pixel(0, 0), Color8(4, 5, 6))
	assert_eq(video.fps, 12)
	var values := PackedFloat32Array([0.5, 1.5, 2.5, 3.5])
	var motion := ContinuumGeneratorScript.decode_result(
		_done("trajectory", [2, 2], {"fps": 30, "channels": ["x", "y"]}, "f32"),
		[values.to_byte_array()])
	assert_eq(motion.trajectory, values)
	assert_eq([motion.shape, motion.channels, motion.fps], [[2, 2],
		PackedStringArray(["x", "y"]), 30])
	assert_eq(motion.end_velocity, PackedFloat32Array(), "none given")
	var thrown := ContinuumGeneratorScript.decode_result(_done("trajectory", [2, 2], {"fps": 30,
		"channels": ["x", "y"], "end_velocity": [1, -2.5, 0]}, "f32"), [values.to_byte_array()])
	assert_eq(thrown.end_velocity, PackedFloat32Array([1, -2.5, 0]))


func test_refuses_results_that_do_not_fit() -> void:
	var pixels := PackedByteArray([1, 2, 3, 4, 5, 6])
	var cases := {
		"wrong shape": [_done("image", [1, 1, 6]), [pixels]],
		"wrong size": [_done("image", [1, 1, 3]), [pixels]],
		"wrong dtype": [_done("image", [1, 2, 3], {}, "f32"), [pixels]],
		"no blob": [_done("image", [1, 2, 3]), []],
		"unknown result": [_done("sound", [6]), [pixels]],
		"video as image": [_done("video", [1, 2, 3]), [pixels]],
		"bad dims": [_done("image", [1, -2, 3]), [pixels]],
	}
	for what: String in cases:
		var decoded := ContinuumGeneratorScript.decode_result(cases[what][0], cases[what][1])
		assert_eq(decoded.get("error"), "bad_blob", what)


func test_lists_and_binds_models() -> void:
	await _serve()
	var listed := await _generator.list_models()
	assert_eq(listed.kind, "models.list")
	assert_eq(listed.header.slots.map(func(s: Dictionary) -> String: return s.slot),
		ContinuumGeneratorScript.SLOTS)
	assert_eq(_generator.slots.text_to_image.state, "ready")
	var bound := await _generator.bind_model("image_edit", {"model": "/models/pix2pix"}, true)
	assert_eq([bound.kind, bound.header.state], ["models.bind", "loading"])
	assert_eq(_backend.headers("models.bind")[0].save, true)
	assert_eq(_backend.headers("models.bind")[0].spec, {"model": "/models/pix2pix"})
	assert_true(await wait_until(func() -> bool: return _models().size() == 2), "changed twice")
	assert_eq(_models().map(func(s: Dictionary) -> String: return s.state), ["loading", "ready"])
	assert_eq(_generator.slots.image_edit.model.name, "pix2pix")
	assert_false(_generator.slots.image_edit.has("re"), "a status, not a reply")
	await _generator.bind_model("motion", {"model": "/models/missing"})
	assert_false(_backend.headers("models.bind")[1].has("save"), "save only when asked")
	assert_true(await wait_until(func() -> bool: return _models().size() == 4))
	assert_eq(_models()[3].state, "failed")
	assert_true(str(_models()[3].error).contains("missing"))
	assert_eq(_generator.slots.motion.state, "failed")


func test_generate_an_image_with_progress_in_order() -> void:
	await _serve()
	var result := await _generator.generate("text_to_image", {"prompt": "red", "width": 16,
		"height": 8, "steps": 4, "seed": 5})
	assert_false(result.has("error"), str(result))
	var image: Image = result.image
	assert_eq([image.get_width(), image.get_height(), image.get_format()],
		[16, 8, Image.FORMAT_RGB8])
	assert_eq(image.get_pixel(15, 7), Color8(5, 4, 7))
	assert_eq(result.slot, "text_to_image")
	assert_eq(result.model.name, "builtin text_to_image")
	var job: int = result.job
	var heads := _events.map(
		func(e: Array) -> Array: return e.slice(0, 4 if e[0] == "progressed" else 2))
	assert_eq(heads, [["progressed", job, 1, 4], ["progressed", job, 2, 4],
		["progressed", job, 3, 4], ["progressed", job, 4, 4], ["finished", job]])
	assert_eq(_events[4][2], result, "the signal carries the same result")
	var submitted: Dictionary = _backend.headers("gen.submit")[0]
	assert_eq(submitted.params, {"prompt": "red", "width": 16, "height": 8, "steps": 4,
		"seed": 5})
	assert_false(submitted.has("timeout_s"))
	assert_eq(_generator.running_jobs(), {})


func test_submit_returns_the_job_and_the_signals_follow() -> void:
	await _serve()
	_backend.auto_run = false
	var job := await _generator.submit("motion", {"frames": 3}, null, 2.5)
	assert_true(job > 0, "a job id")
	assert_eq(_backend.headers("gen.submit")[0].timeout_s, 2.5)
	assert_eq(_generator.running_jobs(), {job: {"slot": "motion", "step": 0, "steps": 0}})
	var listed := await _generator.jobs()
	assert_eq(listed.header.jobs.map(func(j: Dictionary) -> int: return int(j.job)), [job])
	_backend.step_jobs()
	assert_true(await wait_until(func() -> bool: return _events.size() == 1))
	assert_eq(_generator.running_jobs()[job], {"slot": "motion", "step": 1, "steps": 3})
	_backend.auto_run = true
	assert_true(await wait_until(func() -> bool: return _ended().size() == 1), "ended")
	var result: Dictionary = _ended()[0][2]
	assert_eq(result.trajectory, PackedFloat32Array([0, 0, 0, 1, 2, 3, 2, 4, 6]))
	assert_eq([result.shape, result.channels, result.fps], [[3, 3],
		PackedStringArray(["x", "y", "z"]), 30])
	await wait_seconds(0.1)
	assert_eq(_ended().size(), 1, "exactly one end")


func test_image_edit_sends_the_image_as_rgb8() -> void:
	await _serve()
	var input := Image.create_empty(8, 8, false, Image.FORMAT_RGBA8)
	input.fill(Color8(200, 100, 0, 255))
	input.set_pixel(3, 2, Color8(0, 0, 0, 0))
	var result := await _generator.generate("image_edit", {"instruction": "invert"}, input)
	assert_false(result.has("error"), str(result))
	var blobs: Array = _backend.headers("gen.submit")[0].blobs
	assert_eq(blobs, [{"dtype": "u8", "shape": [8, 8, 3]}])
	assert_eq(result.image.get_pixel(0, 0), Color8(55, 155, 255))
	assert_eq(result.image.get_pixel(3, 2), Color8(255, 255, 255))


func test_image_to_video_gives_one_image_per_frame() -> void:
	await _serve()
	var input := Image.create_empty(8, 8, false, Image.FORMAT_RGB8)
	input.fill(Color8(9, 9, 9))
	var result := await _generator.generate("image_to_video", {"frames": 3, "fps": 12}, input)
	assert_eq(result.frames.size(), 3, str(result))
	assert_eq(result.fps, 12)
	for t in 3:
		assert_eq(result.frames[t].get_pixel(0, 0), Color8(t, 9, 9), "frame %d" % t)
		assert_eq(result.frames[t].get_pixel(7, 7), Color8(9, 9, 9))


func test_cancel_ends_the_job_as_cancelled() -> void:
	await _serve()
	_backend.auto_run = false
	var ended: Array = []
	var run := func() -> void: ended.append(await _generator.generate("text_to_image", {
		"prompt": "x", "steps": 100}))
	run.call()
	assert_true(await wait_until(func() -> bool: return _generator.running_jobs().size() == 1))
	var job: int = _generator.running_jobs().keys()[0]
	var reply := await _generator.cancel(job)
	assert_eq([reply.kind, reply.header.state], ["gen.cancel", "cancelling"])
	_backend.step_jobs()
	assert_true(await wait_until(func() -> bool: return ended.size() == 1), "generate returned")
	assert_eq(ended[0], {"error": "cancelled", "message": "cancelled"})
	assert_eq(_ended().size(), 1)
	assert_eq(_ended()[0].slice(0, 3), ["failed", job, "cancelled"])
	var again := await _generator.cancel(job)
	assert_eq(again.header.code, "not_found", "it ended")


func test_bad_params_are_refused_with_the_backends_error() -> void:
	await _serve()
	var job := await _generator.submit("text_to_image", {"prompt": "x", "width": 12})
	assert_eq(job, -1)
	assert_eq(_generator.last_error.error, "bad_request")
	assert_true(_generator.last_error.message.contains("width"), _generator.last_error.message)
	var result := await _generator.generate("image_edit", {"instruction": "invert"})
	assert_eq(result.error, "bad_request", "no image")
	assert_eq(_events, [], "no job, no signal")
	assert_eq(await _generator.submit("motion", {}), 1, "the next one goes")
	assert_eq(_generator.last_error, {}, "cleared")


func test_a_lost_backend_fails_the_running_jobs() -> void:
	await _serve()
	_backend.auto_run = false
	var ended: Array = []
	var run := func() -> void: ended.append(await _generator.generate("text_to_image", {
		"prompt": "x"}))
	run.call()
	assert_true(await wait_until(func() -> bool: return _generator.running_jobs().size() == 1))
	await _generator.list_models()
	assert_false(_generator.slots.is_empty())
	_backend.router.stop()
	assert_true(await wait_until(func() -> bool: return ended.size() == 1), "generate returned")
	assert_eq(ended[0].error, "disconnected")
	assert_eq(_ended()[0][2], "disconnected")
	assert_eq(_generator.running_jobs(), {})
	assert_eq(_generator.slots, {}, "forgotten with the backend")


func test_jobs_of_other_generators_are_left_alone() -> void:
	await _serve()
	var other: ContinuumGeneratorScript = ContinuumGeneratorScript.new()
	other.session_path = ^"../Session"
	_others.append(other)
	add_child(other)
	var others: Array = []
	other.job_finished.connect(func(job: int, _r: Dictionary) -> void: others.append(job))
	_backend.push_foreign_job(99)
	var result := await _generator.generate("motion", {"frames": 1})
	assert_false(result.has("error"))
	assert_eq(_ended().map(func(e: Array) -> int: return e[1]), [result.job], "its own only")
	assert_eq(others, [], "the other generator's signals stay quiet")


func test_a_result_that_cannot_be_decoded_fails_the_job() -> void:
	await _serve()
	_backend.corrupt_results = true
	var result := await _generator.generate("text_to_image", {"prompt": "x"})
	assert_eq(result.error, "bad_blob", str(result))
	assert_eq(_ended()[0][2], "bad_blob")


# The generator bound to a session connected to the fake generation backend.
func _serve() -> void:
	_backend = FakeGenerationBackend.new()
	add_child(_backend)
	_backend.listen()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_generator.session_path = ^"../Session"
	add_child(_generator)
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")


func _models() -> Array:
	return _events.filter(func(e: Array) -> bool: return e[0] == "models").map(
		func(e: Array) -> Dictionary: return e[1])


func _ended() -> Array:
	return _events.filter(func(e: Array) -> bool: return e[0] in ["finished", "failed"])


static func _done(
	result: String, shape: Array, extra: Dictionary = {}, dtype: String = "u8"
) -> Dictionary:
	var header := {"job": 7, "slot": "s", "result": result, "model": {"name": "m"},
		"blobs": [{"dtype": dtype, "shape": shape}]}
	header.merge(extra)
	return header
