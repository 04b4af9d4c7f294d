extends "res://test/test_case.gd"
## LTX2FoleyPlayer without a daemon: every play_event ends in played or failed, after the call
## returns (await works), from the memory cache without a request, or failing with UNAVAILABLE.

const TEST_DIR := "user://ltx2_tests/foley"


func _foley(port: int) -> LTX2FoleyPlayer:
	var connection := LTX2Connection.new()
	connection.address = "127.0.0.1"
	connection.port = port
	connection.connect_timeout_s = 1.0
	tree.root.add_child(connection)
	var foley := LTX2FoleyPlayer.new()
	foley.connection = connection
	foley.disk_cache = false
	foley.templates = {"hit": "a {material} hit"}
	tree.root.add_child(foley)
	return foley


func _closed_port() -> int:
	var server := TCPServer.new()
	server.listen(0, "127.0.0.1")
	var port := server.get_local_port()
	server.stop()
	return port


func _free(foley: LTX2FoleyPlayer) -> void:
	foley.connection.disconnect_from_daemon()
	foley.connection.queue_free()
	foley.queue_free()
	await settle()


func test_cached_sound_plays_after_the_call_with_no_request() -> void:
	var foley := _foley(_closed_port())
	var request := foley.request_for("hit", {"material": "oak"})
	var pcm := PackedByteArray()
	pcm.resize(2400 * 4)  # 0.1 s of 24 kHz stereo silence
	LTX2FoleyPlayer._memory[LTX2FoleyPlayer.cache_key(request)] = LTX2Wav.from_s16(pcm, 24000, 2)
	var played := []
	foley.played.connect(func(event: String, hit: bool) -> void: played.append([event, hit]))
	foley.play_event("hit", {"material": "oak"})
	expect_eq(played, [], "not inside play_event()")
	var outcome: Array = await foley.played
	expect_eq(outcome, ["hit", true])
	expect_eq(foley.connection.requests_made, 0, "no request for a cached sound")
	expect_eq(foley.connection.get_status(), LTX2Connection.Status.DISCONNECTED)
	LTX2FoleyPlayer.clear_memory_cache()
	var ended := func() -> bool: return foley.get_child_count(true) == 0
	expect(await wait_until(ended, 2.0), "the voice is freed when its sound ends")
	await _free(foley)


func test_daemon_down_fails_every_waiting_play() -> void:
	var foley := _foley(_closed_port())
	var failures := []
	foley.failed.connect(
		func(e: String, code: String, _m: String) -> void: failures.append([e, code])
	)
	foley.play_event("hit", {"material": "iron"})
	foley.play_event("hit", {"material": "iron"})  # Joins the same pending sound.
	expect_eq(foley.connection.requests_made, 1, "one request for both")
	expect_eq(failures, [], "not inside play_event()")
	await wait_until(func() -> bool: return failures.size() >= 2, 5.0)
	expect_eq(failures, [["hit", "UNAVAILABLE"], ["hit", "UNAVAILABLE"]])
	expect_eq(LTX2FoleyPlayer.pending_count(), 0)
	await _free(foley)


func test_unknown_event_and_too_many_voices_fail_after_the_call() -> void:
	var foley := _foley(_closed_port())
	foley.max_voices = 0
	var failures := []
	foley.failed.connect(
		func(e: String, code: String, _m: String) -> void: failures.append([e, code])
	)
	expect_engine_error("no template for event 'nope'")
	foley.play_event("nope")
	foley.play_event("hit")
	expect_eq(failures, [])
	await settle()
	expect_eq(failures, [["nope", "INVALID_ARGUMENT"], ["hit", "RESOURCE_EXHAUSTED"]])
	expect_eq(foley.connection.requests_made, 0)
	await _free(foley)
