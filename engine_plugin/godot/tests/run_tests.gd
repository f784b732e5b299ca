extends "res://tests/script_main.gd"
## Headless test runner: runs every test_* method of res://tests/unit/**/test_*.gd, prints one
## line per failure and the summary "N passed, M failed", and quits with status 0 or 1.
##
##     godot --headless --path engine_plugin/godot --script res://tests/run_tests.gd [-- FILTER]
##
## FILTER keeps the tests whose "path::method" contains it. A test script extends test_case.gd;
## its before_each/after_each run around each test. A test that hits a script error fails too
## (detected on Godot 4.5+).

const TEST_ROOT := "res://tests/unit"
const ERROR_LOGGER := "res://tests/error_logger.gd"
## A test running longer than this fails and the run stops.
const TEST_TIMEOUT_MS := 120000

var _passed := 0
var _failed := 0
var _current := ""
var _started_ms := 0
var _logger: Object = null
var _finished := false


func _initialize() -> void:
	if ClassDB.class_exists("Logger"):
		_logger = load(ERROR_LOGGER).new()
		OS.call("add_logger", _logger)
	super()


func _process(_delta: float) -> bool:
	if not _finished and not _current.is_empty():
		if Time.get_ticks_msec() - _started_ms > TEST_TIMEOUT_MS:
			print("FAIL %s: timed out after %.0f s" % [_current, TEST_TIMEOUT_MS / 1000.0])
			_failed += 1
			_quit_with_summary()
	return false


func _main() -> void:
	var filter := positional_args[0] if not positional_args.is_empty() else ""
	var paths := _find_tests(TEST_ROOT)
	paths.sort()
	for path in paths:
		await _run_script(path, filter)
		if _finished:
			return
	if _passed + _failed == 0:
		print("no tests matched '%s'" % filter)
		_failed = 1 if not filter.is_empty() else 0
	_quit_with_summary()


func _run_script(path: String, filter: String) -> void:
	var script: Script = load(path)
	if script == null or not script.can_instantiate():
		print("FAIL %s: cannot load the script" % path)
		_failed += 1
		return
	var names: Array[String] = []
	for method in script.get_script_method_list():
		var name: String = method.name
		var wanted := filter.is_empty() or (path + "::" + name).contains(filter)
		if name.begins_with("test_") and not name in names and wanted:
			names.append(name)
	if names.is_empty():
		return
	var suite: Node = script.new()
	if not "failures" in suite:
		print("FAIL %s: does not extend res://tests/test_case.gd" % path)
		_failed += 1
		suite.free()
		return
	root.add_child(suite)
	for name in names:
		await _run_test(suite, path + "::" + name, name)
		if _finished:
			return
	suite.queue_free()
	await process_frame


func _run_test(suite: Node, label: String, method: String) -> void:
	_current = label
	_started_ms = Time.get_ticks_msec()
	suite.failures.clear()
	_take_script_errors()
	if suite.has_method("before_each"):
		await suite.call("before_each")
	await suite.call(method)
	if suite.has_method("after_each"):
		await suite.call("after_each")
	if _finished:
		return
	var problems: PackedStringArray = suite.failures.duplicate()
	problems.append_array(_take_script_errors())
	_current = ""
	if problems.is_empty():
		_passed += 1
		print("ok   %s (%d ms)" % [label, Time.get_ticks_msec() - _started_ms])
	else:
		_failed += 1
		for problem in problems:
			print("FAIL %s: %s" % [label, problem])


func _find_tests(dir_path: String) -> PackedStringArray:
	var found := PackedStringArray()
	var dir := DirAccess.open(dir_path)
	if dir == null:
		return found
	for sub in dir.get_directories():
		found.append_array(_find_tests(dir_path.path_join(sub)))
	for file in dir.get_files():
		if file.begins_with("test_") and file.ends_with(".gd"):
			found.append(dir_path.path_join(file))
	return found


func _take_script_errors() -> PackedStringArray:
	if _logger == null:
		return PackedStringArray()
	return _logger.call("take_errors")


func _quit_with_summary() -> void:
	if _finished:
		return
	_finished = true
	print("%d passed, %d failed" % [_passed, _failed])
	quit(1 if _failed > 0 else 0)
