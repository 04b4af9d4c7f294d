@tool
class_name LTX2Wav
extends RefCounted
## 16-bit PCM WAV: [AudioStreamWAV] from raw samples, from a file's bytes (Godot 4.3 has no
## runtime WAV loader), and written atomically.


## An AudioStreamWAV holding interleaved S16LE [param data] (1 or 2 channels).
static func from_s16(data: PackedByteArray, sample_rate: int, channels: int) -> AudioStreamWAV:
	var stream := AudioStreamWAV.new()
	stream.format = AudioStreamWAV.FORMAT_16_BITS
	stream.mix_rate = sample_rate
	stream.stereo = channels == 2
	stream.data = data
	return stream


## Parses a canonical RIFF/WAVE file of 16-bit PCM, mono or stereo; null when it is not one.
static func parse(bytes: PackedByteArray) -> AudioStreamWAV:
	if bytes.size() < 12 or bytes.slice(0, 4).get_string_from_ascii() != "RIFF":
		return null
	if bytes.slice(8, 12).get_string_from_ascii() != "WAVE":
		return null
	var pos := 12
	var channels := 0
	var rate := 0
	var bits := 0
	while pos + 8 <= bytes.size():
		var id := bytes.slice(pos, pos + 4).get_string_from_ascii()
		var size := bytes.decode_u32(pos + 4)
		var body := pos + 8
		if body + size > bytes.size():
			return null
		if id == "fmt " and size >= 16:
			if bytes.decode_u16(body) != 1:  # PCM
				return null
			channels = bytes.decode_u16(body + 2)
			rate = bytes.decode_u32(body + 4)
			bits = bytes.decode_u16(body + 14)
		elif id == "data":
			if bits != 16 or channels < 1 or channels > 2 or rate <= 0:
				return null
			return from_s16(bytes.slice(body, body + size), rate, channels)
		pos = body + size + (size & 1)
	return null


## Reads a WAV file written by [method save_atomic] (or any 16-bit PCM WAV); null if unreadable.
static func load_file(path: String) -> AudioStreamWAV:
	if not FileAccess.file_exists(path):
		return null
	return parse(FileAccess.get_file_as_bytes(path))


## Saves [param stream] as a WAV at [param path] through a temporary file and a rename, so a
## crash never leaves half a file under the real name.
static func save_atomic(stream: AudioStreamWAV, path: String) -> Error:
	var temp := LTX2AtomicFile.temp_path(path)
	var err := stream.save_to_wav(temp)
	if err != OK:
		LTX2AtomicFile.discard(temp)
		return err
	return LTX2AtomicFile.commit(temp, path)
