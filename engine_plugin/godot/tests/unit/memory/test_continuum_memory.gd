extends "res://tests/test_case.gd"
## Tests of addons/continuum/memory/continuum_memory.gd: finding the session and places on the
## wire without a backend; and against a fake memory backend (fake_memory_backend.gd): records
## added (Vector3 places as [x, y, z], no place left out), queried by text, who, place and time,
## summarised, errors as they come.

const ContinuumMemoryScript = preload("res://addons/continuum/memory/continuum_memory.gd")
const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")
const FakeMemoryBackend = preload("res://tests/unit/memory/fake_memory_backend.gd")

var _memory: ContinuumMemoryScript
var _backend: FakeMemoryBackend
var _session: ContinuumSessionScript


func before_each() -> void:
	_memory = ContinuumMemoryScript.new()
	_memory.name = "Memory"
	_memory.session_path = ^"NoSuchSession"


func after_each() -> void:
	await next_frame()
	if is_instance_valid(_memory):
		_memory.free()
	if is_instance_valid(_session):
		_session.free()
	if is_instance_valid(_backend):
		remove_child(_backend)
		_backend.queue_free()
	_backend = null


func test_missing_session_is_a_configuration_warning() -> void:
	add_child(_memory)
	assert_eq(_memory.get_session(), null)
	assert_eq(_memory._get_configuration_warnings().size(), 1)


func test_default_session_is_the_autoload() -> void:
	_memory.session_path = NodePath()
	add_child(_memory)
	assert_eq(_memory.get_session(), get_node_or_null(^"/root/Continuum"))


func test_without_a_backend_everything_answers_not_connected() -> void:
	add_child(_memory)
	var replies := [
		await _memory.add("guard", "said", "halt"),
		await _memory.query({"text": "halt"}),
		await _memory.summarize(60.0),
	]
	for reply: Dictionary in replies:
		assert_eq([reply.kind, reply.header.code], ["error", "not_connected"])


func test_places_go_out_as_lists_and_come_back_as_vectors() -> void:
	assert_eq(ContinuumMemoryScript.to_wire(Vector3(1.5, -2, 3)), [1.5, -2.0, 3.0])
	assert_eq(ContinuumMemoryScript.to_wire(Vector3i(1, 2, 3)), [1, 2, 3])
	assert_eq(ContinuumMemoryScript.to_wire([1, 2, 3]), [1, 2, 3], "a list as it is")
	assert_eq(ContinuumMemoryScript.to_wire("x"), "x")
	var record := {"id": "m-1", "where": [1.0, 2.0, 3.0]}
	assert_eq(ContinuumMemoryScript.record_position(record), Vector3(1, 2, 3))
	assert_eq(ContinuumMemoryScript.record_position({"record": record, "score": 1.0}),
		Vector3(1, 2, 3), "a query hit")
	assert_eq(ContinuumMemoryScript.record_position({"where": null}), null)
	assert_eq(ContinuumMemoryScript.record_position({"where": [1, "2", 3]}), null)


func test_add_sends_the_record_and_returns_it() -> void:
	await _serve()
	var added := await _memory.add("guard", "said", "The bridge is closed at night.",
		Vector3(1, 0, -2), 0.8)
	assert_eq(added.kind, "memory.add", str(added.header))
	assert_eq(added.header.record.text, "The bridge is closed at night.")
	assert_eq(ContinuumMemoryScript.record_position(added.header.record), Vector3(1, 0, -2))
	var sent: Dictionary = _backend.headers("memory.add")[0]
	assert_eq([sent.who, sent.what, sent.text, sent.where, sent.importance],
		["guard", "said", "The bridge is closed at night.", [1, 0, -2], 0.8])
	var nowhere := await _memory.add("player", "looked_at", "the moon")
	assert_eq(nowhere.header.record.where, null)
	sent = _backend.headers("memory.add")[1]
	assert_false(sent.has("where"), "no place, no field")
	assert_eq(sent.importance, 0.5, "the default importance")
	var refused := await _memory.add("guard", "said", "")
	assert_eq([refused.kind, refused.header.code], ["error", "bad_request"])


func test_query_by_text_place_and_time() -> void:
	await _serve()
	await _memory.add("guard", "said", "The bridge is closed at night.", Vector3(0, 0, 0))
	await _memory.add("merchant", "said", "Apples are cheap today.", Vector3(50, 0, 0))
	await _memory.add("guard", "touched", "the gate", Vector3(2, 0, 0), 0.9)
	var by_text := await _memory.query({"text": "when is the bridge closed", "k": 2})
	assert_eq(by_text.kind, "memory.query", str(by_text.header))
	assert_eq(by_text.header.records.size(), 2, "k")
	assert_eq(by_text.header.records[0].record.text, "The bridge is closed at night.")
	var near := await _memory.query({"near": Vector3(49, 0, 0), "radius": 5.0})
	assert_eq(_memory_texts(near), ["Apples are cheap today."])
	assert_eq(_backend.headers("memory.query")[1].near, [49, 0, 0], "near as a list")
	var guard := await _memory.query({"who": "guard", "what": "touched"})
	assert_eq(_memory_texts(guard), ["the gate"])
	var later := await _memory.query({"since": Time.get_unix_time_from_system() + 3600.0})
	assert_eq(later.header.records, [])
	var unknown := await _memory.query({"colour": "red"})
	assert_eq([unknown.kind, unknown.header.code], ["error", "bad_request"])


func test_summarize_folds_old_records() -> void:
	await _serve()
	await _memory.add("guard", "said", "halt")
	await _memory.add("guard", "said", "who goes there")
	await _memory.add("merchant", "said", "apples")
	var folded := await _memory.summarize(0.0)
	assert_eq(folded.kind, "memory.summarize", str(folded.header))
	assert_eq(int(folded.header.summarized), 3)
	assert_eq(folded.header.summaries.size(), 2, "one per who")
	assert_true(folded.header.summaries.all(func(r: Dictionary) -> bool: return r.summary))
	var sent: Dictionary = _backend.headers("memory.summarize")[0]
	assert_eq([sent.older_than_s, sent.group_by], [0, "who"])
	await _memory.summarize(0.0, "what")
	assert_eq(_backend.headers("memory.summarize")[1].group_by, "what")
	var refused := await _memory.summarize(0.0, "where")
	assert_eq(refused.header.code, "bad_request")


func _serve() -> void:
	_backend = FakeMemoryBackend.new()
	add_child(_backend)
	_backend.listen()
	_session = ContinuumSessionScript.new()
	_session.name = "Session"
	_session.auto_connect = false
	_session.ping_interval_s = 0.0
	add_child(_session)
	_memory.session_path = ^"../Session"
	add_child(_memory)
	_session.connect_to_backend("127.0.0.1", _backend.router.port)
	assert_true(await wait_until(_session.is_backend_connected), "connected")


static func _memory_texts(reply: Dictionary) -> Array:
	return reply.header.get("records", []).map(func(hit: Dictionary) -> String: return (
		hit.record.text))
