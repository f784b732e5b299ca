extends "res://tests/script_main.gd"
## Splat live-sync scenarios against a real backend, driven by pytest
## (tests/integration/test_godot_assets.py).
##
##     godot --headless --path engine_plugin/godot --script res://tests/integration/asset_probe.gd \
##         -- --continuum-port=N --scenario=NAME --cache=DIR [--versions=N] [--credit=N]
##            [--timeout=S] [--continuum-max-asset-bytes=N]
##
## A ContinuumWorld with its own session mirrors the backend's world; its asset client caches in
## --cache (an absolute folder, so runs do not share user://). Prints "CONTINUUM_RESULT {json}"
## lines: events while it runs, then one result with "ok", and quits with 0 when the scenario
## passed, 1 when not, 2 on bad arguments. Events:
##   {"event": "shown", "entity", "hash", "count", "from_cache"}  a version is on screen
##   {"event": "transfer", "hash"}   the first chunk of a version not shown yet arrived
##   {"event": "failed", "entity", "hash", "code"}   a version could not be fetched
##   {"event": "world", "entities"}   the world's entities arrived (world.get answered)
## Every event carries "t", seconds since Godot started (the engine-splats benchmark times a
## sync from "world" to "shown").
##
## Scenarios:
##   sync    wait until --versions (1) distinct splat versions were shown; each time the node
##           swaps, the shown cloud's count and the world's hash are reported. Every frame checks
##           that once something was shown, the entity's node keeps showing a cloud.
##   refuse  the first version fails with too_large (set --continuum-max-asset-bytes low); the
##           world and the session carry on
##   lost    wait for a shown version, then for a failed one (the backend goes away while a newer
##           version is transferred): code "disconnected", the old version still shown after 1 s

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const WorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")

const SCENARIOS := ["sync", "refuse", "lost"]

var _session: SessionScript
var _world: WorldScript
var _shown: Array[Dictionary] = []  # the "shown" events
var _failed: Array[Dictionary] = []  # the "failed" events
var _transfers: Dictionary = {}  # hashes whose chunks started arriving
var _blank_frames := 0  # frames without a shown cloud once one was shown
var _frames := 0
var _nodes: Dictionary = {}  # instance ids of the splat nodes seen


func _process(_delta: float) -> bool:
	if _world != null and not _shown.is_empty():
		_frames += 1
		var node := _splat_node(_shown[0].entity)
		if node == null or node.get_shown_cloud() == null:
			_blank_frames += 1
		if node != null:
			_nodes[node.get_instance_id()] = true
	return false


func _main() -> void:
	var scenario: String = args.get("scenario", "")
	if not scenario in SCENARIOS or not args.has("cache"):
		finish(2, {"ok": false, "error": "--scenario must be one of %s; --cache=DIR is needed" % [
			SCENARIOS]})
		return
	var timeout_s := float(args.get("timeout", 60.0))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"shown": _shown, "failed": _failed}))
	# 1. A session and a world bound to it; the world loads when the session connects.
	_session = SessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	root.add_child(_session)
	_world = WorldScript.new()
	_world.name = "World"
	_world.session_path = ^"../Session"
	root.add_child(_world)
	var assets := _world.get_asset_client()
	assets.cache_dir = args.cache
	assets.credit_window = int(args.get("credit", 0))
	_world.splat_updated.connect(_on_splat_updated)
	_world.splat_failed.connect(_on_splat_failed)
	_world.world_loaded.connect(
			func(count: int) -> void: emit_result({"event": "world", "entities": count}))
	_session.message_received.connect(_on_message)
	_session.connect_to_backend()
	# 2. The scenario.
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["shown"] = _shown
	result["failed"] = _failed
	result["stats"] = assets.stats
	finish(0 if result.get("ok", false) else 1, result)


## Adds "t", seconds since Godot started, to [param fields], then prints them.
func emit_result(fields: Dictionary) -> void:
	fields["t"] = Time.get_ticks_usec() / 1e6
	super(fields)


func _run_sync() -> Dictionary:
	var versions := int(args.get("versions", 1))
	while _distinct_shown() < versions:
		await process_frame
	var last: Dictionary = _shown[-1]
	var node := _splat_node(last.entity)
	var cached := FileAccess.file_exists(_world.get_asset_client().cache_path(last.hash))
	return {
		"ok": _blank_frames == 0 and _nodes.size() == 1 and cached,
		"hashes": _shown.map(func(e: Dictionary) -> String: return e.hash),
		"world_hash": _world.splat_hashes.get(last.entity),
		"count": node.get_shown_cloud().count,
		"frames": _frames,
		"blank_frames": _blank_frames,
		"nodes": _nodes.size(),
		"cached": cached,
	}


func _run_refuse() -> Dictionary:
	while _failed.is_empty():
		await process_frame
	await create_timer(0.5).timeout
	var failure: Dictionary = _failed[0]
	var node := _splat_node(failure.entity)
	var pong: Dictionary = await _session.request("ping")
	return {
		"ok": failure.code == "too_large" and _shown.is_empty() and node != null
			and node.cloud == null and pong.kind == "pong",
		"code": failure.code,
		"still_connected": pong.kind == "pong",
		"entities": Array(_world.entity_ids),
	}


func _run_lost() -> Dictionary:
	while _shown.is_empty():
		await process_frame
	var first: Dictionary = _shown[0]
	while _failed.is_empty():
		await process_frame
	await create_timer(1.0).timeout
	var node := _splat_node(first.entity)
	var showing: SplatCloud = node.get_shown_cloud() if node != null else null
	var kept := showing != null and showing == _world.get_splat_cloud(first.entity)
	return {
		"ok": _failed[0].code == "disconnected" and kept and _blank_frames == 0
			and _world.splat_hashes.get(first.entity) == first.hash,
		"code": _failed[0].code,
		"kept_hash": _world.splat_hashes.get(first.entity),
		"kept_count": showing.count if showing != null else -1,
		"state": SessionScript.State.keys()[_session.state],
		"blank_frames": _blank_frames,
	}


func _on_splat_updated(entity_id: String, hash: String) -> void:
	var node := _splat_node(entity_id)
	if node.get_shown_cloud() != node.cloud:
		await node.cloud_swapped
	var from_cache := not _transfers.has(hash)
	var event := {"event": "shown", "entity": entity_id, "hash": hash,
		"count": node.get_shown_cloud().count, "from_cache": from_cache}
	_shown.append(event)
	emit_result(event)


func _on_splat_failed(entity_id: String, hash: String, code: String) -> void:
	var event := {"event": "failed", "entity": entity_id, "hash": hash, "code": code}
	_failed.append(event)
	emit_result(event)


func _on_message(kind: String, header: Dictionary, _blobs: Array) -> void:
	var hash: Variant = header.get("hash")
	if kind == "asset.chunk" and hash is String and not _transfers.has(hash):
		_transfers[hash] = true
		emit_result({"event": "transfer", "hash": hash})


func _splat_node(entity_id: String) -> SplatInstance3D:
	var node := _world.get_entity_node(entity_id)
	return EntityBuilder.find_splat_node(node) if node != null else null


func _distinct_shown() -> int:
	var hashes := {}
	for event in _shown:
		hashes[event.hash] = true
	return hashes.size()
