extends SceneTree
## The base of the command-line scripts that pytest and the benchmarks run with
## [code]godot --script[/code] (run_tests.gd, integration/, bench/).
##
## Once the tree runs, it quiets the project's "Continuum" autoload (it would reach for a backend
## on its own), reads the user arguments (those after [code]--[/code]) into [member args] and
## [member positional_args], then calls [method _main]. A script overrides [method _main] and
## ends it with [method finish]. Results are lines "CONTINUUM_RESULT {json}", one JSON object
## each, which continuum.godot.GodotRun.results reads back.

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
