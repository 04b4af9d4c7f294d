@tool
class_name LTX2Clip
extends Resource
## A generated clip baked into the project: frames, audio, and what made them.
##
## [LTX2CutscenePlayer] plays it without the daemon. Frames are raw RGB8 back to back (the
## resource is saved compressed); audio is an [AudioStreamWAV]. The prompt, seed and request are
## kept so that the clip can be regenerated (the same request and seed on the same model give the
## same clip).

## Frame width in pixels.
@export var width: int = 0
## Frame height in pixels.
@export var height: int = 0
## Frames per second.
@export var frame_rate: float = 24.0
## Number of frames in [member frames].
@export var num_frames: int = 0
## RGB8 frames, row-major, back to back: num_frames * height * width * 3 bytes.
@export var frames: PackedByteArray = PackedByteArray()
## The soundtrack (16-bit PCM).
@export var audio: AudioStreamWAV = null
## Prompt the clip was generated from.
@export_multiline var prompt: String = ""
## Negative prompt, if any.
@export var negative_prompt: String = ""
## Seed the daemon used.
@export var generation_seed: int = 0
## The GenerateRequest map that was sent (with the seed filled in).
@export var request: Dictionary = {}
## The ClipFormat map the daemon accepted it with.
@export var clip_format: Dictionary = {}
## When it was generated (ISO 8601, UTC).
@export var created_at: String = ""


## Length in seconds: the audio's, or the frames' when there is no audio.
func duration_s() -> float:
	if audio != null and audio.get_length() > 0.0:
		return audio.get_length()
	return num_frames / frame_rate if frame_rate > 0.0 else 0.0


## The frames as one VideoChunk map (what [LTX2ChunkConvert] reads).
func as_video_chunk() -> Dictionary:
	return {
		"first_frame": 0,
		"num_frames": num_frames,
		"width": width,
		"height": height,
		"frame_format": LTX2Requests.FrameFormat.RGB8,
		"data": frames,
	}


## Frame [param index] as an image (null when out of range).
func frame_image(index: int) -> Image:
	return LTX2ChunkConvert.frame_image(as_video_chunk(), index)


## What is wrong with the clip, or an empty string when it is playable.
func validate() -> String:
	if num_frames > 0 and (width <= 0 or height <= 0):
		return "width and height must be positive, got %dx%d" % [width, height]
	if frames.size() != num_frames * width * height * 3:
		return (
			"frames holds %d bytes, %d frames of %dx%d RGB8 need %d"
			% [frames.size(), num_frames, width, height, num_frames * width * height * 3]
		)
	if num_frames > 0 and frame_rate <= 0.0:
		return "frame_rate must be positive, got %s" % frame_rate
	return ""
