@tool
class_name ContinuumGenerator
extends Node
## Generates images, videos and motions on the backend (bridge/PROTOCOL.md section 14).
##
## The backend generates through slots ([code]text_to_image[/code], [code]image_edit[/code],
## [code]image_to_video[/code], [code]motion[/code]), each bound to a model. A job is submitted
## to a slot with its params (and an input image for the slots that take one); its progress and
## its end come back as pushes to the session that submitted it, which this node turns into
## signals, the result decoded: an [Image], one [Image] per video frame, or a trajectory's
## floats. Without a [member session_path] it uses the "Continuum" autoload.
## [codeblock]
## var result := await generator.generate("text_to_image", {"prompt": "a red sky", "width": 256,
##         "height": 256, "steps": 20})
## if result.has("error"):
##     push_warning(result.message)
## else:
##     $Sprite2D.texture = ImageTexture.create_from_image(result.image)
## [/codeblock]
## [method submit] starts a job without waiting ([signal job_progressed], then exactly one of
## [signal job_finished] and [signal job_failed] follow); [method generate] submits and waits for
## the end. Signals are emitted for the jobs this node submitted only, so several generators can
## share a session. A lost backend ends every job of this node with code
## [code]disconnected[/code] (the backend forgets a lost session's jobs).
##
## Results ([signal job_finished], [method generate]): [code]{"image": Image}[/code] (RGB8),
## [code]{"frames": Array[Image], "fps": int}[/code], or [code]{"trajectory":
## PackedFloat32Array, "shape": [T, D], "channels": PackedStringArray, "fps": int,
## "end_velocity": PackedFloat32Array}[/code] (row t is frame t, columns named by channels; the
## velocity at the last frame, three values per body, empty when the model gives none; see
## ContinuumMotionPlayer), each with [code]job[/code], [code]slot[/code] and
## [code]model[/code] (the model's description) too. Failures: [code]{"error": code,
## "message": text}[/code], where code is the backend's (section 14: [code]cancelled[/code],
## [code]timeout[/code], [code]out_of_memory[/code], [code]failed[/code], [code]too_large[/code];
## a refused submit's [code]bad_request[/code], [code]busy[/code]) or the session's
## ([code]not_connected[/code], [code]disconnected[/code], [code]timeout[/code]), or
## [code]bad_blob[/code] for a result that cannot be decoded (reported here as an error).

## Job [param job] took model step [param step] of [param steps].
signal job_progressed(job: int, step: int, steps: int)
## Job [param job] ended with [param result] (see the class description).
signal job_finished(job: int, result: Dictionary)
## Job [param job] ended without a result: [param code] says why (see the class description).
signal job_failed(job: int, code: String, message: String)
## A slot's binding began, ended or failed ([code]models.changed[/code], any session's bind):
## [param status] is the slot's status ([code]{slot, spec, model, state, loading, error,
## version}[/code]).
signal models_changed(status: Dictionary)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

## The slots, in the backend's order.
const SLOTS: Array[String] = ["text_to_image", "image_edit", "image_to_video", "motion"]
## The slots that take an input image.
const IMAGE_SLOTS: Array[String] = ["image_edit", "image_to_video"]
## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"
## The largest image side decoded (Godot's own limit is higher; the backend's is 2048).
const MAX_SIDE := 16384

## The ContinuumSession to generate through; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		if is_inside_tree():
			_bind_session()
		update_configuration_warnings()

## Slot name -> its status as last heard ([method list_models], [method bind_model],
## [code]models.changed[/code]); emptied when the backend is lost.
var slots: Dictionary = {}
## Why the last [method submit] returned -1: [code]{"error": code, "message": text}[/code];
## empty after one that succeeded.
var last_error: Dictionary = {}

var _session: ContinuumSessionScript
var _jobs: Dictionary = {}  # job id -> _Job, for the jobs of this node not yet ended


func _ready() -> void:
	_bind_session()


func _get_configuration_warnings() -> PackedStringArray:
	return SessionLookup.warnings(self, session_path)


## The session this node generates through, or null when none can be found.
func get_session() -> ContinuumSessionScript:
	return _session if _session != null else _find_session()


## Sends `models.list`. A coroutine; returns the reply ([code]{kind, header, blobs}[/code]):
## [code]header.slots[/code] lists every slot's status; an error as it came. Notes the
## statuses in [member slots].
func list_models() -> Dictionary:
	var reply: Dictionary = await _request("models.list", {})
	var listed: Variant = reply.header.get("slots")
	if reply.kind == "models.list" and listed is Array:
		for status: Variant in listed:
			_note_status(status)
	return reply


## Sends `models.bind`: [param slot] loads the model [param spec] names
## ([code]{"model": "builtin" or a folder on the backend's disk, "device": "cpu" or "cuda",
## "dtype": "float32", "float16" or "bfloat16"}[/code], all but model optional) beside the one
## serving, which serves on until it is ready; [param save] also writes the backend's bindings
## file. A coroutine; returns the reply, whose header is the slot's status (state
## [code]loading[/code]). How the bind ends comes as [signal models_changed]: a folder that
## cannot load is state [code]failed[/code] there, not an error reply.
func bind_model(slot: String, spec: Dictionary, save := false) -> Dictionary:
	var fields := {"slot": slot, "spec": spec}
	if save:
		fields["save"] = true
	var reply: Dictionary = await _request("models.bind", fields)
	if reply.kind == "models.bind":
		var status: Dictionary = reply.header.duplicate()
		status.erase("re")
		_note_status(status)
	return reply


## Submits a job to [param slot] with [param params] (section 14 names them per slot) and, for
## the slots that take one, the input [param image] (any format: sent as RGB8). The job is ended
## by the backend after [param timeout_s] seconds when above 0. A coroutine; returns the job id,
## or -1 when it was not submitted ([member last_error] says why: [code]bad_request[/code]
## names the param, [code]busy[/code], [code]not_connected[/code], [code]bad_image[/code]).
func submit(slot: String, params: Dictionary, image: Image = null, timeout_s := 0.0) -> int:
	var job: _Job = await _submit(slot, params, image, timeout_s)
	return job.id if job != null else -1


## Submits a job like [method submit] and waits for its end. A coroutine; returns the result or
## [code]{"error": code, "message": text}[/code] (see the class description).
func generate(
	slot: String, params: Dictionary, image: Image = null, timeout_s := 0.0
) -> Dictionary:
	var job: _Job = await _submit(slot, params, image, timeout_s)
	if job == null:
		return last_error.duplicate()
	if job.outcome.is_empty():
		await job.ended
	return job.outcome


## Sends `gen.cancel` for job [param job]: it stops at its next step and ends with
## [signal job_failed] code [code]cancelled[/code]. A coroutine; returns the reply
## ([code]not_found[/code] for a job that ended already or is not this session's).
func cancel(job: int) -> Dictionary:
	return await _request("gen.cancel", {"job": job})


## Sends `gen.jobs`. A coroutine; returns the reply: [code]header.jobs[/code] lists the jobs of
## this node's session not yet ended ([code]{job, slot, state, step, steps}[/code], state
## [code]queued[/code] or [code]running[/code]), whichever node submitted them.
func jobs() -> Dictionary:
	return await _request("gen.jobs", {})


## The jobs this node submitted that have not ended, as the pushes left them: job id ->
## [code]{"slot": String, "step": int, "steps": int}[/code] (steps 0 before the first progress).
func running_jobs() -> Dictionary:
	var running := {}
	for id: int in _jobs:
		var job: _Job = _jobs[id]
		running[id] = {"slot": job.slot, "step": job.step, "steps": job.steps}
	return running


## [param image] as the one input blob of a job: RGB8, [code]u8 [H, W, 3][/code] (a copy
## converted when it is in another format, decompressed, without mipmaps). Returns a
## message_codec.gd blob, or [code]{"error": "bad_image", "message": text}[/code].
static func image_blob(image: Image) -> Dictionary:
	if image == null or image.is_empty():
		return MessageCodec.failure("bad_image", "the input image is empty")
	var rgb := image
	if image.get_format() != Image.FORMAT_RGB8 or image.has_mipmaps() or image.is_compressed():
		rgb = Image.new()
		rgb.copy_from(image)
		if rgb.is_compressed() and rgb.decompress() != OK:
			return MessageCodec.failure("bad_image", "cannot decompress the input image (format %d)"
				% image.get_format())
		rgb.clear_mipmaps()
		rgb.convert(Image.FORMAT_RGB8)
	return MessageCodec.make_blob("u8", [rgb.get_height(), rgb.get_width(), 3], rgb.get_data())


## Decodes a `gen.done` push ([param header] and its raw [param blobs]) into a result (see the
## class description), or [code]{"error": "bad_blob", "message": text}[/code].
static func decode_result(header: Dictionary, blobs: Array) -> Dictionary:
	var descriptors: Variant = header.get("blobs")
	if not descriptors is Array or descriptors.size() != 1 or blobs.size() != 1 \
			or not descriptors[0] is Dictionary or not blobs[0] is PackedByteArray:
		return MessageCodec.failure("bad_blob", "gen.done carries one result blob, got %d" % [
			blobs.size()])
	var dtype: Variant = descriptors[0].get("dtype")
	var shape := _shape(descriptors[0].get("shape"))
	var data: PackedByteArray = blobs[0]
	var kind: Variant = header.get("result")
	var result: Dictionary
	if _element_count(shape) * int(MessageCodec.ITEMSIZE.get(dtype, 0)) != data.size():
		result = MessageCodec.failure("bad_blob", "a %s %s result blob has %d octets" % [
			dtype, shape, data.size()])
	elif kind == "image":
		result = _decode_image(dtype, shape, data)
	elif kind == "video":
		result = _decode_video(dtype, shape, data)
	elif kind == "trajectory":
		result = _decode_trajectory(dtype, shape, data, header.get("channels"))
		if not result.has("error"):
			result["end_velocity"] = _numbers(header.get("end_velocity"))
	else:
		result = MessageCodec.failure("bad_blob", "gen.done of an unknown result %s" % [kind])
	if result.has("error"):
		return result
	if kind != "image":
		result["fps"] = int(_number(header.get("fps"), 0.0))
	result["job"] = int(_number(header.get("job"), -1.0))
	result["slot"] = str(header.get("slot", ""))
	result["model"] = header.get("model", {}) if header.get("model") is Dictionary else {}
	return result


func _find_session() -> ContinuumSessionScript:
	return SessionLookup.find(self, session_path)


func _bind_session() -> void:
	var session := _find_session()
	if session != _session:
		SessionLookup.reconnect(_session, session, &"message_received", _on_session_message)
		SessionLookup.reconnect(_session, session, &"disconnected", _on_session_disconnected)
		_end_all("disconnected", "the generator changed sessions")
		_session = session
	if _session == null and not Engine.is_editor_hint():
		push_warning(
			"[continuum] ContinuumGenerator '%s': no ContinuumSession at %s; nothing will generate"
			% [name, AUTOLOAD_PATH if session_path.is_empty() else session_path]
		)


func _submit(slot: String, params: Dictionary, image: Image, timeout_s: float) -> _Job:
	var blobs: Array = []
	if image != null:
		var blob := image_blob(image)
		if blob.has("error"):
			return _refuse(blob.error, blob.message)
		blobs.append(blob)
	var fields := {"slot": slot, "params": params}
	if timeout_s > 0.0:
		fields["timeout_s"] = timeout_s
	var reply: Dictionary = await _request("gen.submit", fields, blobs)
	var header: Dictionary = reply.header
	if reply.kind != "gen.submit":
		return _refuse(str(header.get("code", reply.kind)), str(header.get("message", "")))
	if not _is_number(header.get("job")):
		return _refuse("bad_message", "a gen.submit reply without a job: %s" % [header])
	# Registered before the session reads its next message: the job's pushes follow its reply.
	var job := _Job.new()
	job.id = int(header.job)
	job.slot = slot
	_jobs[job.id] = job
	last_error = {}
	return job


func _refuse(code: String, message: String) -> _Job:
	last_error = MessageCodec.failure(code, message)
	return null


# Sends a request through the session; a local error reply when there is none.
func _request(kind: String, fields: Dictionary, blobs: Array = []) -> Dictionary:
	var session := get_session()
	if session == null:
		var none: Array[PackedByteArray] = []
		return {"kind": "error", "header": {"re": null, "code": "not_connected",
			"message": "ContinuumGenerator '%s' has no session" % name}, "blobs": none}
	return await session.request(kind, fields, blobs)


func _note_status(status: Variant) -> void:
	if status is Dictionary and status.get("slot") is String:
		slots[status.slot] = status


# Ends job [param id] of this node with [param outcome] (a result, or {error, message}); false
# when this node has no such job (another node's, or ended already).
func _end(id: int, outcome: Dictionary) -> bool:
	var job: _Job = _jobs.get(id)
	if job == null:
		return false
	_jobs.erase(id)
	job.outcome = outcome
	if outcome.has("error"):
		job_failed.emit(id, str(outcome.error), str(outcome.get("message", "")))
	else:
		job_finished.emit(id, outcome)
	job.ended.emit()
	return true


func _end_all(code: String, message: String) -> void:
	for id: int in _jobs.keys():
		_end(id, MessageCodec.failure(code, message))


func _on_session_message(kind: String, header: Dictionary, blobs: Array) -> void:
	if kind == "models.changed":
		_note_status(header)
		models_changed.emit(header)
		return
	if not kind in ["gen.progress", "gen.done", "gen.failed"] or not _is_number(header.get("job")):
		return
	var id := int(header.job)
	var job: _Job = _jobs.get(id)
	if job == null:
		return  # Another generator's job on this session, or one that ended already.
	match kind:
		"gen.progress":
			job.step = int(_number(header.get("step"), job.step))
			job.steps = int(_number(header.get("steps"), job.steps))
			job_progressed.emit(id, job.step, job.steps)
		"gen.done":
			var result := decode_result(header, blobs)
			if result.has("error"):
				push_error("[continuum] job %d (%s): an unusable result: %s" % [
					id, job.slot, result.message])
			_end(id, result)
		"gen.failed":
			_end(id, MessageCodec.failure(str(header.get("code", "failed")),
				str(header.get("message", ""))))


func _on_session_disconnected(reason: String) -> void:
	slots = {}
	_end_all("disconnected", "the backend was lost (%s); its jobs are forgotten" % reason)


static func _decode_image(
	dtype: Variant, shape: PackedInt64Array, data: PackedByteArray
) -> Dictionary:
	if dtype != "u8" or shape.size() != 3 or shape[2] != 3 or not _sides_ok(shape[0], shape[1]):
		return MessageCodec.failure("bad_blob", "an image result is u8 [H, W, 3], got %s %s" % [
			dtype, shape])
	var image := Image.create_from_data(shape[1], shape[0], false, Image.FORMAT_RGB8, data)
	return {"image": image}


static func _decode_video(
	dtype: Variant, shape: PackedInt64Array, data: PackedByteArray
) -> Dictionary:
	if dtype != "u8" or shape.size() != 4 or shape[3] != 3 or shape[0] < 1 \
			or not _sides_ok(shape[1], shape[2]):
		return MessageCodec.failure("bad_blob", "a video result is u8 [T, H, W, 3], got %s %s" % [
			dtype, shape])
	var frames: Array[Image] = []
	var size := shape[1] * shape[2] * 3
	for t in shape[0]:
		var pixels := data.slice(t * size, (t + 1) * size)
		frames.append(Image.create_from_data(shape[2], shape[1], false, Image.FORMAT_RGB8, pixels))
	return {"frames": frames}


static func _decode_trajectory(
	dtype: Variant, shape: PackedInt64Array, data: PackedByteArray, channels: Variant
) -> Dictionary:
	if dtype != "f32" or shape.size() != 2:
		return MessageCodec.failure("bad_blob", "a trajectory result is f32 [T, D], got %s %s" % [
			dtype, shape])
	var names := PackedStringArray()
	if channels is Array:
		for channel: Variant in channels:
			names.append(str(channel))
	return {"trajectory": data.to_float32_array(), "shape": [shape[0], shape[1]],
		"channels": names}


# A list of numbers as floats; empty when it is not one.
static func _numbers(value: Variant) -> PackedFloat32Array:
	var out := PackedFloat32Array()
	if value is Array:
		for item: Variant in value:
			if not _is_number(item):
				return PackedFloat32Array()
			out.append(float(item))
	return out


# A blob descriptor's shape as integers; empty when it is not a list of non-negative integers.
static func _shape(value: Variant) -> PackedInt64Array:
	var shape := PackedInt64Array()
	if not value is Array:
		return shape
	for dim: Variant in value:
		if not _is_number(dim) or float(dim) < 0.0 or float(dim) != floorf(float(dim)):
			return PackedInt64Array()
		shape.append(int(dim))
	return shape


# The elements a shape holds; -1 for no shape.
static func _element_count(shape: PackedInt64Array) -> int:
	if shape.is_empty():
		return -1
	var count := 1
	for dim in shape:
		count *= dim
	return count


static func _sides_ok(height: int, width: int) -> bool:
	return height >= 1 and width >= 1 and height <= MAX_SIDE and width <= MAX_SIDE


static func _number(value: Variant, default: float) -> float:
	return float(value) if _is_number(value) else default


static func _is_number(value: Variant) -> bool:
	return typeof(value) in [TYPE_INT, TYPE_FLOAT] and is_finite(float(value))


## One job of this node, from its submit reply to its end.
class _Job:
	extends RefCounted

	## Emitted once, when the job ended ([member outcome] is set).
	signal ended

	var id: int = -1
	var slot: String = ""
	var step: int = 0
	var steps: int = 0
	## The result, or {error, message}; empty until the end.
	var outcome: Dictionary = {}
