extends "res://tests/script_main.gd"
## Renders a splat pack from a fixed camera and saves the frame, for the visual tests and the
## engine-splats benchmark. Run under Xvfb without --headless (there is no renderer headless):
##
##   godot --resolution 320x240 --script res://tests/integration/splat_render.gd -- \
##       --pack=/abs/cloud.cspk --camera=<12 numbers> --fov=50 --out=/abs/frame.png
##
## --camera is the camera's global transform in Godot's axes (basis columns x, y, z, then the
## origin); --fov the vertical field of view in degrees.
## Options: --near, --far, --stereo (two views through Godot's MobileVR interface with lens
## distortion off, drawn in one multiview pass; the frame holds the left eye on the left
## half), --frames=N (then report the mean frame
## time over N more frames). Prints one line "CONTINUUM_RESULT {json}" and exits 0 on success.

const SplatCloudScript = preload("res://addons/continuum/splats/splat_cloud.gd")
const SplatInstanceScript = preload("res://addons/continuum/splats/splat_instance_3d.gd")

## Frames to wait for the first sort and the upload before capturing.
const MAX_WAIT_FRAMES := 600


func _main() -> void:
	var result := await _render()
	finish(0 if not result.has("error") else 1, result)


func _render() -> Dictionary:
	var bytes := FileAccess.get_file_as_bytes(str(args.get("pack", "")))
	if bytes.is_empty():
		return {"error": "cannot read --pack=%s" % args.get("pack", "")}
	var decoded := SplatCloudScript.from_pack(bytes)
	if decoded.has("error"):
		return {"error": decoded.message}
	var cloud: SplatCloud = decoded.cloud
	RenderingServer.set_default_clear_color(Color.BLACK)
	OS.low_processor_usage_mode = false
	Engine.max_fps = 0

	var node: SplatInstance3D = SplatInstanceScript.new()
	var stereo := args.has("stereo")
	var camera := _make_camera(stereo)
	var numbers := str(args.get("camera", "")).split_floats(",")
	if numbers.size() != 12:
		return {"error": "--camera needs 12 numbers, got %d" % numbers.size()}
	camera.global_transform = Transform3D(
			Vector3(numbers[0], numbers[1], numbers[2]), Vector3(numbers[3], numbers[4], numbers[5]),
			Vector3(numbers[6], numbers[7], numbers[8]), Vector3(numbers[9], numbers[10], numbers[11]))
	root.add_child(node)
	node.cloud = cloud

	var waited := 0
	while node.get_shown_cloud() != cloud and waited < MAX_WAIT_FRAMES:
		await process_frame
		waited += 1
	if node.get_shown_cloud() != cloud:
		return {"error": "the cloud was not shown after %d frames" % waited}
	# Two more frames so the frame on screen was drawn with the uploaded order.
	for i in 2:
		await RenderingServer.frame_post_draw
	var out := {
		"count": cloud.count, "sorts": node.get_sort_count(),
		"gpu_bytes_per_splat": node.gpu_bytes_per_splat(),
		"size": [root.size.x, root.size.y], "renderer": RenderingServer.get_current_rendering_method(),
	}
	if stereo:
		out["views"] = _views(camera)
	var frames := int(args.get("frames", "0"))
	if frames > 0:
		var start := Time.get_ticks_usec()
		for i in frames:
			await RenderingServer.frame_post_draw
		out["frame_ms"] = (Time.get_ticks_usec() - start) / 1000.0 / frames
	# In XR the viewport's own texture holds one eye; the window shows both, side by side.
	var image := DisplayServer.screen_get_image(0) if stereo else root.get_texture().get_image()
	var path := str(args.get("out", ""))
	if not path.is_empty():
		var err := image.save_png(path)
		if err != OK:
			return {"error": "cannot write %s: %s" % [path, error_string(err)]}
		out["png"] = path
	return out


func _make_camera(stereo: bool) -> Node3D:
	var near := float(args.get("near", "0.05"))
	var far := float(args.get("far", "100"))
	if not stereo:
		var camera := Camera3D.new()
		camera.fov = float(args.get("fov", "50"))
		camera.near = near
		camera.far = far
		root.add_child(camera)
		camera.make_current()
		return camera
	var xr := XRServer.find_interface("Native mobile") as MobileVRInterface
	xr.k1 = 0.0
	xr.k2 = 0.0
	xr.oversample = 1.0
	xr.eye_height = 0.0
	xr.initialize()
	root.use_xr = true
	var origin := XROrigin3D.new()
	var head := XRCamera3D.new()
	head.near = near
	head.far = far
	origin.add_child(head)
	root.add_child(origin)
	return origin


## Each eye's world-to-camera transform and projection, as Godot draws them.
func _views(origin: Node3D) -> Array:
	var xr := XRServer.primary_interface
	var aspect := float(root.size.x) / 2.0 / root.size.y
	var views := []
	for view in xr.get_view_count():
		var eye := xr.get_transform_for_view(view, origin.global_transform)
		var proj := xr.get_projection_for_view(view, aspect, float(args.get("near", "0.05")),
				float(args.get("far", "100")))
		views.append({
			"camera_to_world": _rows(Projection(eye)),
			"projection": _rows(proj),
		})
	return views


static func _rows(m: Projection) -> Array:
	var rows := []
	for r in 4:
		rows.append([m.x[r], m.y[r], m.z[r], m.w[r]])
	return rows
