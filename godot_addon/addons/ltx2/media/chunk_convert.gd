@tool
class_name LTX2ChunkConvert
extends RefCounted
## Turns bridge chunks into what Godot plays: audio frames for an [AudioStreamGenerator],
## [Image]s for an [ImageTexture], 16-bit PCM for an [AudioStreamWAV].
##
## These run on the main thread for every chunk, so they use one native call where Godot has
## one ([method PackedByteArray.to_float32_array], [method Image.create_from_data]) and a single
## tight loop where it has none. [code]benchmarks/chunk_convert_bench.gd[/code] measures them.

const _S16_SCALE := 1.0 / 32768.0


## Audio frames (left, right) of an AudioChunk map; mono is duplicated to both sides.
static func audio_frames(chunk: Dictionary) -> PackedVector2Array:
	return pcm_to_frames(
		chunk.get("data", PackedByteArray()),
		int(chunk.get("sample_format", LTX2Requests.SampleFormat.S16LE)),
		maxi(1, int(chunk.get("channels", 2)))
	)


## Interleaved PCM (S16LE, or F32LE) to stereo frames. Channels past the second are dropped.
@warning_ignore("integer_division")
static func pcm_to_frames(
	data: PackedByteArray, sample_format: int, channels: int
) -> PackedVector2Array:
	var out := PackedVector2Array()
	if sample_format == LTX2Requests.SampleFormat.F32LE and channels == 2:
		var direct := _f32_stereo_frames(data)
		if direct.size() * 8 == data.size():
			return direct
	if sample_format == LTX2Requests.SampleFormat.F32LE:
		var samples := data.to_float32_array()
		var n := samples.size() / channels
		out.resize(n)
		if channels == 1:
			for i in range(n):
				out[i] = Vector2(samples[i], samples[i])
		else:
			for i in range(n):
				var j := i * channels
				out[i] = Vector2(samples[j], samples[j + 1])
	else:
		var stride := 2 * channels
		var n := data.size() / stride
		out.resize(n)
		var right_offset := 2 if channels > 1 else 0
		for i in range(n):
			var j := i * stride
			out[i] = Vector2(
				data.decode_s16(j) * _S16_SCALE, data.decode_s16(j + right_offset) * _S16_SCALE
			)
	return out


# Interleaved float32 stereo is laid out as a PackedVector2Array already (x = left, y = right):
# decode it in one native call through Godot's own Variant encoding (a type word and a count,
# then the pairs) instead of a GDScript loop over every sample (1.8 ms instead of 4.5-8.6 ms for a
# second at 48 kHz, benchmarks/chunk_convert_bench.gd). Empty when
# the engine is built with double-precision vectors, whose encoding differs: the loop is used.
@warning_ignore("integer_division")
static func _f32_stereo_frames(data: PackedByteArray) -> PackedVector2Array:
	var header := PackedByteArray()
	header.resize(8)
	header.encode_u32(0, TYPE_PACKED_VECTOR2_ARRAY)
	header.encode_u32(4, data.size() / 8)
	var decoded: Variant = bytes_to_var(header + data)
	return decoded if decoded is PackedVector2Array else PackedVector2Array()


## Interleaved PCM as 16-bit little-endian bytes (what [member AudioStreamWAV.data] holds):
## S16LE is returned as is, F32LE is clamped and scaled.
static func pcm_to_s16(data: PackedByteArray, sample_format: int) -> PackedByteArray:
	if sample_format != LTX2Requests.SampleFormat.F32LE:
		return data
	var samples := data.to_float32_array()
	var out := PackedByteArray()
	out.resize(samples.size() * 2)
	for i in range(samples.size()):
		out.encode_s16(2 * i, int(clampf(samples[i], -1.0, 1.0) * 32767.0))
	return out


## Number of frames in a VideoChunk map.
static func frame_count(chunk: Dictionary) -> int:
	return int(chunk.get("num_frames", 0))


## Frame [param index] (counted from the chunk's first frame) of a VideoChunk map as an image,
## or null when the chunk does not hold it.
static func frame_image(chunk: Dictionary, index: int) -> Image:
	if index < 0 or index >= frame_count(chunk):
		return null
	var width := int(chunk.get("width", 0))
	var height := int(chunk.get("height", 0))
	if int(chunk.get("frame_format", 1)) == LTX2Requests.FrameFormat.JPEG:
		var jpegs: Array = chunk.get("jpeg_frames", [])
		var image := Image.new()
		if index >= jpegs.size() or image.load_jpg_from_buffer(jpegs[index]) != OK:
			return null
		return image
	var data: PackedByteArray = chunk.get("data", PackedByteArray())
	var size := width * height * 3
	if width <= 0 or height <= 0 or data.size() < (index + 1) * size:
		return null
	var pixels := data.slice(index * size, (index + 1) * size)
	return Image.create_from_data(width, height, false, Image.FORMAT_RGB8, pixels)


## The latent preview of a Progress map as an image, or null when it has none.
static func preview_image(progress: Dictionary) -> Image:
	var width := int(progress.get("preview_width", 0))
	var height := int(progress.get("preview_height", 0))
	var data: PackedByteArray = progress.get("preview_rgb", PackedByteArray())
	if width <= 0 or height <= 0 or data.size() != width * height * 3:
		return null
	return Image.create_from_data(width, height, false, Image.FORMAT_RGB8, data)
