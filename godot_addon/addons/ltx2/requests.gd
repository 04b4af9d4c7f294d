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

## Smallest frame size the model accepts; foley asks for it since it needs no picture.
const MIN_SIZE := 64


## A foley request: audio only, REALTIME, at the smallest frame size, as 16-bit PCM (which an
## AudioStreamWAV holds without conversion). [param seed_value] below 0 lets the daemon pick one.
static func foley(prompt: String, duration_s: float, seed_value: int, event: String) -> Dictionary:
	var request := {
		"prompt": prompt,
		"width": MIN_SIZE,
		"height": MIN_SIZE,
		"duration_s": duration_s,
	}
	if seed_value >= 0:
		request["seed"] = seed_value
	request["priority"] = Priority.REALTIME
	request["audio_only"] = true
	request["sample_format"] = SampleFormat.S16LE
	if not event.is_empty():
		request["tags"] = {"event": event}
	return request


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
