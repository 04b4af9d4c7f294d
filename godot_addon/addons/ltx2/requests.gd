@tool
class_name LTX2Requests
extends RefCounted
## Builders for GenerateRequest maps, and the wire enums by their proto numbers.
##
## A request is a Dictionary whose keys are the proto field names of GenerateRequest
## (protos/ltx2d/v1/ltx2d.proto); an absent key takes the daemon's default. Integer fields must
## be GDScript ints (a float is sent as a msgpack float). Key order is the order the builders
## insert, which fixes the bytes on the wire (tests pin them).

## Scheduling class (proto Priority).
enum Priority { UNSPECIFIED = 0, REALTIME = 1, INTERACTIVE = 2, BATCH = 3 }
## PCM encoding (proto SampleFormat).
enum SampleFormat { UNSPECIFIED = 0, S16LE = 1, F32LE = 2 }
## Frame encoding (proto FrameFormat).
enum FrameFormat { UNSPECIFIED = 0, RGB8 = 1, JPEG = 2 }
## Generation phase of Progress (proto Phase).
enum Phase { UNSPECIFIED = 0, QUEUED = 1, ENCODING = 2, DENOISING = 3, DECODING = 4, PAUSED = 5 }
## What a request generates, and from what (proto GenerationMode; docs/modes.md).
enum Mode {
	UNSPECIFIED = 0,
	TEXT_TO_AUDIO_VIDEO = 1,
	AUDIO_ONLY = 2,
	VIDEO_TO_AUDIO = 3,
	AUDIO_TO_VIDEO = 4,
}


## A foley request: sound alone (mode AUDIO_ONLY: next to no video work), REALTIME, as 16-bit PCM
## (which an AudioStreamWAV holds without conversion). [param seed_value] below 0 lets the
## daemon pick one.
static func foley(prompt: String, duration_s: float, seed_value: int, event: String) -> Dictionary:
	var request := {"prompt": prompt, "mode": Mode.AUDIO_ONLY, "duration_s": duration_s}
	if seed_value >= 0:
		request["seed"] = seed_value
	request["priority"] = Priority.REALTIME
	request["sample_format"] = SampleFormat.S16LE
	if not event.is_empty():
		request["tags"] = {"event": event}
	return request


## Sound for frames (mode VIDEO_TO_AUDIO): [param rgb] holds whole RGB8 frames of
## [param width] x [param height], frame after frame, at [param frame_rate]; the sound comes back
## with exactly their duration, as 16-bit PCM at REALTIME priority. The daemon encodes the frames
## at their own size scaled to fit its default size (multiples of 32).
static func video_to_audio(
	prompt: String,
	rgb: PackedByteArray,
	width: int,
	height: int,
	frame_rate: float,
	seed_value: int = -1
) -> Dictionary:
	var request := {
		"prompt": prompt,
		"mode": Mode.VIDEO_TO_AUDIO,
		"video_input": {
			"frames": {"width": width, "height": height, "frame_rate": frame_rate, "rgb": rgb},
		},
	}
	if seed_value >= 0:
		request["seed"] = seed_value
	request["priority"] = Priority.REALTIME
	request["sample_format"] = SampleFormat.S16LE
	return request


## A cutscene driven by a sound (mode AUDIO_TO_VIDEO): [param line] (an [AudioStreamWAV] of 8- or
## 16-bit PCM, or an [AudioStreamMP3]) is held as the clip's sound and the frames follow it; the
## stream's audio is the line itself. Empty when [param line] is of another kind (see
## [method sound_input]).
static func dialogue(
	prompt: String, line: AudioStream, width: int = 768, height: int = 512, seed_value: int = -1
) -> Dictionary:
	var sound := sound_input(line)
	if sound.is_empty():
		return {}
	var request := {
		"prompt": prompt,
		"mode": Mode.AUDIO_TO_VIDEO,
		"audio_input": sound,
		"width": width,
		"height": height,
	}
	if seed_value >= 0:
		request["seed"] = seed_value
	request["priority"] = Priority.INTERACTIVE
	request["sample_format"] = SampleFormat.F32LE
	return request


## The audio_input map of [param line]: raw PCM from an [AudioStreamWAV] (8- or 16-bit, mono or
## stereo), the file's bytes from an [AudioStreamMP3]; empty for other streams (an Ogg Vorbis
## stream keeps no file bytes: convert the line to WAV or MP3 on import).
static func sound_input(line: AudioStream) -> Dictionary:
	if line is AudioStreamMP3:
		return {"file": (line as AudioStreamMP3).data}
	if not line is AudioStreamWAV:
		return {}
	var wav := line as AudioStreamWAV
	var data := wav.data
	if wav.format == AudioStreamWAV.FORMAT_8_BITS:
		# Godot keeps 8-bit WAV as signed bytes; widen them to 16-bit.
		var wide := PackedByteArray()
		wide.resize(data.size() * 2)
		for i in range(data.size()):
			wide.encode_s16(i * 2, (data.decode_s8(i)) * 256)
		data = wide
	elif wav.format != AudioStreamWAV.FORMAT_16_BITS:
		return {}
	return {
		"pcm": {
			"sample_rate": wav.mix_rate,
			"channels": 2 if wav.stereo else 1,
			"sample_format": SampleFormat.S16LE,
			"data": data,
		}
	}


## A cutscene request: video and audio, float PCM (cheapest to feed an AudioStreamGenerator).
## [param seed_value] below 0 lets the daemon pick one.
static func cutscene(
	prompt: String,
	width: int = 768,
	height: int = 512,
	num_frames: int = 121,
	seed_value: int = -1,
	priority: Priority = Priority.INTERACTIVE
) -> Dictionary:
	var request := {"prompt": prompt, "width": width, "height": height, "num_frames": num_frames}
	if seed_value >= 0:
		request["seed"] = seed_value
	request["priority"] = priority
	request["sample_format"] = SampleFormat.F32LE
	return request


## [param request] (a copy) with its length left to the model: a checkpoint with a duration head
## (LTX-2.5, the daemon's info lists "auto_duration") chooses it from the prompt, within
## [param min_seconds], [param max_seconds] (0: the daemon's default for that end). The job's
## [signal LTX2Job.accepted] says the length chosen; it comes once the model has chosen.
static func with_chosen_length(
	request: Dictionary, min_seconds: float = 0.0, max_seconds: float = 0.0
) -> Dictionary:
	var out := request.duplicate()
	out.erase("num_frames")
	out.erase("duration_s")
	if min_seconds > 0.0:
		out["min_seconds"] = min_seconds
	if max_seconds > 0.0:
		out["max_seconds"] = max_seconds
	if min_seconds <= 0.0 and max_seconds <= 0.0:
		# One end must be sent to ask; the upper one's default is the longest the daemon allows.
		out["min_seconds"] = 1.0
	return out


## [param value] rounded to the nearest multiple of 32 (LTX-2's size rule), at least 64.
static func snap_size(value: int) -> int:
	return maxi(64, int(round(value / 32.0)) * 32)


## A keyframe map (proto Condition) of [param image]: scaled to cover [param width] x
## [param height] (each rounded to a multiple of 32, see [method snap_size]), aspect kept, then
## centre-cropped, and sent as raw RGB8 pixels. [param strength] 1 holds it as given (0: not at
## all); [param crf] below 0 takes the model's H.264 round trip, 0 skips it.
## [param frame] places it at that pixel frame (0: the clip starts from it).
static func image_input(
	image: Image, width: int, height: int, strength: float = 1.0, crf: int = -1, frame: int = 0
) -> Dictionary:
	var size := Vector2i(snap_size(width), snap_size(height))
	var picture := image.duplicate() as Image
	picture.convert(Image.FORMAT_RGB8)
	var scale := maxf(float(size.x) / picture.get_width(), float(size.y) / picture.get_height())
	var cover := Vector2i(
		maxi(size.x, ceili(picture.get_width() * scale)),
		maxi(size.y, ceili(picture.get_height() * scale)),
	)
	picture.resize(cover.x, cover.y, Image.INTERPOLATE_BILINEAR)
	var offset := (cover - size) / 2
	picture = picture.get_region(Rect2i(offset, size))
	var condition := {
		"pixels": {"width": size.x, "height": size.y, "rgb": picture.get_data()},
		"frame": frame,
		"strength": strength,
	}
	if crf >= 0:
		condition["crf"] = crf
	return condition


## The current frame of [param viewport] as a keyframe map ([method image_input]); empty when the
## viewport has nothing to read back (a headless run renders nothing).
static func capture_viewport(
	viewport: Viewport, width: int, height: int, strength: float = 1.0
) -> Dictionary:
	if DisplayServer.get_name() == "headless":
		return {}  # The dummy renderer has no pixels (and reading its textures is an error).
	var texture := viewport.get_texture()
	var image := texture.get_image() if texture != null else null
	if image == null or image.is_empty():
		return {}
	return image_input(image, width, height, strength)


## A cutscene ([method cutscene]) that starts from [param image], a keyframe map such as
## [method capture_viewport] gives; its size is the picture's.
static func cutscene_from_image(
	prompt: String, image: Dictionary, num_frames: int = 121, seed_value: int = -1
) -> Dictionary:
	var pixels: Dictionary = image.get("pixels", {})
	var width := int(pixels.get("width", 768))
	var height := int(pixels.get("height", 512))
	var request := cutscene(prompt, width, height, num_frames, seed_value)
	request["image"] = image
	return request
