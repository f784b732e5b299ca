extends "res://tests/script_main.gd"
## Loads imported splat files and says what came out (tests/integration/test_godot_import.py).
##
##     godot --headless --path PROJECT --script res://tests/integration/splat_load_check.gd \
##         -- res://a.ply res://b.spz ...
##
## Prints one line "CONTINUUM_RESULT {json}": per path, null when it did not load as a SplatCloud,
## else its count, sh_degree, whether check() passes and the number of images it makes.


func _main() -> void:
	var loaded := {}
	for path in positional_args:
		var cloud := ResourceLoader.load(path) as SplatCloud if ResourceLoader.exists(path) else null
		loaded[path] = null if cloud == null else {
			"count": cloud.count, "sh_degree": cloud.sh_degree, "valid": cloud.check().is_empty(),
			"images": cloud.create_images().size(),
		}
	finish(0, {"loaded": loaded})
