extends "res://tests/unit/bridge/fake_asset_backend.gd"
## A fake backend with splat editing for the splat editor tests: fake_asset_backend.gd (hello,
## world.get, the assets) plus splat.select, splat.selection and splat.edit like
## bridge/PROTOCOL.md section 16, and world.undo of its edits. Its splats are points with a base
## colour (SH degree 0); a version is a pack it builds, served as an asset and announced
## (asset.announce) when an edit or an undo makes it the entity's splat.
##
## Selections: box, sphere and masks by the splats' centres (a mask view projects each centre
## with the view's camera and reads the pixel under it; the score is the share of the views that
## see the centre whose mask is set there); the ray brush meets the splat whose centre is nearest
## to the ray within the radius, nearest along it first. Edits: delete, recolor and tint set the
## base colour, transform moves (translation only), duplicate appends moved copies, optimize
## pushes `splat.progress` one step per frame then brightens the selection.

const C0 := 0.28209479177387814

## Entity id -> its splats' current version (a pack hash).
var current: Dictionary = {}
## Pack hash -> {"positions": PackedVector3Array, "colors": PackedColorArray} (base colours).
var versions: Dictionary = {}
## Selection id -> {entity, base, scores: PackedFloat32Array}.
var selections: Dictionary = {}

var _next_selection: int = 1
var _history: Array = []  # [entity, the version before an edit]
var _optimizations: Array = []  # {peer, re, entity, selection, step, steps}


func _process(_delta: float) -> void:
	for job: Dictionary in _optimizations.duplicate():
		job.step += 1
		router.send_reply("splat.progress", {"entity": job.entity, "step": job.step,
			"steps": job.steps}, [], job.peer)
		if job.step >= job.steps:
			_optimizations.erase(job)
			var version: Dictionary = versions[current[job.entity]]
			var colors: PackedColorArray = version.colors.duplicate()
			var scores: PackedFloat32Array = _selection({"selection": job.selection}).scores
			for i in colors.size():
				if scores[i] > 0.5:
					colors[i] = colors[i].lightened(0.2)
			_commit(job.peer, job.re, job.entity, version.positions, colors, int(job.changed))


## Serves entity [param id] with splats at [param positions] (its frame), all grey, placed by
## [param transform] (scene.schema.json: position, rotation [x, y, z, w], scale).
func add_splat_entity(
	id: String, positions: PackedVector3Array, transform: Dictionary = {}
) -> String:
	var colors := PackedColorArray()
	colors.resize(positions.size())
	colors.fill(Color(0.5, 0.5, 0.5))
	var hash := _add_version(positions, colors)
	current[id] = hash
	var entity := {"id": id, "components": {"splat": _component(hash)}}
	if not transform.is_empty():
		entity["transform"] = transform
	entities.append(entity)
	return hash


## A pack of splats at [param positions] with base colours [param colors] (SH degree 0).
static func make_pack(positions: PackedVector3Array, colors: PackedColorArray) -> PackedByteArray:
	var count := positions.size()
	var height := maxi(1, ceili(count / float(SplatCloud.TEXTURE_WIDTH)))
	var texels := height * SplatCloud.TEXTURE_WIDTH
	var means := _zeros(texels * 16)
	var rotations := _zeros(texels * 8)
	var scales := _zeros(texels * 8)
	var dc := _zeros(texels * 8)
	var lo := Vector3.INF
	var hi := -Vector3.INF
	for i in count:
		var p := positions[i]
		for axis in 3:
			means.encode_float(i * 16 + axis * 4, p[axis])
			scales.encode_half(i * 8 + axis * 2, log(0.02))
			dc.encode_half(i * 8 + axis * 2, (colors[i][axis] - 0.5) / C0)
		means.encode_float(i * 16 + 12, 3.0)
		rotations.encode_half(i * 8, 1.0)
		lo = lo.min(p)
		hi = hi.max(p)
	var cloud := SplatCloud.new()
	cloud.count = count
	cloud.means = means
	cloud.rotations = rotations
	cloud.scales = scales
	cloud.colors = dc
	if count > 0:
		cloud.set_bounds(lo - Vector3.ONE * 0.06, hi + Vector3.ONE * 0.06)
	return cloud.to_pack()


## The base colour of splat [param index] of [param cloud] (its DC coefficient as a colour).
static func cloud_color(cloud: SplatCloud, index: int) -> Color:
	var rgb := Color(0, 0, 0)
	for axis in 3:
		rgb[axis] = cloud.colors.decode_half(index * 8 + axis * 2) * C0 + 0.5
	return rgb


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	match message.kind:
		"splat.select":
			_serve_select(peer, re, header, message.blobs)
		"splat.selection":
			var made: Dictionary = _selection(header)
			if made.is_empty():
				_error(peer, re, "not_found", "no selection %s" % header.get("selection"))
				return
			router.send_reply("splat.selection", {"re": re, "selection": header.selection,
				"entity": made.entity, "base": made.base, "count": _count(made.scores),
				"total": made.scores.size()}, [made.scores], peer)
		"splat.edit":
			_serve_edit(peer, re, header, message.blobs)
		"world.undo":
			if _history.is_empty():
				_error(peer, re, "conflict", "nothing to undo")
				return
			var step: Array = _history.pop_back()
			_show(step[0], step[1])
			router.send_reply("world.undo", {"re": re, "seq": 1, "events": 1}, [], peer)
		_:
			super._handle(peer, re, message)


func _serve_select(peer: int, re: Variant, header: Dictionary, blobs: Array) -> void:
	var problem := _check_base(header)
	if not problem.is_empty():
		_error(peer, re, problem.get_slice(":", 0), problem.get_slice(":", 1))
		return
	var positions: PackedVector3Array = versions[header.base].positions
	var scores := PackedFloat32Array()
	scores.resize(positions.size())
	match header.get("mode"):
		"box":
			var centre := _v(header.center)
			var half := _v(header.half_size)
			var turn := _q(header.get("rotation", [0, 0, 0, 1]))
			for i in positions.size():
				var local := turn.inverse() * (positions[i] - centre)
				var inside := absf(local.x) <= half.x + 1e-5 and absf(local.y) <= half.y + 1e-5 \
					and absf(local.z) <= half.z + 1e-5
				scores[i] = 1.0 if inside else 0.0
		"sphere":
			for i in positions.size():
				var inside: bool = positions[i].distance_to(_v(header.center)) <= header.radius
				scores[i] = 1.0 if inside else 0.0
		"ray":
			scores = _ray(positions, header)
		"masks":
			if blobs.size() != header.views.size():
				_error(peer, re, "bad_request", "one mask per view")
				return
			scores = _masks(positions, header, blobs)
		_:
			_error(peer, re, "bad_request", "unknown mode %s" % header.get("mode"))
			return
	var how: String = header.get("combine", "replace")
	if how != "replace":
		var earlier: Dictionary = _selection(header)
		if earlier.is_empty() or earlier.base != header.base:
			_error(peer, re, "conflict", "the earlier selection is of another version")
			return
		for i in scores.size():
			var a: float = earlier.scores[i]
			match how:
				"add":
					scores[i] = maxf(a, scores[i])
				"subtract":
					scores[i] = a * (1.0 - scores[i])
				"intersect":
					scores[i] = minf(a, scores[i])
	var id := _next_selection
	_next_selection += 1
	selections[id] = {"entity": header.entity, "base": header.base, "scores": scores}
	var reply := {"re": re, "selection": id, "entity": header.entity, "base": header.base,
		"count": _count(scores), "total": scores.size()}
	router.send_reply("splat.select", reply, [scores] if header.get("labels", false) else [],
		peer)


func _serve_edit(peer: int, re: Variant, header: Dictionary, blobs: Array) -> void:
	var problem := _check_base(header)
	var made: Dictionary = _selection(header)
	if problem.is_empty() and made.is_empty():
		problem = "not_found:no selection %s" % header.get("selection")
	elif problem.is_empty() and (made.entity != header.entity or made.base != header.base):
		problem = "conflict:the selection is of another version"
	elif problem.is_empty() and _count(made.scores) == 0:
		problem = "bad_request:the selection is empty"
	if not problem.is_empty():
		_error(peer, re, problem.get_slice(":", 0), problem.get_slice(":", 1))
		return
	var version: Dictionary = versions[header.base]
	var positions: PackedVector3Array = version.positions.duplicate()
	var colors: PackedColorArray = version.colors.duplicate()
	var scores: PackedFloat32Array = made.scores
	var count := _count(scores)
	match header.get("op"):
		"delete":
			var kept_positions := PackedVector3Array()
			var kept_colors := PackedColorArray()
			for i in positions.size():
				if scores[i] <= 0.5:
					kept_positions.append(positions[i])
					kept_colors.append(colors[i])
			positions = kept_positions
			colors = kept_colors
		"recolor", "tint":
			var rgb := Color(header.color[0], header.color[1], header.color[2])
			var amount: float = header.get("amount", 1.0)
			for i in colors.size():
				if scores[i] > 0.5:
					colors[i] = colors[i].lerp(rgb, amount)
		"transform":
			var move := _v(header.get("translation", [0, 0, 0]))
			for i in positions.size():
				if scores[i] > 0.5:
					positions[i] += move
		"duplicate":
			var offset := _v(header.offset)
			for i in scores.size():
				if scores[i] > 0.5:
					positions.append(positions[i] + offset)
					colors.append(colors[i])
		"optimize":
			var views: Array = header.get("views", [])
			if views.is_empty() or (not header.has("instruction") and blobs.size() != views.size()):
				_error(peer, re, "bad_request", "one target per view")
				return
			_optimizations.append({"peer": peer, "re": re, "entity": header.entity,
				"selection": header.selection, "step": 0, "steps": int(header.get("steps", 3)),
				"changed": count})
			return
		_:
			_error(peer, re, "bad_request", "unknown op %s" % header.get("op"))
			return
	_commit(peer, re, header.entity, positions, colors, count)


func _commit(
	peer: int, re: Variant, entity: String, positions: PackedVector3Array,
	colors: PackedColorArray, changed: int
) -> void:
	_history.append([entity, current[entity]])
	var hash := _add_version(positions, colors)
	_show(entity, hash)
	router.send_reply("splat.edit", {"re": re, "asset": _component(hash), "changed": changed,
		"seq": _history.size()}, [], peer)


# Makes version [param hash] entity [param entity]'s splat and announces it.
func _show(entity: String, hash: String) -> void:
	current[entity] = hash
	for e: Dictionary in entities:
		if e.id == entity:
			e.components.splat = _component(hash)
	announce(entity, hash)


func _add_version(positions: PackedVector3Array, colors: PackedColorArray) -> String:
	var hash := add_asset(make_pack(positions, colors))
	versions[hash] = {"positions": positions, "colors": colors}
	return hash


func _component(hash: String) -> Dictionary:
	return {"asset": hash, "bytes": assets[hash].size(), "count": versions[hash].positions.size(),
		"sh_degree": 0}


# "" when the header's entity and base are the entity's current splats, else "code:message".
func _check_base(header: Dictionary) -> String:
	if not current.has(header.get("entity")):
		return "not_found:no entity %s" % header.get("entity")
	if header.get("base") != current[header.entity]:
		return "conflict:stale version"
	return ""


static func _ray(positions: PackedVector3Array, header: Dictionary) -> PackedFloat32Array:
	var origin := _v(header.origin)
	var direction := _v(header.direction).normalized()
	var radius: float = header.radius
	var limit: float = header.get("max_distance", INF)
	var best := INF
	for p in positions:
		var t := (p - origin).dot(direction)
		if t >= 0.0 and t <= limit and p.distance_to(origin + direction * t) <= radius:
			best = minf(best, t)
	var scores := PackedFloat32Array()
	scores.resize(positions.size())
	if best == INF:
		return scores
	var hit := origin + direction * best
	for i in positions.size():
		scores[i] = 1.0 if positions[i].distance_to(hit) <= radius else 0.0
	return scores


static func _masks(
	positions: PackedVector3Array, header: Dictionary, blobs: Array
) -> PackedFloat32Array:
	var scores := PackedFloat32Array()
	scores.resize(positions.size())
	var threshold: float = header.get("threshold", 0.5)
	for i in positions.size():
		var seen := 0
		var votes := 0
		for v in header.views.size():
			var camera: Dictionary = header.views[v].camera
			var m: Array = camera.world_to_camera
			var p := positions[i]
			var x: float = m[0] * p.x + m[1] * p.y + m[2] * p.z + m[3]
			var y: float = m[4] * p.x + m[5] * p.y + m[6] * p.z + m[7]
			var z: float = m[8] * p.x + m[9] * p.y + m[10] * p.z + m[11]
			if z <= 0.0:
				continue
			var column := floori(camera.fx * x / z + camera.cx)
			var row := floori(camera.fy * y / z + camera.cy)
			if column < 0 or row < 0 or column >= camera.width or row >= camera.height:
				continue
			seen += 1
			var mask: PackedByteArray = blobs[v]
			if mask[row * int(camera.width) + column] != 0:
				votes += 1
		scores[i] = 1.0 if seen > 0 and float(votes) / seen >= threshold else 0.0
	return scores


# The selection a header names (JSON gives its id as a float), or {}.
func _selection(header: Dictionary) -> Dictionary:
	var id: Variant = header.get("selection")
	return selections.get(int(id), {}) if typeof(id) in [TYPE_INT, TYPE_FLOAT] else {}


static func _count(scores: PackedFloat32Array) -> int:
	var count := 0
	for score in scores:
		if score > 0.5:
			count += 1
	return count


static func _v(values: Array) -> Vector3:
	return Vector3(values[0], values[1], values[2])


static func _q(values: Array) -> Quaternion:
	return Quaternion(values[0], values[1], values[2], values[3]).normalized()


static func _zeros(size: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(size)
	return data
