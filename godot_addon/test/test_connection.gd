extends "res://test/test_case.gd"
## LTX2Connection against a fake bridge (a TCPServer in this process): hello with the token,
## the generate bytes, replies split into small TCP writes, refusals, and a closed port.


# The daemon side of one connection: reads client maps, writes frames in small pieces.
class FakeBridge:
	extends RefCounted
	var server := TCPServer.new()
	var peer: StreamPeerTCP = null
	var reader := LTX2FrameReader.new()
	var received: Array[Dictionary] = []

	func listen() -> int:
		if server.listen(0, "127.0.0.1") != OK:
			return 0
		return server.get_local_port()

	func poll() -> void:
		if peer == null and server.is_connection_available():
			peer = server.take_connection()
		if peer == null:
			return
		peer.poll()
		if peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
			return  # The client closed: the socket is gone (asking it for bytes is an error).
		var available := peer.get_available_bytes()
		if available > 0:
			var got: Array = peer.get_partial_data(available)
			reader.feed(got[1])
		while reader.has_frame():
			received.append(LTX2Msgpack.decode(reader.next_frame()).value)

	# Sends maps as frames cut into 7-byte writes, so the client sees partial reads.
	func send(messages: Array) -> void:
		var stream := PackedByteArray()
		for message: Variant in messages:
			stream.append_array(LTX2Msgpack.encode_frame(message))
		for start in range(0, stream.size(), 7):
			peer.put_data(stream.slice(start, start + 7))

	func stop() -> void:
		if peer != null:
			peer.disconnect_from_host()
		server.stop()


func _never() -> bool:
	return false


func _has_received(bridge: FakeBridge, count: int) -> bool:
	return bridge.received.size() >= count


func _connection(port: int, token: String) -> LTX2Connection:
	var connection := LTX2Connection.new()
	connection.address = "127.0.0.1"
	connection.port = port
	connection.token = token
	connection.connect_timeout_s = 2.0
	tree.root.add_child(connection)
	return connection


func _pump(
	bridge: FakeBridge, connection: LTX2Connection, until: Callable, timeout_s: float = 5.0
) -> bool:
	var step := func() -> bool:
		bridge.poll()
		connection.poll()
		return until.call()
	return await wait_until(step, timeout_s)


func test_generate_streams_through_a_bridge() -> void:
	var bridge := FakeBridge.new()
	var port := bridge.listen()
	expect(port > 0, "fake bridge listens")
	var connection := _connection(port, "s3cret")
	var hellos := []
	connection.connected.connect(func(hello: Dictionary) -> void: hellos.append(hello))
	var request := LTX2Requests.cutscene("a gate opens", 64, 64, 9, 3)
	var job := connection.generate(request)
	expect(await _pump(bridge, connection, _has_received.bind(bridge, 1)), "hello arrives")
	var hello: Dictionary = bridge.received[0]
	expect_eq(hello, LTX2Connection.build_hello(int(hello["id"]), "s3cret"))
	expect(bridge.received.size() == 1, "nothing but hello before the daemon answers it")
	bridge.send([{"type": "hello", "id": hello["id"], "protocol_version": 1, "version": "t"}])
	expect(
		await _pump(bridge, connection, _has_received.bind(bridge, 2)),
		"generate arrives after hello"
	)
	expect_eq(bridge.received[1], LTX2Connection.build_generate(job.id, request))
	expect_eq(hellos.size(), 1)
	expect(connection.is_ready(), "ready")
	var pcm := PackedByteArray()
	pcm.resize(100 * 2 * 4)
	var rgb := PackedByteArray()
	rgb.resize(9 * 64 * 64 * 3)
	var fmt := {
		"width": 64,
		"height": 64,
		"num_frames": 9,
		"frame_rate": 24.0,
		"sample_rate": 24000,
		"channels": 2,
		"num_samples": 100,
		"sample_format": 2
	}
	var replies := [
		{"type": "accepted", "id": job.id, "job_id": "j-9", "format": fmt},
		{
			"type": "audio_chunk",
			"id": job.id,
			"job_id": "j-9",
			"first_sample": 0,
			"num_samples": 100,
			"sample_rate": 24000,
			"channels": 2,
			"sample_format": 2,
			"data": pcm
		},
		{
			"type": "video_chunk",
			"id": job.id,
			"job_id": "j-9",
			"first_frame": 0,
			"num_frames": 9,
			"width": 64,
			"height": 64,
			"data": rgb
		},
		{"type": "completed", "id": job.id, "job_id": "j-9", "num_frames": 9, "num_samples": 100},
	]
	bridge.send(replies)
	expect(await _pump(bridge, connection, job.is_done), "job ends")
	expect_eq(job.state, LTX2Job.State.COMPLETED, "%s %s" % [job.error_code, job.error_message])
	expect_eq(job.frames_done, 9)
	job.cancel()  # Finished jobs send nothing.
	await _pump(bridge, connection, _never, 0.3)
	expect_eq(bridge.received.size(), 2)
	connection.queue_free()
	bridge.stop()


func test_cancel_sends_the_generate_id_and_job_id() -> void:
	var bridge := FakeBridge.new()
	var connection := _connection(bridge.listen(), "")
	var job := connection.generate({"prompt": "x"})
	await _pump(bridge, connection, _has_received.bind(bridge, 1))
	var hello: Dictionary = bridge.received[0]
	expect(not hello.has("token"), "no token when none is set")
	bridge.send([{"type": "hello", "id": hello["id"], "protocol_version": 1}])
	await _pump(bridge, connection, _has_received.bind(bridge, 2))
	bridge.send([{"type": "accepted", "id": job.id, "job_id": "j-7", "format": {}}])
	var accepted := func() -> bool: return not job.job_id.is_empty()
	await _pump(bridge, connection, accepted)
	job.cancel()
	await _pump(bridge, connection, _has_received.bind(bridge, 3))
	expect_eq(bridge.received[2], {"type": "cancel", "id": job.id, "job_id": "j-7"})
	var replies := [
		{"type": "cancel", "id": job.id, "found": true},
		{"type": "error", "id": job.id, "job_id": "j-7", "code": "CANCELLED", "message": "bye"},
	]
	bridge.send(replies)
	expect(await _pump(bridge, connection, job.is_done), "job ends")
	expect_eq(job.state, LTX2Job.State.CANCELLED)
	connection.queue_free()
	bridge.stop()


func test_refused_token_fails_the_job_and_stops_retrying() -> void:
	var bridge := FakeBridge.new()
	var connection := _connection(bridge.listen(), "wrong")
	var failures := []
	connection.connection_failed.connect(
		func(code: String, _message: String) -> void: failures.append(code)
	)
	var job := connection.generate({"prompt": "x"})
	await _pump(bridge, connection, _has_received.bind(bridge, 1))
	var hello: Dictionary = bridge.received[0]
	var refusal := {"type": "error", "id": hello["id"], "code": "UNAUTHENTICATED"}
	refusal["message"] = "invalid token"
	bridge.send([refusal])
	expect(await _pump(bridge, connection, job.is_done), "job ends")
	expect_eq(job.error_code, "UNAUTHENTICATED")
	expect_eq(failures, ["UNAUTHENTICATED"])
	var again := connection.generate({"prompt": "y"})
	expect(await wait_until(again.is_done, 0.5), "refused at once, without a new attempt")
	expect_eq(again.error_code, "UNAUTHENTICATED")
	connection.queue_free()
	bridge.stop()


func test_closed_port_fails_the_job_with_unavailable() -> void:
	var bridge := FakeBridge.new()
	var port := bridge.listen()
	bridge.stop()  # Nothing listens there now.
	var connection := _connection(port, "")
	var failures := []
	connection.connection_failed.connect(
		func(code: String, _message: String) -> void: failures.append(code)
	)
	var job := connection.generate({"prompt": "x"})
	expect(await wait_until(job.is_done), "job ends")
	expect_eq(job.error_code, "UNAVAILABLE")
	expect(job.error_message.contains(str(port)), job.error_message)
	expect_eq(failures.slice(0, 1), ["UNAVAILABLE"])
	connection.disconnect_from_daemon()
	connection.queue_free()


func test_cancel_before_sending_drops_the_request() -> void:
	var bridge := FakeBridge.new()
	var connection := _connection(bridge.listen(), "")
	var job := connection.generate({"prompt": "x"})
	job.cancel()
	expect_eq(job.state, LTX2Job.State.CANCELLED)
	await _pump(bridge, connection, _has_received.bind(bridge, 1))
	var hello: Dictionary = bridge.received[0]
	bridge.send([{"type": "hello", "id": hello["id"], "protocol_version": 1}])
	await _pump(bridge, connection, connection.is_ready)
	await _pump(bridge, connection, _never, 0.3)
	expect_eq(bridge.received.size(), 1, "only hello was sent")
	connection.queue_free()
	bridge.stop()
