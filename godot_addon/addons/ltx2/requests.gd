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
