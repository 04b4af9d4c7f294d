extends "res://test/test_case.gd"
## Chunk conversion, WAV, clips and their atomic baking, and the foley cache key.

const TEST_DIR := "user://ltx2_tests"


func _f32_bytes(values: Array) -> PackedByteArray:
	return PackedFloat32Array(values).to_byte_array()


func test_f32_stereo_to_frames() -> void:
	var frames := LTX2ChunkConvert.pcm_to_frames(_f32_bytes([0.5, -0.5, 1.0, 0.25]), 2, 2)
	expect_eq(frames, PackedVector2Array([Vector2(0.5, -0.5), Vector2(1.0, 0.25)]))


func test_s16_to_frames_and_mono_doubles() -> void:
	var data := PackedByteArray()
	data.resize(8)
	data.encode_s16(0, 16384)
	data.encode_s16(2, -32768)
	data.encode_s16(4, 0)
	data.encode_s16(6, 32767)
	var stereo := LTX2ChunkConvert.pcm_to_frames(data, 1, 2)
	expect_eq(stereo, PackedVector2Array([Vector2(0.5, -1.0), Vector2(0.0, 32767.0 / 32768.0)]))
	var mono := LTX2ChunkConvert.pcm_to_frames(data.slice(0, 4), 1, 1)
	expect_eq(mono, PackedVector2Array([Vector2(0.5, 0.5), Vector2(-1.0, -1.0)]))
	var chunk := {"data": data, "sample_format": 1, "channels": 2}
	expect_eq(LTX2ChunkConvert.audio_frames(chunk), stereo)


func test_f32_to_s16_clamps() -> void:
	var s16 := LTX2ChunkConvert.pcm_to_s16(_f32_bytes([1.0, -2.0, 0.0, 0.5]), 2)
	expect_eq(s16.size(), 8)
	expect_eq(s16.decode_s16(0), 32767)
	expect_eq(s16.decode_s16(2), -32767)
	expect_eq(s16.decode_s16(4), 0)
	expect_eq(s16.decode_s16(6), 16383)
	var raw := PackedByteArray([1, 2, 3, 4])
	expect_eq(LTX2ChunkConvert.pcm_to_s16(raw, 1), raw, "S16LE passes through")


func test_frame_image_picks_the_right_frame() -> void:
	var rgb := PackedByteArray()
	rgb.resize(3 * 2 * 2 * 3)  # 3 frames of 2x2
	for frame in range(3):
		for pixel in range(4):
			rgb[(frame * 4 + pixel) * 3] = 100 + frame
	var chunk := {"first_frame": 9, "num_frames": 3, "width": 2, "height": 2, "data": rgb}
	var image := LTX2ChunkConvert.frame_image(chunk, 2)
	expect_eq(image.get_size(), Vector2i(2, 2))
	expect_eq(image.get_format(), Image.FORMAT_RGB8)
	expect_eq(image.get_pixel(1, 1).r8, 102)
	expect(LTX2ChunkConvert.frame_image(chunk, 3) == null, "index past the chunk")
	var short := chunk.duplicate()
	short["data"] = rgb.slice(0, 20)
	expect(LTX2ChunkConvert.frame_image(short, 1) == null, "data too short")


func test_wav_round_trip_through_a_file() -> void:
	var pcm := PackedByteArray()
	pcm.resize(400)
	for i in range(pcm.size()):
		pcm[i] = (i * 13) & 0xff
	var sound := LTX2Wav.from_s16(pcm, 24000, 2)
	var path := TEST_DIR.path_join("round_trip.wav")
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path(TEST_DIR))
	expect_eq(LTX2Wav.save_atomic(sound, path), OK)
	var loaded := LTX2Wav.load_file(path)
	expect(loaded != null, "loads")
	if loaded != null:
		expect_eq(loaded.data, pcm)
		expect_eq(loaded.mix_rate, 24000)
		expect_eq(loaded.stereo, true)
		expect_eq(loaded.format, AudioStreamWAV.FORMAT_16_BITS)
	expect_eq(_leftover_temp_files(), [])


func test_wav_parser_refuses_other_formats() -> void:
	expect(LTX2Wav.parse(PackedByteArray()) == null, "empty")
	expect(LTX2Wav.parse("RIFF0000WAVE".to_ascii_buffer()) == null, "no chunks")
	expect(LTX2Wav.load_file(TEST_DIR.path_join("missing.wav")) == null, "missing file")


func test_clip_validate_names_the_problem() -> void:
	var clip := _clip(3)
	expect_eq(clip.validate(), "")
	clip.frames = clip.frames.slice(1)
	expect(clip.validate().contains("need 36"), clip.validate())


func test_bake_writes_res_wav_json_atomically() -> void:
	var clip := _clip(3)
	var path := TEST_DIR.path_join("baked/gate.res")
	expect_eq(LTX2ClipBaker.bake(clip, path), OK)
	var loaded: LTX2Clip = ResourceLoader.load(path, "", ResourceLoader.CACHE_MODE_IGNORE)
	expect(loaded != null, "loads back")
	if loaded != null:
		expect_eq(loaded.frames, clip.frames)
		expect_eq(loaded.num_frames, 3)
		expect_eq(loaded.prompt, "a gate opens")
		expect_eq(loaded.generation_seed, 42)
		expect_eq(loaded.request, {"prompt": "a gate opens", "seed": 42})
		expect_eq(loaded.audio.data, clip.audio.data)
		expect_eq(loaded.frame_image(2).get_pixel(0, 0).r8, 2)
	expect_eq(LTX2Wav.load_file(TEST_DIR.path_join("baked/gate.wav")).data, clip.audio.data)
	var json: Variant = JSON.parse_string(
		FileAccess.get_file_as_string(TEST_DIR.path_join("baked/gate.json"))
	)
	expect(json is Dictionary and json["prompt"] == "a gate opens", "sidecar: %s" % [json])
	expect_eq(_leftover_temp_files("baked"), [])
	expect_engine_error("gate.tres must end in .res")
	expect_eq(LTX2ClipBaker.bake(clip, TEST_DIR.path_join("baked/gate.tres")), ERR_FILE_BAD_PATH)
	var broken := _clip(2)
	broken.num_frames = 5
	expect_engine_error("cannot bake user://ltx2_tests/baked/gate.res: frames holds 24 bytes")
	expect_eq(LTX2ClipBaker.bake(broken, path), ERR_INVALID_DATA)


func test_recorder_builds_the_clip_from_chunks() -> void:
	var job := LTX2Job.new(1, {"prompt": "p"})
	var recorder := LTX2ClipRecorder.new(job)
	var fmt := {
		"width": 2,
		"height": 2,
		"num_frames": 2,
		"frame_rate": 12.0,
		"sample_rate": 8000,
		"channels": 2,
		"num_samples": 2,
		"seed": 5
	}
	job.handle_message({"type": "accepted", "job_id": "j", "format": fmt})
	job.handle_message(
		{
			"type": "audio_chunk",
			"first_sample": 0,
			"num_samples": 2,
			"sample_rate": 8000,
			"channels": 2,
			"sample_format": 2,
			"data": _f32_bytes([0.5, 0.5, -0.5, -0.5])
		}
	)
	var rgb := PackedByteArray()
	rgb.resize(2 * 2 * 2 * 3)
	job.handle_message(
		{
			"type": "video_chunk",
			"first_frame": 0,
			"num_frames": 2,
			"width": 2,
			"height": 2,
			"data": rgb
		}
	)
	expect(recorder.clip == null, "no clip before completed")
	job.handle_message({"type": "completed", "seed": 5, "num_frames": 2, "num_samples": 2})
	var clip := recorder.clip
	expect(clip != null, "clip after completed")
	if clip != null:
		expect_eq(clip.validate(), "")
		expect_eq(clip.generation_seed, 5)
		expect_eq(clip.request, {"prompt": "p", "seed": 5})
		expect_eq(clip.audio.mix_rate, 8000)
		expect_eq(clip.audio.data.size(), 8)
		expect_eq(clip.audio.data.decode_s16(0), 16383)
		expect_eq(clip.frame_rate, 12.0)


func test_foley_cache_key_ignores_priority_and_tags_only() -> void:
	var request := LTX2Requests.foley("a door slams", 1.0, 1, "door")
	var key := LTX2FoleyPlayer.cache_key(request)
	expect_eq(key.length(), 32)
	var batch := request.duplicate()
	batch["priority"] = LTX2Requests.Priority.BATCH
	batch["tags"] = {"event": "other"}
	expect_eq(LTX2FoleyPlayer.cache_key(batch), key)
	var other_seed := LTX2Requests.foley("a door slams", 1.0, 2, "door")
	expect(LTX2FoleyPlayer.cache_key(other_seed) != key, "seed changes the sound")
	var longer := LTX2Requests.foley("a door slams", 2.0, 1, "door")
	expect(LTX2FoleyPlayer.cache_key(longer) != key, "duration changes the sound")


func test_foley_fills_templates() -> void:
	var foley := LTX2FoleyPlayer.new()
	foley.templates = {"hit": "a {material} {thing} hits {surface}"}
	var prompt := foley.prompt_for("hit", {"material": "steel", "thing": "pipe", "surface": "mud"})
	expect_eq(prompt, "a steel pipe hits mud")
	expect_eq(foley.prompt_for("unknown"), "")
	var request := foley.request_for("hit", {"material": "oak", "thing": "log", "surface": "ice"})
	expect_eq(request["priority"], LTX2Requests.Priority.REALTIME)
	expect_eq(request["mode"], LTX2Requests.Mode.AUDIO_ONLY)
	expect(not request.has("audio_only") and not request.has("width"), "sound alone: no size")
	foley.free()


func _clip(frames: int) -> LTX2Clip:
	var clip := LTX2Clip.new()
	clip.width = 2
	clip.height = 2
	clip.num_frames = frames
	clip.frame_rate = 24.0
	var rgb := PackedByteArray()
	rgb.resize(frames * 12)
	for i in range(frames):
		rgb[i * 12] = i
	clip.frames = rgb
	var pcm := PackedByteArray()
	pcm.resize(96)
	pcm[5] = 7
	clip.audio = LTX2Wav.from_s16(pcm, 24000, 2)
	clip.prompt = "a gate opens"
	clip.generation_seed = 42
	clip.request = {"prompt": "a gate opens", "seed": 42}
	return clip


func _leftover_temp_files(sub: String = "") -> Array:
	var left := []
	for file in DirAccess.get_files_at(TEST_DIR.path_join(sub)):
		if file.contains(".tmp"):
			left.append(file)
	return left
