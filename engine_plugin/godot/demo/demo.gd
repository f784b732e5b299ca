extends Node3D
## The Continuum demo: shows the backend's world (a ContinuumWorld fed by the "Continuum"
## autoload), splats and physics included, subscribes to the tick stream and shows the connection
## on screen.
##
## User arguments (after `--` on the command line):
##   --demo-seconds=S       run S seconds after connecting, then wait (at most SPLATS_TIMEOUT_S)
##                          until every splat entity shows its cloud, save the screenshot, print
##                          one line `CONTINUUM_DEMO {json}` and quit(0); quit(1) if not
##                          connected within S + 5 s.
##   --demo-versions=N      before that screenshot, also wait until every splat entity has shown
##                          N versions of its splat (the backend announces the later ones).
##   --demo-screenshot=PATH save the viewport as a PNG at PATH at the end of the run.
## Each time every splat entity has shown one more version, a line
## `CONTINUUM_DEMO_SPLATS {"versions": n, "splats": count, "seconds": since connecting}` is
## printed, so that whoever drives the backend knows what is on screen. In a world with physics,
## the line `CONTINUUM_DEMO_PHYSICS {"bodies": n, "frames": n, "seconds": since connecting}` is
## printed once the physics bodies' nodes follow the pose stream, and the report says how many
## bodies moved from where the scene put them. The mouse grabs, drags and throws bodies (a
## ContinuumMouseGrabber under the camera); the wheel pushes them.
## The backend is chosen with the session's own arguments (--continuum-host=, --continuum-port=).

const ContinuumWorldScript = preload("res://addons/continuum/world/continuum_world.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const EntityBuilder = preload("res://addons/continuum/world/entity_builder.gd")

const RESULT_PREFIX := "CONTINUUM_DEMO "
const SPLATS_PREFIX := "CONTINUUM_DEMO_SPLATS "
const PHYSICS_PREFIX := "CONTINUUM_DEMO_PHYSICS "
const AUTOLOAD_PATH := ^"/root/Continuum"
## Extra seconds, beyond --demo-seconds, allowed for connecting.
const CONNECT_GRACE_S := 5.0
## Timed `ping` requests in a demo run.
const PING_COUNT := 8
const PING_INTERVAL_S := 0.05
## Longest wait, after --demo-seconds, for the splat versions to be on screen.
const SPLATS_TIMEOUT_S := 20.0
## Frames drawn before a screenshot once the splats are on screen (lets the depth sort settle).
const SCREENSHOT_FRAMES := 3
## A body whose node ends farther than this from its scene position has moved (metres).
const MOVED_DISTANCE := 0.02
## Longest wait, after --demo-seconds, for the physics bodies to follow the pose stream.
const PHYSICS_TIMEOUT_S := 10.0

var _demo_seconds: float = -1.0
var _wanted_versions: int = 1
var _connect_deadline_ms: int = 0
var _connected_at_ms: int = 0
var _screenshot_path: String = ""
var _screenshot_saved: bool = false
var _session: ContinuumSessionScript
var _connected_once: bool = false
var _demo_started: bool = false
var _finished: bool = false
var _ticks: int = 0
var _tick_seq_first: int = -1
var _tick_seq_last: int = -1
var _rtt_samples: PackedFloat64Array = []
var _last_event: String = ""
var _splat_nodes: Dictionary = {}  # entity id -> its SplatInstance3D
var _splat_versions: Dictionary = {}  # entity id -> versions of its splat shown so far
var _splat_shown: Dictionary = {}  # entity id -> the SplatCloud it shows
var _splat_failures: PackedStringArray = []
var _versions_reported: int = 0
var _body_starts: Dictionary = {}  # physics entity id -> its node's position in the scene
var _pose_frames: int = 0
var _physics_reported: bool = false
var _grabs: int = 0

@onready var _world: ContinuumWorldScript = $World
@onready var _status: Label = $HUD/Status


func _ready() -> void:
	_parse_arguments(OS.get_cmdline_user_args())
	_session = get_node_or_null(AUTOLOAD_PATH) as ContinuumSessionScript
	_world.world_loaded.connect(_on_world_world_loaded)
	_world.splat_updated.connect(_on_world_splat_updated)
	_world.splat_failed.connect(_on_world_splat_failed)
	_world.get_pose_stream().frame_received.connect(_on_poses_frame_received)
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
		var value := argument.substr(argument.find("=") + 1)
		if argument.begins_with("--demo-seconds="):
			if value.is_valid_float() and float(value) >= 0.0:
				_demo_seconds = float(value)
			else:
				push_warning("[continuum] demo: --demo-seconds wants seconds >= 0, got " + value)
		elif argument.begins_with("--demo-versions="):
			if value.is_valid_int() and int(value) >= 1:
				_wanted_versions = int(value)
			else:
				push_warning("[continuum] demo: --demo-versions wants a count >= 1, got " + value)
		elif argument.begins_with("--demo-screenshot="):
			_screenshot_path = value


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
	if not _splat_nodes.is_empty():
		var entities := "1 entity" if _splat_nodes.size() == 1 else "%d entities" % _splat_nodes.size()
		lines.append("Splats: %d on %s, version %d" % [
			_shown_splat_count(), entities, _min_versions()])
	if not _body_starts.is_empty():
		lines.append("Physics: %d bodies, %d pose frames, %d moved  (drag to throw, wheel to push)"
			% [_body_starts.size(), _pose_frames, _moved_bodies().size()])
	lines.append("Ticks: %d  (last seq %d)" % [_ticks, _tick_seq_last])
	if not _last_event.is_empty():
		lines.append(_last_event)
	return "\n".join(lines)


## The demo run: a few timed pings, then wait out the seconds, the splats and the screenshot,
## and report.
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
	await _wait_for_splats()
	await _wait_for_physics()
	if not _screenshot_path.is_empty():
		await _take_screenshot()
	_finish(0)


## Waits (at most SPLATS_TIMEOUT_S) until every splat entity shows the wanted version.
func _wait_for_splats() -> void:
	var give_up_ms := Time.get_ticks_msec() + int(SPLATS_TIMEOUT_S * 1000.0)
	while not _splats_ready() and Time.get_ticks_msec() < give_up_ms:
		await get_tree().process_frame
	if not _splats_ready():
		push_warning("[continuum] demo: the splats did not reach version %d in %.0f s" % [
			_wanted_versions, SPLATS_TIMEOUT_S])


func _splats_ready() -> bool:
	if _splat_nodes.is_empty():
		return true
	for id: String in _splat_nodes:
		var node: Variant = _splat_nodes[id]
		if not is_instance_valid(node):
			return false  # Freed by a rebuild; the new world's node takes its place.
		if node.get_shown_cloud() == null or node.is_swap_pending():
			return false
	return _min_versions() >= _wanted_versions


## Waits (at most PHYSICS_TIMEOUT_S) until the physics bodies follow the pose stream.
func _wait_for_physics() -> void:
	var give_up_ms := Time.get_ticks_msec() + int(PHYSICS_TIMEOUT_S * 1000.0)
	while not _body_starts.is_empty() and not _physics_reported \
			and Time.get_ticks_msec() < give_up_ms:
		await get_tree().process_frame


func _take_screenshot() -> void:
	for i in SCREENSHOT_FRAMES:
		await RenderingServer.frame_post_draw
	var image: Image = get_viewport().get_texture().get_image()
	if image == null or image.is_empty():
		push_warning("[continuum] demo: the viewport has no image (headless?); no screenshot")
		return
	var error := image.save_png(_screenshot_path)
	if error == OK:
		_screenshot_saved = true
		print("[continuum] demo: screenshot saved to ", _screenshot_path)
	else:
		push_warning("[continuum] demo: could not save %s: %s" % [
			_screenshot_path, error_string(error)])


func _finish(exit_code: int) -> void:
	if _finished:
		return
	_finished = true
	var splats := {}
	for id: String in _splat_nodes:
		var shown: SplatCloud = _splat_shown.get(id)
		splats[id] = {
			"splats": shown.count if shown != null else 0,
			"versions": _splat_versions.get(id, 0),
		}
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
		"splat_entities": splats,
		"splat_failures": Array(_splat_failures),
		"physics": _physics_report(),
		"screenshot": _screenshot_path if _screenshot_saved else null,
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


# What the physics part showed: null for a world without physics bodies.
func _physics_report() -> Variant:
	if _body_starts.is_empty():
		return null
	var stream := _world.get_pose_stream()
	return {
		"bodies": _body_starts.size(),
		"frames": _pose_frames,
		"frames_missed": stream.frames_missed,
		"publish_hz": stream.publish_hz,
		"moved": Array(_moved_bodies()),
		"grabs": _grabs,
	}


# The physics bodies whose nodes are now more than MOVED_DISTANCE from their scene positions.
func _moved_bodies() -> PackedStringArray:
	var moved := PackedStringArray()
	for id: String in _body_starts:
		var node := _world.get_entity_node(id)
		if node != null and node.position.distance_to(_body_starts[id]) > MOVED_DISTANCE:
			moved.append(id)
	return moved


# Puts a mouse grabber under the current camera (the scene's, else the fallback).
func _add_mouse_grabber() -> void:
	var camera := get_viewport().get_camera_3d()
	if camera == null or camera.has_node("MouseGrabber"):
		return
	var grabber := ContinuumMouseGrabber.new()
	grabber.name = "MouseGrabber"
	grabber.grabbed.connect(_on_grabber_grabbed)
	camera.add_child(grabber)


# Finds the splat nodes of the world's entities and follows their swaps.
func _watch_splat_nodes() -> void:
	for id: String in _world.entity_ids:
		var node := _world.get_entity_node(id)
		if node == null:
			continue
		var splat_node := EntityBuilder.find_splat_node(node)
		if splat_node == null or _splat_nodes.get(id) == splat_node:
			continue
		_splat_nodes[id] = splat_node
		splat_node.cloud_swapped.connect(_on_splat_cloud_swapped.bind(id))
		if splat_node.get_shown_cloud() != null:
			_on_splat_cloud_swapped(splat_node.get_shown_cloud(), id)


# The fewest versions any splat entity has shown (0 when there is none).
func _min_versions() -> int:
	var fewest := -1
	for id: String in _splat_nodes:
		var versions: int = _splat_versions.get(id, 0)
		fewest = versions if fewest < 0 else mini(fewest, versions)
	return maxi(fewest, 0)


func _shown_splat_count() -> int:
	var count := 0
	for id: String in _splat_shown:
		count += (_splat_shown[id] as SplatCloud).count
	return count


func _on_session_connected(_welcome: Dictionary) -> void:
	_last_event = ""
	if _connected_once:
		return  # The session re-subscribes by itself after a reconnect.
	_connected_once = true
	_connected_at_ms = Time.get_ticks_msec()
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
	_watch_splat_nodes()
	_body_starts.clear()
	for id: String in _world.get_pose_stream().bound_ids():
		_body_starts[id] = _world.get_entity_node(id).position
	if not _body_starts.is_empty():
		_add_mouse_grabber.call_deferred()  # once the scene's camera is current


func _on_poses_frame_received(_seq: int, _time: float) -> void:
	_pose_frames += 1
	if _physics_reported or _body_starts.is_empty():
		return
	var stream := _world.get_pose_stream()
	if stream.layout_ids().is_empty():
		return  # Not shown until the layout is known.
	_physics_reported = true
	var progress := {
		"bodies": _body_starts.size(),
		"frames": _pose_frames,
		"seconds": snappedf((Time.get_ticks_msec() - _connected_at_ms) / 1000.0, 0.001),
	}
	print(PHYSICS_PREFIX + JSON.stringify(progress))


func _on_grabber_grabbed(entity_id: String, _point: Vector3) -> void:
	_grabs += 1
	_last_event = "Grabbed '%s'" % entity_id


func _on_world_splat_updated(_entity_id: String, _hash: String) -> void:
	_watch_splat_nodes()  # An entity may have been given a splat node just now.


func _on_world_splat_failed(entity_id: String, hash: String, code: String) -> void:
	_last_event = "splat %s of '%s' failed: %s" % [hash.left(12), entity_id, code]
	_splat_failures.append("%s: %s" % [entity_id, code])


func _on_splat_cloud_swapped(cloud: SplatCloud, entity_id: String) -> void:
	if cloud == null or cloud == _splat_shown.get(entity_id):
		return  # Cleared, or the same version again (a rebuilt world).
	_splat_shown[entity_id] = cloud
	_splat_versions[entity_id] = int(_splat_versions.get(entity_id, 0)) + 1
	var versions := _min_versions()
	if versions > _versions_reported:
		_versions_reported = versions
		var progress := {
			"versions": versions,
			"splats": _shown_splat_count(),
			"seconds": snappedf((Time.get_ticks_msec() - _connected_at_ms) / 1000.0, 0.001),
		}
		print(SPLATS_PREFIX + JSON.stringify(progress))
