@tool
@icon("res://addons/ltx2/icon.svg")
class_name LTX2CutscenePlayer
extends Node
## Plays a generated cutscene into a [TextureRect]: live from an [LTX2Job] as it streams, or
## from a baked [LTX2Clip].
##
## Audio is the clock, as in every video player: the frame shown is the one whose time matches
## the audio playback position. Streamed audio goes through an [AudioStreamGenerator] whose
## [code]mix_rate[/code] is set from the job's accepted ClipFormat before play(); a baked clip
## plays its [AudioStreamWAV]. Playback starts once [member start_buffer_s] seconds of audio
## (and of frames) are buffered, or the job completed; if the stream falls behind, playback
## pauses until the buffer refills rather than stutter.
## [br][br]
## Every play ends with [signal finished], exactly once: at the end of the clip, on [method skip]
## ([param skipped] true), and when it fails ([signal failed] comes first with the reason: the
## daemon is down, the job failed, the clip is not playable). No signal is emitted before the
## call that caused it returns, so [code]await $Cutscene.finished[/code] after any play call
## resumes, whatever happens.
## [codeblock]
## var job := LTX2.generate(LTX2Requests.cutscene("the gate opens at dawn"))
## $Cutscene.play_job(job)  # right after generate(), before chunks arrive
## await $Cutscene.finished
## [/codeblock]
## A cutscene of several shots plays as one stream with [method play_shots]: each shot after the
## first continues the one before (continue_from), and is asked for as soon as the one before has
## been generated, while it plays, so the picture and the sound run on across the joins.

## Playback began (the start buffer was filled).
signal started
## The play ended: the clip reached its end, [method skip] was called ([param skipped] true),
## or it failed (after [signal failed]). Emitted once per play.
signal finished(skipped: bool)
## The play could not go on: [param code] and [param message] from the daemon (see
## [signal LTX2Job.failed]), or INVALID_ARGUMENT for a clip that cannot play. [signal finished]
## follows.
signal failed(code: String, message: String)
## Playback waits for more data (the stream fell behind).
signal stalled
## The daemon accepted shot [param index] (0-based) of [method play_shots]; [param format] is its
## ClipFormat map (first_frame: where it starts in the cutscene).
signal shot_accepted(index: int, format: Dictionary)

## Where playback is.
enum PlayState { IDLE, BUFFERING, PLAYING, PAUSED, DONE }

## Fraction of a frame by which a frame may be shown before the clock reaches its start. The
## audio position is known to one mix block (the AudioServer mixes 512 samples at a time, 10.7 ms
## at 48 kHz, and a resampled stream is taken in steps of its own): a clock read on a frame
## boundary lands a hair before or after it at random, and without this lead a game running at
## the video's frame rate (Movie Maker mode, a 24 Hz display) would hold a frame for two game
## frames and skip the next. A quarter frame (10 ms at 24 fps) covers one block.
const FRAME_LEAD := 0.25

## TextureRect that shows the frames (audio plays without one).
@export var target: TextureRect:
	set(value):
		target = value
		update_configuration_warnings()
## Baked clip played by [method play] or on ready with [member autoplay].
@export var clip: LTX2Clip:
	set(value):
		clip = value
		update_configuration_warnings()
## Play [member clip] when the node enters the tree (in a running game).
@export var autoplay: bool = false:
	set(value):
		autoplay = value
		update_configuration_warnings()
## Audio bus of the soundtrack.
@export var bus: StringName = &"Master"
## Seconds buffered before a streamed clip starts; below 0 uses the project setting
## [code]ltx2/cutscene/start_buffer_s[/code].
@export_range(-1.0, 10.0, 0.1) var start_buffer_s: float = -1.0
## Cancel the job on the daemon when skipped.
@export var cancel_on_skip: bool = true
## Run in the editor too (the dock's preview sets it).
@export var preview_in_editor: bool = false
## The connection [method play_shots] asks through (unset: the LTX2 autoload, or a private one).
@export var connection: LTX2Connection

## The job being played (null for a baked clip).
var job: LTX2Job = null
## Error code of the last play when it failed (empty otherwise).
var error_code: String = ""
## Error message of the last play when it failed.
var error_message: String = ""

var _state: PlayState = PlayState.IDLE
var _user_paused := false
var _audio: AudioStreamPlayer = null
var _feeder: LTX2PcmFeeder = null
var _sample_rate: float = 0.0
var _frame_rate: float = 24.0
var _total_frames: int = 0
var _duration_s: float = 0.0
var _complete := false  # Every chunk has arrived (always true for a baked clip).
var _baked := false
var _chunks: Array[Dictionary] = []  # VideoChunk maps not yet fully shown.
var _frames_in := 0
var _shown := -1
var _texture: ImageTexture = null
var _started := false  # Playback began (it may since have stalled or paused).
var _clock_start_ms := 0  # Wall clock of clips without audio.
var _frame_clock_s := 0.0  # get_position_s() when the frame on screen was last chosen.
var _held_since_ms := -1  # When the wall clock was stopped (pause or stall), -1 when running.
var _shots: Array[Dictionary] = []  # Shots of play_shots() not asked for yet.
var _overlap_frames := 17
var _shot := 0  # The shot being received (0-based).
var _frame_offset := 0  # The first frame index of the play (a continuation's is not 0).


func _init() -> void:
	# Made here, not in _ready, so that play_clip()/play_job() work before the node is in a tree.
	_audio = AudioStreamPlayer.new()
	add_child(_audio, false, Node.INTERNAL_MODE_FRONT)


func _ready() -> void:
	_audio.bus = bus
	if autoplay and clip != null and not Engine.is_editor_hint():
		play()


func _get_configuration_warnings() -> PackedStringArray:
	var warnings := PackedStringArray()
	if target == null:
		warnings.append("Set a TextureRect as target to show the frames (audio plays without).")
	if autoplay and clip == null:
		warnings.append("Autoplay is on but no clip is set: bake one with the LTX-2 dock.")
	return warnings


func _process(_delta: float) -> void:
	if Engine.is_editor_hint() and not preview_in_editor:
		return
	match _state:
		PlayState.BUFFERING:
			_buffer()
		PlayState.PLAYING:
			_advance()


## Plays the baked [member clip].
func play() -> void:
	if clip == null:
		_reset()
		_fail_later(
			"INVALID_ARGUMENT", "no clip to play: set clip, or bake one with the LTX-2 dock"
		)
		return
	play_clip(clip)


## Plays a baked clip.
func play_clip(baked: LTX2Clip) -> void:
	_reset()
	var problem := "clip is null" if baked == null else baked.validate()
	if not problem.is_empty():
		_fail_later("INVALID_ARGUMENT", "clip is not playable: %s" % problem)
		return
	_baked = true
	_complete = true
	_frame_rate = baked.frame_rate
	_total_frames = baked.num_frames
	_duration_s = baked.duration_s()
	if baked.num_frames > 0:
		_chunks.append(baked.as_video_chunk())
		_frames_in = baked.num_frames
	_audio.stream = baked.audio
	if is_inside_tree():
		_start(true)
	else:
		# AudioStreamPlayer.play() refuses to start outside the scene tree: start on the first
		# _process once the node is in one.
		_state = PlayState.BUFFERING


## Plays [param streaming] as it arrives. Call it right after [method LTX2Connection.generate],
## before the job's first chunk.
func play_job(streaming: LTX2Job) -> void:
	_reset()
	if streaming == null or streaming.is_done():
		var why := "job is null" if streaming == null else "job already ended"
		if streaming != null and not streaming.error_code.is_empty():
			_fail_later(streaming.error_code, streaming.error_message)
		else:
			_fail_later("INVALID_ARGUMENT", "%s: call play_job() right after generate()" % why)
		return
	_state = PlayState.BUFFERING
	_follow(streaming)


## Plays [param shots] (GenerateRequest maps, such as [method LTX2Requests.cutscene] or
## [method LTX2Requests.cutscene_from_image] build) as one cutscene. Each shot after the first
## continues the one before: it is sent with continue_from that shot's job, holding its last
## [param overlap_frames] frames (8k+1, fewer than the shot's num_frames) and the sound under
## them, as soon as that shot has been generated; its frames and samples are numbered on from it,
## so playback runs across the join. Each shot sends num_frames - overlap_frames new frames but
## the first, which sends all of its own. [signal shot_accepted] comes as the daemon accepts each
## shot; a shot that fails ends the play ([signal failed], then [signal finished]).
func play_shots(shots: Array[Dictionary], overlap_frames: int = 17) -> void:
	_reset()
	if shots.is_empty():
		_fail_later("INVALID_ARGUMENT", "play_shots() needs at least one shot")
		return
	_shots = shots.duplicate()
	_overlap_frames = overlap_frames
	_state = PlayState.BUFFERING
	_follow(_get_connection().generate(_shots.pop_front()))


## Index of the shot being received (0-based), in [method play_shots].
func get_shot_index() -> int:
	return _shot


func _follow(streaming: LTX2Job) -> void:
	_disconnect_job()
	job = streaming
	job.accepted.connect(_on_accepted)
	job.audio_received.connect(_on_audio)
	job.frames_received.connect(_on_frames)
	job.completed.connect(_on_completed)
	job.failed.connect(_on_failed)
	if not job.format.is_empty():
		_on_accepted(job.format)


func _get_connection() -> LTX2Connection:
	if connection == null:
		connection = LTX2Connection.for_node(self)
	return connection


## Pauses or resumes playback (audio and frames together).
func pause(paused: bool = true) -> void:
	_user_paused = paused
	if _state == PlayState.PLAYING and paused:
		_state = PlayState.PAUSED
		_audio.stream_paused = true
		_hold_clock()
	elif _state == PlayState.PAUSED and not paused:
		_state = PlayState.PLAYING
		_audio.stream_paused = false
		_release_clock()


## Stops now and emits [signal finished] with skipped true (cancels the job, see
## [member cancel_on_skip]).
func skip() -> void:
	if _state == PlayState.IDLE or _state == PlayState.DONE:
		return
	if cancel_on_skip and job != null and not job.is_done():
		job.cancel()
	_finish(true, true)


## Where playback is.
func get_state() -> PlayState:
	return _state


## Index of the frame on screen (-1 before the first).
func get_frame_index() -> int:
	return _shown


## Audio frames (samples per channel) handed to the mixer so far in this play: of a streamed
## clip, what was pushed into the generator; of a baked clip, its whole soundtrack once started.
func get_samples_pushed() -> int:
	if _feeder != null:
		return _feeder.pushed_frames
	if _baked and _started and _audio.stream is AudioStreamWAV:
		var wav := _audio.stream as AudioStreamWAV
		return int(wav.get_length() * wav.mix_rate + 0.5)
	return 0


## The audio clock (seconds) when the frame on screen was chosen: the frame shown is the one of
## this time, or a later one when the clock stepped back.
func get_frame_clock_s() -> float:
	return _frame_clock_s


## Playback position in seconds (the audio clock).
func get_position_s() -> float:
	if not _started:
		return 0.0
	if _audio.stream == null:  # No soundtrack: the wall clock, stopped while held.
		var now := _held_since_ms if _held_since_ms >= 0 else Time.get_ticks_msec()
		return (now - _clock_start_ms) / 1000.0
	if _baked:
		var mixed := _audio.get_playback_position()
		# Before its first mix the stream has not moved: the time since the server's last mix
		# (of other sounds) is not its own.
		var pos := mixed + _since_last_mix() if mixed > 0.0 else 0.0
		return maxf(0.0, pos - AudioServer.get_output_latency())
	# The mixer takes audio in blocks (4096 frames, 93 ms, with the Dummy driver; one video
	# frame's worth in Movie Maker mode): between two mixes the clock goes on from the last one,
	# as Godot's own formula for audio sync has it. Never past what was pushed (an underrun).
	var played := _feeder.played_frames() / _sample_rate
	if played <= 0.0:
		return 0.0  # Not mixed yet (see the baked case above).
	var now := played + _since_last_mix() - AudioServer.get_output_latency()
	return clampf(now, 0.0, _feeder.pushed_frames / _sample_rate)


# Seconds of sound played since the mixer last took its block. In Movie Maker mode the mixer
# takes exactly one frame's worth per frame at the fixed frame rate, so what was mixed is the
# position; the engine's time since the last mix is wall time there (how long rendering took),
# which has nothing to do with the recording.
static func _since_last_mix() -> float:
	if OS.has_feature("movie"):
		return 0.0
	return AudioServer.get_time_since_last_mix()


func _on_accepted(format: Dictionary) -> void:
	_frame_rate = maxf(1.0, float(format.get("frame_rate", 24.0)))
	# A later shot of play_shots() is numbered on from the one before: the clip grows.
	if _feeder == null:
		_frame_offset = int(format.get("first_frame", 0))
	var end := int(format.get("first_frame", 0)) + int(format.get("num_frames", 0)) - _frame_offset
	_total_frames = 0 if bool(format.get("audio_only", false)) else end
	shot_accepted.emit(_shot, format)
	if _feeder != null:
		_duration_s = end / _frame_rate
		return
	_sample_rate = float(format.get("sample_rate", 0))
	_duration_s = job.duration_s()
	_feeder = LTX2PcmFeeder.new()
	if _sample_rate > 0.0:
		# The generator's mix rate must be right before play(): it is not read again after.
		_audio.stream = LTX2PcmFeeder.make_stream(_sample_rate, 0.5)


func _on_audio(chunk: Dictionary) -> void:
	if _feeder != null:
		_feeder.append(LTX2ChunkConvert.audio_frames(chunk))


func _on_frames(chunk: Dictionary) -> void:
	_chunks.append(chunk)
	_frames_in += LTX2ChunkConvert.frame_count(chunk)


func _on_completed(_summary: Dictionary) -> void:
	if not _shots.is_empty():
		# The shot is in the daemon's cache now: ask for the next, which continues it.
		var next: Dictionary = _shots.pop_front().duplicate()
		next["continue_from"] = {"clip": {"job_id": job.job_id}, "overlap_frames": _overlap_frames}
		_shot += 1
		_follow(_get_connection().generate(next))
		return
	_complete = true


func _on_failed(code: String, message: String) -> void:
	if _state == PlayState.DONE:
		return
	error_code = code
	error_message = message
	failed.emit(code, message)
	_finish(false)


# A play call that cannot start: report it after the call returns, as finished always is.
func _fail_later(code: String, message: String) -> void:
	push_error("LTX2CutscenePlayer: %s" % message)
	error_code = code
	error_message = message
	_state = PlayState.DONE
	emit_signal.call_deferred("failed", code, message)
	emit_signal.call_deferred("finished", false)


func _buffered_s() -> float:
	var audio_s := INF
	if _sample_rate > 0.0 and _feeder != null:
		audio_s = _feeder.unplayed_frames() / _sample_rate
	var video_s := INF
	if _total_frames > 0:
		video_s = (_frames_in - maxi(_shown, 0)) / _frame_rate
	return minf(audio_s, video_s)


func _buffer() -> void:
	if _baked:
		_start()  # A baked clip played before the node entered the tree.
		return
	if _feeder == null:
		return  # Not accepted yet.
	var wanted := start_buffer_s if start_buffer_s >= 0.0 else LTX2Settings.start_buffer_s()
	if not _complete and _buffered_s() < wanted:
		return
	if not _started:
		_start()
		return
	# Resume after a stall.
	_state = PlayState.PAUSED if _user_paused else PlayState.PLAYING
	_audio.stream_paused = _user_paused
	if not _user_paused:
		_release_clock()


# [param later] defers the started signal: the play call that started it is still running.
func _start(later: bool = false) -> void:
	_state = PlayState.PLAYING
	_started = true
	_audio.bus = bus
	_clock_start_ms = Time.get_ticks_msec()
	_held_since_ms = -1
	if _audio.stream != null:
		_audio.play()
		if not _baked:
			# get_stream_playback() is an AudioStreamGeneratorPlayback for a generator stream
			# (null, with an engine error, if play() did not start).
			var playback := _audio.get_stream_playback() as AudioStreamGeneratorPlayback
			if playback != null:
				_feeder.attach(playback)
				_feeder.pump()
	_show(0)
	if later:
		emit_signal.call_deferred("started")
	else:
		started.emit()
	if _user_paused:
		pause(true)


func _advance() -> void:
	if not _baked and _feeder != null:
		_feeder.pump()
	var position := get_position_s()
	_frame_clock_s = position
	if _total_frames > 0:
		# The clock's estimate may step back a little at a mix (the resampler hands over whole
		# blocks): never show an earlier frame than the one on screen.
		var due := int(position * _frame_rate + FRAME_LEAD)
		_show(maxi(_shown, mini(due, _total_frames - 1)))
	if _is_at_end(position):
		_finish(false)
	elif not _complete and not _baked and _is_starving():
		_state = PlayState.BUFFERING
		_audio.stream_paused = true
		_hold_clock()
		stalled.emit()


func _is_at_end(position: float) -> bool:
	if not _complete:
		return false
	if _baked:
		return position >= _duration_s or (_audio.stream != null and not _audio.playing)
	if _sample_rate > 0.0:
		return _feeder.unplayed_frames() <= 0
	return position >= _duration_s


# The stream fell behind: less than a tenth of a second left to play.
func _is_starving() -> bool:
	if _sample_rate > 0.0:
		return _feeder.unplayed_frames() < int(_sample_rate * 0.1)
	return _total_frames > 0 and _frames_in <= _shown + 1


func _show(index: int) -> void:
	if index == _shown or target == null:
		return
	while not _chunks.is_empty():
		var chunk: Dictionary = _chunks[0]
		var first := int(chunk.get("first_frame", 0)) - _frame_offset
		var count := LTX2ChunkConvert.frame_count(chunk)
		if index >= first + count and not _baked:
			_chunks.pop_front()  # Every frame of it is in the past: free it.
			continue
		if index < first or index >= first + count:
			return  # Not arrived yet: keep showing the last frame.
		var image := LTX2ChunkConvert.frame_image(chunk, index - first)
		if image == null:
			return
		if _texture == null or _texture.get_size() != Vector2(image.get_size()):
			_texture = ImageTexture.create_from_image(image)
		else:
			_texture.update(image)  # Same size and format: no new GPU texture.
		if target.texture != _texture:
			target.texture = _texture
		_shown = index
		return


func _hold_clock() -> void:
	if _held_since_ms < 0:
		_held_since_ms = Time.get_ticks_msec()


func _release_clock() -> void:
	if _held_since_ms >= 0:
		_clock_start_ms += Time.get_ticks_msec() - _held_since_ms
		_held_since_ms = -1


func _finish(skipped: bool, later: bool = false) -> void:
	_state = PlayState.DONE
	_audio.stop()
	_disconnect_job()
	if later:
		emit_signal.call_deferred("finished", skipped)
	else:
		finished.emit(skipped)


func _disconnect_job() -> void:
	if job == null:
		return
	for connection: Dictionary in [
		{"signal": job.accepted, "callable": _on_accepted},
		{"signal": job.audio_received, "callable": _on_audio},
		{"signal": job.frames_received, "callable": _on_frames},
		{"signal": job.completed, "callable": _on_completed},
		{"signal": job.failed, "callable": _on_failed},
	]:
		var sig: Signal = connection["signal"]
		if sig.is_connected(connection["callable"]):
			sig.disconnect(connection["callable"])


func _reset() -> void:
	if _state != PlayState.IDLE and _state != PlayState.DONE:
		# A new play replaces this one: it ends as skipped, so that whoever awaits it resumes.
		_state = PlayState.DONE
		_audio.stop()
		_disconnect_job()
		finished.emit(true)
	_disconnect_job()
	job = null
	error_code = ""
	error_message = ""
	_state = PlayState.IDLE
	_feeder = null
	_sample_rate = 0.0
	_total_frames = 0
	_duration_s = 0.0
	_complete = false
	_baked = false
	_started = false
	_held_since_ms = -1
	_chunks.clear()
	_shots.clear()
	_shot = 0
	_frame_offset = 0
	_frames_in = 0
	_shown = -1
	_audio.stream = null
	_audio.stream_paused = false
