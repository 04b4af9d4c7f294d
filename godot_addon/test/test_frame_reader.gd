extends "res://test/test_case.gd"
## LTX2FrameReader: frames cut out of a byte stream that arrives in arbitrary pieces.


func _frames(bodies: Array) -> PackedByteArray:
	var stream := PackedByteArray()
	for body: Variant in bodies:
		stream.append_array(LTX2Msgpack.encode_frame(body))
	return stream


func _drain(reader: LTX2FrameReader) -> Array:
	var out := []
	while reader.has_frame():
		out.append(LTX2Msgpack.decode(reader.next_frame()).value)
	return out


func test_one_byte_at_a_time() -> void:
	var messages := [{"type": "hello", "id": 1}, {"type": "pong", "id": 2, "x": "y".repeat(300)}]
	var stream := _frames(messages)
	var reader := LTX2FrameReader.new()
	var got := []
	for i in range(stream.size()):
		reader.feed(stream.slice(i, i + 1))
		got.append_array(_drain(reader))
		if i < 3:
			expect(not reader.has_frame(), "no frame from a partial length prefix")
	expect_eq(got, messages)
	expect_eq(reader.pending_bytes(), 0)


func test_many_frames_in_one_read_and_a_frame_split_over_reads() -> void:
	var messages := []
	for i in range(50):
		messages.append({"type": "progress", "id": i, "step": i})
	var stream := _frames(messages)
	var reader := LTX2FrameReader.new()
	var got := []
	var cut := [0, 1, 4, 5, 17, 400, 401, stream.size() - 2, stream.size()]
	for i in range(cut.size() - 1):
		reader.feed(stream.slice(cut[i], cut[i + 1]))
		got.append_array(_drain(reader))
	expect_eq(got, messages)


func test_large_frame_arrives_whole() -> void:
	var data := PackedByteArray()
	data.resize(3 * 1024 * 1024)
	data[data.size() - 1] = 42
	var stream := _frames([{"type": "video_chunk", "data": data}])
	var reader := LTX2FrameReader.new()
	for start in range(0, stream.size(), 65536):
		reader.feed(stream.slice(start, start + 65536))
	var got := _drain(reader)
	expect_eq(got.size(), 1)
	var chunk: Dictionary = got[0]
	expect_eq(chunk["data"].size(), data.size())
	expect_eq(chunk["data"][data.size() - 1], 42)


func test_empty_frame_is_returned_as_empty_payload() -> void:
	var reader := LTX2FrameReader.new()
	reader.feed(PackedByteArray([0, 0, 0, 0]))
	expect(reader.has_frame(), "a zero-length frame is a frame")
	expect_eq(reader.next_frame(), PackedByteArray())
	expect(not LTX2Msgpack.decode(PackedByteArray()).ok(), "and it is not a valid map")


func test_length_over_the_limit_is_an_error() -> void:
	var reader := LTX2FrameReader.new()
	reader.max_frame_bytes = 1000
	reader.feed(PackedByteArray([0, 0, 0x03, 0xe9, 1, 2]))
	expect(not reader.has_frame(), "no frame")
	expect(reader.error.contains("1001"), reader.error)
	reader.reset()
	expect_eq(reader.error, "")
