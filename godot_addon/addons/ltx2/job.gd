@tool
class_name LTX2Job
extends RefCounted
## One generation on the daemon, as seen by the game: a state machine driven by the bridge's
## reply maps, with a signal for each event.
##
## Returned by [method LTX2Connection.generate]. States: QUEUED (sent, or accepted and waiting),
## RUNNING (the daemon reported work or sent a chunk), then one of COMPLETED, FAILED or
## CANCELLED. Every map the job gets is checked against the streaming contract (accepted first,
## chunk indices contiguous from accepted's first_frame / first_sample (0 but for a
## continuation), totals in completed matching what arrived); a violation fails the job with
## code [code]PROTOCOL[/code] rather than handing a player a broken clip.
## [br][br]
## Chunk dictionaries carry the proto field names ([code]first_sample[/code],
## [code]data[/code], ...); [LTX2ChunkConvert] turns them into audio frames and images.

## The daemon accepted the job; [param format] is its ClipFormat map (width, height, num_frames,
## frame_rate, sample_rate, channels, num_samples, sample_format, seed, steps, audio_only).
signal accepted(format: Dictionary)
## A Progress map arrived (phase, step, total_steps, frames_decoded, preview_rgb, ...).
signal progressed(progress: Dictionary)
## An AudioChunk map arrived (first_sample, num_samples, sample_rate, channels, data, ...).
signal audio_received(chunk: Dictionary)
## A VideoChunk map arrived (first_frame, num_frames, width, height, data, ...).
signal frames_received(chunk: Dictionary)
## Every chunk has arrived; [param summary] is the Completed map (seed, timings, ...).
signal completed(summary: Dictionary)
## The job ended without completing: a daemon error code (INVALID_ARGUMENT, CANCELLED,
## RESOURCE_EXHAUSTED, ...; UNAVAILABLE when the connection dropped; PROTOCOL when the stream
## broke the contract) and the daemon's message.
signal failed(code: String, message: String)
## Emitted once after [signal completed] or [signal failed], with the final [enum State].
signal ended(final_state: int)

## Where the job is.
enum State { QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED }

## The request id on the connection (the [code]id[/code] of every map of this job).
var id: int = 0
## The GenerateRequest map that was sent.
var request: Dictionary = {}
## Current state.
var state: State = State.QUEUED
## The daemon's job id, known once accepted.
var job_id: String = ""
## ClipFormat map from accepted (empty before).
var format: Dictionary = {}
## Jobs ahead of this one when it was accepted.
var queue_position: int = 0
## True when the daemon served the result from its cache.
var cache_hit: bool = false
## The latest Progress map.
var last_progress: Dictionary = {}
## Audio samples per channel received so far.
var samples_done: int = 0
## Frames received so far.
var frames_done: int = 0
## Index of the stream's first frame and first sample (from accepted): 0, except for a
## continuation (continue_from), which is numbered on from the clip it continues.
var first_frame: int = 0
var first_sample: int = 0
## Completed map, once completed.
var summary: Dictionary = {}
## Error code when FAILED or CANCELLED.
var error_code: String = ""
## Error message when FAILED or CANCELLED.
var error_message: String = ""
## Offending request field for INVALID_ARGUMENT (empty otherwise).
var error_field: String = ""

var _canceller: Callable


## [param canceller] is called with this job by [method cancel] (the connection sends the
## cancel); without one, cancel ends the job locally.
func _init(
	request_id: int = 0, generate_request: Dictionary = {}, canceller: Callable = Callable()
) -> void:
	id = request_id
	request = generate_request
	_canceller = canceller


## Asks the daemon to stop the job. The job ends with [signal failed] ("CANCELLED") when the
## daemon confirms, or with [signal completed] if it had already finished. Either way
## [signal ended] follows, never before this call returns ([code]job.cancel()[/code] then
## [code]await job.ended[/code] works).
func cancel() -> void:
	if is_done():
		return
	if _canceller.is_valid():
		_canceller.call(self)
	else:
		end_locally("CANCELLED", "cancelled locally")


## Ends the job here, without the daemon (cancelled before it was sent): [member state] changes
## at once, [signal failed] and [signal ended] follow on the next idle time, so that a caller
## that awaits them after this call returns gets them.
func end_locally(code: String, message: String) -> void:
	if is_done():
		return
	_set_end(State.CANCELLED if code == "CANCELLED" else State.FAILED, code, message, "")
	_emit_end.call_deferred()


## True once COMPLETED, FAILED or CANCELLED.
func is_done() -> bool:
	return state == State.COMPLETED or state == State.FAILED or state == State.CANCELLED


## Clip length in seconds from the accepted format (0 before accepted).
func duration_s() -> float:
	var rate := float(format.get("sample_rate", 0))
	if rate > 0.0 and int(format.get("num_samples", 0)) > 0:
		return float(format.get("num_samples", 0)) / rate
	var fps := float(format.get("frame_rate", 0.0))
	return float(format.get("num_frames", 0)) / fps if fps > 0.0 else 0.0


## Feeds one reply map of this job (called by [LTX2Connection]; tests call it directly).
## Maps that arrive after the job ended are ignored.
func handle_message(message: Dictionary) -> void:
	if is_done():
		return
	var kind := str(message.get("type", ""))
	if kind == "error":
		_on_error(message)
		return
	if kind == "cancel":
		return  # The reply to our cancel; the stream itself still ends with error or completed.
	if kind == "accepted":
		_on_accepted(message)
		return
	if kind not in ["progress", "audio_chunk", "video_chunk", "completed"]:
		return  # Unknown map types are for newer clients; ignore them.
	if job_id.is_empty():
		_protocol_error("%s arrived before accepted" % kind)
		return
	match kind:
		"progress":
			_on_progress(message)
		"audio_chunk":
			_on_audio(message)
		"video_chunk":
			_on_video(message)
		"completed":
			_on_completed(message)


func _on_accepted(message: Dictionary) -> void:
	if not job_id.is_empty():
		_protocol_error("accepted arrived twice")
		return
	job_id = str(message.get("job_id", ""))
	if job_id.is_empty():
		_protocol_error("accepted without a job_id")
		return
	queue_position = int(message.get("queue_position", 0))
	cache_hit = bool(message.get("cache_hit", false))
	var fmt: Variant = message.get("format", {})
	format = fmt if fmt is Dictionary else {}
	first_frame = int(format.get("first_frame", 0))
	first_sample = int(format.get("first_sample", 0))
	accepted.emit(format)


func _on_progress(message: Dictionary) -> void:
	last_progress = message
	var phase := int(message.get("phase", 0))
	if state == State.QUEUED and phase >= LTX2Requests.Phase.ENCODING:
		state = State.RUNNING
	progressed.emit(message)


func _on_audio(message: Dictionary) -> void:
	var first := int(message.get("first_sample", -1))
	if first != first_sample + samples_done:
		_protocol_error(
			"audio chunk starts at sample %d, expected %d" % [first, first_sample + samples_done]
		)
		return
	samples_done += int(message.get("num_samples", 0))
	state = State.RUNNING
	audio_received.emit(message)


func _on_video(message: Dictionary) -> void:
	var first := int(message.get("first_frame", -1))
	if first != first_frame + frames_done:
		_protocol_error(
			"video chunk starts at frame %d, expected %d" % [first, first_frame + frames_done]
		)
		return
	frames_done += int(message.get("num_frames", 0))
	state = State.RUNNING
	frames_received.emit(message)


func _on_completed(message: Dictionary) -> void:
	# An audio-only clip sends no frames; daemons differ on whether completed then counts the
	# clip's frames or the frames sent (as the Python SDK does, only samples are checked).
	var audio_only := bool(format.get("audio_only", false))
	if not audio_only and int(message.get("num_frames", frames_done)) != frames_done:
		_protocol_error(
			"completed reports %d frames, %d arrived" % [int(message["num_frames"]), frames_done]
		)
		return
	if message.has("num_samples") and int(message["num_samples"]) != samples_done:
		_protocol_error(
			"completed reports %d samples, %d arrived" % [int(message["num_samples"]), samples_done]
		)
		return
	summary = message
	state = State.COMPLETED
	completed.emit(message)
	ended.emit(state)


func _on_error(message: Dictionary) -> void:
	var code := str(message.get("code", "INTERNAL"))
	var field: Variant = message.get("field")
	_fail(
		State.CANCELLED if code == "CANCELLED" else State.FAILED,
		code,
		str(message.get("message", "")),
		"" if field == null else str(field)
	)


func _protocol_error(what: String) -> void:
	_fail(State.FAILED, "PROTOCOL", "job %d: %s" % [id, what], "")


func _fail(final_state: State, code: String, message: String, field: String) -> void:
	_set_end(final_state, code, message, field)
	_emit_end()


func _set_end(final_state: State, code: String, message: String, field: String) -> void:
	state = final_state
	error_code = code
	error_message = message
	error_field = field


func _emit_end() -> void:
	failed.emit(error_code, error_message)
	ended.emit(state)
