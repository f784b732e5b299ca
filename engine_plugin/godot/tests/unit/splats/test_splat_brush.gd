extends "res://tests/test_case.gd"
## addons/continuum/splats/splat_brush.gd against a fake splat backend (splat_edit_fixture.gd):
## a left stroke adds ray selections chained one after another at most max_rate_hz a second, a
## right stroke takes away, the entity is found by the ray, and mouse events paint only with the
## modifier held (or always_paint), taken from whatever else would use them.

const SplatBrush = preload("res://addons/continuum/splats/splat_brush.gd")
const SplatEditFixture = preload("res://tests/unit/splats/splat_edit_fixture.gd")

const VIEW := Vector2i(200, 200)

var _fixture: SplatEditFixture
var _viewport: SubViewport
var _camera: Camera3D
var _brush: SplatBrush


func before_each() -> void:
	_fixture = SplatEditFixture.new()
	add_child(_fixture)
	assert_true(await _fixture.start(), "the world shows the splats")
	_viewport = SubViewport.new()
	_viewport.size = VIEW
	_viewport.render_target_update_mode = SubViewport.UPDATE_DISABLED
	add_child(_viewport)
	_camera = Camera3D.new()
	_viewport.add_child(_camera)
	_camera.current = true
	# In front of the grid's z = 0.3 face, looking at its middle along the entity's -z.
	_camera.look_at_from_position(_fixture.to_world(Vector3(0, 0, 3)),
		_fixture.to_world(Vector3.ZERO))
	_brush = SplatBrush.new()
	_brush.editor_path = _fixture.editor.get_path()
	_brush.radius = 0.25  # 0.125 in the entity's frame: one splat
	_camera.add_child(_brush)


func after_each() -> void:
	await next_frame()
	_viewport.free()
	_fixture.free()


func test_a_stroke_adds_chained_rays_at_the_rate() -> void:
	var started: Array = []
	_brush.stroke_started.connect(func(subtract: bool) -> void: started.append(subtract))
	_brush.begin_stroke(_pixel(Vector3(0.1, 0.1, 0.3)))
	var begun := Time.get_ticks_msec()
	var points: Array[Vector3] = [Vector3(0.1, 0.1, 0.3), Vector3(-0.1, 0.1, 0.3),
		Vector3(-0.1, -0.1, 0.3), Vector3(0.1, -0.1, 0.3)]
	await wait_seconds(0.6, func() -> void:
		var k := int((Time.get_ticks_msec() - begun) / 150.0) % points.size()
		_brush.paint_to(_pixel(points[k])))
	var ended: Array = []
	_brush.stroke_ended.connect(func(rays: int) -> void: ended.append(rays))
	_brush.end_stroke()
	var rays := func() -> Array: return _fixture.backend.headers("splat.select")
	await wait_until(func() -> bool: return not _brush._in_flight)
	var sent: Array = rays.call()
	assert_eq(started, [false])
	assert_eq(ended, [sent.size()])
	assert_true(sent.size() >= 4 and sent.size() <= 12, "%d rays in 0.6 s at 15 Hz" % sent.size())
	assert_false(sent[0].has("combine"), "the first of a stroke with nothing selected starts one")
	for i in range(1, sent.size()):
		assert_eq(sent[i].combine, "add")
		assert_eq(sent[i].mode, "ray")
	assert_almost_eq(sent[0].radius, 0.125, 1e-6)
	assert_true(await wait_until(func() -> bool: return _fixture.editor.selection_count == 4),
		"the four splats the stroke went over: %d" % _fixture.editor.selection_count)


func test_a_right_stroke_takes_away() -> void:
	var box := await _fixture.editor.select_box("cloud", _fixture.to_world(Vector3.ZERO),
		Vector3.ONE * 2.0)
	assert_eq(box.count, 64)
	_brush.begin_stroke(_pixel(Vector3(0.1, 0.1, 0.3)), true)
	await wait_seconds(0.1)
	_brush.end_stroke()
	await wait_until(func() -> bool: return not _brush._in_flight)
	var ray: Dictionary = _fixture.backend.headers("splat.select")[-1]
	assert_eq(ray.combine, "subtract")
	assert_eq(_fixture.editor.selection_count, 63)


func test_a_ray_that_meets_no_splats_asks_nothing() -> void:
	_brush.begin_stroke(Vector2(2, 2))  # a corner of the view: past the grid
	await wait_seconds(0.1)
	_brush.end_stroke()
	assert_eq(_fixture.backend.headers("splat.select").size(), 0)
	_brush.entity = "cloud"  # named: asked anyway, and nothing is met
	_brush.begin_stroke(Vector2(2, 2))
	await wait_seconds(0.1)
	_brush.end_stroke()
	await wait_until(func() -> bool: return not _brush._in_flight)
	assert_eq(_fixture.backend.headers("splat.select").size(), 1)
	assert_eq(_fixture.editor.selection_count, 0)


func test_mouse_paints_with_the_modifier_only() -> void:
	var centre := _pixel(Vector3(0.1, 0.1, 0.3))
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, true, false))
	assert_false(_brush.painting, "no modifier: the click is the grabber's")
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, false, false))
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, true, true))
	assert_true(_brush.painting, "shift held: painting")
	assert_false(_brush.subtracting)
	var motion := InputEventMouseMotion.new()
	motion.position = _pixel(Vector3(-0.1, 0.1, 0.3))
	_viewport.push_input(motion)
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, false, false))
	assert_false(_brush.painting, "released")
	await wait_until(func() -> bool: return not _brush._in_flight)
	await wait_seconds(0.1)
	assert_true(_fixture.backend.headers("splat.select").size() >= 1)
	_brush.always_paint = true
	_viewport.push_input(_press(centre, MOUSE_BUTTON_RIGHT, true, false))
	assert_true(_brush.painting and _brush.subtracting, "a right drag takes away")
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, false, false))
	assert_true(_brush.painting, "another button's release does not end it")
	_viewport.push_input(_press(centre, MOUSE_BUTTON_RIGHT, false, false))
	assert_false(_brush.painting)
	_brush.enabled = false
	_viewport.push_input(_press(centre, MOUSE_BUTTON_LEFT, true, true))
	assert_false(_brush.painting, "disabled")


func test_configuration_warnings() -> void:
	assert_eq(_brush._get_configuration_warnings().size(), 0)
	var loose := SplatBrush.new()
	add_child(loose)
	assert_eq(loose._get_configuration_warnings().size(), 2, "no camera, no editor")
	loose.free()


# The viewport position of [param local], a point of the entity's frame.
func _pixel(local: Vector3) -> Vector2:
	return _camera.unproject_position(_fixture.to_world(local))


static func _press(
	at: Vector2, button: MouseButton, pressed: bool, shift: bool
) -> InputEventMouseButton:
	var event := InputEventMouseButton.new()
	event.position = at
	event.button_index = button
	event.pressed = pressed
	event.shift_pressed = shift
	return event
