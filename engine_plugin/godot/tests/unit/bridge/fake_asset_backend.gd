extends "res://tests/unit/bridge/fake_backend.gd"
## A fake backend for asset tests: fake_backend.gd (hello, ping) that also answers world.get and
## asset.get/asset.credit/asset.cancel like bridge/PROTOCOL.md, pushes asset.chunk under
## credit and asset.announce on demand, and misbehaves when asked to ([member mode]).

const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")

## Octets per chunk.
var chunk_bytes: int = 1000
## welcome.limits.max_credit and max_transfers.
var max_credit: int = 4
var max_transfers: int = 2
## The entities world.get answers with.
var entities: Array = []
## Assets by hash.
var assets: Dictionary = {}
## Hash -> [kind, meta] of the assets added with them (others are splat packs without meta).
var infos: Dictionary = {}
## Chunk indices sent with one flipped octet the first time (every time when corrupt_always).
var corrupt: Array[int] = []
var corrupt_always: bool = false
## "" (well-behaved), "drop" (closes after drop_after chunks), "stall" (sends no chunks),
## "bad_index", "bad_size", "short" (claims the last chunk early), "deny_credit".
var mode: String = ""
var drop_after: int = 3
## While true, chunks wait (a transfer in progress); set false and call pump_all().
var hold: bool = false
## Chunks sent so far, the most credit one transfer held unspent, the most transfers at once.
var chunks_sent: int = 0
var max_unspent: int = 0
var max_open: int = 0

var _transfers: Dictionary = {}  # id -> {hash, indices, next, credit, peer}
var _next_transfer: int = 1


## Stores [param data] as an asset of [param kind] with [param meta]; returns its hash.
func add_asset(data: PackedByteArray, kind: String = "splat-pack", meta: Dictionary = {}) -> String:
	var hash := AssetClient.sha256_hex(data)
	assets[hash] = data
	infos[hash] = [kind, meta]
	return hash


## The kinds of the requests received, in order.
func kinds() -> Array:
	return requests.map(func(r: Array) -> String: return r[0])


## Pushes asset.announce for [param entity]'s splat, now asset [param hash].
func announce(entity: String, hash: String) -> void:
	var data: PackedByteArray = assets[hash]
	router.send_reply("asset.announce", {"entity": entity, "component": "splat", "asset": {
		"hash": hash, "bytes": data.size(), "kind": "splat-pack"}})


## Sends what the transfers have credit for (after [member hold] was cleared).
func pump_all() -> void:
	for id: int in _transfers.keys():
		_pump(id)


func _welcome(peer: int) -> Dictionary:
	var welcome := super._welcome(peer)
	welcome.merge({"protocol": "1.1", "session": "s1", "limits": {"max_credit": max_credit,
		"chunk_bytes": chunk_bytes, "max_transfers": max_transfers}}, true)
	return welcome


func _handle(peer: int, re: Variant, message: Dictionary) -> void:
	var header: Dictionary = message.header
	match message.kind:
		"world.get":
			router.send_reply("world", {"re": re, "scene": {"name": "fake", "description": ""},
				"entities": entities}, [], peer)
		"asset.get":
			_serve_get(peer, re, header)
		"asset.credit":
			var transfer: Dictionary = _transfers.get(int(header.transfer), {})
			if transfer.is_empty() or mode == "deny_credit":
				_error(peer, re, "bad_request", "no such transfer or too much credit")
				return
			transfer.credit += int(header.credit)
			max_unspent = maxi(max_unspent, transfer.credit)
			router.send_reply("asset.credit", {
				"re": re, "transfer": header.transfer, "credit": transfer.credit}, [], peer)
			_pump(int(header.transfer))
		"asset.cancel":
			_transfers.erase(int(header.transfer))
			router.send_reply("asset.cancel", {"re": re, "transfer": header.transfer}, [], peer)
		_:
			super._handle(peer, re, message)


func _serve_get(peer: int, re: Variant, header: Dictionary) -> void:
	if not assets.has(header.hash):
		_error(peer, re, "not_found", "no asset %s" % header.hash)
		return
	var data: PackedByteArray = assets[header.hash]
	var count := AssetClient.chunk_count(data.size(), chunk_bytes)
	var indices: Array = header.get("chunks", range(count))
	var id := _next_transfer
	_next_transfer += 1
	_transfers[id] = {
		"hash": header.hash, "indices": indices, "next": 0, "credit": int(header.credit),
		"peer": peer}
	max_unspent = maxi(max_unspent, int(header.credit))
	max_open = maxi(max_open, _transfers.size())
	var info: Array = infos.get(header.hash, ["splat-pack", {}])
	router.send_reply("asset", {
		"re": re, "hash": header.hash, "bytes": data.size(), "kind": info[0],
		"chunk_bytes": chunk_bytes, "chunks": count, "transfer": id, "meta": info[1]}, [], peer)
	_pump(id)


func _pump(id: int) -> void:
	var transfer: Dictionary = _transfers.get(id, {})
	if transfer.is_empty() or mode == "stall" or hold:
		return
	var data: PackedByteArray = assets[transfer.hash]
	while transfer.credit > 0 and transfer.next < transfer.indices.size():
		if mode == "drop" and chunks_sent >= drop_after:
			router.drop(transfer.peer)
			_transfers.clear()
			return
		var index: int = transfer.indices[transfer.next]
		transfer.next += 1
		transfer.credit -= 1
		chunks_sent += 1
		var offset := index * chunk_bytes
		var chunk := data.slice(offset, offset + chunk_bytes)
		var fields := {
			"transfer": id, "hash": transfer.hash, "index": index, "offset": offset,
			"sha256": AssetClient.sha256_hex(chunk),
			"last": transfer.next == transfer.indices.size() or mode == "short"}
		if index in corrupt:
			chunk[chunk.size() >> 1] ^= 0x20
			if not corrupt_always:
				corrupt.erase(index)
		if mode == "bad_index":
			fields["index"] = 11
			fields["offset"] = 11000
		elif mode == "bad_size":
			chunk.append(0)
		router.send_reply("asset.chunk", fields, [MessageCodec.make_blob("u8", [chunk.size()],
			chunk)], transfer.peer)
		if fields.last:
			_transfers.erase(id)
			return
