extends "res://tests/script_main.gd"
## Decodes a splat file with the plugin's decoder and compares the SplatCloud with the engine pack
## Python wrote for the same file (tests/integration/test_godot_import.py).
##
##     godot --headless --path engine_plugin/godot \
##         --script res://tests/integration/splat_decode_check.gd -- --file=/abs/x.ply \
##         --pack=/abs/x.cspk
##
## Prints one line "CONTINUUM_RESULT {json}": count and degree of both, per section the largest
## difference (float32 sections: relative; half sections: units in the last place, a subnormal
## flushed to zero counting as 1), the box's largest difference relative to its extent, whether
## to_pack gives Python's header and pack, whether from_pack then to_pack gives Python's pack
## back, the decode time, and "ok". Quits with 0 when ok, 1 when not, 2 on bad arguments.

const SplatImportPlugin = preload(
	"res://addons/continuum/editor/importers/splat_import_plugin.gd")

const DECODERS := SplatImportPlugin.DECODERS
## Largest relative difference of a float32 value.
const FLOAT_TOLERANCE := 1e-6
## Largest difference of a half, in units in the last place.
const HALF_ULPS := 1


func _main() -> void:
	var path: String = args.get("file", "")
	if not DECODERS.has(path.get_extension()) or not args.has("pack"):
		finish(2, {"ok": false, "error": "give --file=<.ply|.splat|.spz> and --pack=<.cspk>"})
		return
	var started := Time.get_ticks_usec()
	var decoded: Dictionary = DECODERS[path.get_extension()].decode(
		FileAccess.get_file_as_bytes(path), {})
	var decode_s := (Time.get_ticks_usec() - started) / 1e6
	if decoded.has("error"):
		finish(1, {"ok": false, "error": decoded.message})
		return
	var python := FileAccess.get_file_as_bytes(args.pack)
	var expected: Dictionary = SplatCloud.from_pack(python)
	if expected.has("error"):
		finish(1, {"ok": false, "error": "the Python pack: " + expected.message})
		return
	finish(0, _compare(decoded.cloud, expected.cloud, python, decode_s))


func _compare(
	got: SplatCloud, want: SplatCloud, python: PackedByteArray, seconds: float
) -> Dictionary:
	var result := {
		"count": [got.count, want.count], "sh_degree": [got.sh_degree, want.sh_degree],
		"sizes_equal": true, "decode_s": seconds,
	}
	var sections := {"means": _float_difference(got.means, want.means)}
	for name: String in ["rotations", "scales", "colors", "sh"]:
		sections[name] = _half_ulps(got.get(name), want.get(name))
	for name: String in sections:
		if got.get(name).size() != want.get(name).size():
			result.sizes_equal = false
	result["sections"] = sections
	var extent := maxf(want.aabb.get_longest_axis_size(), 1e-30)
	var low := (got.aabb.position - want.aabb.position).abs()
	var high := (got.aabb.end - want.aabb.end).abs()
	result["aabb_difference"] = maxf(low[low.max_axis_index()], high[high.max_axis_index()]) / extent
	var pack := got.to_pack()
	var header_length := python.decode_u32(8) + 12
	result["header_identical"] = pack.slice(0, header_length) == python.slice(0, header_length)
	result["pack_identical"] = pack == python
	result["roundtrip_identical"] = want.to_pack() == python
	result["ok"] = result.count[0] == result.count[1] and result.sh_degree[0] == result.sh_degree[1] \
		and result.sizes_equal and sections.means <= FLOAT_TOLERANCE \
		and ["rotations", "scales", "colors", "sh"].all(
			func(name: String) -> bool: return sections[name] <= HALF_ULPS) \
		and result.aabb_difference <= 1e-6 and result.roundtrip_identical
	return result


# The largest relative difference between two float32 sections (inf when their sizes differ).
static func _float_difference(a: PackedByteArray, b: PackedByteArray) -> float:
	if a.size() != b.size():
		return INF
	var x := a.to_float32_array()
	var y := b.to_float32_array()
	var worst := 0.0
	for i in x.size():
		if x[i] != y[i]:
			worst = maxf(worst, absf(x[i] - y[i]) / maxf(absf(y[i]), 1e-30))
	return worst


# The largest distance in units in the last place between two half sections; a subnormal half
# against zero counts as 1 (the plugin flushes subnormals).
static func _half_ulps(a: PackedByteArray, b: PackedByteArray) -> int:
	if a.size() != b.size():
		return 1 << 30
	var worst := 0
	for i in range(0, a.size(), 2):
		var p := a.decode_u16(i)
		var q := b.decode_u16(i)
		if p == q:
			continue
		var distance := absi(_ordered(p) - _ordered(q))
		if (p & 0x7c00) == 0 and (q & 0x7c00) == 0:
			distance = 1
		worst = maxi(worst, distance)
	return worst


# A half's bits as an integer that orders like the values.
static func _ordered(bits: int) -> int:
	return -(bits & 0x7fff) if bits & 0x8000 else bits
