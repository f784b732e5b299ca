extends "res://tests/script_main.gd"
## Times the SplatInstance3D depth sort on a worker thread, as the node runs it:
##
##     godot --headless --path engine_plugin/godot --script res://tests/bench/sort_bench.gd \
##         -- --counts=100000,1000000 [--repeat=5]
##
## Splat centres are uniform in a 10 m box; each run sorts along a new random direction. Prints
## "CONTINUUM_RESULT {json}" with the median milliseconds per count ("sort_ms_<count>").

const SplatSorter = preload("res://addons/continuum/splats/splat_sorter.gd")


func _main() -> void:
	var repeat := int(args.get("repeat", "5"))
	var rng := RandomNumberGenerator.new()
	rng.seed = 7
	var out := {}
	for count_text in str(args.get("counts", "100000,1000000")).split(","):
		var count := int(count_text)
		var positions := PackedVector3Array()
		positions.resize(count)
		for i in count:
			positions[i] = Vector3(rng.randf(), rng.randf(), rng.randf()) * 10.0
		var bounds := AABB(Vector3.ZERO, Vector3.ONE * 10.0)
		var times: Array[float] = []
		for r in repeat:
			var sorter := SplatSorter.new()
			var direction := Vector3(rng.randfn(), rng.randfn(), rng.randfn())
			var start := Time.get_ticks_usec()
			sorter.start(positions, bounds, direction, null)
			while sorter.is_running():
				OS.delay_usec(100)
			var order: PackedFloat32Array = sorter.take_result().order
			times.append((Time.get_ticks_usec() - start) / 1000.0)
			if order.size() != count:
				out["error"] = "sorted %d of %d" % [order.size(), count]
		times.sort()
		out["sort_ms_%d" % count] = times[times.size() / 2]
	finish(0 if not out.has("error") else 1, out)
