@tool
extends EditorImportPlugin
## Imports Gaussian splat files (.ply, .splat, .spz) as SplatCloud resources.
##
## The decoders (ply_decoder.gd, dot_splat_decoder.gd, spz_decoder.gd) turn the file into a
## SplatCloud, saved as a binary resource. Options: sh_degree (keep SH up to that degree, or all)
## and max_splats (keep that many of the most opaque splats; 0 keeps every one). A file that is
## corrupt, truncated or no splat file is reported once with push_error and not imported; a PLY
## that holds a mesh says so (choose another importer for it in the Import dock).

const PlyDecoder = preload("res://addons/continuum/editor/importers/ply_decoder.gd")
const DotSplatDecoder = preload("res://addons/continuum/editor/importers/dot_splat_decoder.gd")
const SpzDecoder = preload("res://addons/continuum/editor/importers/spz_decoder.gd")

## The decoder of each extension.
const DECODERS := {"ply": PlyDecoder, "splat": DotSplatDecoder, "spz": SpzDecoder}
## What the sh_degree option offers: all, or a degree.
const SH_DEGREE_HINT := "All:-1,0:0,1:1,2:2,3:3"


func _get_importer_name() -> String:
	return "continuum.splat_cloud"


func _get_visible_name() -> String:
	return "Gaussian Splats (Continuum)"


func _get_recognized_extensions() -> PackedStringArray:
	return PackedStringArray(DECODERS.keys())


func _get_save_extension() -> String:
	return "res"


func _get_resource_type() -> String:
	return "Resource"


func _get_priority() -> float:
	return 1.0


func _get_import_order() -> int:
	return IMPORT_ORDER_DEFAULT


func _get_format_version() -> int:
	return 1


func _get_preset_count() -> int:
	return 1


func _get_preset_name(_preset_index: int) -> String:
	return "Default"


func _get_import_options(_path: String, _preset_index: int) -> Array[Dictionary]:
	return [
		{
			"name": "sh_degree", "default_value": -1, "property_hint": PROPERTY_HINT_ENUM,
			"hint_string": SH_DEGREE_HINT,
		},
		{
			"name": "max_splats", "default_value": 0, "property_hint": PROPERTY_HINT_RANGE,
			"hint_string": "0,%d,1,or_greater" % SplatCloud.MAX_SPLATS,
		},
	]


func _get_option_visibility(_path: String, _option_name: StringName, _options: Dictionary) -> bool:
	return true


func _import(
	source_file: String,
	save_path: String,
	options: Dictionary,
	_platform_variants: Array[String],
	_gen_files: Array[String]
) -> Error:
	var decoded := decode_file(source_file, options)
	if decoded.has("error"):
		push_error("[continuum] cannot import %s: %s" % [source_file, decoded.message])
		return ERR_FILE_CORRUPT if decoded.error != "cannot_open" else ERR_FILE_CANT_OPEN
	return ResourceSaver.save(decoded.cloud, "%s.%s" % [save_path, _get_save_extension()])


## The file at [param path] decoded by its extension's decoder: [code]{"cloud": SplatCloud}[/code]
## or an error value (a mesh PLY's message says how to import it otherwise).
static func decode_file(path: String, options: Dictionary = {}) -> Dictionary:
	var extension := path.get_extension().to_lower()
	if not DECODERS.has(extension):
		return {"error": "unsupported", "message": "no splat decoder for .%s files" % extension}
	var data := FileAccess.get_file_as_bytes(path)
	if data.is_empty() and FileAccess.get_open_error() != OK:
		return {"error": "cannot_open", "message": "cannot read it (%s)" % error_string(
			FileAccess.get_open_error())}
	var decoded: Dictionary = DECODERS[extension].decode(data, options)
	if decoded.get("error") == "not_splats":
		decoded.message += "; to import it as something else, select it in the FileSystem dock" \
			+ " and change Import As in the Import dock"
	return decoded
