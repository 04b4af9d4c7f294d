@tool
class_name LTX2PcmFeeder
extends RefCounted
## Feeds audio frames to an [AudioStreamGeneratorPlayback] as room frees up, and tells how many
## frames the mixer has taken: the clock of a streamed clip.
##
## Chunks arrive in bursts, faster or slower than real time; [method append] queues them and
## [method pump] (once per frame) pushes what fits into the generator's ring buffer with one
## [method AudioStreamGeneratorPlayback.push_buffer] call. The playback position is counted from
## frames consumed (pushed minus still buffered), so silence during an underrun does not move
## the clock, unlike [method AudioStreamPlayback.get_playback_position] on a generator.

## Frames appended so far.
var appended_frames: int = 0
## Frames pushed into the generator so far.
var pushed_frames: int = 0

var _playback: AudioStreamGeneratorPlayback = null
var _capacity: int = 0
var _queue: Array[PackedVector2Array] = []
var _head_offset: int = 0  # Frames of _queue[0] already pushed.


## A generator with [param mix_rate] set (it must be set before the player's play()).
static func make_stream(mix_rate: float, buffer_s: float = 0.5) -> AudioStreamGenerator:
	var stream := AudioStreamGenerator.new()
	stream.mix_rate = mix_rate
	stream.buffer_length = buffer_s
	return stream


## Starts feeding [param playback] (from [method AudioStreamPlayer.get_stream_playback] right
## after play(), while its buffer is still empty: that is how its capacity is measured).
func attach(playback: AudioStreamGeneratorPlayback) -> void:
	if playback == null:
		push_error("LTX2PcmFeeder: no generator playback (call play() first, inside the tree)")
		return
	_playback = playback
	_capacity = playback.get_frames_available()


## True once attached to a playback.
func is_attached() -> bool:
	return _playback != null


## Queues frames for playback.
func append(frames: PackedVector2Array) -> void:
	if frames.is_empty():
		return
	_queue.append(frames)
	appended_frames += frames.size()


## Pushes as many queued frames as the generator has room for.
func pump() -> void:
	if _playback == null:
		return
	var room := _playback.get_frames_available()
	while room > 0 and not _queue.is_empty():
		var head: PackedVector2Array = _queue[0]
		var take := mini(room, head.size() - _head_offset)
		if _head_offset == 0 and take == head.size():
			_playback.push_buffer(head)
		else:
			_playback.push_buffer(head.slice(_head_offset, _head_offset + take))
		_head_offset += take
		pushed_frames += take
		room -= take
		if _head_offset >= head.size():
			_queue.pop_front()
			_head_offset = 0


## Frames queued here, not yet pushed.
func queued_frames() -> int:
	return appended_frames - pushed_frames


## Frames pushed but not yet taken by the mixer.
func generator_frames() -> int:
	if _playback == null:
		return 0
	return maxi(0, _capacity - _playback.get_frames_available())


## Frames the mixer has taken: the playback position in frames.
func played_frames() -> int:
	return pushed_frames - generator_frames()


## Frames not yet played (queued here or in the generator).
func unplayed_frames() -> int:
	return appended_frames - played_frames()


## Drops everything queued.
func clear() -> void:
	_queue.clear()
	_head_offset = 0
	appended_frames = pushed_frames
