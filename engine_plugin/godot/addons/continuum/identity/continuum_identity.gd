@tool
class_name ContinuumIdentity
extends Node
## Keeps recurring entities recognisable through the backend's identity banks
## (bridge/PROTOCOL.md section 15).
##
## Each entity the backend should recognise has a bank of embeddings, each with a reference
## image, of one kind: [code]face[/code] (the image shows one face) or [code]appearance[/code]
## (the whole image, for anything that is not a face). [method register] makes a bank from
## images; [method observe] re-identifies an image among the banks and, by default, updates the
## bank of the entity it is said to be (or was recognised as); [method query] returns an entity's
## reference images, best first, which [method fetch_reference] turns into [Image]s. Without a
## [member session_path] it uses the "Continuum" autoload.
## [codeblock]
## var seen := await identity.observe("appearance", image, "guard")
## if seen.kind == "error":
##     push_warning(seen.header.message)
## elif seen.header.entity == "guard":
##     print("the guard, drift %.2f" % seen.header.drift)
## [/codeblock]
## Every request is a coroutine that returns the reply ([code]{kind, header, blobs}[/code]) or
## an error as it came: the backend's codes ([code]no_face[/code], [code]not_found[/code],
## [code]bad_request[/code], ...), the session's ([code]not_connected[/code],
## [code]timeout[/code], [code]disconnected[/code]), or [code]bad_image[/code] here for an image
## that cannot be sent (null or empty; nothing is sent then). Images go out as RGB8 (any format
## is converted, the caller's image is left as it is).
##
## When an observation of a named entity drifts past its bank's threshold the backend pushes
## [code]identity.drift[/code] to every session: [signal drift_detected] follows, whoever
## observed.

## An observation of [param entity] was [param drift] away from its bank (0 the stored identity,
## 1 unrelated, 2 opposite), above the bank's [param threshold] (0.6 for faces, 0.35 for
## appearance): the entity may have changed, or been confused with another.
signal drift_detected(entity: String, drift: float, threshold: float)
## A [method reconstruct_face] of [param entity] went on: [param step] of [param steps] refinement
## steps done.
signal face_progressed(entity: String, step: int, steps: int)

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const SessionLookup = preload("res://addons/continuum/bridge/session_lookup.gd")
const ContinuumGeneratorScript = preload(
	"res://addons/continuum/generation/continuum_generator.gd"
)
const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")

## The kinds of bank, each with its embedder.
const KINDS: Array[String] = ["face", "appearance"]
## The asset kind of a reference image: its octets are RGB8 rows, its meta has width and height.
const REFERENCE_KIND := "image-rgb8"
## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"
## The largest reference side decoded (the backend's limit is 4096).
const MAX_SIDE := 16384

## The ContinuumSession to talk through; empty for the "Continuum" autoload.
@export var session_path: NodePath = NodePath():
	set(value):
		session_path = value
		if is_inside_tree():
			_bind_session()
		update_configuration_warnings()

## Entity id -> its bank ([code]{entity, kind, slots, capacity, dim, updates, drift}[/code]) as
## last heard from [method register] and [method list_banks]; [method remove] drops it.
var banks: Dictionary = {}
## Why the last [method fetch_reference] returned null: [code]{"error": code, "message":
## text}[/code]; empty after one that succeeded.
var last_error: Dictionary = {}

var _session: ContinuumSessionScript
var _assets: AssetClient


func _ready() -> void:
	_bind_session()


func _get_configuration_warnings() -> PackedStringArray:
	return SessionLookup.warnings(self, session_path)


## The session this node talks through, or null when none can be found.
func get_session() -> ContinuumSessionScript:
	return _session if _session != null else _find_session()


## The asset client (bridge/asset_client.gd) that fetches reference images; made on first use.
func get_asset_client() -> AssetClient:
	if _assets == null:
		_assets = AssetClient.new()
		_assets.name = "Assets"
		add_child(_assets, false, Node.INTERNAL_MODE_BACK)
	if _assets.session != get_session():
		_assets.session = get_session()
	return _assets


## Sends `identity.register`: entity [param entity] gets a bank of [param kind]
## ([constant KINDS]) made from [param images] (1..16, each 8..4096 pixels a side; a face image
## must show a face), each slot keeping [param meta]. Registering an entity again replaces its
## bank. A coroutine; returns the reply, whose [code]header.bank[/code] is the new bank.
func register(
	entity: String, kind: String, images: Array[Image], meta: Dictionary = {}
) -> Dictionary:
	var blobs: Array = []
	for image in images:
		var blob := ContinuumGeneratorScript.image_blob(image)
		if blob.has("error"):
			return _local_error(blob.error, "image %d of %d: %s" % [
				blobs.size(), images.size(), blob.message])
		blobs.append(blob)
	var fields := {"entity": entity, "kind": kind}
	if not meta.is_empty():
		fields["meta"] = meta
	var reply: Dictionary = await _request("identity.register", fields, blobs)
	if reply.kind == "identity.register":
		_note_bank(reply.header.get("bank"))
	return reply


## Sends `identity.observe` with [param image]: it is re-identified among the banks of
## [param kind]. With [param entity] (the identity it should be, whose bank must exist) the
## reply's drift is against that bank, a drift past its threshold also comes as
## [signal drift_detected], and the bank is updated unless [param update] is false; the
## observation's slot keeps [param meta]. A coroutine; returns the reply:
## [code]header.matches[/code] ([code]{entity, similarity}[/code] best first),
## [code]header.entity[/code] (the best match above the threshold, or null),
## [code]header.drift[/code], [code]header.action[/code] (what the update did), and for faces
## [code]header.face[/code] ([code]{box, landmarks}[/code] in the image's pixels).
func observe(
	kind: String, image: Image, entity: String = "", update: bool = true, meta: Dictionary = {}
) -> Dictionary:
	var blob := ContinuumGeneratorScript.image_blob(image)
	if blob.has("error"):
		return _local_error(blob.error, blob.message)
	var fields := {"kind": kind}
	if not entity.is_empty():
		fields["entity"] = entity
	if not update:
		fields["update"] = false
	if not meta.is_empty():
		fields["meta"] = meta
	return await _request("identity.observe", fields, [blob])


## Sends `face.reconstruct` (bridge/PROTOCOL.md section 17): the face in [param photo] (the
## largest one) becomes Gaussians, shown by a new entity [param entity] of the world, which also
## gets a [code]face[/code] bank made from the photo. [param options] may hold
## [code]name[/code] (String), [code]position[/code] (Vector3), [code]rotation[/code]
## (Quaternion), [code]parent[/code] (an entity id) and [code]steps[/code] (refinement steps,
## 1..5000). The splats look along +Z from the entity's origin, in metres. Progress comes as
## [signal face_progressed]; a ContinuumWorld on the same session shows the entity when the
## world's change arrives. A coroutine (seconds to a minute); returns the reply
## ([code]header.entity, asset, bank, faces, gaussians, psnr_db, seconds[/code]) or an error:
## [code]no_face[/code], [code]conflict[/code] (the id is taken), [code]bad_request[/code].
func reconstruct_face(entity: String, photo: Image, options: Dictionary = {}) -> Dictionary:
	var blob := ContinuumGeneratorScript.image_blob(photo)
	if blob.has("error"):
		return _local_error(blob.error, blob.message)
	var fields := {"entity": entity}
	for key: String in ["name", "parent", "steps"]:
		if options.has(key):
			fields[key] = options[key]
	if options.get("position") is Vector3:
		var p: Vector3 = options.position
		fields["position"] = [p.x, p.y, p.z]
	if options.get("rotation") is Quaternion:
		var q: Quaternion = options.rotation
		fields["rotation"] = [q.x, q.y, q.z, q.w]
	var reply: Dictionary = await _request("face.reconstruct", fields, [blob])
	if reply.kind == "face.reconstruct":
		_note_bank(reply.header.get("bank"))
	return reply


## Grabs the image that [param source] shows and [method observe]s it (the other arguments are
## [method observe]'s). [param source] is a Viewport, or a node in one (a Camera3D, say): its
## viewport's last drawn frame is taken, which shows a camera only while it is that viewport's
## current camera. Call it after a frame was drawn (for example after
## [code]await RenderingServer.frame_post_draw[/code]). Needs a renderer: under
## [code]--headless[/code] nothing is drawn, and this returns the error [code]no_image[/code]
## (as it does when the viewport has no image yet). A coroutine.
func observe_camera(
	source: Node, kind: String, entity: String = "", update: bool = true, meta: Dictionary = {}
) -> Dictionary:
	var image := capture(source)
	if image == null:
		return _local_error("no_image", "%s has no drawn image to observe%s" % [
			source, " (no renderer under --headless)" if is_headless() else ""])
	return await observe(kind, image, entity, update, meta)


## Sends `identity.query`: the [param k] (1..64) best reference slots of [param entity]'s bank;
## with [param image], ranked by their similarity to it (an image of [param kind]; when empty,
## the kind of the bank as [member banks] knows it). A coroutine; returns the reply:
## [code]header.references[/code] ([code]{slot, similarity, quality, time, uses, asset,
## meta}[/code] best first, [code]asset[/code] the hash of the slot's reference image for
## [method fetch_reference]).
func query(entity: String, k: int = 4, image: Image = null, kind: String = "") -> Dictionary:
	var fields := {"entity": entity, "k": k}
	var blobs: Array = []
	if image != null:
		var blob := ContinuumGeneratorScript.image_blob(image)
		if blob.has("error"):
			return _local_error(blob.error, blob.message)
		blobs.append(blob)
		var bank_kind: Variant = banks.get(entity, {}).get("kind")
		if not kind.is_empty():
			fields["kind"] = kind
		elif bank_kind is String:
			fields["kind"] = bank_kind
	return await _request("identity.query", fields, blobs)


## Sends `identity.list`. A coroutine; returns the reply, whose [code]header.banks[/code] lists
## every bank of the world; [member banks] is set from it.
func list_banks() -> Dictionary:
	var reply: Dictionary = await _request("identity.list", {})
	var listed: Variant = reply.header.get("banks")
	if reply.kind == "identity.list" and listed is Array:
		banks = {}
		for bank: Variant in listed:
			_note_bank(bank)
	return reply


## Sends `identity.remove`: [param entity]'s bank is forgotten (the world's log keeps it). A
## coroutine; returns the reply ([code]not_found[/code] for an entity without a bank).
func remove(entity: String) -> Dictionary:
	var reply: Dictionary = await _request("identity.remove", {"entity": entity})
	if reply.kind == "identity.remove":
		banks.erase(entity)
	return reply


## Fetches the reference image [param asset_hash] (a reference's [code]asset[/code] from
## [method query]) through [method get_asset_client]: verified, cached under user://. A
## coroutine; returns the RGB8 [Image], or null ([member last_error] says why: the asset
## client's codes, such as [code]not_found[/code] and [code]not_connected[/code], or
## [code]bad_blob[/code] for an asset that is not an image-rgb8 one).
func fetch_reference(asset_hash: String) -> Image:
	var got: Dictionary = await get_asset_client().fetch(asset_hash)
	var decoded := got if got.has("error") else decode_reference(got.data, got.get("meta", {}))
	if decoded.has("error"):
		if got.has("data"):  # The asset client reported its own failures already.
			push_error("[continuum] reference %s: %s" % [asset_hash.left(12), decoded.message])
		last_error = MessageCodec.failure(str(decoded.error), str(decoded.get("message", "")))
		return null
	last_error = {}
	return decoded.image


## The image a Viewport, or the viewport of a node in one (a Camera3D, say), last drew: a copy;
## null without one (under [code]--headless[/code], before the first frame, for a null node or
## one outside the tree).
static func capture(source: Node) -> Image:
	var viewport: Viewport = source as Viewport
	if viewport == null and source != null and source.is_inside_tree():
		viewport = source.get_viewport()
	if viewport == null or is_headless():
		return null  # The dummy renderer has no textures to read (and says so loudly).
	var image := viewport.get_texture().get_image()
	return image if image != null and not image.is_empty() else null


## True when nothing is drawn: the headless display server, whose renderer is a dummy.
static func is_headless() -> bool:
	return DisplayServer.get_name() == "headless"


## An image-rgb8 asset's octets [param data] as an [Image], its size from its [param meta]
## ([code]{width, height}[/code]). Returns [code]{"image": Image}[/code] or
## [code]{"error": "bad_blob", "message": text}[/code].
static func decode_reference(data: PackedByteArray, meta: Dictionary) -> Dictionary:
	var width: Variant = meta.get("width")
	var height: Variant = meta.get("height")
	if not _is_side(width) or not _is_side(height):
		return MessageCodec.failure("bad_blob", (
			"an %s asset has width and height in its meta (1..%d), got %s"
			% [REFERENCE_KIND, MAX_SIDE, meta]))
	if data.size() != int(width) * int(height) * 3:
		return MessageCodec.failure("bad_blob", "a %dx%d RGB8 image is %d octets, got %d" % [
			width, height, int(width) * int(height) * 3, data.size()])
	return {"image": Image.create_from_data(int(width), int(height), false, Image.FORMAT_RGB8,
		data)}


func _find_session() -> ContinuumSessionScript:
	return SessionLookup.find(self, session_path)


func _bind_session() -> void:
	var session := _find_session()
	if session != _session:
		SessionLookup.reconnect(_session, session, &"message_received", _on_session_message)
		_session = session
		if _assets != null:
			_assets.session = _session
	if _session == null and not Engine.is_editor_hint():
		push_warning(
			"[continuum] ContinuumIdentity '%s': no ContinuumSession at %s; nothing will be "
			% [name, AUTOLOAD_PATH if session_path.is_empty() else session_path]
			+ "recognised"
		)


# Sends a request through the session; a local error reply when there is none.
func _request(kind: String, fields: Dictionary, blobs: Array = []) -> Dictionary:
	var session := get_session()
	if session == null:
		return _local_error("not_connected", "ContinuumIdentity '%s' has no session" % name)
	return await session.request(kind, fields, blobs)


func _note_bank(bank: Variant) -> void:
	if bank is Dictionary and bank.get("entity") is String:
		banks[bank.entity] = bank


func _on_session_message(kind: String, header: Dictionary, _blobs: Array) -> void:
	if not header.get("entity") is String:
		return
	if kind == "face.progress":
		face_progressed.emit(header.entity, int(_number(header.get("step"), 0.0)),
			int(_number(header.get("steps"), 0.0)))
		return
	if kind != "identity.drift":
		return
	var drift := _number(header.get("drift"), NAN)
	var threshold := _number(header.get("threshold"), NAN)
	var bank: Variant = banks.get(header.entity)
	if bank is Dictionary:
		bank["drift"] = drift
	drift_detected.emit(header.entity, drift, threshold)


# An error reply made here, shaped as the session's: {kind "error", header {re, code, message}}.
static func _local_error(code: String, message: String) -> Dictionary:
	var blobs: Array[PackedByteArray] = []
	return {"kind": "error", "header": {"re": null, "code": code, "message": message},
		"blobs": blobs}


static func _is_side(value: Variant) -> bool:
	return typeof(value) in [TYPE_INT, TYPE_FLOAT] and float(value) == floorf(float(value)) \
		and float(value) >= 1.0 and float(value) <= MAX_SIDE


static func _number(value: Variant, default: float) -> float:
	var is_number := typeof(value) in [TYPE_INT, TYPE_FLOAT] and is_finite(float(value))
	return float(value) if is_number else default
