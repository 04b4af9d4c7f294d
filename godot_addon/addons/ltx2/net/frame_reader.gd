@tool
class_name LTX2FrameReader
extends RefCounted
## Cuts a TCP byte stream into bridge frames: a 4-byte big-endian length, then that many bytes.
##
## TCP delivers bytes in pieces of any size: [method feed] whatever arrived, then take every
## complete frame with [method next_frame] while [method has_frame] is true. A frame split
## across reads waits until its last byte is in. Frames of the daemon can be large (a video chunk
## of raw RGB), so consumed bytes are dropped in bulk, not one frame at a time.

## Largest frame accepted; a longer length prefix sets [member error] (the stream is then
## unusable and the connection should be closed).
var max_frame_bytes: int = 512 * 1024 * 1024
## Empty while the stream is sound, else why it is not.
var error: String = ""

var _buffer := PackedByteArray()
var _pos: int = 0


## Appends bytes received from the socket.
func feed(bytes: PackedByteArray) -> void:
	if bytes.is_empty():
		return
	# Drop consumed bytes once they are most of the buffer: amortised O(1) per byte.
	if _pos > 0 and _pos * 2 >= _buffer.size():
		_buffer = _buffer.slice(_pos)
		_pos = 0
	_buffer.append_array(bytes)


## True when a whole frame is buffered.
func has_frame() -> bool:
	var length := _peek_length()
	return length >= 0 and _buffer.size() - _pos >= 4 + length


## Removes and returns the next whole frame's payload (without the length prefix), or an empty
## array when none is complete yet (see [method has_frame]).
func next_frame() -> PackedByteArray:
	if not has_frame():
		return PackedByteArray()
	var length := _peek_length()
	var start := _pos + 4
	_pos = start + length
	return _buffer.slice(start, start + length)


## Bytes buffered but not yet returned as frames.
func pending_bytes() -> int:
	return _buffer.size() - _pos


## Forgets everything buffered (after a reconnect).
func reset() -> void:
	_buffer = PackedByteArray()
	_pos = 0
	error = ""


# Length of the frame at the read position, or -1 when the prefix is incomplete or bad.
func _peek_length() -> int:
	if not error.is_empty() or _buffer.size() - _pos < 4:
		return -1
	var length := 0
	for i in range(4):
		length = (length << 8) | _buffer[_pos + i]
	if length > max_frame_bytes:
		error = "frame of %d bytes is over the limit of %d" % [length, max_frame_bytes]
		return -1
	return length
