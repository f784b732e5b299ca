extends SceneTree
## The base of the command-line scripts that pytest and the benchmarks run with
## [code]godot --script[/code] (run_tests.gd, integration/, bench/).
##
## Once the tree runs, it quiets the project's "Continuum" autoload (it would reach for a backend
## on its own), reads the user arguments (those after [code]--[/code]) into [member args] and
## [member positional_args], then calls [method _main]. A script overrides [method _main] and
## ends it with [method finish]. Results are lines "CONTINUUM_RESULT {json}", one JSON object
## each, which continuum.godot.GodotRun.results reads back.

const ProbeSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

## What starts a result line.
const RESULT_PREFIX := "CONTINUUM_RESULT "

## The user arguments [code]--key=value[/code] as key: value, and [code]--flag[/code] as
## flag: "true" (all values are Strings).
var args := {}
## The user arguments that do not start with [code]--[/code], in order.
var positional_args := PackedStringArray()

var _done := false


func _initialize() -> void:
	_start.call_deferred()


## The script's work, run once [member args] are read; a script overrides it and ends it with
## [method finish]. It may await.
func _main() -> void:
	pass


## Prints [param fields] as one result line: [constant RESULT_PREFIX], then compact JSON.
func emit_result(fields: Dictionary) -> void:
	print(RESULT_PREFIX + JSON.stringify(fields))


## Emits [param result] and quits with [param status]. Only the first call counts, so a timeout
## may race the end of a run.
func finish(status: int, result: Dictionary) -> void:
	if _done:
		return
	_done = true
	emit_result(result)
	quit(status)


## The [code]--scenario[/code] argument when it is one of [param scenarios]; else finishes with
## status 2 (naming them) and returns an empty String.
func scenario_arg(scenarios: Array) -> String:
	var scenario: String = args.get("scenario", "")
	if not scenario in scenarios:
		finish(2, {"ok": false, "error": "--scenario must be one of %s" % [scenarios]})
		return ""
	return scenario


## A probe's session, added to the root: it reads [code]--continuum-port[/code] itself, connects
## only when told, never pings, waits [param request_timeout_s] for a reply, and appends what it
## reports to [param errors] as [code]{code, message}[/code].
func probe_session(request_timeout_s: float, errors: Array) -> ProbeSessionScript:
	var session := ProbeSessionScript.new()
	session.name = "Session"
	session.auto_connect = false
	session.ping_interval_s = 0.0
	session.request_timeout_s = request_timeout_s
	session.error_reported.connect(func(code: String, message: String) -> void: errors.append(
		{"code": code, "message": message}))
	root.add_child(session)
	return session


func _start() -> void:
	var autoload := root.get_node_or_null("Continuum")
	if autoload != null and autoload.has_method("disconnect_from_backend"):
		autoload.call("disconnect_from_backend")
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--"):
			var parts := arg.substr(2).split("=", true, 1)
			args[parts[0]] = parts[1] if parts.size() > 1 else "true"
		else:
			positional_args.append(arg)
	_main()
