extends "res://tests/test_case.gd"
## Tests of addons/continuum/editor/importers/splat_import_plugin.gd outside the editor (which alone
## may instantiate an EditorImportPlugin): its file dispatch. tests/integration/test_godot_import.py
## runs the importer in a real `godot --import`.

const SplatImportPlugin = preload("res://addons/continuum/editor/importers/splat_import_plugin.gd")
const PlyWriter = preload("res://tests/unit/editor/importers/ply_writer.gd")

const SCRATCH := "user://test_splat_import_plugin"


func after_each() -> void:
	for file in DirAccess.get_files_at(SCRATCH):
		DirAccess.remove_absolute(SCRATCH.path_join(file))


func test_decodes_by_extension() -> void:
	assert_eq(SplatImportPlugin.DECODERS.keys(), ["ply", "splat", "spz"])
	var names := PlyWriter.gaussian_names(0)
	var path := _write("cloud.PLY", PlyWriter.write(_floats(names),
		PlyWriter.random_rows(names, 3, 1)))
	var result := SplatImportPlugin.decode_file(path, {"max_splats": 2})
	if assert_false(result.has("error"), str(result.get("message"))):
		assert_eq(result.cloud.count, 2, "options reach the decoder")
	var splat := PackedByteArray()
	splat.resize(64)
	assert_eq(SplatImportPlugin.decode_file(_write("two.splat", splat)).cloud.count, 2)


func test_a_mesh_ply_says_how_to_import_it_otherwise() -> void:
	var path := _write("mesh.ply", PlyWriter.write([["float", "x"], ["float", "y"],
		["float", "z"]], [[0.0, 0.0, 0.0]]))
	var result := SplatImportPlugin.decode_file(path)
	assert_eq(result.get("error"), "not_splats")
	assert_true(str(result.get("message")).contains("Import As"), str(result))


func test_unreadable_and_unknown_files_are_error_values() -> void:
	assert_eq(SplatImportPlugin.decode_file(SCRATCH.path_join("absent.spz")).get("error"),
		"cannot_open")
	assert_eq(SplatImportPlugin.decode_file(_write("cloud.obj", PackedByteArray([1]))).get(
		"error"), "unsupported")
	var empty := SplatImportPlugin.decode_file(_write("empty.ply", PackedByteArray()))
	assert_eq(empty.get("error"), "corrupt", "an empty .ply is no PLY")


static func _write(name: String, data: PackedByteArray) -> String:
	DirAccess.make_dir_recursive_absolute(SCRATCH)
	var path := SCRATCH.path_join(name)
	var file := FileAccess.open(path, FileAccess.WRITE)
	file.store_buffer(data)
	file.close()
	return path


static func _floats(names: PackedStringArray) -> Array:
	return Array(names).map(func(name: String) -> Array: return ["float", name])
