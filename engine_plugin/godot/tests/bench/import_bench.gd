extends "res://tests/script_main.gd"
## Times importing a splat file: read, decode and build the SplatCloud, create its images.
##
##     godot --headless --path engine_plugin/godot --script res://tests/bench/import_bench.gd \
##         -- --file=/abs/cloud.ply [--repeat=3] [--save=/abs/cloud.res]
##
## Prints one line "CONTINUUM_RESULT {json}": import_s (the median over --repeat runs of read +
## decode + images), its parts read_s, decode_s and images_s (of the same run), count, sh_degree,
## gpu_bytes, every run's import_s, and save_s when --save asks for the resource to be written
## (as the editor's importer does). Quits with 0, or 1 when the file does not decode.

const SplatImportPlugin = preload(
	"res://addons/continuum/editor/importers/splat_import_plugin.gd")

const DECODERS := SplatImportPlugin.DECODERS


func _main() -> void:
	var path: String = args.get("file", "")
	if not DECODERS.has(path.get_extension().to_lower()):
		finish(1, {"error": "give --file=<.ply|.splat|.spz>"})
		return
	var runs: Array[Dictionary] = []
	var cloud: SplatCloud = null
	for i in maxi(1, int(args.get("repeat", 1))):
		cloud = null  # the previous run's memory goes first
		var run := _import_once(path)
		if run.has("error"):
			finish(1, run)
			return
		cloud = run.cloud
		run.erase("cloud")
		runs.append(run)
	var times := runs.map(func(r: Dictionary) -> float: return r.import_s)
	var order := range(runs.size())
	order.sort_custom(func(a: int, b: int) -> bool: return times[a] < times[b])
	var result: Dictionary = runs[order[order.size() / 2]].duplicate()
	result.merge({
		"file": path, "count": cloud.count, "sh_degree": cloud.sh_degree,
		"gpu_bytes": cloud.gpu_bytes(), "runs_s": times,
	})
	if args.has("save"):
		var started := Time.get_ticks_usec()
		var error := ResourceSaver.save(cloud, args.save)
		result["save_s"] = (Time.get_ticks_usec() - started) / 1e6
		result["save_error"] = error_string(error)
	finish(0, result)


func _import_once(path: String) -> Dictionary:
	var started := Time.get_ticks_usec()
	var data := FileAccess.get_file_as_bytes(path)
	var read := Time.get_ticks_usec()
	var decoded: Dictionary = DECODERS[path.get_extension().to_lower()].decode(data, {})
	data = PackedByteArray()
	var built := Time.get_ticks_usec()
	if decoded.has("error"):
		return decoded
	var images: Dictionary = decoded.cloud.create_images()
	var done := Time.get_ticks_usec()
	if images.is_empty():
		return {"error": "corrupt", "message": "the cloud's sections do not match its count"}
	return {
		"cloud": decoded.cloud, "import_s": (done - started) / 1e6,
		"read_s": (read - started) / 1e6, "decode_s": (built - read) / 1e6,
		"images_s": (done - built) / 1e6,
	}
