@tool
extends EditorPlugin
## Registers Continuum with the editor: the continuum/backend/* and continuum/assets/* project
## settings, the
## "Continuum" autoload (the runtime session), the connection dock and the splat importer (.ply,
## .splat and .spz files as SplatCloud resources). Registration only.

const AUTOLOAD_NAME := "Continuum"
const AUTOLOAD_PATH := "res://addons/continuum/bridge/continuum_session.gd"
const SETTINGS_PREFIX := "continuum/backend/"
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")

const ConnectionDock = preload("res://addons/continuum/editor/dock/connection_dock.gd")
const SplatImportPlugin = preload(
	"res://addons/continuum/editor/importers/splat_import_plugin.gd"
)

var _dock: Control
var _splat_importer: EditorImportPlugin


func _enable_plugin() -> void:
	if not ProjectSettings.has_setting("autoload/" + AUTOLOAD_NAME):
		add_autoload_singleton(AUTOLOAD_NAME, AUTOLOAD_PATH)


func _disable_plugin() -> void:
	if ProjectSettings.has_setting("autoload/" + AUTOLOAD_NAME):
		remove_autoload_singleton(AUTOLOAD_NAME)


func _enter_tree() -> void:
	_define_setting("host", TYPE_STRING, PROPERTY_HINT_NONE, "", "127.0.0.1")
	_define_setting("port", TYPE_INT, PROPERTY_HINT_RANGE, "1,65535", 5570)
	_define_setting("token", TYPE_STRING, PROPERTY_HINT_PASSWORD, "", "")
	_define_setting("auto_connect", TYPE_BOOL, PROPERTY_HINT_NONE, "", true)
	_define_setting(
		"request_timeout_s", TYPE_FLOAT, PROPERTY_HINT_RANGE, "0.1,120,0.1,or_greater,suffix:s", 10.0
	)
	_define_setting(
		AssetClient.SETTING_MAX_BYTES, TYPE_INT, PROPERTY_HINT_RANGE,
		"1,1073741824,1,or_greater,suffix:B", AssetClient.DEFAULT_MAX_BYTES
	)
	_dock = ConnectionDock.new()
	_dock.name = "Continuum"
	add_control_to_dock(DOCK_SLOT_RIGHT_UL, _dock)
	_splat_importer = SplatImportPlugin.new()
	add_import_plugin(_splat_importer)


func _exit_tree() -> void:
	if _splat_importer != null:
		remove_import_plugin(_splat_importer)
		_splat_importer = null
	if _dock != null:
		remove_control_from_docks(_dock)
		_dock.queue_free()
		_dock = null


func _get_plugin_name() -> String:
	return "Continuum"


## Declares one setting (a key under continuum/backend/, or a full continuum/ path): its value
## when absent, its editor hint, its default.
func _define_setting(
	key: String, type: int, hint: int, hint_string: String, default_value: Variant
) -> void:
	var setting_name := key if key.begins_with("continuum/") else SETTINGS_PREFIX + key
	if not ProjectSettings.has_setting(setting_name):
		ProjectSettings.set_setting(setting_name, default_value)
	ProjectSettings.add_property_info(
		{"name": setting_name, "type": type, "hint": hint, "hint_string": hint_string}
	)
	ProjectSettings.set_initial_value(setting_name, default_value)
	ProjectSettings.set_as_basic(setting_name, true)
