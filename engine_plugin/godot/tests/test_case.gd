extends Node
## Base of every test script: assertions record failures (with a message) and the test goes on.
##
## The runner (run_tests.gd) adds the test script to the scene tree, calls [code]before_each[/code],
## each [code]test_*[/code] method (a coroutine may await) and [code]after_each[/code], then reads
## [member failures].

## What failed in the current test; the runner clears it before each test.
var failures: PackedStringArray = []


func assert_true(condition: bool, message: String = "") -> bool:
	if not condition:
		fail("expected true" + _suffix(message))
	return condition


func assert_false(condition: bool, message: String = "") -> bool:
	if condition:
		fail("expected false" + _suffix(message))
	return not condition


## Equality as GDScript's == sees it, so 7 equals 7.0 and containers compare deeply.
func assert_eq(got: Variant, expected: Variant, message: String = "") -> bool:
	var same := _same(got, expected)
	if not same:
		fail("expected %s, got %s%s" % [_show(expected), _show(got), _suffix(message)])
	return same


func assert_ne(got: Variant, unexpected: Variant, message: String = "") -> bool:
	var same := _same(got, unexpected)
	if same:
		fail("expected anything but %s%s" % [_show(unexpected), _suffix(message)])
	return not same


func assert_almost_eq(
	got: float, expected: float, tolerance: float = 1e-6, message: String = ""
) -> bool:
	var close := absf(got - expected) <= tolerance
	if not close:
		fail("expected %s +- %s, got %s%s" % [expected, tolerance, got, _suffix(message)])
	return close


func assert_has(container: Variant, value: Variant, message: String = "") -> bool:
	var found: bool = value in container
	if not found:
		fail("expected %s in %s%s" % [_show(value), _show(container), _suffix(message)])
	return found


func fail(message: String) -> void:
	failures.append(message)


## Waits one process frame.
func next_frame() -> void:
	await get_tree().process_frame


## Waits until [param condition] returns true, calling [param each_frame] (if valid) every frame;
## false after [param timeout_s].
func wait_until(
	condition: Callable, timeout_s: float = 5.0, each_frame: Callable = Callable()
) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		if each_frame.is_valid():
			each_frame.call()
		await get_tree().process_frame
	return true


## Waits [param seconds] of frames, calling [param each_frame] (if valid) every frame.
func wait_seconds(seconds: float, each_frame: Callable = Callable()) -> void:
	var deadline := Time.get_ticks_msec() + int(seconds * 1000.0)
	while Time.get_ticks_msec() < deadline:
		if each_frame.is_valid():
			each_frame.call()
		await get_tree().process_frame


## The repository's bridge/vectors folder: $CONTINUUM_VECTORS, else next to the Godot project.
static func vectors_dir() -> String:
	var from_env := OS.get_environment("CONTINUUM_VECTORS")
	if not from_env.is_empty():
		return from_env
	var project := ProjectSettings.globalize_path("res://")
	return project.path_join("../../bridge/vectors").simplify_path()


## The real splat files (MANIFEST.md there): $CONTINUUM_SPLAT_DATA, else shared/data/splats beside
## the repository; empty when that folder is absent (tests then [method skip]).
static func splat_data_dir() -> String:
	var folder := OS.get_environment("CONTINUUM_SPLAT_DATA")
	if folder.is_empty():
		var project := ProjectSettings.globalize_path("res://")
		folder = project.path_join("../../../shared/data/splats").simplify_path()
	return folder if DirAccess.dir_exists_absolute(folder) else ""


## Says why the current test checks nothing; it still counts as passed.
func skip(message: String) -> void:
	print("     skipped: " + message)


## The golden vectors of bridge/vectors/index.json, each with its file's octets under "bytes".
static func load_vectors() -> Array:
	var dir := vectors_dir()
	var text := FileAccess.get_file_as_string(dir.path_join("index.json"))
	var index: Variant = JSON.parse_string(text)
	if typeof(index) != TYPE_DICTIONARY:
		return []
	var vectors: Array = index.vectors
	for vector: Dictionary in vectors:
		vector["bytes"] = FileAccess.get_file_as_bytes(dir.path_join(vector.file))
	return vectors


# Deep equality where numbers compare by value (JSON gives floats, code often ints).
static func _same(a: Variant, b: Variant) -> bool:
	var numbers := [TYPE_INT, TYPE_FLOAT]
	if typeof(a) in numbers and typeof(b) in numbers:
		return a == b
	if typeof(a) != typeof(b):
		return false
	if a is Array:
		return a.size() == b.size() and range(a.size()).all(func(i: int) -> bool: return _same(
			a[i], b[i]))
	if a is Dictionary:
		return a.size() == b.size() and a.keys().all(func(k: Variant) -> bool: return b.has(k) \
			and _same(a[k], b[k]))
	return a == b


static func _show(value: Variant) -> String:
	var text := str(value) if typeof(value) != TYPE_STRING else "\"%s\"" % value
	return text if text.length() <= 200 else text.left(200) + "..."


static func _suffix(message: String) -> String:
	return "" if message.is_empty() else ": " + message
