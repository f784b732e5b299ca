extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend with generation for the generation tests: fake_backend.gd (hello, ping) that
## also answers models.list, models.bind, gen.submit, gen.cancel and gen.jobs like
## bridge/PROTOCOL.md section 14, runs its jobs one step per frame (gen.progress pushes, then
## gen.done or gen.failed to the peer that submitted) and pushes models.changed to every peer.
##
## What its models make: text_to_image an image of the requested size whose every pixel is
## (seed, steps, 7) mod 256 (steps default 3); image_edit the input inverted; image_to_video
## `frames` copies of the input (default 2, a step each), frame t's first octet set to t;
## motion a trajectory [frames, 3] whose row t is (t, 2t, 3t). A bind of a folder whose name
## contains "missing" fails; others load.

const SLOTS: Array[String] = ["text_to_image", "image_edit", "image_to_video", "motion"]

## Run the jobs by themselves, one step per frame (false: only [method step_jobs] runs them).
var auto_run: bool = true
## Send gen.done with a blob that does not fit its result (for decode failures).
var corrupt_results: bool = false

var _status: Dictionary = {}  # slot -> status
var _jobs: Array[Dictionary] = []  # {id, peer, slot, params, image, step, steps, cancel}
var _next_job: int = 1
var _binds: Array = []  # [slot, spec] to finish next frame


func _init() -> void:
	super()
	for slot in SLOTS:
		_status[slot] = {"slot": slot, "spec": {"model": "builtin", "device": "cpu",
			"dtype": "float32"}, "model": {"name": "builtin " + slot, "pipeline": "builtin",
			"device": "cpu"}, "state": "ready", "loading": null, "error": null, "version": 0}


func _process(_delta: float) -> void:
	for bind: Array in _binds:
		_finish_bind(bind[0], bind[1])
	_binds.clear()
	if auto_run:
		step_jobs()


## The jobs not yet ended.
func job_count() -> int:
	return _jobs.size()


## Takes one step of every job (the first one's queue position aside: all run at once).
func step_jobs() -> void:
	for job: Dictionary in _jobs.duplicate():
		if job.cancel:
			_end(job, "gen.failed", {"code": "cancelled", "message": "cancelled"})
			continue
		job.step += 1
		router.send_reply("gen.progress", {"job": job.id, "step": job.step, "steps": job.steps},
			[], job.peer)
		if job.step >= job.steps:
			_done(job)


## Pushes a gen.progress and a gen.done for a job no client submitted.
func push_foreign_job(id: int) -> void:
	router.send_reply("gen.progress", {"job": id, "step": 1, "steps": 1})
	router.send_reply("gen.done", {"job": id, "slot": "motion", "result": "trajectory",
		"fps": 30, "channels": ["x"], "model": {}}, [PackedFloat32Array([1.0])])


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	match message.kind:
		"models.list":
			router.send_reply("models.list", {"re": re, "slots": SLOTS.map(
				func(s: String) -> Dictionary: return _status[s])}, [], peer)
		"models.bind":
			_serve_bind(peer, re, header)
		"gen.submit":
			_serve_submit(peer, re, header, message)
		"gen.cancel":
			var job := _job(header.get("job"))
			if job.is_empty() or job.peer != peer:
				_error(peer, re, "not_found", "gen.cancel: no job %s" % header.get("job"))
				return
			job.cancel = true
			router.send_reply("gen.cancel", {"re": re, "job": job.id, "state": "cancelling"}, [],
				peer)
		"gen.jobs":
			var mine := _jobs.filter(func(j: Dictionary) -> bool: return j.peer == peer).map(
				func(j: Dictionary) -> Dictionary: return {"job": j.id, "slot": j.slot,
					"state": "running", "step": j.step, "steps": j.steps})
			router.send_reply("gen.jobs", {"re": re, "jobs": mine}, [], peer)
		_:
			super._handle(peer, re, message)


func _serve_bind(peer: int, re: Variant, header: Dictionary) -> void:
	var slot: Variant = header.get("slot")
	var spec: Variant = header.get("spec")
	if not slot in SLOTS or not spec is Dictionary or not spec.get("model") is String:
		_error(peer, re, "bad_request", "models.bind: a slot and a spec with a model")
		return
	var status: Dictionary = _status[slot].duplicate()
	status.merge({"state": "loading", "loading": spec, "error": null}, true)
	_status[slot] = status
	var reply := status.duplicate()
	reply["re"] = re
	router.send_reply("models.bind", reply, [], peer)
	router.send_reply("models.changed", status)
	_binds.append([slot, spec])


func _finish_bind(slot: String, spec: Dictionary) -> void:
	var status: Dictionary = _status[slot].duplicate()
	if "missing" in spec.model:
		status.merge({"state": "failed", "loading": null,
			"error": "slot %s: no model folder %s" % [slot, spec.model]}, true)
	else:
		status.merge({"state": "ready", "loading": null, "spec": spec,
			"model": {"name": spec.model.get_file(), "pipeline": "fake", "device": "cpu"},
			"version": int(status.version) + 1}, true)
	_status[slot] = status
	router.send_reply("models.changed", status)


func _serve_submit(peer: int, re: Variant, header: Dictionary, message: Dictionary) -> void:
	var slot: Variant = header.get("slot")
	var params: Variant = header.get("params", {})
	var problem := _check(slot, params, message)
	if not problem.is_empty():
		_error(peer, re, "bad_request", "gen.submit: " + problem)
		return
	var job := {"id": _next_job, "peer": peer, "slot": slot, "params": params, "step": 0,
		"cancel": false, "steps": int(params.get("steps", 3)), "image": {}}
	if slot in ["image_to_video", "motion"]:
		job.steps = int(params.get("frames", 2))
	if not message.blobs.is_empty():
		job.image = {"shape": message.header.blobs[0].shape, "data": message.blobs[0]}
	_next_job += 1
	_jobs.append(job)
	router.send_reply("gen.submit", {"re": re, "job": job.id, "queued": 0}, [], peer)


func _check(slot: Variant, params: Variant, message: Dictionary) -> String:
	if not slot in SLOTS:
		return "unknown slot %s" % [slot]
	if not params is Dictionary:
		return "params must be an object"
	var takes_image: bool = slot in ["image_edit", "image_to_video"]
	if message.blobs.size() != (1 if takes_image else 0):
		return "%s takes %s" % [slot, "one image blob" if takes_image else "no blob"]
	if takes_image:
		var descriptor: Dictionary = message.header.blobs[0]
		if descriptor.dtype != "u8" or descriptor.shape.size() != 3 or descriptor.shape[2] != 3:
			return "%s.image must be uint8 [H, W, 3], got %s" % [slot, descriptor]
	for side: String in ["width", "height"]:
		var value: Variant = params.get(side, 8)
		if not (value is float or value is int) or int(value) % 8 != 0 or value < 8:
			return "%s.%s must be a multiple of 8, got %s" % [slot, side, value]
	return ""


func _done(job: Dictionary) -> void:
	var header := {"job": job.id, "slot": job.slot, "model": _status[job.slot].model}
	var blob: Dictionary
	var params: Dictionary = job.params
	match job.slot:
		"text_to_image":
			var width := int(params.get("width", 8))
			var height := int(params.get("height", 8))
			var pixel := PackedByteArray([int(params.get("seed", 0)) % 256, job.steps % 256, 7])
			var data := PackedByteArray()
			for i in width * height:
				data.append_array(pixel)
			header["result"] = "image"
			blob = MessageCodec.make_blob("u8", [height, width, 3], data)
		"image_edit":
			var data: PackedByteArray = job.image.data.duplicate()
			for i in data.size():
				data[i] = 255 - data[i]
			header["result"] = "image"
			blob = MessageCodec.make_blob("u8", job.image.shape, data)
		"image_to_video":
			var data := PackedByteArray()
			for t in job.steps:
				var frame: PackedByteArray = job.image.data.duplicate()
				frame[0] = t
				data.append_array(frame)
			header.merge({"result": "video", "fps": int(params.get("fps", 7))})
			blob = MessageCodec.make_blob("u8", [job.steps] + job.image.shape, data)
		"motion":
			var values := PackedFloat32Array()
			for t in job.steps:
				values.append_array(PackedFloat32Array([t, 2 * t, 3 * t]))
			header.merge({"result": "trajectory", "fps": 30, "channels": ["x", "y", "z"]})
			blob = MessageCodec.make_blob("f32", [job.steps, 3], values.to_byte_array())
	if corrupt_results:
		blob.shape = [1, 1, 3] if header.result != "trajectory" else [1, 2]
		blob.dtype = "u8"
		blob.data = PackedByteArray([1, 2, 3]) if header.result != "trajectory" \
			else PackedByteArray([1, 2])
		header.result = "video" if header.result == "image" else header.result
	_end(job, "gen.done", header, [blob])


func _end(job: Dictionary, kind: String, fields: Dictionary, blobs: Array = []) -> void:
	_jobs.erase(job)
	var header := fields.duplicate()
	header.merge({"job": job.id, "slot": job.slot})
	router.send_reply(kind, header, blobs, job.peer)


func _job(id: Variant) -> Dictionary:
	for job: Dictionary in _jobs:
		if typeof(id) in [TYPE_INT, TYPE_FLOAT] and job.id == int(id):
			return job
	return {}
