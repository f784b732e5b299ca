extends Logger
## Counts script errors (Godot 4.5+), so the runner fails a test that hit a runtime error instead
## of passing it silently. Loaded only where the Logger class exists.

var _mutex := Mutex.new()
var _errors: PackedStringArray = []


func _log_error(
	function: String,
	file: String,
	line: int,
	code: String,
	rationale: String,
	_editor_notify: bool,
	error_type: int,
	_script_backtraces: Array[ScriptBacktrace]
) -> void:
	if error_type != ERROR_TYPE_SCRIPT:
		return
	_mutex.lock()
	_errors.append("%s (%s:%d in %s)" % [rationale if not rationale.is_empty() else code, file,
		line, function])
	_mutex.unlock()


## The script errors logged since the last call.
func take_errors() -> PackedStringArray:
	_mutex.lock()
	var errors := _errors
	_errors = PackedStringArray()
	_mutex.unlock()
	return errors
