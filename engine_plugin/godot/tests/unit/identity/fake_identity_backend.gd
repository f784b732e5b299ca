extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend with identity banks for the identity tests: fake_backend.gd (hello, ping) that
## also answers identity.register/observe/query/list/remove like bridge/PROTOCOL.md
## section 15 and asset.get for the reference images it keeps (one chunk each), and pushes
## identity.drift to every peer. face.reconstruct (section 17) pushes face.progress for each of
## its steps (default 3) to the asking peer, then registers a face bank of the photo.
##
## Its embedder: an image's mean red, green and blue in 0..1; the similarity of two embeddings
## is 1 minus their mean absolute difference, a bank's similarity its best slot's, and the drift
## 1 minus that. A face image whose octets are all 0 shows no face. Observing a named entity
## inserts a slot (merges into the nearest when the drift is under 0.05), unless update is false.

const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")

const KINDS: Array[String] = ["face", "appearance"]
const THRESHOLDS := {"face": 0.6, "appearance": 0.35}
const CAPACITY := 8

## Reference images by hash: {data, width, height}.
var assets: Dictionary = {}

var _banks: Dictionary = {}  # entity -> {kind, slots: [{vector, asset, quality, time, uses, meta}]}


## Pushes identity.drift for [param entity] to every peer.
func push_drift(entity: String, drift: float, threshold: float) -> void:
	router.send_reply("identity.drift", {"entity": entity, "drift": drift,
		"threshold": threshold, "similarity": 1.0 - drift, "time": 1.0})


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	var reply: Dictionary
	match message.kind:
		"identity.register":
			reply = _register(header, message.blobs)
		"identity.observe":
			reply = _observe(header, message.blobs)
		"face.reconstruct":
			reply = _reconstruct(peer, header, message.blobs)
		"identity.query":
			reply = _query(header, message.blobs)
		"identity.list":
			reply = {"kind": "identity.list", "header": {"banks": _banks.keys().map(_bank)}}
		"identity.remove":
			if not _banks.has(header.get("entity")):
				reply = _refusal("not_found", "no bank of %s" % header.get("entity"))
			else:
				_banks.erase(header.entity)
				reply = {"kind": "identity.remove", "header": {"entity": header.entity}}
		"asset.get":
			_serve_asset(peer, re, header)
			return
		_:
			super._handle(peer, re, message)
			return
	var fields: Dictionary = reply.header
	fields["re"] = re
	router.send_reply(reply.kind, fields, [], peer)


func _register(header: Dictionary, blobs: Array) -> Dictionary:
	var entity: Variant = header.get("entity")
	var kind: Variant = header.get("kind")
	if not entity is String or entity.is_empty() or not kind in KINDS:
		return _refusal("bad_request", "identity.register: an entity and a kind in %s" % [KINDS])
	if blobs.is_empty() or blobs.size() > 16:
		return _refusal("bad_request", "identity.register takes 1..16 images, got %d" % (
			blobs.size()))
	var slots: Array = []
	for i in blobs.size():
		var image := _image(header.blobs[i], blobs[i], kind)
		if image.has("header"):  # An error reply.
			return image
		slots.append(_slot(image, header.get("meta", {})))
	_banks[entity] = {"kind": kind, "slots": slots, "updates": 0, "drift": null}
	return {"kind": "identity.register", "header": {"bank": _bank(entity)}}


func _reconstruct(peer: int, header: Dictionary, blobs: Array) -> Dictionary:
	var entity: Variant = header.get("entity")
	if _banks.has(entity):
		return _refusal("conflict", "face.reconstruct: entity %s exists already" % entity)
	var steps := int(header.get("steps", 3))
	for step in range(1, steps + 1):
		router.send_reply("face.progress", {"entity": entity, "step": step, "steps": steps}, [],
			peer)
	var registered := _register({"entity": entity, "kind": "face", "blobs": header.blobs}, blobs)
	if registered.kind == "error":
		return registered
	return {"kind": "face.reconstruct", "header": {"entity": entity, "bank": _bank(entity),
		"faces": 1, "gaussians": 100, "psnr_db": 30.0, "seconds": 0.1, "seq": 1,
		"asset": {"asset": "0".repeat(64), "bytes": 1, "count": 100, "sh_degree": 0,
			"aabb": [0, 0, 0, 1, 1, 1]}}}


func _observe(header: Dictionary, blobs: Array) -> Dictionary:
	var kind: Variant = header.get("kind")
	var entity: Variant = header.get("entity")
	if not kind in KINDS or blobs.size() != 1:
		return _refusal("bad_request", "identity.observe: a kind in %s and one image" % [KINDS])
	if entity != null and not _banks.has(entity):
		return _refusal("not_found", "no bank of %s; register it first" % entity)
	var image := _image(header.blobs[0], blobs[0], kind)
	if image.has("header"):  # An error reply.
		return image
	var matches: Array = []
	for other: String in _banks:
		if _banks[other].kind == kind:
			matches.append({"entity": other, "similarity": _similarity(other, image.vector)})
	matches.sort_custom(func(a: Dictionary, b: Dictionary) -> bool: return (
		a.similarity > b.similarity))
	var best: Variant = null
	if not matches.is_empty() and 1.0 - matches[0].similarity <= THRESHOLDS[kind]:
		best = matches[0].entity
	var fields := {"matches": matches.slice(0, 5), "entity": best, "drift": null, "action": null}
	if entity != null:
		var bank: Dictionary = _banks[entity]
		var drift := 1.0 - _similarity(entity, image.vector)
		bank.drift = drift
		fields.drift = drift
		if header.get("update", true):
			bank.updates += 1
			if drift < 0.05:
				fields.action = "merged"
			else:
				bank.slots.append(_slot(image, header.get("meta", {})))
				fields.action = "inserted"
		if drift > THRESHOLDS[kind]:
			push_drift(entity, drift, THRESHOLDS[kind])
	if kind == "face":
		var landmarks: Array = []
		for i in 68:
			landmarks.append([i % image.width, i % image.height])
		fields["face"] = {"box": [0, 0, image.width, image.height], "landmarks": landmarks}
	return {"kind": "identity.observe", "header": fields}


func _query(header: Dictionary, blobs: Array) -> Dictionary:
	var entity: Variant = header.get("entity")
	if not _banks.has(entity):
		return _refusal("not_found", "no bank of %s" % [entity])
	var bank: Dictionary = _banks[entity]
	var vector: Variant = null
	if blobs.size() == 1:
		if header.get("kind") != bank.kind:
			return _refusal("bad_request", "identity.query: kind must be %s" % bank.kind)
		var image := _image(header.blobs[0], blobs[0], bank.kind)
		if image.has("header"):  # An error reply.
			return image
		vector = image.vector
	var references: Array = []
	for i in bank.slots.size():
		var slot: Dictionary = bank.slots[i]
		var similarity := 1.0 if vector == null else _close(slot.vector, vector)
		references.append({"slot": i, "similarity": similarity, "quality": slot.quality,
			"time": slot.time, "uses": slot.uses, "asset": slot.asset, "meta": slot.meta})
	references.sort_custom(func(a: Dictionary, b: Dictionary) -> bool: return (
		a.similarity > b.similarity))
	return {"kind": "identity.query", "header": {
		"references": references.slice(0, int(header.get("k", 4)))}}


func _serve_asset(peer: int, re: Variant, header: Dictionary) -> void:
	if not assets.has(header.get("hash")):
		_error(peer, re, "not_found", "no asset")
		return
	var asset: Dictionary = assets[header.hash]
	var data: PackedByteArray = asset.data
	router.send_reply("asset", {"re": re, "hash": header.hash, "bytes": data.size(),
		"kind": "image-rgb8", "chunk_bytes": 1 << 20, "chunks": 1, "transfer": 1,
		"meta": {"width": asset.width, "height": asset.height}}, [], peer)
	router.send_reply("asset.chunk", {"transfer": 1, "hash": header.hash, "index": 0,
		"offset": 0, "sha256": AssetClient.sha256_hex(data), "last": true},
		[MessageCodec.make_blob("u8", [data.size()], data)], peer)


# A checked image blob: {vector, width, height, data}, or an error reply ({kind, header}).
func _image(descriptor: Dictionary, data: PackedByteArray, kind: String) -> Dictionary:
	var shape: Array = descriptor.get("shape", [])
	if descriptor.get("dtype") != "u8" or shape.size() != 3 or shape[2] != 3 \
			or shape[0] < 8 or shape[1] < 8:
		return _refusal("bad_request", "an image is u8 [H, W, 3], 8..4096 a side, got %s %s" % [
			descriptor.get("dtype"), shape])
	var sums := [0.0, 0.0, 0.0]
	for i in data.size():
		sums[i % 3] += data[i]
	var pixels := data.size() / 3.0
	if kind == "face" and sums[0] + sums[1] + sums[2] == 0.0:
		return _refusal("no_face", "no face in the image")
	return {"vector": [sums[0] / pixels / 255.0, sums[1] / pixels / 255.0,
		sums[2] / pixels / 255.0], "width": int(shape[1]), "height": int(shape[0]), "data": data}


func _slot(image: Dictionary, meta: Variant) -> Dictionary:
	var hash := AssetClient.sha256_hex(image.data)
	assets[hash] = {"data": image.data, "width": image.width, "height": image.height}
	return {"vector": image.vector, "asset": hash, "quality": 1.0, "time": 1.0, "uses": 0,
		"meta": meta if meta is Dictionary else {}}


func _bank(entity: String) -> Dictionary:
	var bank: Dictionary = _banks[entity]
	return {"entity": entity, "kind": bank.kind, "slots": bank.slots.size(),
		"capacity": CAPACITY, "dim": 3, "updates": bank.updates, "drift": bank.drift}


func _similarity(entity: String, vector: Array) -> float:
	var best := 0.0
	for slot: Dictionary in _banks[entity].slots:
		best = maxf(best, _close(slot.vector, vector))
	return best


static func _close(a: Array, b: Array) -> float:
	return 1.0 - (absf(a[0] - b[0]) + absf(a[1] - b[1]) + absf(a[2] - b[2])) / 3.0


# An error reply ({kind, header}) for the methods that answer with one.
static func _refusal(code: String, text: String) -> Dictionary:
	return {"kind": "error", "header": {"code": code, "message": text}}
