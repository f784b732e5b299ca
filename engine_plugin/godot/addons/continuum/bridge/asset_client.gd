extends Node
## Fetches content-addressed assets (splat packs, reference images) from the backend over the
## request channel, and keeps a verified cache of them under user:// (bridge/PROTOCOL.md, asset
## transfer).
##
## [method fetch] looks in the cache first ([code]<cache_dir>/<hash>.cspk[/code], checked by
## sha256 on every read; a corrupt copy is deleted and fetched again; beside it,
## [code]<hash>.json[/code] keeps the asset's kind and meta from the backend's reply). Otherwise
## it sends [code]asset.get[/code] with a credit window, grants credit back with
## [code]asset.credit[/code] as [code]asset.chunk[/code] pushes arrive (never more outstanding
## than the backend's [code]max_credit[/code]), checks every chunk's index, offset and size
## against the reply before writing it into one preallocated buffer, verifies each chunk's sha256
## (a bad chunk is asked for again, a bounded number of times) and then the whole asset's, and
## writes the cache file atomically (a temporary file, then a rename). Concurrent fetches of one
## hash share one transfer. Assets over [member max_bytes] (project setting
## [code]continuum/assets/max_bytes[/code]) are refused. Everything runs from the session's
## per-frame polling and this node's [method Node._process]; large reads, hashes and writes are
## spread over frames, so nothing blocks a frame. The node must be in the tree.
## [codeblock]
## var got: Dictionary = await assets.fetch(hash, size)
## if got.has("error"):
##     return  # already reported: a warning for a lost backend, an error otherwise
## var data: PackedByteArray = got.data
## [/codeblock]
## Failures are reported here, once per transfer, with the "[continuum]" prefix: a lost or
## unreachable backend and a stalled transfer as warnings, everything else as errors.

## An asset is in hand, verified; [param from_cache] when no transfer was needed.
signal asset_fetched(hash: String, size: int, from_cache: bool)
## A fetch of [param hash] failed with [param code] (see [method fetch]).
signal asset_failed(hash: String, code: String, message: String)

const MessageCodec = preload("message_codec.gd")
const ContinuumSessionScript = preload("continuum_session.gd")

const SETTING_MAX_BYTES := "continuum/assets/max_bytes"
## The command-line user argument that overrides [constant SETTING_MAX_BYTES].
const ARG_MAX_BYTES := "--continuum-max-asset-bytes="
const DEFAULT_MAX_BYTES := 512 << 20
const DEFAULT_CACHE_DIR := "user://continuum/assets"
const CACHE_EXTENSION := ".cspk"
## The extension of the file beside a cached asset that keeps its kind and meta.
const INFO_EXTENSION := ".json"
## The credit window when the backend does not say (welcome.limits.max_credit).
const DEFAULT_MAX_CREDIT := 8
## Transfers at once when the backend does not say (welcome.limits.max_transfers).
const DEFAULT_MAX_TRANSFERS := 4
## Chunk sizes above this (the frame limit) are refused before anything is allocated.
const MAX_CHUNK_BYTES := 64 << 20
## Octets read, hashed or written per frame for cache files and whole-asset checks.
const BYTES_PER_FRAME := 8 << 20
## Error codes that mean "the backend is not there": reported as warnings.
const WARNING_CODES: Array[String] = ["disconnected", "not_connected", "timeout"]

## The session whose request channel carries the transfers.
var session: ContinuumSessionScript:
	get:
		return _session
	set(value):
		_bind(value)
## Where verified assets are cached, one [code]<hash>.cspk[/code] file each.
var cache_dir: String = DEFAULT_CACHE_DIR
## Assets larger than this are refused (octets).
var max_bytes: int = DEFAULT_MAX_BYTES
## Credit granted per transfer; 0 for the backend's max_credit (never more than that).
var credit_window: int = 0
## A transfer with no chunk for this long fails with [code]timeout[/code] (seconds).
var stall_timeout_s: float = 15.0
## How many times one chunk with a wrong sha256 is asked for again before the fetch fails.
var max_chunk_retries: int = 3
## Counters since this node was made: fetched, from_cache, chunks, bad_chunks, refetches,
## credit_granted, max_outstanding (the most credit outstanding on one transfer).
var stats: Dictionary = {
	"fetched": 0, "from_cache": 0, "chunks": 0, "bad_chunks": 0, "refetches": 0,
	"credit_granted": 0, "max_outstanding": 0,
}

var _session: ContinuumSessionScript
var _jobs: Dictionary = {}  # hash -> _Job, while its fetch runs
var _transfers: Dictionary = {}  # transfer id -> _Transfer, while the backend sends it
var _starting: int = 0  # asset.get requests in flight
var _hash_regex: RegEx = RegEx.create_from_string("^[0-9a-f]{64}$")


func _init() -> void:
	process_mode = Node.PROCESS_MODE_ALWAYS
	load_settings()


func _process(_delta: float) -> void:
	if _jobs.is_empty():
		return
	var now := Time.get_ticks_msec()
	for job: _Job in _jobs.values():
		if job.layout_known and not job.done and now - job.progress_ms > stall_timeout_s * 1000.0:
			_settle(job, _failure("timeout", "no chunk of asset %s for %.1f s" % [
				_short(job.hash), stall_timeout_s]))


## Reads [member max_bytes] from the project setting [code]continuum/assets/max_bytes[/code],
## then from the user argument [code]--continuum-max-asset-bytes=N[/code], which wins.
func load_settings(args: PackedStringArray = OS.get_cmdline_user_args()) -> void:
	max_bytes = int(ProjectSettings.get_setting(SETTING_MAX_BYTES, DEFAULT_MAX_BYTES))
	for arg in args:
		if arg.begins_with(ARG_MAX_BYTES):
			var value := arg.substr(ARG_MAX_BYTES.length())
			if value.is_valid_int() and value.to_int() >= 0:
				max_bytes = value.to_int()
			else:
				push_warning("[continuum] ignoring %s: the limit must be an integer >= 0" % arg)


## Fetches asset [param hash] (64 lowercase hex digits, the sha256 of its octets), expected to
## be [param bytes_expected] octets (-1 when unknown). A coroutine: returns
## [code]{"data": PackedByteArray, "kind": String, "meta": Dictionary}[/code] (the asset's kind
## and meta from the backend's [code]asset[/code] reply, kept beside the cached copy; "" and {}
## for a cached copy without them), or [code]{"error": code, "message": text}[/code] with
## code [code]bad_request[/code], [code]too_large[/code], [code]not_connected[/code],
## [code]disconnected[/code], [code]timeout[/code], [code]bad_message[/code] (the backend broke
## the transfer rules), [code]bad_chunk[/code] (a chunk stayed wrong after the retries),
## [code]hash_mismatch[/code], or an error code of the backend's such as [code]not_found[/code].
## Failures are reported once per transfer; the caller only decides what to keep on screen.
func fetch(hash: String, bytes_expected: int = -1) -> Dictionary:
	if _jobs.has(hash):
		return await _jobs[hash].finished
	var job := _Job.new()
	job.hash = hash
	job.expected = bytes_expected
	_jobs[hash] = job
	var result: Dictionary = await _run(job)
	_jobs.erase(hash)
	_drop_transfers(job, not result.has("error"))
	if result.has("error"):
		_report_failure(result)
		asset_failed.emit(hash, result.error, result.message)
	else:
		asset_fetched.emit(hash, result.data.size(), result.get("from_cache", false))
	job.finished.emit(result)
	return result


## True while a fetch of [param hash] runs.
func is_fetching(hash: String) -> bool:
	return _jobs.has(hash)


## The cache file of [param hash].
func cache_path(hash: String) -> String:
	return cache_dir.path_join(hash + CACHE_EXTENSION)


## The file beside the cache file of [param hash] that keeps its kind and meta.
func info_path(hash: String) -> String:
	return cache_dir.path_join(hash + INFO_EXTENSION)


## Reads [param hash] from the cache, verifying its sha256; a coroutine. Returns
## [code]{"data": PackedByteArray, "kind": String, "meta": Dictionary}[/code] (kind and meta as
## [method write_cache] kept them; "" and {} without), [code]{}[/code] when there is no good copy
## (a corrupt one is deleted, with a warning), or a [code]too_large[/code] error for a copy over
## [member max_bytes].
func read_cache(hash: String) -> Dictionary:
	var path := cache_path(hash)
	if not _is_hash(hash) or not FileAccess.file_exists(path):
		return {}
	var file := FileAccess.open(path, FileAccess.READ)
	if file == null:
		push_warning("[continuum] cannot read the cached asset %s: %s" % [
			path, error_string(FileAccess.get_open_error())])
		return {}
	var size := file.get_length()
	if size > max_bytes:
		return _too_large(hash, size)
	var buffer := StreamPeerBuffer.new()
	buffer.resize(size)
	var hasher := HashingContext.new()
	hasher.start(HashingContext.HASH_SHA256)
	var done := 0
	while done < size:
		var piece := file.get_buffer(mini(BYTES_PER_FRAME, size - done))
		if piece.is_empty():
			break
		buffer.put_data(piece)
		hasher.update(piece)
		done += piece.size()
		if done < size:
			await get_tree().process_frame
	file.close()
	if done != size or hasher.finish().hex_encode() != hash:
		push_warning("[continuum] the cached asset %s is corrupt; deleted, fetching it again" % path)
		DirAccess.remove_absolute(path)
		DirAccess.remove_absolute(info_path(hash))
		return {}
	var info := _read_info(hash)
	return {"data": buffer.data_array, "kind": info.kind, "meta": info.meta}


## Writes [param data] as the cache file of [param hash]: a temporary file, then a rename, so a
## reader never sees half a file. A coroutine (large data is written over several frames). The
## asset's [param kind] and [param meta], when given, are written beside it first.
func write_cache(
	hash: String, data: PackedByteArray, kind: String = "", meta: Dictionary = {}
) -> Error:
	var made := DirAccess.make_dir_recursive_absolute(cache_dir)
	if made != OK:
		return made
	if not kind.is_empty() or not meta.is_empty():
		# First, so that whoever sees the asset sees its kind and meta too.
		made = _write_atomically(info_path(hash), JSON.stringify({"kind": kind, "meta": meta})
			.to_utf8_buffer())
		if made != OK:
			return made
	var path := cache_path(hash)
	var temp := _temp_path(path)
	var file := FileAccess.open(temp, FileAccess.WRITE)
	if file == null:
		return FileAccess.get_open_error()
	var done := 0
	while done < data.size():
		var end := mini(done + BYTES_PER_FRAME, data.size())
		file.store_buffer(data.slice(done, end) if end - done < data.size() else data)
		done = end
		if done < data.size():
			await get_tree().process_frame
	var written := file.get_error()
	file.close()
	if written == OK:
		written = DirAccess.rename_absolute(temp, path)
	if written != OK:
		DirAccess.remove_absolute(temp)
	return written


## Checks an [code]asset[/code] reply's header against the fetch of [param hash] expecting
## [param expected] octets (-1: unknown); returns "" when it is usable, else what is wrong.
static func check_reply(header: Dictionary, hash: String, expected: int) -> String:
	var size: Variant = header.get("bytes")
	var chunk_bytes: Variant = header.get("chunk_bytes")
	var chunks: Variant = header.get("chunks")
	if header.get("hash") != hash:
		return "the reply is for asset %s, not %s" % [header.get("hash"), hash]
	if not _is_count(size) or (expected >= 0 and int(size) != expected):
		return "'bytes' must be %s, got %s" % [
			expected if expected >= 0 else "an integer >= 0", size]
	if not _is_count(chunk_bytes) or int(chunk_bytes) < 1 or int(chunk_bytes) > MAX_CHUNK_BYTES:
		return "'chunk_bytes' must be an integer in 1..%d, got %s" % [MAX_CHUNK_BYTES, chunk_bytes]
	var count := chunk_count(int(size), int(chunk_bytes))
	if not _is_count(chunks) or int(chunks) != count:
		return "'chunks' must be %d for %d octets in chunks of %d, got %s" % [
			count, size, chunk_bytes, chunks]
	if not _is_count(header.get("transfer")):
		return "'transfer' must be an integer >= 0, got %s" % header.get("transfer")
	return ""


## Checks an [code]asset.chunk[/code] push against the transfer's layout ([param size] octets in
## chunks of [param chunk_bytes]) before anything is written; returns "" when it fits, else
## what is wrong. The chunk's sha256 is checked separately (a mismatch is fetched again).
static func check_chunk(
	header: Dictionary, blobs: Array, hash: String, size: int, chunk_bytes: int
) -> String:
	var chunks := chunk_count(size, chunk_bytes)
	var index: Variant = header.get("index")
	if header.get("hash") != hash:
		return "chunk of asset %s in a transfer of %s" % [header.get("hash"), hash]
	if not _is_count(index) or int(index) >= chunks:
		return "'index' must be an integer in 0..%d, got %s" % [chunks - 1, index]
	var offset := int(index) * chunk_bytes
	if not _is_count(header.get("offset")) or int(header.get("offset")) != offset:
		return "'offset' of chunk %d must be %d, got %s" % [index, offset, header.get("offset")]
	var length := mini(chunk_bytes, size - offset)
	if blobs.size() != 1 or not blobs[0] is PackedByteArray or blobs[0].size() != length:
		return "chunk %d must carry one blob of %d octets, got %s" % [
			index, length, blobs.map(func(b: Variant) -> int: return b.size())]
	var digest: Variant = header.get("sha256")
	if typeof(digest) != TYPE_STRING or digest.length() != 64 or not digest.is_valid_hex_number():
		return "'sha256' of chunk %d must be 64 hex digits, got %s" % [index, digest]
	return ""


## How many chunks an asset of [param size] octets has: an empty asset still has one (empty).
static func chunk_count(size: int, chunk_bytes: int) -> int:
	return maxi(1, ceili(float(size) / float(chunk_bytes)))


## The sha256 of [param data] as 64 lowercase hex digits.
static func sha256_hex(data: PackedByteArray) -> String:
	var hasher := HashingContext.new()
	hasher.start(HashingContext.HASH_SHA256)
	if not data.is_empty():
		hasher.update(data)
	return hasher.finish().hex_encode()


func _bind(value: ContinuumSessionScript) -> void:
	if _session == value:
		return
	if _session != null:
		_session.message_received.disconnect(_on_message_received)
		_session.disconnected.disconnect(_on_disconnected)
	_session = value
	if _session != null:
		_session.message_received.connect(_on_message_received)
		_session.disconnected.connect(_on_disconnected)


# The whole fetch, top to bottom; returns the result (the caller reports failures).
func _run(job: _Job) -> Dictionary:
	# 1. Arguments and the limit, before anything is read or asked for.
	var result := {}
	if not _is_hash(job.hash):
		result = _failure("bad_request", "asset hash must be 64 lowercase hex digits, got \"%s\"" % (
			job.hash.left(80)))
	elif job.expected > max_bytes:
		result = _too_large(job.hash, job.expected)
	# 2. The cache.
	if result.is_empty():
		result = await read_cache(job.hash)
		if result.has("data"):
			stats.from_cache += 1
			result["from_cache"] = true
	# 3. The backend.
	if result.is_empty():
		result = await _transfer(job)
	return result


# Fetches the asset from the backend: asset.get, chunks until every one is in hand and good, the
# whole hash, the cache file.
func _transfer(job: _Job) -> Dictionary:
	# 1. The reply says how the asset is cut; the chunks arrive as pushes.
	if _session == null or not _session.is_backend_connected():
		return _failure("not_connected", "no backend connection to fetch asset %s from" % (
			_short(job.hash)))
	var started := await _start_transfer(job, [])
	if started.has("error"):
		return started
	if not job.done:
		await job.settled
	if job.outcome.has("error"):
		return job.outcome
	# 2. The whole asset's hash, fed in chunk order as chunks arrived.
	var digest := job.hasher.finish().hex_encode()
	if digest != job.hash:
		return _failure("hash_mismatch", "asset %s arrived with sha256 %s" % [job.hash, digest])
	var data: PackedByteArray = job.buffer.data_array
	job.buffer = null
	stats.fetched += 1
	# 3. The cache file; failing to write it costs a later transfer, nothing more.
	var written: Error = await write_cache(job.hash, data, job.kind, job.meta)
	if written != OK:
		push_warning("[continuum] cannot cache asset %s in %s: %s" % [
			_short(job.hash), cache_dir, error_string(written)])
	return {"data": data, "kind": job.kind, "meta": job.meta}


# Sends asset.get for [param indices] (all chunks when empty) and registers the transfer.
# Returns {} or an error value (which the caller reports).
func _start_transfer(job: _Job, indices: Array[int]) -> Dictionary:
	# The backend runs at most max_transfers per session: wait for a free one.
	while _transfers.size() + _starting >= _limit("max_transfers", DEFAULT_MAX_TRANSFERS):
		await get_tree().process_frame
		if job.done:
			return job.outcome
	var window := _window()
	var fields := {"hash": job.hash, "credit": window}
	if not indices.is_empty():
		fields["chunks"] = indices
		fields["credit"] = mini(window, indices.size())
	_starting += 1
	var reply: Dictionary = await _session.request("asset.get", fields)
	_starting -= 1
	var header: Dictionary = reply.header
	if job.done:
		_cancel(header.get("transfer") if reply.kind == "asset" else null)
		return job.outcome
	if reply.kind != "asset":
		return _failure(str(header.get("code", "bad_message")), "asset.get %s: %s" % [
			_short(job.hash), header.get("message", reply.kind)])
	var expected := job.size if job.layout_known else job.expected
	var problem := check_reply(header, job.hash, expected)
	if problem.is_empty() and job.layout_known and int(header.chunk_bytes) != job.chunk_bytes:
		problem = "'chunk_bytes' changed from %d to %s" % [job.chunk_bytes, header.chunk_bytes]
	if not problem.is_empty():
		_cancel(header.get("transfer"))
		return _failure("bad_message", "the backend's reply to asset.get %s is malformed: %s" % [
			_short(job.hash), problem])
	if int(header.bytes) > max_bytes:
		_cancel(header.transfer)
		return _too_large(job.hash, int(header.bytes))
	if not job.layout_known:
		job.start(int(header.bytes), int(header.chunk_bytes))
		job.kind = str(header.get("kind", ""))
		job.meta = header.meta if header.get("meta") is Dictionary else {}
	var transfer := _Transfer.new()
	transfer.id = int(header.transfer)
	transfer.job = job
	transfer.window = int(fields.credit)
	transfer.outstanding = transfer.window
	transfer.remaining = job.chunks if indices.is_empty() else indices.size()
	stats.max_outstanding = maxi(stats.max_outstanding, transfer.outstanding)
	job.transfers[transfer.id] = transfer
	_transfers[transfer.id] = transfer
	job.progress_ms = Time.get_ticks_msec()
	return {}


func _on_message_received(kind: String, header: Dictionary, blobs: Array) -> void:
	if not kind in ["asset.chunk", "error"] or not _is_count(header.get("transfer")):
		return
	var transfer: _Transfer = _transfers.get(int(header.transfer))
	if transfer == null:
		return  # A transfer that was cancelled or finished: late chunks are dropped.
	var job := transfer.job
	if kind == "error":  # The backend could not go on with this transfer.
		_settle(job, _failure(str(header.get("code", "internal")), "the transfer of asset %s "
			% _short(job.hash) + "failed on the backend: %s" % header.get("message", "")))
		return
	var problem := check_chunk(header, blobs, job.hash, job.size, job.chunk_bytes)
	if not problem.is_empty():
		_settle(job, _failure("bad_message", "the backend sent a bad chunk of asset %s: %s" % [
			_short(job.hash), problem]))
		return
	# 1. Accounting: every chunk, good or bad, uses one credit of its transfer.
	stats.chunks += 1
	transfer.outstanding -= 1
	transfer.remaining -= 1
	job.progress_ms = Time.get_ticks_msec()
	# 2. The chunk itself: verified, then written at its place.
	var index := int(header.index)
	var blob: PackedByteArray = blobs[0]
	if sha256_hex(blob) != str(header.sha256).to_lower():
		stats.bad_chunks += 1
		job.retries[index] = int(job.retries.get(index, 0)) + 1
		if job.retries[index] > max_chunk_retries:
			_settle(job, _failure("bad_chunk", "chunk %d of asset %s failed its sha256 %d times" % [
				index, _short(job.hash), job.retries[index]]))
			return
		push_warning("[continuum] chunk %d of asset %s failed its sha256; fetching it again" % [
			index, _short(job.hash)])
		if not index in job.bad:
			job.bad.append(index)
	elif not job.received[index]:
		job.write(index, blob)
	# 3. The transfer goes on: more credit, a refetch of bad chunks, or the end.
	if transfer.remaining <= 0 or header.get("last") == true:
		_transfers.erase(transfer.id)
		job.transfers.erase(transfer.id)
	else:
		_grant(transfer)
	if job.received_count == job.chunks:
		_settle(job, {})
	elif job.transfers.is_empty() and not job.bad.is_empty() and not job.refetching:
		_refetch(job)
	elif job.transfers.is_empty() and job.bad.is_empty() and not job.refetching:
		_settle(job, _failure("bad_message", (
			"the backend ended the transfer of asset %s with %d of %d chunks"
			% [_short(job.hash), job.received_count, job.chunks])))


# Tops the transfer's credit up to its window once half of it is used, never past what the
# transfer still has to send (so outstanding credit never exceeds the backend's max_credit).
func _grant(transfer: _Transfer) -> void:
	var wanted := mini(transfer.window, transfer.remaining) - transfer.outstanding
	if wanted <= 0 or transfer.outstanding * 2 > transfer.window:
		return
	transfer.outstanding += wanted
	stats.credit_granted += wanted
	stats.max_outstanding = maxi(stats.max_outstanding, transfer.outstanding)
	var reply: Dictionary = await _session.request(
		"asset.credit", {"transfer": transfer.id, "credit": wanted})
	var job := transfer.job
	if reply.kind != "asset.credit" and not job.done and _transfers.has(transfer.id):
		_settle(job, _failure(str(reply.header.get("code", "bad_message")), "asset.credit for %s: %s" % [
			_short(job.hash), reply.header.get("message", reply.kind)]))


# Asks again for the chunks that failed their sha256, in one transfer.
func _refetch(job: _Job) -> void:
	var indices: Array[int] = []
	for index: int in job.bad:
		if not job.received[index]:
			indices.append(index)
	job.bad.clear()
	indices.sort()
	if indices.is_empty():
		return
	job.refetching = true
	stats.refetches += 1
	var started := await _start_transfer(job, indices)
	job.refetching = false
	if started.has("error"):
		_settle(job, started)


func _settle(job: _Job, outcome: Dictionary) -> void:
	if job.done:
		return
	job.done = true
	job.outcome = outcome
	if outcome.has("error"):
		_drop_transfers(job, false)
	job.settled.emit()


# Forgets the job's transfers; cancels them on the backend unless they ended there.
func _drop_transfers(job: _Job, ended: bool) -> void:
	for id: int in job.transfers:
		_transfers.erase(id)
		if not ended:
			_cancel(id)
	if not job.transfers.is_empty():
		job.transfers.clear()


func _cancel(transfer_id: Variant) -> void:
	if _is_count(transfer_id) and _session != null and _session.is_backend_connected():
		_session.request("asset.cancel", {"transfer": int(transfer_id)})


func _on_disconnected(reason: String) -> void:
	for job: _Job in _jobs.values():
		_settle(job, _failure("disconnected", "lost the backend while fetching asset %s (%s)" % [
			_short(job.hash), reason]))


func _window() -> int:
	var most := _limit("max_credit", DEFAULT_MAX_CREDIT)
	return most if credit_window <= 0 else mini(credit_window, most)


# A limit from the backend's welcome, at least 1; [param fallback] when it does not say.
func _limit(key: String, fallback: int) -> int:
	var limits: Variant = _session.welcome.get("limits", {}) if _session != null else {}
	if limits is Dictionary and _is_count(limits.get(key)):
		return maxi(1, int(limits[key]))
	return fallback


func _report_failure(result: Dictionary) -> void:
	if result.error in WARNING_CODES:
		push_warning("[continuum] %s; whatever showed the old version keeps it" % result.message)
	else:
		push_error("[continuum] " + result.message)


func _too_large(hash: String, size: int) -> Dictionary:
	return _failure("too_large", (
		"asset %s is %d octets (%s), over the limit of %d octets (%s) set by the project "
		+ "setting %s (or %sN); raise it to load this asset"
	) % [_short(hash), size, String.humanize_size(size), max_bytes,
		String.humanize_size(max_bytes), SETTING_MAX_BYTES, ARG_MAX_BYTES])


func _is_hash(value: String) -> bool:
	return _hash_regex.search(value) != null


# Writes a small file whole: a temporary file, then a rename.
static func _write_atomically(path: String, data: PackedByteArray) -> Error:
	var temp := _temp_path(path)
	var file := FileAccess.open(temp, FileAccess.WRITE)
	if file == null:
		return FileAccess.get_open_error()
	file.store_buffer(data)
	var written := file.get_error()
	file.close()
	if written == OK:
		written = DirAccess.rename_absolute(temp, path)
	if written != OK:
		DirAccess.remove_absolute(temp)
	return written


static func _temp_path(path: String) -> String:
	return "%s.%d-%d.tmp" % [path, OS.get_process_id(), Time.get_ticks_usec()]


# The kind and meta kept beside the cached copy of [param hash]: {kind, meta}, "" and {} when
# there is no such file or it cannot be read (the asset itself is verified by its hash; this is
# only what the backend said of it).
func _read_info(hash: String) -> Dictionary:
	var info := {"kind": "", "meta": {}}
	var path := info_path(hash)
	if not FileAccess.file_exists(path):
		return info
	var parsed: Variant = JSON.parse_string(FileAccess.get_file_as_string(path))
	if parsed is Dictionary and parsed.get("kind") is String and parsed.get("meta") is Dictionary:
		info = {"kind": parsed.kind, "meta": parsed.meta}
	else:
		push_warning("[continuum] ignoring %s: not {kind, meta}" % path)
	return info


static func _failure(code: String, message: String) -> Dictionary:
	return MessageCodec.failure(code, message)


static func _short(hash: String) -> String:
	return hash.left(12)


static func _is_count(value: Variant) -> bool:
	return (typeof(value) == TYPE_INT and value >= 0) or (
		typeof(value) == TYPE_FLOAT and value >= 0.0 and value == floorf(value) and value < 9.0e15)


## One asset being fetched: its layout, its buffer, the chunks in hand, its transfers.
class _Job:
	extends RefCounted

	## The fetch ended: [member outcome] is {} on success, else an error value.
	signal settled
	## Every caller of fetch() for this hash gets this result.
	signal finished(result: Dictionary)

	var hash: String = ""
	var expected: int = -1
	var layout_known: bool = false
	## The asset's kind and meta, from the first asset reply.
	var kind: String = ""
	var meta: Dictionary = {}
	var size: int = 0
	var chunk_bytes: int = 1
	var chunks: int = 0
	var buffer: StreamPeerBuffer
	var received := PackedByteArray()
	var received_count: int = 0
	var hasher := HashingContext.new()
	var hashed_next: int = 0
	var retries: Dictionary = {}  # chunk index -> times it failed its sha256
	var bad: Array[int] = []  # chunks to ask for again
	var refetching: bool = false
	var transfers: Dictionary = {}  # transfer id -> _Transfer
	var progress_ms: int = 0
	var done: bool = false
	var outcome: Dictionary = {}

	## Allocates the buffer for [param p_size] octets in chunks of [param p_chunk_bytes].
	func start(p_size: int, p_chunk_bytes: int) -> void:
		size = p_size
		chunk_bytes = p_chunk_bytes
		chunks = maxi(1, ceili(float(size) / float(chunk_bytes)))  # as chunk_count()
		buffer = StreamPeerBuffer.new()
		buffer.resize(size)
		received.resize(chunks)
		received.fill(0)
		hasher.start(HashingContext.HASH_SHA256)
		layout_known = true

	## Writes a verified chunk at its offset and feeds the whole-asset hash in chunk order.
	func write(index: int, blob: PackedByteArray) -> void:
		buffer.seek(index * chunk_bytes)
		buffer.put_data(blob)
		received[index] = 1
		received_count += 1
		while hashed_next < chunks and received[hashed_next]:
			var length := mini(chunk_bytes, size - hashed_next * chunk_bytes)
			if length > 0 and hashed_next == index:
				hasher.update(blob)
			elif length > 0:
				buffer.seek(hashed_next * chunk_bytes)
				hasher.update(buffer.get_data(length)[1])
			hashed_next += 1


## One asset.get on the backend: its credit and what it still has to send.
class _Transfer:
	extends RefCounted

	var id: int = 0
	var job: _Job
	var window: int = 1
	var outstanding: int = 0
	var remaining: int = 0
