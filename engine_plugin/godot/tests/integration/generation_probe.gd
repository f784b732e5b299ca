extends "res://tests/script_main.gd"
## Generation scenarios (bridge/PROTOCOL.md section 14) against a real backend, driven by pytest
## (tests/integration/test_godot_generation.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/generation_probe.gd \
##         -- --continuum-port=N --scenario=NAME [--folder=PATH] [--timeout=S]
##
## One ContinuumSession with a ContinuumGenerator, as a game would use it. Prints result lines
## "CONTINUUM_RESULT {json}" (the last one has "ok") and quits with 0 when the scenario passed,
## 1 when not, 2 on bad arguments. Every signal the generator emits is recorded in order.
##
## Scenarios:
##   image    text_to_image 64x32, 5 steps, seed 3: the image, its pixels' sha256, the
##            progress in order, exactly one end
##   edit     image_edit "invert" of a 16x8 RGBA gradient made here: how far each output pixel
##            is from 255 minus the input's
##   kinds    image_to_video (4 frames at 10 fps) of a 16x16 image and motion (10 frames of a
##            ball thrown up): frames, sizes, fps, the trajectory, its shape and channels
##   cancel   a long text_to_image (2048x2048, 500 steps) cancelled after its first progress
##            (job_failed "cancelled"); another ended by its timeout_s (job_failed "timeout");
##            gen.jobs empty afterwards
##   bad      requests the backend refuses: a width not a multiple of 8, an unknown slot, an
##            image_edit without an image, an unknown param; then a good one still works
##   models   models.list; models.bind of --folder (a missing folder): the slot goes loading
##            then failed (models_changed), and the built-in model still serves a job
##   handover (scenes/physics_playground) a ContinuumWorld shows the bodies; a motion "throw"
##            (restitution 0.8) from the ball's place is generated and played on the ball by a
##            ContinuumMotionPlayer (teleporting its body along), handed over to the live
##            physics at the end; where the ball is shown then and 0.3 s later; an unknown
##            scenario and a parameter out of range are refused

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const MotionPlayerScript = preload(
	"res://addons/continuum/generation/continuum_motion_player.gd"
)

const SCENARIOS := ["image", "edit", "kinds", "cancel", "bad", "models", "handover"]
## Seconds to wait for a push.
const PUSH_WAIT_S := 60.0

var _session: SessionScript
var _generator: ContinuumGeneratorScript
var _signals: Array = []  # [name, job, ...] in emission order
var _errors: Array = []


func _main() -> void:
	var scenario := scenario_arg(SCENARIOS)
	if scenario.is_empty():
		return
	var timeout_s := float(args.get("timeout", "100"))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"signals": _signals, "errors": _errors}))
	OS.low_processor_usage_mode_sleep_usec = 1000
	_session = probe_session(30.0, _errors)
	_generator = ContinuumGeneratorScript.new()
	_generator.name = "Generator"
	_generator.session_path = _session.get_path()
	_generator.job_progressed.connect(func(job: int, step: int, steps: int) -> void: (
		_signals.append(["progressed", job, step, steps])))
	_generator.job_finished.connect(func(job: int, _result: Dictionary) -> void: _signals.append(
		["finished", job]))
	_generator.job_failed.connect(func(job: int, code: String, message: String) -> void: (
		_signals.append(["failed", job, code, message])))
	_generator.models_changed.connect(func(status: Dictionary) -> void: _signals.append(
		["models", status.get("slot"), status.get("state"), status.get("error")]))
	root.add_child(_generator)
	_session.connect_to_backend()
	while not _session.is_backend_connected():
		await process_frame
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	finish(0 if result.get("ok", false) else 1, result)


func _run_image() -> Dictionary:
	var result := await _generator.generate("text_to_image", {"prompt": "a red and blue field",
		"width": 64, "height": 32, "steps": 5, "seed": 3})
	await _settle()
	var image: Image = result.get("image")
	var job := int(result.get("job", -1))
	return {
		"ok": image != null,
		"error": result.get("error"),
		"size": [image.get_width(), image.get_height()] if image != null else null,
		"format_rgb8": image != null and image.get_format() == Image.FORMAT_RGB8,
		"sha256": _sha256(image.get_data()) if image != null else null,
		"job": job,
		"model": result.get("model"),
		"slot": result.get("slot"),
		"progress": _progress(job),
		"ends": _ends(job),
		"running_after": _generator.running_jobs().size(),
	}


func _run_edit() -> Dictionary:
	var input := Image.create_empty(16, 8, false, Image.FORMAT_RGBA8)
	for y in 8:
		for x in 16:
			input.set_pixel(x, y, Color8(x * 16, y * 32, (x * 7 + y * 13) % 256, 128))
	var result := await _generator.generate("image_edit", {"instruction": "invert"}, input)
	await _settle()
	var image: Image = result.get("image")
	var deviation := -1
	if image != null and image.get_size() == input.get_size():
		var want := input.duplicate() as Image
		want.convert(Image.FORMAT_RGB8)
		var got := image.get_data()
		var sent := want.get_data()
		deviation = 0
		for i in got.size():
			deviation = maxi(deviation, absi(int(got[i]) - (255 - int(sent[i]))))
	var job := int(result.get("job", -1))
	return {
		"ok": image != null and deviation >= 0 and deviation <= 1,
		"error": result.get("error"),
		"size": [image.get_width(), image.get_height()] if image != null else null,
		"deviation": deviation,
		"progress": _progress(job),
		"ends": _ends(job),
	}


func _run_kinds() -> Dictionary:
	var input := Image.create_empty(16, 16, false, Image.FORMAT_RGB8)
	input.fill(Color8(40, 120, 200))
	var video := await _generator.generate("image_to_video", {"frames": 4, "fps": 10, "seed": 1},
		input)
	var frames: Array = video.get("frames", [])
	var motion := await _generator.generate("motion", {"frames": 10, "fps": 20,
		"params": {"y": 1.0, "vy": 2.0}})
	await _settle()
	var trajectory: PackedFloat32Array = motion.get("trajectory", PackedFloat32Array())
	return {
		"ok": frames.size() == 4 and trajectory.size() == 30,
		"errors_seen": [video.get("error"), motion.get("error")],
		"frame_sizes": frames.map(func(f: Image) -> Array: return [f.get_width(), f.get_height()]),
		"frame_formats_rgb8": frames.all(
			func(f: Image) -> bool: return f.get_format() == Image.FORMAT_RGB8),
		"first_pixel": _rgb(frames[0].get_pixel(8, 8)) if not frames.is_empty() else null,
		"fps": video.get("fps"),
		"trajectory": Array(trajectory),
		"shape": motion.get("shape"),
		"channels": Array(motion.get("channels", PackedStringArray())),
		"motion_fps": motion.get("fps"),
		"ends": [_ends(int(video.get("job", -1))), _ends(int(motion.get("job", -1)))],
	}


func _run_handover() -> Dictionary:
	var world := ContinuumWorldScript.new()
	world.name = "World"
	world.session_path = _session.get_path()
	root.add_child(world)
	await world.reload()
	var ball := world.get_entity_node("ball")
	if ball == null:
		return {"ok": false, "error": "the world has no ball (serve scenes/physics_playground)"}
	var params := {"scenario": "throw", "frames": 24, "fps": 30, "params": {"height": 0.5,
		"vx": 2.0, "vy": 2.5, "vz": 0.0, "restitution": 0.8}, "origin": [0.0, 0.0, 2.0]}
	var motion := await _generator.generate("motion", params)
	var player := MotionPlayerScript.new()
	player.name = "Player"
	player.entity = "ball"
	player.session_path = _session.get_path()
	root.add_child(player)
	player.target_path = player.get_path_to(ball)
	var finished: Array = []
	player.motion_finished.connect(func(handed_over: bool) -> void: finished.append(handed_over))
	var started := player.play(motion)
	var shown: Array = []  # [seconds into the motion, the node's position, the motion's], 30 ms apart
	var until := _now() + PUSH_WAIT_S
	while finished.is_empty() and _now() < until:
		await process_frame
		if player.is_playing() and (shown.is_empty() or player.time_s - shown[-1][0] >= 0.03):
			shown.append([player.time_s, _xyz(ball.global_position), _xyz(player.sample(
				player.time_s))])
	var at_end := _xyz(ball.global_position)
	await create_timer(0.3).timeout
	var later := _xyz(ball.global_position)
	var unknown := await _generator.generate("motion", {"scenario": "juggle"})
	var out_of_range := await _generator.generate("motion", {"scenario": "throw",
		"params": {"restitution": 1.5}})
	return {
		"ok": started and finished == [true],
		"motion_error": motion.get("error"),
		"channels": Array(motion.get("channels", PackedStringArray())),
		"shape": motion.get("shape"),
		"trajectory": Array(motion.get("trajectory", PackedFloat32Array())),
		"end_velocity": Array(motion.get("end_velocity", PackedFloat32Array())),
		"finished": finished,
		"shown": shown,
		"at_end": at_end,
		"later": later,
		"unknown": [unknown.get("error"), unknown.get("message")],
		"out_of_range": [out_of_range.get("error"), out_of_range.get("message")],
	}


func _run_cancel() -> Dictionary:
	var long_params := {"prompt": "slow", "width": 2048, "height": 2048, "steps": 500}
	var job := await _generator.submit("text_to_image", long_params)
	var until := _now() + PUSH_WAIT_S
	while _progress(job).is_empty() and _ends(job).is_empty() and _now() < until:
		await process_frame
	var progressed_before_cancel := _progress(job).size()
	var cancelled_at := _now()
	var reply := await _generator.cancel(job)
	while _ends(job).is_empty() and _now() < until:
		await process_frame
	var cancel_s := _now() - cancelled_at
	var timed := await _generator.generate("text_to_image", long_params, null, 0.5)
	await _settle()
	var listed := await _generator.jobs()
	var ends := _ends(job)
	return {
		"ok": ends.size() == 1 and ends[0][2] == "cancelled" and timed.get("error") == "timeout",
		"job": job,
		"progressed_before_cancel": progressed_before_cancel,
		"cancel_reply": [reply.kind, reply.header.get("state"), reply.header.get("code")],
		"ends": ends,
		"cancel_s": cancel_s,
		"timeout_result": timed,
		"timeout_ends": _ends(int(_last_job())),
		"jobs_after": listed.header.get("jobs"),
		"running_after": _generator.running_jobs().size(),
	}


func _run_bad() -> Dictionary:
	var codes := {}
	var messages := {}
	var cases := {
		"width": ["text_to_image", {"prompt": "x", "width": 12}, null],
		"slot": ["painting", {"prompt": "x"}, null],
		"no_image": ["image_edit", {"instruction": "invert"}, null],
		"unknown_param": ["text_to_image", {"prompt": "x", "colour": "red"}, null],
		"steps": ["text_to_image", {"prompt": "x", "steps": 0}, null],
	}
	for key: String in cases:
		var job := await _generator.submit(cases[key][0], cases[key][1], cases[key][2])
		codes[key] = _generator.last_error.get("error") if job < 0 else "accepted"
		messages[key] = _generator.last_error.get("message", "")
	var generated := await _generator.generate("text_to_image", {"prompt": "x", "height": 7})
	var good := await _generator.generate("text_to_image", {"prompt": "x", "width": 8,
		"height": 8, "steps": 1})
	await _settle()
	return {
		"ok": good.get("image") is Image,
		"codes": codes,
		"messages": messages,
		"generate_error": generated,
		"good_size": [good.image.get_width(), good.image.get_height()] \
			if good.get("image") is Image else null,
		"signals": _signals,
	}


func _run_models() -> Dictionary:
	var listed := await _generator.list_models()
	var slots: Array = listed.header.get("slots", [])
	var folder: String = args.get("folder", "/nonexistent/continuum-model")
	var bound := await _generator.bind_model("text_to_image", {"model": folder})
	var until := _now() + PUSH_WAIT_S
	var failed := func() -> bool: return _signals.any(
		func(s: Array) -> bool: return s[0] == "models" and s[2] == "failed")
	while not failed.call() and _now() < until:
		await process_frame
	var served := await _generator.generate("text_to_image", {"prompt": "still here",
		"width": 16, "height": 16, "steps": 2})
	await _settle()
	var changes := _signals.filter(func(s: Array) -> bool: return s[0] == "models")
	return {
		"ok": failed.call() and served.get("image") is Image,
		"listed": slots.map(func(s: Dictionary) -> Array: return [s.slot, s.state,
			s.model.get("name"), s.spec.get("model")]),
		"bind_reply": [bound.kind, bound.header.get("state"), bound.header.get("loading")],
		"changes": changes,
		"slot_after": _generator.slots.get("text_to_image"),
		"served_model": served.get("model"),
		"served_error": served.get("error"),
	}


# Waits a little, so a second end of a job (there must be none) would be seen.
func _settle() -> void:
	var until := _now() + 0.3
	while _now() < until:
		await process_frame


func _progress(job: int) -> Array:
	return _signals.filter(func(s: Array) -> bool: return s[0] == "progressed" and s[1] == job) \
		.map(func(s: Array) -> Array: return [s[2], s[3]])


func _ends(job: int) -> Array:
	return _signals.filter(
		func(s: Array) -> bool: return s[0] in ["finished", "failed"] and s[1] == job)


func _last_job() -> int:
	var ended := _signals.filter(func(s: Array) -> bool: return s[0] in ["finished", "failed"])
	return ended[-1][1] if not ended.is_empty() else -1


static func _sha256(data: PackedByteArray) -> String:
	var hashing := HashingContext.new()
	hashing.start(HashingContext.HASH_SHA256)
	hashing.update(data)
	return hashing.finish().hex_encode()


static func _rgb(color: Color) -> Array:
	return [color.r8, color.g8, color.b8]


static func _now() -> float:
	return Time.get_ticks_usec() / 1e6


static func _xyz(v: Vector3) -> Array:
	return [v.x, v.y, v.z]
