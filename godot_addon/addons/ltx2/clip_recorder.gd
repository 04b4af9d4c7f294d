@tool
class_name LTX2ClipRecorder
extends RefCounted
## Collects a job's chunks into an [LTX2Clip] as they stream (used by the editor dock to bake).
##
## [codeblock]
## var recorder := LTX2ClipRecorder.new(job)
## await job.ended
## if recorder.clip != null:
##     LTX2ClipBaker.bake(recorder.clip, "res://cutscenes/gate.res")
## [/codeblock]

## Emitted when the job completed and [member clip] is ready.
signal recorded(clip: LTX2Clip)

## The clip, once the job completed (null before, and after a failure).
var clip: LTX2Clip = null

var _job: LTX2Job
var _audio := PackedByteArray()
var _frames := PackedByteArray()
var _sample_rate: int = 0
var _channels: int = 0


func _init(job: LTX2Job) -> void:
	_job = job
	job.audio_received.connect(_on_audio)
	job.frames_received.connect(_on_frames)
	job.completed.connect(_on_completed)


func _on_audio(chunk: Dictionary) -> void:
	_sample_rate = int(chunk.get("sample_rate", 0))
	_channels = int(chunk.get("channels", 2))
	var format := int(chunk.get("sample_format", LTX2Requests.SampleFormat.S16LE))
	_audio.append_array(LTX2ChunkConvert.pcm_to_s16(chunk.get("data", PackedByteArray()), format))


func _on_frames(chunk: Dictionary) -> void:
	if int(chunk.get("frame_format", 1)) == LTX2Requests.FrameFormat.JPEG:
		for i in range(LTX2ChunkConvert.frame_count(chunk)):
			var image := LTX2ChunkConvert.frame_image(chunk, i)
			if image != null:
				image.convert(Image.FORMAT_RGB8)
				_frames.append_array(image.get_data())
	else:
		_frames.append_array(chunk.get("data", PackedByteArray()))


func _on_completed(summary: Dictionary) -> void:
	var fmt := _job.format
	var made := LTX2Clip.new()
	made.width = int(fmt.get("width", 0))
	made.height = int(fmt.get("height", 0))
	made.frame_rate = float(fmt.get("frame_rate", 24.0))
	made.num_frames = _job.frames_done
	made.frames = _frames
	if not _audio.is_empty():
		made.audio = LTX2Wav.from_s16(_audio, _sample_rate, _channels)
	made.prompt = str(_job.request.get("prompt", ""))
	made.negative_prompt = str(_job.request.get("negative_prompt", ""))
	made.generation_seed = int(summary.get("seed", fmt.get("seed", 0)))
	made.request = _job.request.duplicate(true)
	made.request["seed"] = made.generation_seed
	made.clip_format = fmt.duplicate(true)
	made.created_at = Time.get_datetime_string_from_system(true) + "Z"
	clip = made
	recorded.emit(made)
