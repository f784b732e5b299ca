# gdlint: disable=max-public-methods
# (every test_* method is public; one test script per source script)
extends "res://tests/test_case.gd"
## asset_client.gd without a backend: the cache (write, verified read, corrupt copies), the checks
## of replies and chunks, the size limit, and whole transfers against a fake backend (a ROUTER
## played by fake_peer.gd that serves asset.get/asset.credit/asset.cancel like PROTOCOL.md):
## credit, shared transfers, bad chunks fetched again, bad bounds, a lost or stalled backend.

const AssetClient = preload("res://addons/continuum/bridge/asset_client.gd")
const SessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeAssetBackend = preload("res://tests/unit/bridge/fake_asset_backend.gd")
const MessageCodec = preload("res://addons/continuum/bridge/message_codec.gd")
const ZmtpCodec = preload("res://addons/continuum/bridge/zmtp_codec.gd")

const MAX_CREDIT := 4
const ASSET_BYTES := 10500  # 11 chunks of 1000, the last one of 500 octets

var _backend: FakeAssetBackend
var _session: SessionScript
var _client: AssetClient
var _cache_dir := ""
var _asset := PackedByteArray()
var _hash := ""


func before_each() -> void:
	_cache_dir = "user://continuum_tests/assets_%d" % Time.get_ticks_usec()
	_asset = pattern(ASSET_BYTES, 7)
	_backend = FakeAssetBackend.new()
	_backend.max_credit = MAX_CREDIT
	_hash = _backend.add_asset(_asset)
	add_child(_backend)
	_backend.listen()
	_session = SessionScript.new()
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	_session.request_timeout_s = 5.0
	add_child(_session)
	_client = AssetClient.new()
	_client.cache_dir = _cache_dir
	_client.max_bytes = 1 << 20
	_client.session = _session
	add_child(_client)


func after_each() -> void:
	_client.queue_free()
	_session.queue_free()
	remove_child(_backend)
	_backend.queue_free()
	remove_tree(_cache_dir)


## The sha256 of [param data] in hex (a shorthand for other tests).
static func sha256(data: PackedByteArray) -> String:
	return AssetClient.sha256_hex(data)


## [param size] octets that repeat every 251 (a prime, so no chunk equals another).
static func pattern(size: int, seed_value: int) -> PackedByteArray:
	var data := PackedByteArray()
	for i in 251:
		data.append((i * 31 + seed_value * 7) & 0xff)
	while data.size() < size:
		data.append_array(data)
	data.resize(size)
	return data


## Deletes the folder [param path] and everything in it.
static func remove_tree(path: String) -> void:
	var dir := DirAccess.open(path)
	if dir == null:
		return
	for file in dir.get_files():
		dir.remove(file)
	for sub in dir.get_directories():
		remove_tree(path.path_join(sub))
	DirAccess.remove_absolute(path)


func test_write_then_read_cache_round_trips() -> void:
	assert_eq(await _client.write_cache(_hash, _asset), OK)
	assert_true(FileAccess.file_exists(_client.cache_path(_hash)), "the cache file")
	assert_eq(_client.cache_path(_hash), _cache_dir.path_join(_hash + ".cspk"))
	var leftovers := DirAccess.get_files_at(_cache_dir)
	assert_eq(Array(leftovers), [_hash + ".cspk"], "no temporary file left behind")
	var got: Dictionary = await _client.read_cache(_hash)
	assert_eq(got.get("data"), _asset)


func test_kind_and_meta_are_kept_beside_the_cached_copy() -> void:
	var meta := {"width": 2, "height": 3}
	assert_eq(await _client.write_cache(_hash, _asset, "image-rgb8", meta), OK)
	assert_true(FileAccess.file_exists(_client.info_path(_hash)), "the info file")
	var got: Dictionary = await _client.read_cache(_hash)
	assert_eq([got.get("kind"), got.get("meta")], ["image-rgb8", meta])
	var leftovers := Array(DirAccess.get_files_at(_cache_dir))
	leftovers.sort()
	assert_eq(leftovers, [_hash + ".cspk", _hash + ".json"], "no temporary file left behind")
	var other := pattern(10, 1)
	var other_hash := sha256(other)
	assert_eq(await _client.write_cache(other_hash, other), OK)
	got = await _client.read_cache(other_hash)
	assert_eq([got.get("kind"), got.get("meta")], ["", {}], "none written, none read")
	FileAccess.open(_client.info_path(other_hash), FileAccess.WRITE).store_string("[1, 2]")
	got = await _client.read_cache(other_hash)
	assert_eq([got.get("data"), got.get("meta")], [other, {}], "a bad info file is ignored")


func test_read_cache_without_a_copy_is_empty() -> void:
	assert_eq(await _client.read_cache(_hash), {})
	assert_eq(await _client.read_cache("not-a-hash"), {})


func test_corrupt_cache_is_deleted() -> void:
	var bad := _asset.duplicate()
	bad[100] ^= 0xff
	assert_eq(await _client.write_cache(_hash, bad, "splat-pack"), OK)
	assert_eq(await _client.read_cache(_hash), {}, "a copy with the wrong hash is no copy")
	assert_false(FileAccess.file_exists(_client.cache_path(_hash)), "and it is deleted")
	assert_false(FileAccess.file_exists(_client.info_path(_hash)), "with its info")


func test_large_cache_files_are_read_over_several_frames() -> void:
	var big := pattern(AssetClient.BYTES_PER_FRAME * 2 + 123, 3)
	var hash := AssetClient.sha256_hex(big)
	_client.max_bytes = big.size()
	assert_eq(await _client.write_cache(hash, big), OK)
	var frame := Engine.get_process_frames()
	var got: Dictionary = await _client.read_cache(hash)
	assert_true(got.get("data") == big, "the whole file")
	assert_true(Engine.get_process_frames() - frame >= 2, "read in pieces, one per frame")


func test_cached_copy_over_the_limit_is_refused() -> void:
	assert_eq(await _client.write_cache(_hash, _asset), OK)
	_client.max_bytes = ASSET_BYTES - 1
	var got: Dictionary = await _client.read_cache(_hash)
	assert_eq(got.get("error"), "too_large")


func test_sha256_hex() -> void:
	assert_eq(AssetClient.sha256_hex(PackedByteArray()),
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	assert_eq(AssetClient.sha256_hex("abc".to_utf8_buffer()),
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


func test_check_reply() -> void:
	var good := {"hash": _hash, "bytes": 2500, "chunk_bytes": 1000, "chunks": 3, "transfer": 4}
	assert_eq(AssetClient.check_reply(good, _hash, 2500), "")
	assert_eq(AssetClient.check_reply(good, _hash, -1), "", "size unknown beforehand")
	var cases := {
		"hash": "f".repeat(64), "bytes": 2600, "chunk_bytes": 0, "chunks": 2, "transfer": -1,
	}
	for key: String in cases:
		var bad := good.duplicate()
		bad[key] = cases[key]
		assert_ne(AssetClient.check_reply(bad, _hash, 2500), "", "a wrong '%s'" % key)
	var huge := good.duplicate()
	huge["chunk_bytes"] = AssetClient.MAX_CHUNK_BYTES + 1
	assert_ne(AssetClient.check_reply(huge, _hash, -1), "", "chunks over the frame limit")
	var text := good.duplicate()
	text["bytes"] = "2500"
	assert_ne(AssetClient.check_reply(text, _hash, -1), "", "a size that is not a number")


func test_check_chunk_bounds() -> void:
	var blob := pattern(500, 1)
	var header := {"hash": _hash, "index": 2, "offset": 2000, "sha256": "0".repeat(64)}
	assert_eq(AssetClient.check_chunk(header, [blob], _hash, 2500, 1000), "", "the short last one")
	var cases: Array = [
		[{"index": 3, "offset": 3000}, [blob], "index past the end"],
		[{"index": -1, "offset": -1000}, [blob], "negative index"],
		[{"index": 1.5}, [blob], "fractional index"],
		[{"offset": 2001}, [blob], "offset not index * chunk_bytes"],
		[{}, [pattern(501, 1)], "a blob one octet too long"],
		[{}, [pattern(499, 1)], "a blob one octet short"],
		[{}, [], "no blob"],
		[{}, [blob, blob], "two blobs"],
		[{"hash": "a".repeat(64)}, [blob], "another asset"],
		[{"sha256": "xyz"}, [blob], "a malformed digest"],
	]
	for case: Array in cases:
		var bad := header.duplicate()
		bad.merge(case[0], true)
		assert_ne(AssetClient.check_chunk(bad, case[1], _hash, 2500, 1000), "", case[2])


func test_golden_asset_vectors_fit_the_client() -> void:
	# bridge/vectors: chunk 2 (the last) of a 40-octet asset (octet i = i) in 16-octet chunks.
	var asset := PackedByteArray(range(40))
	var found := {}
	for vector: Dictionary in load_vectors():
		if vector.name in ["msg_asset_get", "msg_asset_chunk"]:
			var bodies: Array[PackedByteArray] = []
			for frame: Dictionary in ZmtpCodec.FrameDecoder.new().feed(vector.bytes):
				bodies.append(frame.body)
			found[vector.name] = MessageCodec.decode(bodies)
	if not assert_eq(found.size(), 2, "both asset vectors in bridge/vectors"):
		return
	var hash := AssetClient.sha256_hex(asset)
	assert_eq(found.msg_asset_get.header.hash, hash)
	var chunk: Dictionary = found.msg_asset_chunk
	assert_eq(AssetClient.check_chunk(chunk.header, chunk.blobs, hash, 40, 16), "")
	assert_eq(AssetClient.sha256_hex(chunk.blobs[0]), chunk.header.sha256)
	assert_eq(chunk.blobs[0], asset.slice(32))


func test_settings_come_from_project_setting_then_user_args() -> void:
	_client.load_settings(PackedStringArray())
	assert_eq(_client.max_bytes, AssetClient.DEFAULT_MAX_BYTES, "512 MiB by default")
	_client.load_settings(PackedStringArray(["--continuum-max-asset-bytes=1234"]))
	assert_eq(_client.max_bytes, 1234)


func test_over_the_limit_is_refused_before_asking() -> void:
	await _connect()
	_client.max_bytes = ASSET_BYTES - 1
	var failures: Array = []
	_client.asset_failed.connect(func(h: String, c: String, m: String) -> void: failures.append(
		[h, c, m]))
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "too_large")
	var message: String = got.get("message", "")
	assert_true(message.contains(str(ASSET_BYTES)) and message.contains(str(ASSET_BYTES - 1))
		and message.contains("continuum/assets/max_bytes"), "names size, limit and setting")
	assert_eq(_kinds(), ["hello"], "nothing asked of the backend")
	assert_eq(failures.size(), 1, "asset_failed once")


func test_over_the_limit_in_the_reply_is_refused_and_cancelled() -> void:
	await _connect()
	_client.max_bytes = ASSET_BYTES - 1
	var got: Dictionary = await _client.fetch(_hash)
	assert_eq(got.get("error"), "too_large")
	assert_true(await wait_until(func() -> bool: return "asset.cancel" in _kinds()), "cancelled")
	assert_false(FileAccess.file_exists(_client.cache_path(_hash)))


func test_fetch_with_credit_verifies_and_caches() -> void:
	await _connect()
	var fetched: Array = []
	_client.asset_fetched.connect(func(h: String, s: int, c: bool) -> void: fetched.append(
		[h, s, c]))
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_true(got.get("data") == _asset, "the asset, octet for octet")
	assert_eq(fetched, [[_hash, ASSET_BYTES, false]])
	var gets := _backend.headers("asset.get")
	assert_eq(gets.size(), 1)
	assert_eq(gets[0].get("credit"), MAX_CREDIT, "the backend's max_credit as the window")
	assert_true(_kinds().count("asset.credit") >= 2, "credit granted back as chunks arrived")
	assert_true(_backend.max_unspent <= MAX_CREDIT, "never more than max_credit outstanding")
	assert_true(_client.stats.max_outstanding <= MAX_CREDIT)
	assert_eq(_client.stats.chunks, 11)
	assert_eq(FileAccess.get_file_as_bytes(_client.cache_path(_hash)), _asset, "cached")
	var again: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_true(again.get("data") == _asset and again.get("from_cache", false), "from the cache")
	assert_eq(_kinds().count("asset.get"), 1, "a cached asset is never sent twice")


func test_fetch_gives_the_kind_and_meta_from_the_backend_and_the_cache() -> void:
	await _connect()
	var image := pattern(2 * 3 * 3, 5)
	var hash := _backend.add_asset(image, "image-rgb8", {"width": 2, "height": 3})
	var got: Dictionary = await _client.fetch(hash)
	assert_eq([got.get("data"), got.get("kind"), got.get("meta")],
		[image, "image-rgb8", {"width": 2, "height": 3}])
	var again: Dictionary = await _client.fetch(hash)
	assert_true(again.get("from_cache", false), "from the cache")
	assert_eq([again.get("kind"), again.get("meta")], ["image-rgb8", {"width": 2, "height": 3}])


func test_small_credit_window() -> void:
	await _connect()
	_client.credit_window = 1
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_true(got.get("data") == _asset)
	assert_eq(_backend.max_unspent, 1)
	assert_eq(_kinds().count("asset.credit"), 10, "one grant per chunk after the first")


func test_concurrent_fetches_share_one_transfer() -> void:
	await _connect()
	var results: Array = []
	var fetch_one := func() -> void: results.append(await _client.fetch(_hash, ASSET_BYTES))
	fetch_one.call()
	fetch_one.call()
	assert_true(_client.is_fetching(_hash))
	assert_true(await wait_until(func() -> bool: return results.size() == 2), "both finish")
	assert_eq(_kinds().count("asset.get"), 1, "one transfer")
	assert_true(results.all(func(r: Dictionary) -> bool: return r.get("data") == _asset))


func test_corrupt_chunk_is_fetched_again() -> void:
	await _connect()
	_backend.corrupt = [3, 7]
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_true(got.get("data") == _asset, "the right asset in the end")
	var gets := _backend.headers("asset.get")
	assert_eq(gets.size(), 2, "one more asset.get")
	assert_eq(gets[1].get("chunks"), [3, 7], "for just the bad chunks")
	assert_eq(_client.stats.bad_chunks, 2)
	assert_eq(FileAccess.get_file_as_bytes(_client.cache_path(_hash)), _asset)


func test_chunk_that_stays_corrupt_fails_after_the_retries() -> void:
	await _connect()
	_client.max_chunk_retries = 2
	_backend.corrupt = [5]
	_backend.corrupt_always = true
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "bad_chunk")
	assert_eq(_kinds().count("asset.get"), 3, "the first try and two retries")
	assert_false(FileAccess.file_exists(_client.cache_path(_hash)), "nothing cached")


func test_chunk_out_of_bounds_is_refused_before_writing() -> void:
	await _connect()
	for mode in ["bad_index", "bad_size"]:
		_backend.mode = mode
		var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
		assert_eq(got.get("error"), "bad_message", mode)
		assert_false(FileAccess.file_exists(_client.cache_path(_hash)), mode)
	assert_true(await wait_until(func() -> bool: return "asset.cancel" in _kinds()), "cancelled")


func test_transfer_that_ends_early_fails() -> void:
	await _connect()
	_backend.mode = "short"
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "bad_message")


func test_refused_credit_fails_the_fetch() -> void:
	await _connect()
	_backend.mode = "deny_credit"
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "bad_request")


func test_lost_backend_mid_transfer_fails_with_disconnected() -> void:
	await _connect()
	_backend.mode = "drop"
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "disconnected")
	assert_false(FileAccess.file_exists(_client.cache_path(_hash)), "nothing cached")
	assert_false(_client.is_fetching(_hash))


func test_stalled_transfer_times_out() -> void:
	await _connect()
	_backend.mode = "stall"
	_client.stall_timeout_s = 0.3
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(got.get("error"), "timeout")
	assert_true(await wait_until(func() -> bool: return "asset.cancel" in _kinds()), "cancelled")


func test_unknown_asset_is_not_found() -> void:
	await _connect()
	var got: Dictionary = await _client.fetch("0".repeat(64))
	assert_eq(got.get("error"), "not_found")


func test_bad_hash_and_no_backend() -> void:
	var bad: Dictionary = await _client.fetch("ABC")
	assert_eq(bad.get("error"), "bad_request")
	var offline: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_eq(offline.get("error"), "not_connected")


func test_corrupt_cache_is_fetched_again() -> void:
	var bad := _asset.duplicate()
	bad[0] ^= 1
	assert_eq(await _client.write_cache(_hash, bad), OK)
	await _connect()
	var got: Dictionary = await _client.fetch(_hash, ASSET_BYTES)
	assert_true(got.get("data") == _asset and not got.get("from_cache", false), "from the backend")
	assert_eq(FileAccess.get_file_as_bytes(_client.cache_path(_hash)), _asset, "cache repaired")


func test_empty_asset() -> void:
	await _connect()
	var empty := PackedByteArray()
	var hash := AssetClient.sha256_hex(empty)
	_backend.assets[hash] = empty
	var got: Dictionary = await _client.fetch(hash, 0)
	assert_true(got.has("data") and got.data.is_empty(), str(got))
	assert_eq(AssetClient.chunk_count(0, 1000), 1, "one empty chunk")
	assert_eq(AssetClient.chunk_count(1000, 1000), 1)
	assert_eq(AssetClient.chunk_count(1001, 1000), 2)


func test_error_push_for_a_transfer_fails_it() -> void:
	await _connect()
	_backend.mode = "stall"
	var results: Array = []
	var fetch_one := func() -> void: results.append(await _client.fetch(_hash, ASSET_BYTES))
	fetch_one.call()
	assert_true(await wait_until(func() -> bool: return "asset.get" in _kinds()), "asked")
	await wait_seconds(0.1)
	_backend.router.send_reply("error", {"re": null, "code": "internal", "message": "disk gone",
		"transfer": 1})
	assert_true(await wait_until(func() -> bool: return results.size() == 1), "finished")
	assert_eq(results[0].get("error"), "internal")


func test_transfers_at_once_stay_within_max_transfers() -> void:
	await _connect()
	var results: Array = []
	for i in 6:
		var data := pattern(2500 + i, i)
		var hash := AssetClient.sha256_hex(data)
		_backend.assets[hash] = data
		var fetch_one := func() -> void: results.append(await _client.fetch(hash))
		fetch_one.call()
	assert_true(await wait_until(func() -> bool: return results.size() == 6), "all finish")
	assert_true(results.all(func(r: Dictionary) -> bool: return r.has("data")), str(results))
	assert_true(_backend.max_open <= 2, "at most max_transfers (2) at once, got %d" % (
		_backend.max_open))


func _connect() -> void:
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")


func _kinds() -> Array:
	return _backend.kinds()
