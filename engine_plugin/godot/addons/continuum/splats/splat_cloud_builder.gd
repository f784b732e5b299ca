@tool
extends RefCounted
## Builds a SplatCloud from rows of float32 values with native Image operations: the back end that
## every decoder (editor/importers/*_decoder.gd) hands its splats to. Internal.
##
## A decoder gives one or more sources, each [code]{"data": PackedByteArray, "start": int,
## "stride": int}[/code]: the same number of rows, one per splat, [code]stride[/code] octets each
## from octet [code]start[/code]; and [code]columns[/code], where each value of a splat lies as
## Vector2i(source index, octet offset in the row) of a little-endian float32:
## [codeblock]
## "means"      x, y, z, opacity logit
## "rotations"  quaternion w, x, y, z
## "scales"     log-scales x, y, z
## "colors"     SH DC r, g, b
## "sh"         the 3 (K - 1) higher SH coefficients, coefficient-major (k1 r, k1 g, k1 b, k2 r ...)
## [/codeblock]
## Rows go in blocks that stay in cache. A block of a source is an Image of FORMAT_RF, a texel per
## float32 (FORMAT_R8, a texel per octet, when a row or a value is not 4-aligned), and each run of
## adjacent values is one blit_rect into the section's texel layout.
## The float32 texels become halves by Image.convert, which truncates toward zero and flushes
## subnormals to zero where Python's pack_splats rounds to nearest: the two agree to one unit in
## the last place, or to 2^-14 below 2^-14. Only the bounding box (and the max_splats selection)
## runs a GDScript loop per splat.

## Rows per block: a multiple of the rows of both texture layouts.
const ROWS_PER_BLOCK := 4096
## Octets per row above which a block would pass Image's pixel limit.
const MAX_STRIDE := 32768
# Section, half texels (else float32).
const _SECTIONS := [["means", false], ["rotations", true], ["scales", true], ["colors", true]]
# The box reaches this many standard deviations of a splat's largest axis (pack.py splat_bounds).
const _SIGMAS := 3.0


## The cloud of [param rows] splats from [param sources] and [param columns] (see the class
## description), keeping SH up to [param sh_degree] (its coefficients are the ones
## [code]columns.sh[/code] lists) and, when [param max_splats] > 0, the [param max_splats] most
## opaque splats in their order. Returns [code]{"cloud": SplatCloud}[/code] or an error value.
static func build(
	sources: Array, rows: int, columns: Dictionary, sh_degree: int, max_splats: int = 0
) -> Dictionary:
	var bad := _check(sources, rows, columns, sh_degree)
	if not bad.is_empty():
		return bad
	var count := rows
	if max_splats > 0 and rows > max_splats:
		sources = _most_opaque(sources, rows, columns.means[3], max_splats)
		count = max_splats
	if count > SplatCloud.MAX_SPLATS:
		return failure("too_large", "%d splats exceed the %d a cloud holds; set max_splats" % [
			count, SplatCloud.MAX_SPLATS])
	# 1. The section images, zero-filled, so the padding is already there.
	var cloud := SplatCloud.new()
	cloud.count = count
	cloud.sh_degree = sh_degree
	cloud.sh_texels = SplatCloud.sh_texels_for(sh_degree)
	var layouts := []
	for spec: Array in _SECTIONS:
		layouts.append(_layout(spec[0], 1, SplatCloud.TEXTURE_WIDTH, spec[1], columns))
	if sh_degree > 0:
		layouts.append(_layout("sh", cloud.sh_texels, SplatCloud.SH_SPLATS_PER_ROW, true, columns))
	var targets := {}
	for layout: Dictionary in layouts:
		# The per-splat sections keep a row when empty, as the pack does; sh does not.
		var height := ceili(float(count) / layout.splats_per_row)
		if layout.name != "sh":
			height = maxi(1, height)
		if height > 0:
			targets[layout.name] = Image.create_empty(layout.texels * layout.splats_per_row,
				height, false, Image.FORMAT_RGBAH if layout.half else Image.FORMAT_RGBAF)
	# 2. Block by block: gather each section's values, grow the box, place the texels.
	var unit := 4 if _aligned(sources, columns) else 1
	var lo := Vector3.INF
	var hi := -Vector3.INF
	for first in range(0, count, ROWS_PER_BLOCK):
		var n := mini(ROWS_PER_BLOCK, count - first)
		var blocks: Array[Image] = []
		for source: Dictionary in sources:
			var begin: int = source.start + first * source.stride
			blocks.append(Image.create_from_data(source.stride / unit, n, false,
				Image.FORMAT_RF if unit == 4 else Image.FORMAT_R8,
				source.data.slice(begin, begin + n * source.stride)))
		var gathered := {}
		for layout: Dictionary in layouts:
			gathered[layout.name] = _gather(blocks, layout.runs, n, layout.texels * 16, unit)
		var box := _block_bounds(gathered.means, gathered.scales, n)
		lo = lo.min(box[0])
		hi = hi.max(box[1])
		for layout: Dictionary in layouts:
			_place(targets[layout.name], gathered[layout.name], first, layout)
	# 3. The cloud: the images' bytes and the box (an empty cloud's is at the origin).
	for name: String in targets:
		cloud.set(name, targets[name].get_data())
	if count == 0:
		lo = Vector3.ZERO
		hi = Vector3.ZERO
	cloud.set_bounds(lo, hi)
	return {"cloud": cloud}


## The error value every decoder returns: [code]{"error": code, "message": text}[/code].
static func failure(code: String, message: String) -> Dictionary:
	return {"error": code, "message": message}


## Rows of [param length] octets that fit in [param available] octets, without overflow for any
## count a header may claim.
static func fits(rows: int, length: int, available: int) -> bool:
	return rows >= 0 and length > 0 and available >= 0 and rows <= available / length


static func _check(sources: Array, rows: int, columns: Dictionary, sh_degree: int) -> Dictionary:
	if sh_degree < 0 or sh_degree > 3:
		return failure("bad_input", "sh_degree must be 0..3, got %d" % sh_degree)
	var wanted := {"means": 4, "rotations": 4, "scales": 3, "colors": 3}
	wanted["sh"] = 3 * ((sh_degree + 1) * (sh_degree + 1) - 1)
	for name: String in wanted:
		var listed: Array = columns.get(name, [])
		if listed.size() != wanted[name]:
			return failure("bad_input", "columns.%s lists %d values, expected %d" % [
				name, listed.size(), wanted[name]])
		for where: Vector2i in listed:
			if where.x < 0 or where.x >= sources.size() or where.y < 0 \
					or where.y + 4 > sources[where.x].stride:
				return failure("bad_input", "columns.%s: %s lies outside a row" % [name, where])
	for source: Dictionary in sources:
		if source.stride <= 0 or source.stride > MAX_STRIDE:
			return failure("unsupported", "rows of %d octets; at most %d are supported" % [
				source.stride, MAX_STRIDE])
		if source.start < 0 or not fits(rows, source.stride, source.data.size() - source.start):
			return failure("truncated", "%d rows of %d octets do not fit in the %d octets there"
				% [rows, source.stride, source.data.size() - source.start])
	return {}


# {name, texels (per splat), splats_per_row, half, runs}; a run [source, octet, texel value, n]
# copies n adjacent float32 values of a row.
static func _layout(
	name: String, texels: int, splats_per_row: int, half: bool, columns: Dictionary
) -> Dictionary:
	var runs := []
	var listed: Array = columns[name]
	for i in listed.size():
		var where: Vector2i = listed[i]
		var last: Array = runs.back() if not runs.is_empty() else []
		if not last.is_empty() and last[0] == where.x and last[1] + 4 * last[3] == where.y \
				and last[2] + last[3] == i:
			last[3] += 1
		else:
			runs.append([where.x, where.y, i, 1])
	return {"name": name, "texels": texels, "splats_per_row": splats_per_row, "half": half,
		"runs": runs}


# The block's values of one section as float32 texels, [param row_octets] per splat; the block
# images have a texel per [param unit] octets.
static func _gather(
	blocks: Array[Image], runs: Array, n: int, row_octets: int, unit: int
) -> PackedByteArray:
	var out := Image.create_empty(row_octets / unit, n, false, blocks[0].get_format())
	for run: Array in runs:
		out.blit_rect(blocks[run[0]], Rect2i(run[1] / unit, 0, run[3] * 4 / unit, n),
			Vector2i(run[2] * 4 / unit, 0))
	return out.get_data()


# Puts a block's texels (float32) at their rows of the section image, as halves where it holds
# halves; the block starts a row since ROWS_PER_BLOCK is a multiple of splats_per_row.
static func _place(target: Image, texels: PackedByteArray, first: int, layout: Dictionary) -> void:
	var per_row: int = layout.splats_per_row
	var splat_octets: int = layout.texels * 16
	var rows := ceili(float(texels.size() / splat_octets) / per_row)
	texels.resize(rows * per_row * splat_octets)
	var width := target.get_width()
	var block := Image.create_from_data(width, rows, false, Image.FORMAT_RGBAF, texels)
	if layout.half:
		block.convert(Image.FORMAT_RGBAH)
	target.blit_rect(block, Rect2i(0, 0, width, rows), Vector2i(0, first / per_row))


# The corners [lo, hi] of a block's box, each splat out to 3 standard deviations of its largest
# axis, in float32 arithmetic as pack.py's splat_bounds (Vector3 holds and computes float32).
# torch's float32 exp is not always correctly rounded, so a corner can differ from Python's in
# its last bit.
static func _block_bounds(
	means: PackedByteArray, scales: PackedByteArray, n: int
) -> PackedVector3Array:
	var centres := _vectors(means, n)
	var sizes := _vectors(scales, n)
	var lo := Vector3.INF
	var hi := -Vector3.INF
	for i in n:
		var log_scale := sizes[i]
		var e := exp(log_scale[log_scale.max_axis_index()])
		var reach := Vector3(e, e, e) * _SIGMAS
		var centre := centres[i]
		lo = lo.min(centre - reach)
		hi = hi.max(centre + reach)
	return PackedVector3Array([lo, hi])


# The first three of each 4 float32 values, n of them.
static func _vectors(texels: PackedByteArray, n: int) -> PackedVector3Array:
	var image := Image.create_from_data(n, 1, false, Image.FORMAT_RGBAF, texels)
	image.convert(Image.FORMAT_RGBF)
	return image.get_data().to_vector3_array()


# Whether every row and value lies at a multiple of 4 octets, so blocks can be float32 images.
static func _aligned(sources: Array, columns: Dictionary) -> bool:
	for source: Dictionary in sources:
		if source.stride % 4 != 0:
			return false
	for name: String in columns:
		for where: Vector2i in columns[name]:
			if where.y % 4 != 0:
				return false
	return true


# The sources cut down to the [param keep] rows of highest opacity logit (NaN lowest), in order.
static func _most_opaque(sources: Array, rows: int, opacity: Vector2i, keep: int) -> Array:
	var source: Dictionary = sources[opacity.x]
	var data: PackedByteArray = source.data
	var logits := PackedFloat32Array()
	logits.resize(rows)
	for i in rows:
		var value := data.decode_float(source.start + i * source.stride + opacity.y)
		logits[i] = -INF if is_nan(value) else value
	var ranked := logits.duplicate()
	ranked.sort()
	var threshold := ranked[rows - keep]
	var ties := keep - (rows - ranked.bsearch(threshold, false))
	var runs := []  # [first row, rows]
	for i in rows:
		var value := logits[i]
		var take := value > threshold
		if not take and value == threshold and ties > 0:
			take = true
			ties -= 1
		if not take:
			continue
		if not runs.is_empty() and runs.back()[0] + runs.back()[1] == i:
			runs.back()[1] += 1
		else:
			runs.append([i, 1])
	var cut := []
	for each: Dictionary in sources:
		var kept := PackedByteArray()
		for run: Array in runs:
			var begin: int = each.start + run[0] * each.stride
			kept.append_array(each.data.slice(begin, begin + run[1] * each.stride))
		cut.append({"data": kept, "start": 0, "stride": each.stride})
	return cut
