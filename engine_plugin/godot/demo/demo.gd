extends Node3D
## The Continuum demo: shows the backend's world (a ContinuumWorld fed by the "Continuum"
## autoload), subscribes to the tick stream and shows the connection on screen.
##
## User arguments (after `--` on the command line):
##   --demo-seconds=S       run S seconds after connecting, print one line
##                          `CONTINUUM_DEMO {json}` and quit(0); quit(1) if not connected
##                          within S + 5 s.
##   --demo-screenshot=PATH save the viewport as a PNG at PATH once the world has loaded.
## The backend is chosen with the session's own arguments (--continuum-host=, --continuum-port=).

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

const RESULT_PREFIX := "CONTINUUM_DEMO "
const AUTOLOAD_PATH := ^"/root/Continuum"
## Extra seconds, beyond --demo-seconds, allowed for connecting.
const CONNECT_GRACE_S := 5.0
## Timed `ping` requests in a demo run.
const PING_COUNT := 8
const PING_INTERVAL_S := 0.05
## Frames drawn after the world loaded before a screenshot (lets lights and shadows settle).
const SCREENSHOT_FRAMES := 3
const SCREENSHOT_TIMEOUT_S := 10.0

var _demo_seconds: float = -1.0
var _connect_deadline_ms: int = 0
var _screenshot_path: String = ""
var _screenshot_done: bool = false
var _session: ContinuumSessionScript
var _connected_once: bool = false
var _demo_started: bool = false
var _finished: bool = false
var _ticks: int = 0
var _tick_seq_first: int = -1
var _tick_seq_last: int = -1
var _rtt_samples: PackedFloat64Array = []
var _last_event: String = ""

@onready var _world: ContinuumWorldScript = $World
@onready var _status: Label = $HUD/Status


func _ready() -> void:
	_parse_arguments(OS.get_cmdline_user_args())
	_session = get_node_or_null(AUTOLOAD_PATH) as ContinuumSessionScript
	_world.world_loaded.connect(_on_world_world_loaded)
	if _demo_seconds >= 0.0:
		_connect_deadline_ms = Time.get_ticks_msec() + int((_demo_seconds + CONNECT_GRACE_S) * 1000.0)
	if _session == null:
		_last_event = "No \"Continuum\" autoload: enable the Continuum plugin."
		push_warning("[continuum] demo: " + _last_event)
		return
	_session.connected.connect(_on_session_connected)
	_session.disconnected.connect(_on_session_disconnected)
	_session.tick_received.connect(_on_session_tick_received)
	_session.error_reported.connect(_on_session_error_reported)
	if _session.is_backend_connected():
		_on_session_connected(_session.welcome)
	elif _session.state == ContinuumSessionScript.State.DISCONNECTED:
		_session.connect_to_backend()


func _process(_delta: float) -> void:
	_status.text = _status_text()
	if _connect_deadline_ms > 0 and not _connected_once:
		if Time.get_ticks_msec() > _connect_deadline_ms:
			_finish(1)


func _parse_arguments(arguments: PackedStringArray) -> void:
	for argument: String in arguments:
		if argument.begins_with("--demo-seconds="):
			var value := argument.get_slice("=", 1)
			if value.is_valid_float() and float(value) >= 0.0:
				_demo_seconds = float(value)
			else:
				push_warning("[continuum] demo: --demo-seconds wants seconds >= 0, got " + value)
		elif argument.begins_with("--demo-screenshot="):
			_screenshot_path = argument.substr(argument.find("=") + 1)


func _status_text() -> String:
	var lines := PackedStringArray()
	if _session == null:
		lines.append("Backend: no session")
	else:
		var state: String = ContinuumSessionScript.State.keys()[_session.state]
		lines.append("Backend %s:%d  %s" % [_session.host, _session.port, state])
		if _session.is_backend_connected():
			var rtt := "%.1f ms" % _session.rtt_ms if _session.rtt_ms >= 0.0 else "-"
			lines.append(
				"protocol %s  session %s  RTT %s"
				% [_session.protocol_version, _session.session_id, rtt]
			)
	var scene_name: String = str(_world.scene_info.get("name", "-"))
	lines.append("World '%s': %d entities" % [scene_name, _world.entity_ids.size()])
	lines.append("Ticks: %d  (last seq %d)" % [_ticks, _tick_seq_last])
	if not _last_event.is_empty():
		lines.append(_last_event)
	return "\n".join(lines)


## The demo run: a few timed pings, then wait out the seconds and report.
func _run_demo() -> void:
	_demo_started = true
	var deadline_ms := Time.get_ticks_msec() + int(_demo_seconds * 1000.0)
	for i in PING_COUNT:
		if not _session.is_backend_connected():
			break
		var sent_us := Time.get_ticks_usec()
		var reply: Dictionary = await _session.request("ping")
		if reply.get("kind") == "pong":
			_rtt_samples.append((Time.get_ticks_usec() - sent_us) / 1000.0)
		await get_tree().create_timer(PING_INTERVAL_S).timeout
	var remaining_s := (deadline_ms - Time.get_ticks_msec()) / 1000.0
	if remaining_s > 0.0:
		await get_tree().create_timer(remaining_s).timeout
	if not _screenshot_path.is_empty() and not _screenshot_done:
		await _wait_for_screenshot()
	_finish(0)


func _wait_for_screenshot() -> void:
	var give_up_ms := Time.get_ticks_msec() + int(SCREENSHOT_TIMEOUT_S * 1000.0)
	while not _screenshot_done and Time.get_ticks_msec() < give_up_ms:
		await get_tree().process_frame
	if not _screenshot_done:
		push_warning("[continuum] demo: no screenshot (the world did not load in time)")


func _take_screenshot() -> void:
	for i in SCREENSHOT_FRAMES:
		await RenderingServer.frame_post_draw
	var image: Image = get_viewport().get_texture().get_image()
	if image == null or image.is_empty():
		push_warning("[continuum] demo: the viewport has no image (headless?); no screenshot")
	else:
		var error := image.save_png(_screenshot_path)
		if error == OK:
			print("[continuum] demo: screenshot saved to ", _screenshot_path)
		else:
			push_warning("[continuum] demo: could not save %s: %s" % [
				_screenshot_path, error_string(error)])
	_screenshot_done = true


func _finish(exit_code: int) -> void:
	if _finished:
		return
	_finished = true
	var result := {
		"connected": _connected_once,
		"protocol": _session.protocol_version if _session != null else "",
		"session": _session.session_id if _session != null else "",
		"entities": Array(_world.entity_ids),
		"ticks": _ticks,
		"tick_seq_first": _tick_seq_first if _ticks > 0 else null,
		"tick_seq_last": _tick_seq_last if _ticks > 0 else null,
		"rtt_ms_p50": _percentile(_rtt_samples, 0.5),
		"rtt_ms_max": _percentile(_rtt_samples, 1.0),
	}
	print(RESULT_PREFIX + JSON.stringify(result))
	get_tree().quit(exit_code)


## The [param fraction] quantile of [param samples] (nearest rank), or null when empty.
static func _percentile(samples: PackedFloat64Array, fraction: float) -> Variant:
	if samples.is_empty():
		return null
	var sorted := samples.duplicate()
	sorted.sort()
	var rank := clampi(ceili(fraction * sorted.size()) - 1, 0, sorted.size() - 1)
	return snappedf(sorted[rank], 0.001)


func _on_session_connected(_welcome: Dictionary) -> void:
	_last_event = ""
	if _connected_once:
		return  # The session re-subscribes by itself after a reconnect.
	_connected_once = true
	var reply: Dictionary = await _session.subscribe(PackedStringArray(["tick"]))
	if reply.get("kind") == "error":
		var header: Dictionary = reply.get("header", {})
		_last_event = "subscribe failed: %s" % header.get("message", "")
		push_warning("[continuum] demo: " + _last_event)
	if _demo_seconds >= 0.0 and not _demo_started:
		_run_demo()


func _on_session_disconnected(reason: String) -> void:
	_last_event = "Disconnected: " + reason


func _on_session_tick_received(seq: int, _time: float, _header: Dictionary) -> void:
	if _ticks == 0:
		_tick_seq_first = seq
	_tick_seq_last = seq
	_ticks += 1


func _on_session_error_reported(code: String, message: String) -> void:
	_last_event = "%s: %s" % [code, message]


func _on_world_world_loaded(_entity_count: int) -> void:
	if not _screenshot_path.is_empty() and not _screenshot_done:
		_take_screenshot()
