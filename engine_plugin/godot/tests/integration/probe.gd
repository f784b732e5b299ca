extends "res://tests/script_main.gd"
## Integration scenarios against a real backend, driven by pytest (tests/integration/).
##
##     godot --headless --path engine_plugin/godot --script res://tests/integration/probe.gd \
##         -- --continuum-port=N --scenario=NAME [--count=N] [--timeout=S] [--continuum-token=T]
##
## Prints result lines "CONTINUUM_RESULT {json}" (one JSON object each; the last one has "ok")
## and quits with 0 when the scenario passed, 1 when not, 2 on bad arguments.
##
## Scenarios:
##   handshake       connect; the welcome's fields
##   request_reply   ping, echo with an f32 blob, world.get, an unknown kind, a bad request
##   ticks           subscribe to tick; --count ticks (30): strictly increasing seq? gaps?
##   reconnect       connect, print {"event": "connected"}, wait (--timeout, 60 s) for the backend
##                   to restart, then print the second connection
##   bench           --count (2000) sequential 100-octet echo requests (p50/p99 ms), then
##                   --bulk_repeat (5) fills of 16 MiB: MB/s from the request to the PackedByteArray
##                   in hand (1 MB = 10^6 octets), their median and each run
##   bad_server      the port serves garbage: an error is reported and the session keeps retrying
##   unauthorized    a wrong --continuum-token: error unauthorized, and the session stops

const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

const SCENARIOS := [
	"handshake", "request_reply", "ticks", "reconnect", "bench", "bad_server", "unauthorized"]

var _session: SessionScript
var _errors: Array = []


func _main() -> void:
	var scenario: String = args.get("scenario", "")
	if not scenario in SCENARIOS:
		finish(2, {"ok": false, "error": "--scenario must be one of %s" % [SCENARIOS]})
		return
	var default_timeout := 60.0 if scenario in ["reconnect", "bench"] else 30.0
	var timeout_s := float(args.get("timeout", default_timeout))
	create_timer(timeout_s).timeout.connect(func() -> void: finish(1, {
		"scenario": scenario, "ok": false, "error": "timed out after %.0f s" % timeout_s,
		"state": SessionScript.State.keys()[_session.state], "errors": _errors}))
	# The session reads --continuum-host/port/token itself.
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.error_reported.connect(func(code: String, message: String) -> void: _errors.append(
		{"code": code, "message": message}))
	root.add_child(_session)
	var result: Dictionary = await call("_run_" + scenario)
	result["scenario"] = scenario
	result["errors"] = _errors
	finish(0 if result.get("ok", false) else 1, result)


func _run_handshake() -> Dictionary:
	var welcome := await _connect()
	return {
		"ok": _session.protocol_version == SessionScript.PROTOCOL_VERSION
			and not _session.session_id.is_empty(),
		"protocol": welcome.get("protocol"),
		"server": welcome.get("server"),
		"session": welcome.get("session"),
		"pub_port": welcome.get("pub_port"),
		"tick_hz": welcome.get("tick_hz"),
		"capabilities": welcome.get("capabilities"),
		"limits": welcome.get("limits"),
	}


func _run_request_reply() -> Dictionary:
	await _connect()
	var pong: Dictionary = await _session.request("ping")
	var floats := PackedFloat32Array([1.5, -2.25, 3.0e10, 0.0])
	var echo: Dictionary = await _session.request("echo", {"note": "caf\u00e9/x", "n": 3}, [floats])
	var echo_ok: bool = echo.kind == "echo" and echo.header.get("note") == "caf\u00e9/x" \
		and echo.header.get("n") == 3 and echo.blobs.size() == 1 \
		and MessageCodec.message_blob(echo, 0) == floats
	var world: Dictionary = await _session.request("world.get")
	var entities: Array = world.header.get("entities", [])
	var unknown: Dictionary = await _session.request("warp")
	var bad: Dictionary = await _session.request("fill", {"bytes": "lots"})
	var result := {
		"pong": pong.kind == "pong" and typeof(pong.header.get("t")) == TYPE_FLOAT,
		"echo_ok": echo_ok,
		"scene": world.header.get("scene", {}).get("name"),
		"entity_ids": entities.map(func(e: Dictionary) -> String: return e.get("id", "")),
		"unknown_kind_code": unknown.header.get("code") if unknown.kind == "error" else null,
		"bad_request_code": bad.header.get("code") if bad.kind == "error" else null,
	}
	result["ok"] = result.pong and echo_ok and world.kind == "world" and not entities.is_empty() \
		and result.unknown_kind_code == "unknown_kind" and result.bad_request_code == "bad_request"
	return result


func _run_ticks() -> Dictionary:
	await _connect()
	var count := int(args.get("count", 30))
	var seqs: Array[int] = []
	var times: Array[float] = []
	_session.tick_received.connect(func(seq: int, time: float, _h: Dictionary) -> void:
		seqs.append(seq)
		times.append(time))
	var reply: Dictionary = await _session.subscribe(PackedStringArray(["tick"]))
	if reply.kind != "subscribed":
		return {"ok": false, "reply": reply.header}
	while seqs.size() < count:
		await process_frame
	var increasing := true
	var gaps := 0
	for i in range(1, seqs.size()):
		increasing = increasing and seqs[i] > seqs[i - 1] and times[i] >= times[i - 1]
		gaps += 1 if seqs[i] - seqs[i - 1] > 1 else 0
	return {
		"ok": increasing, "count": seqs.size(), "increasing": increasing, "gaps": gaps,
		"first_seq": seqs[0], "last_seq": seqs[-1], "subscribed": reply.header,
	}


func _run_reconnect() -> Dictionary:
	var first := await _connect()
	emit_result({"event": "connected", "session": first.get("session")})
	var reason: Array[String] = []
	_session.disconnected.connect(func(r: String) -> void: reason.append(r), CONNECT_ONE_SHOT)
	var second: Dictionary = await _session.connected
	var pong: Dictionary = await _session.request("ping")
	return {
		"ok": not reason.is_empty() and pong.kind == "pong",
		"event": "reconnected",
		"first_session": first.get("session"),
		"session": second.get("session"),
		"disconnected_reason": "" if reason.is_empty() else reason[0],
	}


func _run_bench() -> Dictionary:
	# Unthrottled frames. Headless, Godot also sleeps low_processor_usage_mode_sleep_usec
	# (6.9 ms by default) every frame because no window draws; that would be all we measured.
	Engine.max_fps = 0
	OS.low_processor_usage_mode_sleep_usec = 0
	_session.ping_interval_s = 0.0
	await _connect()
	var n := int(args.get("count", 2000))
	var blob := PackedByteArray()
	blob.resize(100)
	blob.fill(7)
	for i in 50:  # Warm-up, not measured.
		await _session.request("echo", {}, [blob])
	var samples := PackedFloat64Array()
	var failures := 0
	for i in n:
		var started := Time.get_ticks_usec()
		var reply: Dictionary = await _session.request("echo", {}, [blob])
		samples.append((Time.get_ticks_usec() - started) / 1000.0)
		failures += 0 if reply.kind == "echo" and reply.blobs[0] == blob else 1
	samples.sort()
	var bulk := await _bulk(16 << 20, int(args.get("bulk_repeat", 5)))
	return {
		"ok": failures == 0 and bulk.intact,
		"godot_rtt_p50_ms": samples[int(n * 0.5)],
		"godot_rtt_p99_ms": samples[mini(n - 1, int(n * 0.99))],
		"godot_rtt_max_ms": samples[n - 1],
		"godot_bulk_MBps": bulk.median,
		"godot_bulk_MBps_runs": bulk.runs,
		"n": n,
		"failures": failures,
		"bulk_bytes": bulk.size,
		"bulk_intact": bulk.intact,
	}


# Fills of [param size] octets, [param repeat] times: MB/s of each and their median.
func _bulk(size: int, repeat: int) -> Dictionary:
	var runs := PackedFloat64Array()
	var intact := true
	for run in repeat:
		var started := Time.get_ticks_usec()
		var fill: Dictionary = await _session.request("fill", {"bytes": size})
		var data: PackedByteArray = fill.blobs[0] if fill.kind == "fill" else PackedByteArray()
		runs.append(size / ((Time.get_ticks_usec() - started) / 1e6) / 1e6)
		intact = intact and data.size() == size
		for i in [0, 250, 251, 252, 65535, 1000003, size - 1]:
			intact = intact and i < data.size() and data[i] == i % 251
	var sorted := runs.duplicate()
	sorted.sort()
	return {"median": sorted[int(repeat * 0.5)], "runs": runs, "size": size, "intact": intact}


func _run_bad_server() -> Dictionary:
	_session.connect_to_backend()
	while _errors.is_empty():
		await process_frame
	var first_errors := _errors.duplicate()
	# The session keeps trying (with backoff) rather than giving up or crashing.
	await create_timer(1.0).timeout
	return {
		"ok": _session.state != SessionScript.State.DISCONNECTED,
		"error_codes": first_errors.map(func(e: Dictionary) -> String: return e.code),
		"state": SessionScript.State.keys()[_session.state],
	}


func _run_unauthorized() -> Dictionary:
	_session.connect_to_backend()
	var reason: String = await _session.disconnected
	await create_timer(1.0).timeout
	var codes := _errors.map(func(e: Dictionary) -> String: return e.code)
	return {
		"ok": "unauthorized" in codes and _session.state == SessionScript.State.DISCONNECTED,
		"error_codes": codes,
		"disconnected_reason": reason,
		"state": SessionScript.State.keys()[_session.state],
	}


func _connect() -> Dictionary:
	_session.connect_to_backend()
	var welcome: Dictionary = await _session.connected
	return welcome
