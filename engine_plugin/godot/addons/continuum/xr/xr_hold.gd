extends RefCounted
## Internal: one XR controller input held like a button, for the XR grabber and the XR splat
## brush (physics/xr_grabber.gd, splats/xr_splat_brush.gd).
##
## The input is named by a property of the owner (re-read at every event, so the owner's export
## may change while it runs). A float input is pressed past the owner's threshold property and
## let go below 80 % of it, so a trigger resting near the threshold does not chatter; a button
## input is its name, or its name with "_click". A press calls the press callable, which
## returns whether it took the press (a disabled owner does not); only a press taken is let go,
## once, by the release callable.

var _owner: Object
var _action_property: StringName
var _threshold_property: StringName
var _press: Callable
var _release: Callable
var _held: bool = false


func _init(owner: Object, action_property: StringName, threshold_property: StringName,
		press: Callable, release: Callable) -> void:
	_owner = owner
	_action_property = action_property
	_threshold_property = threshold_property
	_press = press
	_release = release


## Follows [param controller]'s buttons and float inputs.
func follow(controller: XRController3D) -> void:
	controller.button_pressed.connect(_on_button_pressed)
	controller.button_released.connect(_on_button_released)
	controller.input_float_changed.connect(_on_input_float_changed)


func _action() -> String:
	return _owner.get(_action_property)


func _is_action_button(input_name: String) -> bool:
	return input_name == _action() or input_name == _action() + "_click"


func _on_button_pressed(input_name: String) -> void:
	if _is_action_button(input_name) and not _held:
		_held = _press.call()


func _on_button_released(input_name: String) -> void:
	if _is_action_button(input_name) and _held:
		_held = false
		_release.call()


func _on_input_float_changed(input_name: String, value: float) -> void:
	if input_name != _action():
		return
	var threshold: float = _owner.get(_threshold_property)
	if value >= threshold:
		_on_button_pressed(input_name)
	elif value < threshold * 0.8:
		_on_button_released(input_name)
