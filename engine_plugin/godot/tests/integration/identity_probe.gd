extends "res://tests/script_main.gd"
## Identity and memory scenarios (bridge/PROTOCOL.md section 15) against a real backend, driven
## by pytest (tests/integration/test_godot_identity.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/identity_probe.gd \
##         -- --continuum-port=N --scenario=NAME [--cat=PNG --other=PNG --far=PNG] \
##         [--face=PNG --no-face=PNG] [--steps=N] [--timeout=S]
##
## One ContinuumSession with a ContinuumIdentity and a ContinuumMemory, as a game would use
## them. Images are loaded from the PNG files pytest wrote (Image.load_from_file). Prints result
## lines "CONTINUUM_RESULT {json}" (the last one has "ok") and quits with 0 when the scenario
## passed, 1 when not, 2 on bad arguments.
##
## Scenarios:
##   appearance  banks "cat" (--cat) and "other" (--other) registered; a brightened cat observed
##               as "cat" (matches, drift, action) and anonymously without an update; --far
##               observed as "cat" without an update (drift_detected expected); "cat"
##               queried, plain and against the brightened image, and its references fetched
##               (size, sha256 of the pixels); the banks listed, "other" removed, then a query
##               and an observe of it (not_found); observe_camera under --headless
##   face        a face bank "face" from --face; the face observed brightened (box, landmarks,
##               drift); --no-face registered and observed as a face (no_face)
##   face_splat  a ContinuumWorld on the session; --face reconstructed as entity "visitor" at
##               (0, 1.6, -2) with --steps refinement steps (progress signals counted), until the
##               world shows its splats; then again under the same id (conflict) and --no-face
##               (no_face)
##   memory      records added (places as Vector3), queried by text, place, who and time,
##               summarised by who, queried again

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const ContinuumIdentityScript = preload("res://addons/continuum/identity/continuum_identity.gd")
const ContinuumMemoryScript = preload("res://addons/continuum/memory/continuum_memory.gd")
const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")

const SCENARIOS := ["appearance", "face", "face_splat", "memory"]
## Seconds to wait for a push.
const PUSH_WAIT_S := 20.0

var _session: SessionScript
var _identity: ContinuumIdentityScript
var _memory: ContinuumMemoryScript
var _drifts: Array = []  # [entity, drift, threshold] as drift_detected said
var _errors: Array = []


func _main() -> void:
	var scenario := scenario_arg(SCENARIOS)
	if scenario.is_empty():
		return
	var timeout_s := float(args.get("timeout", "140"))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"drifts": _drifts, "errors": _errors}))
	OS.low_processor_usage_mode_sleep_usec = 1000
	_session = probe_session(60.0, _errors)  # the first face loads dlib's models
	_identity = ContinuumIdentityScript.new()
	_identity.name = "Identity"
	_identity.session_path = _session.get_path()
	_identity.drift_detected.connect(func(entity: String, drift: float, threshold: float) -> void: (
		_drifts.append([entity, drift, threshold])))
	root.add_child(_identity)
	_identity.get_asset_client().cache_dir = "user://continuum_tests/identity_probe_%d" % (
		Time.get_ticks_usec())
	_memory = ContinuumMemoryScript.new()
	_memory.name = "Memory"
	_memory.session_path = _session.get_path()
	root.add_child(_memory)
	_session.connect_to_backend()
	while not _session.is_backend_connected():
		await process_frame
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	_remove_cache()
	finish(0 if result.get("ok", false) else 1, result)


func _run_appearance() -> Dictionary:
	var cat := _load("cat")
	var other := _load("other")
	var far := _load("far")
	if cat == null or other == null or far == null:
		return {"ok": false, "error": "--cat, --other and --far must be PNG files"}
	var brighter := _brightened(cat)
	# 1. Two banks.
	var cats: Array[Image] = [cat]
	var others: Array[Image] = [other]
	var registered := [
		_summary(await _identity.register("cat", "appearance", cats, {"source": "probe"})),
		_summary(await _identity.register("other", "appearance", others)),
	]
	# 2. The cat, brightened: recognised, its bank updated; then anonymously, no update.
	var seen := _summary(await _identity.observe("appearance", brighter, "cat"))
	var anonymous := _summary(await _identity.observe("appearance", brighter, "", false))
	# 3. Something else said to be the cat: a drift past the threshold, pushed.
	var drifts_before := _drifts.size()
	var far_seen := _summary(await _identity.observe("appearance", far, "cat", false))
	var until := _now() + PUSH_WAIT_S
	while _drifts.size() == drifts_before and _now() < until:
		await process_frame
	# 4. References, plain and ranked against an image, fetched as images.
	var queried := await _identity.query("cat")
	var ranked := _summary(await _identity.query("cat", 1, brighter))
	var fetched: Array = []
	for reference: Dictionary in queried.header.get("references", []):
		var image := await _identity.fetch_reference(str(reference.get("asset")))
		fetched.append({"asset": reference.get("asset"), "error": _identity.last_error.get("error"),
			"size": [image.get_width(), image.get_height()] if image != null else null,
			"rgb8": image != null and image.get_format() == Image.FORMAT_RGB8,
			"sha256": _sha256(image.get_data()) if image != null else null})
	var again := await _identity.fetch_reference(str(fetched[0].asset)) if not fetched.is_empty() \
		else null
	# 5. The banks listed; one removed, then asked for.
	var listed := _summary(await _identity.list_banks())
	var removed := _summary(await _identity.remove("other"))
	var gone_query := _summary(await _identity.query("other"))
	var gone_observe := _summary(await _identity.observe("appearance", other, "other"))
	var camera := Camera3D.new()
	root.add_child(camera)
	var captured := _summary(await _identity.observe_camera(camera, "appearance"))
	return {
		"ok": seen.kind == "identity.observe" and fetched.size() >= 1 \
			and fetched.all(func(f: Dictionary) -> bool: return f.size != null),
		"registered": registered,
		"seen": seen,
		"anonymous": anonymous,
		"far": far_seen,
		"drifts": _drifts,
		"queried": _summary(queried),
		"ranked": ranked,
		"fetched": fetched,
		"again_size": [again.get_width(), again.get_height()] if again != null else null,
		"asset_stats": _identity.get_asset_client().stats,
		"listed": listed,
		"banks_known": _identity.banks.keys(),
		"removed": removed,
		"gone_query": gone_query,
		"gone_observe": gone_observe,
		"camera": captured,
		"headless": ContinuumIdentityScript.is_headless(),
	}


func _run_face() -> Dictionary:
	var face := _load("face")
	var no_face := _load("no-face")
	if face == null or no_face == null:
		return {"ok": false, "error": "--face and --no-face must be PNG files"}
	var faces: Array[Image] = [face]
	var registered := _summary(await _identity.register("face", "face", faces))
	var seen := _summary(await _identity.observe("face", _brightened(face), "face"))
	var none: Array[Image] = [no_face]
	var refused := _summary(await _identity.register("nobody", "face", none))
	var unseen := _summary(await _identity.observe("face", no_face))
	return {
		"ok": registered.kind == "identity.register" and seen.kind == "identity.observe",
		"registered": registered,
		"seen": seen,
		"refused": refused,
		"unseen": unseen,
		"banks_known": _identity.banks.keys(),
	}


func _run_face_splat() -> Dictionary:
	var face := _load("face")
	var no_face := _load("no-face")
	if face == null or no_face == null:
		return {"ok": false, "error": "--face and --no-face must be PNG files"}
	var world := ContinuumWorldScript.new()
	world.name = "World"
	world.session_path = _session.get_path()
	root.add_child(world)
	world.get_asset_client().cache_dir = _identity.get_asset_client().cache_dir
	await world.reload()
	var progress: Array = []
	_identity.face_progressed.connect(func(entity: String, step: int, steps: int) -> void: (
		progress.append([entity, step, steps])))
	var options := {"name": "Visitor", "position": Vector3(0, 1.6, -2),
		"steps": int(args.get("steps", "20"))}
	var made := _summary(await _identity.reconstruct_face("visitor", face, options))
	var until := _now() + PUSH_WAIT_S
	while world.get_splat_cloud("visitor") == null and _now() < until:
		await process_frame
	var node := world.get_entity_node("visitor")
	var cloud: Resource = world.get_splat_cloud("visitor")
	var again := _summary(await _identity.reconstruct_face("visitor", face))
	var refused := _summary(await _identity.reconstruct_face("nobody", no_face))
	return {
		"ok": made.kind == "face.reconstruct" and cloud != null,
		"made": made,
		"progress": progress,
		"node_position": _xyz(node.position) if node != null else null,
		"node_name": str(node.name) if node != null else null,
		"splat_count": cloud.get("count") if cloud != null else null,
		"splat_hash": world.splat_hashes.get("visitor"),
		"again": again,
		"refused": refused,
		"banks_known": _identity.banks.keys(),
	}


func _run_memory() -> Dictionary:
	var added := [
		_summary(await _memory.add("guard", "said", "The bridge to the castle is closed at night.",
			Vector3(1, 0, 2), 0.8)),
		_summary(await _memory.add("merchant", "said", "Fresh apples and pears are cheap today.",
			Vector3(40, 0, -3), 0.4)),
		_summary(await _memory.add("guard", "touched", "The iron gate of the old well.", null)),
	]
	var by_text := await _memory.query({"text": "When does the castle bridge close?", "k": 3})
	var near := await _memory.query({"near": Vector3(41, 0, -3), "radius": 5.0})
	var by_who := await _memory.query({"who": "guard"})
	var future := await _memory.query({"since": Time.get_unix_time_from_system() + 3600.0})
	var refused := _summary(await _memory.query({"colour": "red"}))
	var folded := _summary(await _memory.summarize(0.0))
	var after := await _memory.query({"k": 10})
	return {
		"ok": by_text.kind == "memory.query" and folded.kind == "memory.summarize",
		"added": added,
		"by_text": _hits(by_text),
		"near": _hits(near),
		"near_position": _xyz(ContinuumMemoryScript.record_position(near.header.records[0])) \
			if not near.header.get("records", []).is_empty() else null,
		"by_who": _hits(by_who),
		"future": _hits(future),
		"refused": refused,
		"folded": folded,
		"after": _hits(after),
	}


func _remove_cache() -> void:
	var folder := _identity.get_asset_client().cache_dir
	if DirAccess.dir_exists_absolute(folder):
		for file in DirAccess.get_files_at(folder):
			DirAccess.remove_absolute(folder.path_join(file))
		DirAccess.remove_absolute(folder)


# The image of the user argument --NAME (a PNG file path), or null.
func _load(name: String) -> Image:
	var path: String = args.get(name, "")
	if path.is_empty():
		return null
	return Image.load_from_file(path)


# A reply as JSON-friendly fields: its kind, its header without "re", the error code if any.
static func _summary(reply: Dictionary) -> Dictionary:
	var header: Dictionary = reply.get("header", {}).duplicate()
	header.erase("re")
	return {"kind": reply.get("kind"), "header": header, "code": header.get("code")}


# A memory.query reply as [[who, what, text, summary, where], ...] best first, or its error.
static func _hits(reply: Dictionary) -> Variant:
	if reply.kind != "memory.query":
		return _summary(reply)
	return reply.header.get("records", []).map(func(hit: Dictionary) -> Array: return [
		hit.record.who, hit.record.what, hit.record.text, hit.record.summary, hit.record.where])


# A Vector3 as [x, y, z] (JSON has no vectors); anything else as null.
static func _xyz(value: Variant) -> Variant:
	return [value.x, value.y, value.z] if value is Vector3 else null


# [param image] a third brighter (and RGB8).
static func _brightened(image: Image) -> Image:
	var out := Image.new()
	out.copy_from(image)
	out.convert(Image.FORMAT_RGB8)
	out.adjust_bcs(1.3, 1.0, 1.0)
	return out


static func _sha256(data: PackedByteArray) -> String:
	var hashing := HashingContext.new()
	hashing.start(HashingContext.HASH_SHA256)
	hashing.update(data)
	return hashing.finish().hex_encode()


static func _now() -> float:
	return Time.get_ticks_usec() / 1e6
