extends "res://tests/test_case.gd"
## addons/continuum/splats/xr_splat_brush.gd against a fake splat backend
## (splat_edit_fixture.gd), with a plain Node3D standing in for the controller: painting along
## its -Z adds ray selections as it moves, at most max_rate_hz a second; and an XRController3D's
## trigger (float and button) paints, with the subtract button held it takes away.

const XRSplatBrush = preload("res://addons/continuum/splats/xr_splat_brush.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

var _fixture: SplatEditFixture
var _hand: Node3D
var _brush: XRSplatBrush


func before_each() -> void:
	_fixture = SplatEditFixture.new()
	add_child(_fixture)
	assert_true(await _fixture.start(), "the world shows the splats")


func after_each() -> void:
	await next_frame()
	if is_instance_valid(_hand):
		_hand.free()
	_fixture.free()


func test_painting_follows_the_hand_at_the_rate() -> void:
	_make_hand(Node3D.new())
	_aim(Vector3(0.1, 0.1, 0.3))
	_brush.begin_stroke()
	var begun := Time.get_ticks_msec()
	var points: Array[Vector3] = [Vector3(0.1, 0.1, 0.3), Vector3(-0.1, 0.1, 0.3),
		Vector3(-0.1, -0.1, 0.3)]
	await wait_seconds(0.6, func() -> void:
		_aim(points[int((Time.get_ticks_msec() - begun) / 200.0) % points.size()]))
	_brush.end_stroke()
	await wait_until(func() -> bool: return not _brush._in_flight)
	var sent: Array = _fixture.backend.headers("splat.select")
	assert_true(sent.size() >= 3 and sent.size() <= 12, "%d rays in 0.6 s at 15 Hz" % sent.size())
	for i in range(1, sent.size()):
		assert_eq(sent[i].combine, "add")
	var first: Dictionary = sent[0]
	var origin := Vector3(first.origin[0], first.origin[1], first.origin[2])
	assert_true(origin.is_equal_approx(Vector3(0.1, 0.1, 3.0)), "from the hand where it began, "
		+ "in the entity's frame: %s" % origin)
	var direction := Vector3(first.direction[0], first.direction[1], first.direction[2])
	assert_true(direction.is_equal_approx(Vector3(0, 0, -1)), "along its -Z: %s" % direction)
	assert_eq(_fixture.editor.selection_count, 3, "the three splats pointed at")
	# Held still, it asks nothing more.
	_brush.begin_stroke()
	await wait_seconds(0.3)
	_brush.end_stroke()
	await wait_until(func() -> bool: return not _brush._in_flight)
	assert_eq(_fixture.backend.headers("splat.select").size(), sent.size() + 1,
		"once where it begins")


func test_the_trigger_paints_and_the_button_takes_away() -> void:
	var controller := XRController3D.new()
	_make_hand(controller)
	_aim(Vector3(0.1, 0.1, 0.3))
	controller.input_float_changed.emit("trigger", 0.9)
	assert_true(_brush.painting and not _brush.subtracting)
	await wait_until(func() -> bool: return _fixture.editor.selection_count == 1)
	controller.input_float_changed.emit("trigger", 0.55)
	assert_true(_brush.painting, "between 80 % of the threshold and it: still painting")
	controller.input_float_changed.emit("trigger", 0.1)
	assert_false(_brush.painting)
	await wait_until(func() -> bool: return not _brush._in_flight)
	controller.button_pressed.emit("ax_button")
	controller.button_pressed.emit("trigger_click")
	assert_true(_brush.painting and _brush.subtracting, "the subtract button held")
	assert_true(await wait_until(func() -> bool: return _fixture.editor.selection_count == 0))
	controller.button_released.emit("trigger_click")
	controller.button_released.emit("ax_button")
	assert_false(_brush.painting)
	assert_eq(_fixture.backend.headers("splat.select")[-1].combine, "subtract")
	assert_eq(_brush._get_configuration_warnings().size(), 0)


func _make_hand(hand: Node3D) -> void:
	_hand = hand
	add_child(_hand)
	_brush = XRSplatBrush.new()
	_brush.editor_path = _fixture.editor.get_path()
	_brush.radius = 0.25
	_hand.add_child(_brush)


# Puts the hand 2.7 m in front of [param local] (a point of the entity's frame), pointing at it.
func _aim(local: Vector3) -> void:
	_hand.look_at_from_position(_fixture.to_world(local + Vector3(0, 0, 2.7)),
		_fixture.to_world(local))
