extends RefCounted
## Turns the entities of a Continuum scene (bridge/schema/scene.schema.json, as sent in a
## `world` reply) into Node3D trees.
##
## One node per entity, named by the entity's name (its id when it has none), with metadata
## "continuum_id" (and "continuum_tags", "continuum_components" for unknown components).
## The entity node's class follows its first node-making component, in this order: shape
## (MeshInstance3D), splat (SplatInstance3D), light (DirectionalLight3D, OmniLight3D,
## SpotLight3D), camera (Camera3D), label (Label3D); further ones become child nodes named after
## the component. An entity with none is a plain Node3D. A splat node starts without a cloud:
## its component names the splat pack by hash (metadata "continuum_splat"), which ContinuumWorld
## fetches and assigns. Transforms use glTF conventions, which are Godot's (right-handed,
## +Y up, metres, quaternions x, y, z, w). An entity with a `parent` is attached under that
## entity's node, whatever the order of the list.
## A `physics` component makes no node (it stays in "continuum_components"); [member physics_by_id]
## lists the entities that have one, whose nodes ContinuumWorld moves as the backend says.
##
## Bad entries (not an object, missing or malformed id, wrong field types) are reported once
## each with push_warning("[continuum] ...") and skipped; building never fails.
## [codeblock]
## var builder := EntityBuilder.new()
## for root: Node3D in builder.build(reply.header.entities):
##     add_child(root)
## [/codeblock]

## Entity ids: the schema's pattern.
const ID_PATTERN := "^[A-Za-z0-9_.-]{1,64}$"
## At most this many warnings are pushed per build; the rest are counted in one last warning.
const MAX_REPORTED_WARNINGS := 20
## Text height of a label when its `size` is not given, in metres.
const DEFAULT_LABEL_SIZE := 0.2
## Font size labels are rasterised at; `size` sets the pixel size to match.
const LABEL_FONT_SIZE := 64
## Components this builder turns into nodes or materials.
const KNOWN_COMPONENTS: PackedStringArray = [
	"shape", "material", "splat", "light", "camera", "label"]
## Name of a splat node that is a child of its entity's node.
const SPLAT_NODE_NAME := "Splat"
## Names of the child nodes that components make (an entity's further node-making components).
const COMPONENT_NODE_NAMES: PackedStringArray = ["Shape", "Splat", "Light", "Camera", "Label"]

## Push warnings (true) or only collect them in [member warnings] (false, for tests).
var report_warnings: bool = true
## Warnings of the last [method build], one per bad entry, without the "[continuum] " prefix.
var warnings: PackedStringArray = []
## Entity id -> its Node3D, for the last [method build].
var nodes_by_id: Dictionary = {}
## Entity id -> its splat component (asset, bytes, count, sh_degree, aabb), for the entities of
## the last [method build] that have one.
var splats_by_id: Dictionary = {}
## Entity id -> its physics component, for the entities of the last [method build] that have one
## (their nodes follow the backend's `poses` stream; see ContinuumWorld).
var physics_by_id: Dictionary = {}

var _id_regex: RegEx = RegEx.create_from_string(ID_PATTERN)


## Builds the nodes of [param entities] (an Array of entity Dictionaries) and returns the root
## nodes (entities without a parent, or whose parent could not be used), in list order.
## The caller owns the returned nodes (add them to the tree, or free them).
func build(entities: Variant) -> Array[Node3D]:
	warnings = PackedStringArray()
	nodes_by_id = {}
	splats_by_id = {}
	physics_by_id = {}
	var roots: Array[Node3D] = []
	if typeof(entities) != TYPE_ARRAY:
		_warn("entities must be an array, got %s; nothing built" % type_string(typeof(entities)))
		_flush_warning_count()
		return roots
	# 1. One node per valid entity, in list order.
	var parent_ids: Dictionary = {}  # id -> parent id ("" for none)
	var order: PackedStringArray = []
	var index := -1
	for entity: Variant in entities:
		index += 1
		var node: Node3D = _build_entity(entity, index)
		if node == null:
			continue
		var id: String = entity["id"]
		nodes_by_id[id] = node
		if entity.get("components", {}).has("splat"):
			splats_by_id[id] = entity.components.splat
		var physics: Variant = entity.get("components", {}).get("physics")
		if typeof(physics) == TYPE_DICTIONARY:
			physics_by_id[id] = physics
		parent_ids[id] = entity.get("parent", "")
		order.append(id)
	# 2. Parenting, now that every entity has its node.
	for id: String in order:
		var node: Node3D = nodes_by_id[id]
		var parent_id: String = parent_ids[id]
		if parent_id.is_empty():
			roots.append(node)
		elif not nodes_by_id.has(parent_id):
			_warn("entity '%s': parent '%s' is not a valid entity; placed at the root" % [id, parent_id])
			roots.append(node)
		else:
			var parent: Node3D = nodes_by_id[parent_id]
			if parent == node or node.is_ancestor_of(parent):
				_warn("entity '%s': parent '%s' makes a cycle; placed at the root" % [id, parent_id])
				roots.append(node)
			else:
				parent.add_child(node)
	_flush_warning_count()
	return roots


## Builds one entity's node, or returns null (after one warning) when the entry is bad.
func _build_entity(entity: Variant, index: int) -> Node3D:
	if typeof(entity) != TYPE_DICTIONARY:
		_warn("entities[%d]: must be an object, got %s; skipped" % [index, type_string(typeof(entity))])
		return null
	var where := "entities[%d]" % index
	var id: Variant = entity.get("id")
	if not _is_id(id):
		_warn("%s: 'id' must be a string matching %s, got %s; skipped" % [where, ID_PATTERN, _show(id)])
		return null
	where = "entity '%s'" % id
	if nodes_by_id.has(id):
		_warn("%s: duplicate id; the later entry is skipped" % where)
		return null
	var problem := _check_fields(entity)
	if problem.is_empty():
		problem = _check_components(entity.get("components", {}))
	if not problem.is_empty():
		_warn("%s: %s; skipped" % [where, problem])
		return null
	var components: Dictionary = entity.get("components", {})
	var node := _make_entity_node(components)
	node.name = String(entity.get("name", id)).validate_node_name()
	if node.name.is_empty():
		node.name = id.validate_node_name()
	node.set_meta("continuum_id", id)
	if entity.has("tags"):
		node.set_meta("continuum_tags", PackedStringArray(entity["tags"]))
	var unknown: Dictionary = {}
	for key: Variant in components:
		if not KNOWN_COMPONENTS.has(key):
			unknown[key] = components[key]
	if not unknown.is_empty():
		node.set_meta("continuum_components", unknown)
	node.transform = make_transform(entity.get("transform", {}))
	return node


## Returns "" when the entity's own fields are well typed, else what is wrong.
func _check_fields(entity: Dictionary) -> String:
	var problem := ""
	if entity.has("name") and typeof(entity["name"]) != TYPE_STRING:
		problem = "'name' must be a string, got %s" % _show(entity["name"])
	elif entity.has("parent") and not _is_id(entity["parent"]):
		problem = "'parent' must be an entity id, got %s" % _show(entity["parent"])
	elif entity.has("tags") and not _is_strings(entity["tags"]):
		problem = "'tags' must be an array of strings, got %s" % _show(entity["tags"])
	elif entity.has("components") and typeof(entity["components"]) != TYPE_DICTIONARY:
		problem = "'components' must be an object, got %s" % _show(entity["components"])
	elif entity.has("transform"):
		problem = check_transform(entity["transform"])
	return problem


## Returns "" when [param transform] is a scene transform (any of position [3], rotation [4]
## [x, y, z, w] non-zero, scale [3] non-zero), else what is wrong.
static func check_transform(transform: Variant) -> String:
	var problem := ""
	if typeof(transform) != TYPE_DICTIONARY:
		problem = "'transform' must be an object, got %s" % _show(transform)
	elif transform.has("position") and not _is_numbers(transform["position"], 3):
		problem = "'transform.position' must be 3 numbers, got %s" % _show(transform["position"])
	elif transform.has("scale") and not _is_numbers(transform["scale"], 3, true):
		problem = "'transform.scale' must be 3 non-zero numbers, got %s" % _show(transform["scale"])
	elif transform.has("rotation") and not _is_quaternion(transform["rotation"]):
		problem = (
			"'transform.rotation' must be a quaternion [x, y, z, w], got %s"
			% _show(transform["rotation"])
		)
	return problem


## Returns "" when the known components are well formed, else what is wrong.
func _check_components(components: Dictionary) -> String:
	for key: String in KNOWN_COMPONENTS:
		if not components.has(key):
			continue
		var component: Variant = components[key]
		if typeof(component) != TYPE_DICTIONARY:
			return "component '%s' must be an object, got %s" % [key, _show(component)]
		var problem := ""
		match key:
			"shape":
				problem = _check_shape(component)
			"material":
				problem = _check_material(component)
			"light":
				problem = _check_light(component)
			"camera":
				problem = _check_camera(component)
			"label":
				problem = _check_label(component)
			"splat":
				problem = check_splat(component)
		if not problem.is_empty():
			return problem
	return ""


func _check_shape(shape: Dictionary) -> String:
	var problem := ""
	match shape.get("type"):
		"box":
			if not _is_numbers(shape.get("size"), 3, true, true):
				problem = "'shape.size' of a box must be 3 numbers > 0, got %s" % _show(shape.get("size"))
		"sphere":
			if not _is_positive(shape.get("radius")):
				problem = "'shape.radius' must be a number > 0, got %s" % _show(shape.get("radius"))
		"capsule", "cylinder":
			if not _is_positive(shape.get("radius")):
				problem = "'shape.radius' must be a number > 0, got %s" % _show(shape.get("radius"))
			elif not _is_positive(shape.get("height")):
				problem = "'shape.height' must be a number > 0, got %s" % _show(shape.get("height"))
		"plane":
			if not _is_numbers(shape.get("size"), 2, true, true):
				problem = (
					"'shape.size' of a plane must be 2 numbers > 0, got %s" % _show(shape.get("size"))
				)
		_:
			problem = (
				"'shape.type' must be box, sphere, capsule, cylinder or plane, got %s"
				% _show(shape.get("type"))
			)
	return problem


func _check_material(material: Dictionary) -> String:
	var problem := ""
	if material.has("color") and not _is_color(material["color"]):
		problem = "'material.color' must be 3 or 4 numbers >= 0, got %s" % _show(material["color"])
	elif material.has("metallic") and not _is_number_in(material["metallic"], 0.0, 1.0):
		problem = "'material.metallic' must be a number in [0, 1], got %s" % _show(material["metallic"])
	elif material.has("roughness") and not _is_number_in(material["roughness"], 0.0, 1.0):
		problem = (
			"'material.roughness' must be a number in [0, 1], got %s" % _show(material["roughness"])
		)
	return problem


func _check_light(light: Dictionary) -> String:
	var problem := ""
	if not light.get("type") in ["directional", "omni", "spot"]:
		problem = "'light.type' must be directional, omni or spot, got %s" % _show(light.get("type"))
	elif light.has("color") and not _is_color(light["color"]):
		problem = "'light.color' must be 3 or 4 numbers >= 0, got %s" % _show(light["color"])
	elif light.has("energy") and not _is_number_in(light["energy"], 0.0, INF):
		problem = "'light.energy' must be a number >= 0, got %s" % _show(light["energy"])
	elif light.has("range") and not _is_positive(light["range"]):
		problem = "'light.range' must be a number > 0, got %s" % _show(light["range"])
	return problem


func _check_camera(camera: Dictionary) -> String:
	var problem := ""
	if camera.has("fov_deg") and not _is_number_in(camera["fov_deg"], 1e-3, 179.999):
		problem = "'camera.fov_deg' must be a number in (0, 180), got %s" % _show(camera["fov_deg"])
	elif camera.has("near") and not _is_positive(camera["near"]):
		problem = "'camera.near' must be a number > 0, got %s" % _show(camera["near"])
	elif camera.has("far") and not _is_positive(camera["far"]):
		problem = "'camera.far' must be a number > 0, got %s" % _show(camera["far"])
	elif float(camera.get("near", 0.05)) >= float(camera.get("far", 4000.0)):
		problem = "'camera.near' must be below 'camera.far'"
	return problem


## Returns "" when [param splat] is a splat component as the backend sends it
## (scene.schema.json [code]$defs/splat_asset[/code]), else what is wrong.
static func check_splat(splat: Dictionary) -> String:
	var problem := ""
	var asset: Variant = splat.get("asset")
	if typeof(asset) != TYPE_STRING or asset.length() != 64 or asset != asset.to_lower() \
			or not asset.is_valid_hex_number():
		problem = "'splat.asset' must be a sha256 of 64 lowercase hex digits, got %s" % _show(asset)
	elif not _is_count(splat.get("bytes")):
		problem = "'splat.bytes' must be an integer >= 0, got %s" % _show(splat.get("bytes"))
	elif splat.has("count") and not _is_count(splat["count"]):
		problem = "'splat.count' must be an integer >= 0, got %s" % _show(splat["count"])
	elif splat.has("sh_degree") and not (_is_count(splat["sh_degree"]) and splat["sh_degree"] <= 3):
		problem = "'splat.sh_degree' must be 0, 1, 2 or 3, got %s" % _show(splat["sh_degree"])
	elif splat.has("aabb") and not _is_numbers(splat["aabb"], 6):
		problem = "'splat.aabb' must be 6 numbers, got %s" % _show(splat["aabb"])
	return problem


## A SplatInstance3D without a cloud yet, for the (checked) splat component [param splat].
static func make_splat_node(splat: Dictionary) -> SplatInstance3D:
	var result := SplatInstance3D.new()
	result.name = SPLAT_NODE_NAME
	result.set_meta("continuum_splat", splat.duplicate(true))
	return result


## The splat node of an entity node: the node itself or its child "Splat"; null when none.
static func find_splat_node(entity_node: Node3D) -> SplatInstance3D:
	if entity_node is SplatInstance3D:
		return entity_node
	return entity_node.get_node_or_null(SPLAT_NODE_NAME) as SplatInstance3D


func _check_label(label: Dictionary) -> String:
	var problem := ""
	if typeof(label.get("text")) != TYPE_STRING:
		problem = "'label.text' must be a string, got %s" % _show(label.get("text"))
	elif label.has("size") and not _is_positive(label["size"]):
		problem = "'label.size' must be a number > 0, got %s" % _show(label["size"])
	return problem


## Makes the entity's node from its (already checked) components.
func _make_entity_node(components: Dictionary) -> Node3D:
	var nodes: Array[Node3D] = []
	if components.has("shape"):
		nodes.append(_make_mesh(components["shape"], components.get("material", {})))
	if components.has("splat"):
		nodes.append(make_splat_node(components["splat"]))
	if components.has("light"):
		nodes.append(_make_light(components["light"]))
	if components.has("camera"):
		nodes.append(_make_camera(components["camera"]))
	if components.has("label"):
		nodes.append(_make_label(components["label"]))
	if nodes.is_empty():
		return Node3D.new()
	var node: Node3D = nodes[0]
	for i in range(1, nodes.size()):
		node.add_child(nodes[i])
	return node


func _make_mesh(shape: Dictionary, material: Dictionary) -> MeshInstance3D:
	var mesh: PrimitiveMesh
	match shape["type"]:
		"box":
			var box := BoxMesh.new()
			box.size = _to_vector3(shape["size"])
			mesh = box
		"sphere":
			var sphere := SphereMesh.new()
			sphere.radius = float(shape["radius"])
			sphere.height = 2.0 * sphere.radius
			mesh = sphere
		"capsule":
			# Godot's capsule height is the total height, caps included.
			var capsule := CapsuleMesh.new()
			capsule.radius = float(shape["radius"])
			capsule.height = maxf(float(shape["height"]), 2.0 * capsule.radius)
			mesh = capsule
		"cylinder":
			var cylinder := CylinderMesh.new()
			cylinder.top_radius = float(shape["radius"])
			cylinder.bottom_radius = cylinder.top_radius
			cylinder.height = float(shape["height"])
			mesh = cylinder
		"plane":
			var plane := PlaneMesh.new()  # In the XZ plane, facing +Y.
			plane.size = Vector2(float(shape["size"][0]), float(shape["size"][1]))
			mesh = plane
	mesh.material = _make_material(material)
	var instance := MeshInstance3D.new()
	instance.name = "Shape"
	instance.mesh = mesh
	return instance


func _make_material(material: Dictionary) -> StandardMaterial3D:
	var result := StandardMaterial3D.new()
	if material.has("color"):
		result.albedo_color = _to_color(material["color"])
		if result.albedo_color.a < 1.0:
			result.transparency = BaseMaterial3D.TRANSPARENCY_ALPHA
	result.metallic = float(material.get("metallic", 0.0))
	result.roughness = float(material.get("roughness", 1.0))
	return result


func _make_light(light: Dictionary) -> Light3D:
	var result: Light3D
	match light["type"]:
		"directional":
			result = DirectionalLight3D.new()
		"omni":
			var omni := OmniLight3D.new()
			omni.omni_range = float(light.get("range", omni.omni_range))
			result = omni
		"spot":
			var spot := SpotLight3D.new()
			spot.spot_range = float(light.get("range", spot.spot_range))
			result = spot
	result.name = "Light"
	if light.has("color"):
		result.light_color = _to_color(light["color"])
	result.light_energy = float(light.get("energy", 1.0))
	result.shadow_enabled = true
	return result


func _make_camera(camera: Dictionary) -> Camera3D:
	var result := Camera3D.new()
	result.name = "Camera"
	result.fov = float(camera.get("fov_deg", result.fov))
	result.near = float(camera.get("near", result.near))
	result.far = float(camera.get("far", result.far))
	result.current = true  # Takes effect when it enters the tree.
	return result


func _make_label(label: Dictionary) -> Label3D:
	var result := Label3D.new()
	result.name = "Label"
	result.text = label["text"]
	result.font_size = LABEL_FONT_SIZE
	result.pixel_size = float(label.get("size", DEFAULT_LABEL_SIZE)) / LABEL_FONT_SIZE
	return result


## The Transform3D of a (checked) scene transform; missing fields take the defaults.
static func make_transform(transform: Dictionary) -> Transform3D:
	var position: Vector3 = _to_vector3(transform.get("position", [0, 0, 0]))
	var rotation: Quaternion = _to_quaternion(transform.get("rotation", [0, 0, 0, 1])).normalized()
	var scale: Vector3 = _to_vector3(transform.get("scale", [1, 1, 1]))
	return Transform3D(Basis(rotation) * Basis.from_scale(scale), position)


func _is_id(value: Variant) -> bool:
	if typeof(value) != TYPE_STRING:
		return false
	var found: RegExMatch = _id_regex.search(value)
	return found != null and found.get_string() == value


func _warn(message: String) -> void:
	warnings.append(message)
	if report_warnings and warnings.size() <= MAX_REPORTED_WARNINGS:
		push_warning("[continuum] " + message)


func _flush_warning_count() -> void:
	var hidden := warnings.size() - MAX_REPORTED_WARNINGS
	if report_warnings and hidden > 0:
		push_warning("[continuum] ... and %d more bad scene entries" % hidden)


static func _is_number(value: Variant) -> bool:
	var type := typeof(value)
	return type == TYPE_INT or (type == TYPE_FLOAT and is_finite(value))


static func _is_count(value: Variant) -> bool:
	return (typeof(value) == TYPE_INT and value >= 0) or (
		typeof(value) == TYPE_FLOAT and value >= 0.0 and value == floorf(value) and value < 9.0e15)


static func _is_positive(value: Variant) -> bool:
	return _is_number(value) and float(value) > 0.0


static func _is_number_in(value: Variant, low: float, high: float) -> bool:
	return _is_number(value) and float(value) >= low and float(value) <= high


## True when [param value] is an array of [param count] finite numbers, none of them zero
## when [param non_zero], all of them above zero when [param positive].
static func _is_numbers(
	value: Variant, count: int, non_zero: bool = false, positive: bool = false
) -> bool:
	if typeof(value) != TYPE_ARRAY or value.size() != count or not value.all(_is_number):
		return false
	if non_zero and value.any(func(v: Variant) -> bool: return is_zero_approx(float(v))):
		return false
	return not positive or value.all(_is_positive)


static func _is_quaternion(value: Variant) -> bool:
	return _is_numbers(value, 4) and _to_quaternion(value).length() > 1e-6


static func _is_strings(value: Variant) -> bool:
	return (
		typeof(value) == TYPE_ARRAY
		and value.all(func(v: Variant) -> bool: return typeof(v) == TYPE_STRING)
	)


static func _is_color(value: Variant) -> bool:
	return (
		typeof(value) == TYPE_ARRAY
		and value.size() in [3, 4]
		and value.all(func(v: Variant) -> bool: return _is_number_in(v, 0.0, INF))
	)


static func _to_vector3(values: Array) -> Vector3:
	return Vector3(float(values[0]), float(values[1]), float(values[2]))


static func _to_quaternion(values: Array) -> Quaternion:
	return Quaternion(float(values[0]), float(values[1]), float(values[2]), float(values[3]))


static func _to_color(values: Array) -> Color:
	var alpha: float = float(values[3]) if values.size() == 4 else 1.0
	return Color(float(values[0]), float(values[1]), float(values[2]), alpha)


static func _show(value: Variant) -> String:
	var text := "\"%s\"" % value if value is String else str(value)
	return text if text.length() <= 60 else text.substr(0, 57) + "..."
