extends SceneTree
## Measures what streamed chunks cost the main thread, at 768x512 and 1280x736 with 24-frame
## chunks, 48 kHz stereo audio: per frame, RGB8 bytes -> Image -> ImageTexture (what
## LTX2CutscenePlayer does for every frame it shows), and per chunk, PCM bytes -> frames pushed
## into an AudioStreamGenerator (what it does for every AudioChunk), F32LE and S16LE.
##
##   DISPLAY=:99 $GODOT_BIN --path godot_addon --rendering-driver opengl3 \
##       -s res://benchmarks/chunk_convert_bench.gd
##
## Run it rendered (a window, or Xvfb): headless uses a dummy renderer whose ImageTexture.update()
## uploads nothing. Prints one "BENCH {json}" line per size and a table; medians of REPEATS
## passes over a chunk. Frames are shown through the cutscene player's own path
## (LTX2ChunkConvert.frame_image, then update() of one reused texture).

const SIZES := [[768, 512], [1280, 736]]
const CHUNK_FRAMES := 24
const SAMPLE_RATE := 48000
const FPS := 24.0
const REPEATS := 3


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	# Let the window and the renderer come up before timing uploads.
	for i in range(5):
		await process_frame
	print("renderer: %s" % RenderingServer.get_current_rendering_method())
	for size: Array in SIZES:
		var result := await _frames(int(size[0]), int(size[1]))
		result.merge(_audio())
		print("BENCH ", JSON.stringify(result))
	for i in range(10):  # Let the mixer let go of the stopped players before quitting.
		await process_frame
	quit(0)


func _median(values: Array[float]) -> float:
	values.sort()
	return values[values.size() / 2]


func _frames(width: int, height: int) -> Dictionary:
	var rgb := PackedByteArray()
	rgb.resize(CHUNK_FRAMES * width * height * 3)
	for i in range(0, rgb.size(), 4093):
		rgb[i] = i & 0xff
	var chunk := {
		"first_frame": 0,
		"num_frames": CHUNK_FRAMES,
		"width": width,
		"height": height,
		"frame_format": LTX2Requests.FrameFormat.RGB8,
		"data": rgb,
	}
	var texture := ImageTexture.create_from_image(LTX2ChunkConvert.frame_image(chunk, 0))
	var screen := TextureRect.new()
	screen.texture = texture
	root.add_child(screen)  # On screen, so that the uploads are drawn.
	var image_ms: Array[float] = []
	var update_ms: Array[float] = []
	for r in range(REPEATS):
		for i in range(CHUNK_FRAMES):
			var t0 := Time.get_ticks_usec()
			var image := LTX2ChunkConvert.frame_image(chunk, i)
			var t1 := Time.get_ticks_usec()
			texture.update(image)
			var t2 := Time.get_ticks_usec()
			image_ms.append((t1 - t0) / 1000.0)
			update_ms.append((t2 - t1) / 1000.0)
			await process_frame
	screen.queue_free()
	return {
		"size": "%dx%d" % [width, height],
		"frame_image_ms": _median(image_ms),
		"texture_update_ms": _median(update_ms),
		"frame_ms": _median(image_ms) + _median(update_ms),
	}


# One chunk of audio: CHUNK_FRAMES / FPS seconds, converted and pushed into a generator.
func _audio() -> Dictionary:
	var samples := int(SAMPLE_RATE * CHUNK_FRAMES / FPS)
	var out := {}
	for format: int in [LTX2Requests.SampleFormat.F32LE, LTX2Requests.SampleFormat.S16LE]:
		var pcm := PackedByteArray()
		pcm.resize(samples * 2 * (4 if format == LTX2Requests.SampleFormat.F32LE else 2))
		var chunk := {"data": pcm, "sample_format": format, "channels": 2}
		var convert_ms: Array[float] = []
		var push_ms: Array[float] = []
		for r in range(REPEATS):
			var generator := AudioStreamGenerator.new()
			generator.mix_rate = SAMPLE_RATE
			generator.buffer_length = 2.0  # Room for a whole chunk: one push_buffer.
			var player := AudioStreamPlayer.new()
			player.stream = generator
			root.add_child(player)
			player.play()
			var feeder := LTX2PcmFeeder.new()
			feeder.attach(player.get_stream_playback() as AudioStreamGeneratorPlayback)
			var t0 := Time.get_ticks_usec()
			var frames := LTX2ChunkConvert.audio_frames(chunk)
			var t1 := Time.get_ticks_usec()
			feeder.append(frames)
			feeder.pump()
			var t2 := Time.get_ticks_usec()
			convert_ms.append((t1 - t0) / 1000.0)
			push_ms.append((t2 - t1) / 1000.0)
			player.stop()
			player.queue_free()
		var name := "f32" if format == LTX2Requests.SampleFormat.F32LE else "s16"
		out["pcm_%s_convert_ms_per_chunk" % name] = _median(convert_ms)
		out["pcm_%s_push_ms_per_chunk" % name] = _median(push_ms)
	return out
