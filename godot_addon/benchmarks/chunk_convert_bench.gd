extends SceneTree
## Measures what converting streamed chunks costs the main thread at 768x512, 24 fps, 48 kHz
## stereo: per frame (RGB8 bytes -> Image -> ImageTexture.update) and per second of audio
## (PCM bytes -> PackedVector2Array for an AudioStreamGenerator, S16LE and F32LE).
##
##   $GODOT_BIN --headless --path godot_addon -s res://benchmarks/chunk_convert_bench.gd
##
## Headless uses a dummy renderer, so ImageTexture.update() there does not upload to a GPU: run
## it without --headless (a window opens briefly) for the upload cost. Prints one line per
## measurement and a summary of the budget left in a 16.7 ms frame.

const WIDTH := 768
const HEIGHT := 512
const FRAMES := 17  # One streamed chunk (chunk_frames 16, the first chunk's extra frame).
const SAMPLE_RATE := 48000
const REPEATS := 5


func _initialize() -> void:
	var rgb := PackedByteArray()
	rgb.resize(FRAMES * WIDTH * HEIGHT * 3)
	for i in range(0, rgb.size(), 4093):
		rgb[i] = i & 0xff
	var chunk := {
		"first_frame": 0,
		"num_frames": FRAMES,
		"width": WIDTH,
		"height": HEIGHT,
		"frame_format": LTX2Requests.FrameFormat.RGB8,
		"data": rgb,
	}
	var texture := ImageTexture.create_from_image(LTX2ChunkConvert.frame_image(chunk, 0))
	var best_image := INF
	var best_update := INF
	for r in range(REPEATS):
		for i in range(FRAMES):
			var t0 := Time.get_ticks_usec()
			var image := LTX2ChunkConvert.frame_image(chunk, i)
			var t1 := Time.get_ticks_usec()
			texture.update(image)
			var t2 := Time.get_ticks_usec()
			best_image = minf(best_image, t1 - t0)
			best_update = minf(best_update, t2 - t1)
	print(
		(
			"frame_image %dx%d: %.3f ms per frame (best of %d)"
			% [WIDTH, HEIGHT, best_image / 1000.0, REPEATS * FRAMES]
		)
	)
	print(
		(
			"ImageTexture.update %dx%d: %.3f ms per frame (%s renderer)"
			% [WIDTH, HEIGHT, best_update / 1000.0, RenderingServer.get_current_rendering_method()]
		)
	)

	var s16 := PackedByteArray()
	s16.resize(SAMPLE_RATE * 2 * 2)
	var f32 := PackedByteArray()
	f32.resize(SAMPLE_RATE * 2 * 4)
	var best := {"s16": INF, "f32": INF}
	for r in range(REPEATS):
		var t0 := Time.get_ticks_usec()
		LTX2ChunkConvert.pcm_to_frames(s16, LTX2Requests.SampleFormat.S16LE, 2)
		var t1 := Time.get_ticks_usec()
		LTX2ChunkConvert.pcm_to_frames(f32, LTX2Requests.SampleFormat.F32LE, 2)
		var t2 := Time.get_ticks_usec()
		best["s16"] = minf(best["s16"], t1 - t0)
		best["f32"] = minf(best["f32"], t2 - t1)
	for key: String in best:
		print(
			(
				"pcm_to_frames %s, 1 s of %d Hz stereo: %.3f ms"
				% [key, SAMPLE_RATE, float(best[key]) / 1000.0]
			)
		)

	var frame_cost := (best_image + best_update) / 1000.0
	var audio_cost := float(best["f32"]) / 1000.0 / 24.0  # Spread over the 24 frames of 1 s.
	print(
		(
			"per displayed frame at 24 fps: %.3f ms of a 16.7 ms (60 Hz) frame"
			% [frame_cost + audio_cost]
		)
	)
	quit(0)
