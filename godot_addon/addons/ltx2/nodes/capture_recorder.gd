@tool
@icon("res://addons/ltx2/icon.svg")
class_name LTX2CaptureRecorder
extends Node
## Records what a viewport shows for a few seconds and asks the daemon for sound of exactly those
## frames (video-to-audio): a collision or an explosion gets sound generated for what the player
## saw.
##
## [method record] grabs one frame every 1 / [member fps] seconds of game time for
## [member duration_s], scales and converts each on the [WorkerThreadPool] (the read-back itself
## must run on the main thread), sends them as raw RGB8 frames, and collects the 16-bit sound as
## it streams. With [member autoplay] the sound plays from a child [AudioStreamPlayer] when it
## is whole.
## [codeblock]
## $Capture.record("a wooden crate smashes on a stone floor")
## var sound: AudioStreamWAV = await $Capture.generated
## [/codeblock]
## A viewport renders nothing under a headless display server: [method record] then fails with
## [code]FAILED_PRECONDITION[/code]. A recording the daemon would refuse (more than
## [constant MAX_FRAMES] frames, or more than [constant MAX_BYTES] of RGB8) fails at once,
## before any time is spent recording. With [member fps] above the game's frame rate, frames
## repeat (one image is grabbed per game frame at most).

## The frames were captured: [param frames] frames of [member size], sent to the daemon.
signal recorded(frames: int)
## The sound arrived whole (and started playing, with [member autoplay]).
signal generated(sound: AudioStreamWAV)
## Recording or generating failed: the daemon's error code and message, or
## [code]FAILED_PRECONDITION[/code] when the viewport gives no image or a recording is running.
signal failed(code: String, message: String)

## The daemon's default bounds on what a request carries (GetInfo limits max_frames and
## max_input_bytes).
const MAX_FRAMES := 257
const MAX_BYTES := 12 * 1024 * 1024

## Seconds of frames to record.
@export_range(0.1, 10.0, 0.1) var duration_s: float = 1.0
## Frames per second to record (the sound is in sync with them at this rate).
@export_range(1.0, 60.0, 1.0) var fps: float = 12.0
## Size of the recorded frames; small is enough for sound (and keeps the request small: RGB8 is
## width x height x 3 bytes a frame).
@export var size: Vector2i = Vector2i(256, 160)
## Seed of the request; below 0 lets the daemon pick.
@export var foley_seed: int = 1
## Play the sound when it is whole.
@export var autoplay: bool = true
## Audio bus of the playback.
@export var bus: StringName = &"Master"

## The viewport to record (defaults to this node's).
var viewport: Viewport = null
## The connection (defaults to the LTX2 autoload).
var connection: LTX2Connection = null
## The sound of the last recording, once it arrived.
var sound: AudioStreamWAV = null
## The frames of the last recording as sent: RGB8, [member size], frame after frame (to replay
## what was captured with its sound).
var frames := PackedByteArray()

var _frames: Array[PackedByteArray] = []
var _tasks: Array[int] = []
var _lock := Mutex.new()
var _prompt := ""
var _wanted := 0
var _elapsed := 0.0
var _recording := false
var _job: LTX2Job = null
var _size := Vector2i.ZERO  # size and fps as record() found them (the workers read _size)
var _fps := 0.0
var _pcm := PackedByteArray()
var _player: AudioStreamPlayer = null


func _ready() -> void:
	set_process(false)


func _exit_tree() -> void:
	# The workers hold this node: let them finish before it goes; a pending job is dropped.
	if _recording:
		_stop_recording()
	if _job != null:
		_job.cancel()
		_job = null


## Starts recording [member duration_s] seconds of frames, then asks for sound for them described
## by [param prompt]; ends in [signal generated] or [signal failed], never before it returns.
func record(prompt: String) -> void:
	if is_busy():
		_fail_later("FAILED_PRECONDITION", "a recording is already running")
		return
	var wanted := maxi(1, roundi(duration_s * fps))
	var frame_bytes := size.x * size.y * 3
	if size.x < 1 or size.y < 1 or wanted > MAX_FRAMES or wanted * frame_bytes > MAX_BYTES:
		var why := "%d frames of %dx%d (%d bytes) is more than the daemon takes" % [
			wanted, size.x, size.y, wanted * frame_bytes
		]
		_fail_later("INVALID_ARGUMENT", "%s: at most %d frames, %d bytes" % [why, MAX_FRAMES, MAX_BYTES])
		return
	_prompt = prompt
	_wanted = wanted
	_size = size
	_fps = fps
	_frames.clear()
	_frames.resize(_wanted)
	_tasks.clear()
	_elapsed = 0.0
	_recording = true
	sound = null
	set_process(true)


## Stops the playback of the sound (the recording and the generation carry on).
func stop() -> void:
	if _player != null:
		_player.stop()


## Whether a recording or its generation is running.
func is_busy() -> bool:
	return _recording or _job != null


func _process(delta: float) -> void:
	if not _recording:
		return
	# Frame i is the one shown i / fps seconds after the recording began.
	while _tasks.size() < _wanted and _tasks.size() / _fps <= _elapsed + 1e-6:
		var image := _grab()
		if image == null:
			_stop_recording()
			var why := "the viewport gave no image (a headless display server renders none)"
			failed.emit("FAILED_PRECONDITION", why)
			return
		_tasks.append(WorkerThreadPool.add_task(_convert.bind(_tasks.size(), image)))
	_elapsed += delta
	if _tasks.size() == _wanted:
		_stop_recording()
		_send()


func _grab() -> Image:
	if DisplayServer.get_name() == "headless":
		return null  # The dummy renderer keeps no textures (asking would log an engine error).
	var source := viewport if viewport != null else get_viewport()
	if source == null or source.get_texture() == null:
		return null
	var image := source.get_texture().get_image()
	if image == null or image.is_empty():
		return null
	return image


func _convert(index: int, image: Image) -> void:
	image.convert(Image.FORMAT_RGB8)
	if image.get_size() != _size:
		image.resize(_size.x, _size.y, Image.INTERPOLATE_BILINEAR)
	var data := image.get_data()
	_lock.lock()
	_frames[index] = data
	_lock.unlock()


func _stop_recording() -> void:
	_recording = false
	set_process(false)
	for task in _tasks:
		WorkerThreadPool.wait_for_task_completion(task)


func _send() -> void:
	frames = PackedByteArray()
	for frame in _frames:
		frames.append_array(frame)
	var count := _frames.size()
	_frames.clear()
	recorded.emit(count)
	var request := LTX2Requests.video_to_audio(_prompt, frames, _size.x, _size.y, _fps, foley_seed)
	_pcm = PackedByteArray()
	_job = _get_connection().generate(request)
	_job.audio_received.connect(_on_audio)
	_job.completed.connect(_on_completed)
	_job.failed.connect(_on_failed)


func _on_audio(chunk: Dictionary) -> void:
	var format := int(chunk.get("sample_format", LTX2Requests.SampleFormat.S16LE))
	_pcm.append_array(LTX2ChunkConvert.pcm_to_s16(chunk.get("data", PackedByteArray()), format))


func _on_completed(_summary: Dictionary) -> void:
	var fmt := _job.format
	_job = null
	sound = LTX2Wav.from_s16(_pcm, int(fmt.get("sample_rate", 0)), int(fmt.get("channels", 2)))
	_pcm = PackedByteArray()
	if autoplay:
		_play(sound)
	generated.emit(sound)


func _on_failed(code: String, message: String) -> void:
	_job = null
	failed.emit(code, message)


func _play(stream: AudioStream) -> void:
	if _player == null:
		_player = AudioStreamPlayer.new()
		_player.bus = bus
		add_child(_player, false, Node.INTERNAL_MODE_BACK)
	_player.stream = stream
	_player.play()


func _fail_later(code: String, message: String) -> void:
	(func() -> void: failed.emit(code, message)).call_deferred()


func _get_connection() -> LTX2Connection:
	if connection == null:
		connection = LTX2Connection.for_node(self)
	return connection
