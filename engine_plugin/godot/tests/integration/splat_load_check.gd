extends SceneTree
## Loads imported splat files and says what came out (tests/integration/test_godot_import.py).
##
##     godot --headless --path PROJECT --script res://tests/integration/splat_load_check.gd \
##         -- res://a.ply res://b.spz ...
##
## Prints one line "CONTINUUM_RESULT {json}": per path, null when it did not load as a SplatCloud,
## else its count, sh_degree, whether check() passes and the number of images it makes.

const RESULT_PREFIX := "CONTINUUM_RESULT "


func _initialize() -> void:
	_main.call_deferred()


func _main() -> void:
	var autoload := root.get_node_or_null("Continuum")
	if autoload != null and autoload.has_method("disconnect_from_backend"):
		autoload.call("disconnect_from_backend")
	var loaded := {}
	for path in OS.get_cmdline_user_args():
		var cloud := ResourceLoader.load(path) as SplatCloud if ResourceLoader.exists(path) else null
		loaded[path] = null if cloud == null else {
			"count": cloud.count, "sh_degree": cloud.sh_degree, "valid": cloud.check().is_empty(),
			"images": cloud.create_images().size(),
		}
	print(RESULT_PREFIX + JSON.stringify({"loaded": loaded}))
	quit(0)
