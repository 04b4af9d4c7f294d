@tool
class_name LTX2Msgpack
extends RefCounted
## MessagePack encoder and decoder for the ltx2d bridge protocol.
##
## Covers what the protocol uses: nil, bool, integers up to 64 bits, floats (float32 and float64
## are decoded, float64 is encoded), str, bin, array and map. Multi-byte numbers are big-endian,
## as the msgpack specification says. The encoder picks the shortest form for every value, the
## same rule Python's msgpack follows, so both sides produce identical bytes for the same map
## (tests/godot/test_protocol_bytes.py and test/test_msgpack.gd pin the same vectors).
## [br][br]
## GDScript integers are signed 64-bit: a uint64 above 2^63-1 decodes to its two's complement
## (negative) value, and encoding it again gives the same eight bytes back as an int64.


## Result of [method decode]: the value, or an error that says what and where.
class Decoded:
	extends RefCounted
	## The decoded value (null when [member error] is set).
	var value: Variant = null
	## Empty on success, else what went wrong and at which byte offset.
	var error: String = ""

	## True when decoding succeeded.
	func ok() -> bool:
		return error.is_empty()


# Read position over one buffer; holds the first error met.
class _Cursor:
	extends RefCounted
	var data: PackedByteArray
	var pos: int = 0
	var error: String = ""

	func _init(bytes: PackedByteArray) -> void:
		data = bytes

	func remaining() -> int:
		return data.size() - pos

	func fail(message: String) -> void:
		if error.is_empty():
			error = "%s at byte %d" % [message, pos]


## Deepest nesting of arrays and maps accepted by [method decode] and [method encode].
const MAX_DEPTH := 64

# Variant types written as msgpack arrays.
const _LIST_TYPES := [
	TYPE_ARRAY,
	TYPE_PACKED_INT32_ARRAY,
	TYPE_PACKED_INT64_ARRAY,
	TYPE_PACKED_FLOAT32_ARRAY,
	TYPE_PACKED_FLOAT64_ARRAY,
	TYPE_PACKED_STRING_ARRAY,
]


## Encodes [param value] to msgpack bytes. Returns an empty array (and pushes an error) when the
## value holds a type msgpack cannot carry (objects, vectors, ...).
static func encode(value: Variant) -> PackedByteArray:
	var out := PackedByteArray()
	if not _write(out, value, 0):
		return PackedByteArray()
	return out


## Encodes [param value] and prefixes it with its 4-byte big-endian length: one bridge frame.
static func encode_frame(value: Variant) -> PackedByteArray:
	var body := encode(value)
	if body.is_empty():
		return body
	var out := PackedByteArray()
	_append_be(out, body.size(), 4)
	out.append_array(body)
	return out


## Decodes exactly one msgpack value that fills [param data] (trailing bytes are an error).
static func decode(data: PackedByteArray) -> Decoded:
	var cursor := _Cursor.new(data)
	var result := Decoded.new()
	var value: Variant = _read(cursor, 0)
	if cursor.error.is_empty() and cursor.remaining() > 0:
		cursor.fail("%d trailing bytes after the value" % cursor.remaining())
	if cursor.error.is_empty():
		result.value = value
	else:
		result.error = cursor.error
	return result


# --- encoding ---


static func _write(out: PackedByteArray, value: Variant, depth: int) -> bool:
	if depth > MAX_DEPTH:
		push_error("LTX2Msgpack: nesting deeper than %d" % MAX_DEPTH)
		return false
	var ok := true
	match typeof(value):
		TYPE_NIL:
			out.append(0xc0)
		TYPE_BOOL:
			out.append(0xc3 if value else 0xc2)
		TYPE_INT:
			_write_int(out, value)
		TYPE_FLOAT:
			out.append(0xcb)
			var bytes := PackedByteArray()
			bytes.resize(8)
			bytes.encode_double(0, value)
			bytes.reverse()
			out.append_array(bytes)
		TYPE_STRING, TYPE_STRING_NAME:
			_write_str(out, str(value))
		TYPE_PACKED_BYTE_ARRAY:
			_write_bin(out, value)
		TYPE_DICTIONARY:
			ok = _write_map(out, value, depth)
		_:
			if typeof(value) in _LIST_TYPES:
				ok = _write_array(out, value, depth)
			else:
				push_error("LTX2Msgpack: cannot encode a %s" % type_string(typeof(value)))
				ok = false
	return ok


static func _write_int(out: PackedByteArray, v: int) -> void:
	if v >= 0:
		if v <= 0x7f:
			out.append(v)
		elif v <= 0xff:
			out.append(0xcc)
			out.append(v)
		elif v <= 0xffff:
			out.append(0xcd)
			_append_be(out, v, 2)
		elif v <= 0xffffffff:
			out.append(0xce)
			_append_be(out, v, 4)
		else:
			out.append(0xcf)
			_append_be(out, v, 8)
	elif v >= -32:
		out.append(v & 0xff)
	elif v >= -128:
		out.append(0xd0)
		out.append(v & 0xff)
	elif v >= -32768:
		out.append(0xd1)
		_append_be(out, v, 2)
	elif v >= -2147483648:
		out.append(0xd2)
		_append_be(out, v, 4)
	else:
		out.append(0xd3)
		_append_be(out, v, 8)


static func _write_str(out: PackedByteArray, text: String) -> void:
	var bytes := text.to_utf8_buffer()
	var n := bytes.size()
	if n < 32:
		out.append(0xa0 | n)
	elif n <= 0xff:
		out.append(0xd9)
		out.append(n)
	elif n <= 0xffff:
		out.append(0xda)
		_append_be(out, n, 2)
	else:
		out.append(0xdb)
		_append_be(out, n, 4)
	out.append_array(bytes)


static func _write_bin(out: PackedByteArray, bytes: PackedByteArray) -> void:
	var n := bytes.size()
	if n <= 0xff:
		out.append(0xc4)
		out.append(n)
	elif n <= 0xffff:
		out.append(0xc5)
		_append_be(out, n, 2)
	else:
		out.append(0xc6)
		_append_be(out, n, 4)
	out.append_array(bytes)


static func _write_array(out: PackedByteArray, items: Variant, depth: int) -> bool:
	var n: int = items.size()
	if n < 16:
		out.append(0x90 | n)
	elif n <= 0xffff:
		out.append(0xdc)
		_append_be(out, n, 2)
	else:
		out.append(0xdd)
		_append_be(out, n, 4)
	for item: Variant in items:
		if not _write(out, item, depth + 1):
			return false
	return true


static func _write_map(out: PackedByteArray, map: Dictionary, depth: int) -> bool:
	var n := map.size()
	if n < 16:
		out.append(0x80 | n)
	elif n <= 0xffff:
		out.append(0xde)
		_append_be(out, n, 2)
	else:
		out.append(0xdf)
		_append_be(out, n, 4)
	for key: Variant in map:
		if not _write(out, key, depth + 1) or not _write(out, map[key], depth + 1):
			return false
	return true


static func _append_be(out: PackedByteArray, v: int, width: int) -> void:
	for i in range(width - 1, -1, -1):
		out.append((v >> (8 * i)) & 0xff)


# --- decoding ---


static func _read(c: _Cursor, depth: int) -> Variant:
	if depth > MAX_DEPTH:
		c.fail("nesting deeper than %d" % MAX_DEPTH)
		return null
	if c.remaining() < 1:
		c.fail("truncated value")
		return null
	var b: int = c.data[c.pos]
	c.pos += 1
	var value: Variant = null
	if b <= 0x7f:
		value = b
	elif b >= 0xe0:
		value = b - 256
	elif b >= 0xa0 and b <= 0xbf:
		value = _read_str(c, b & 0x1f)
	elif b >= 0x90 and b <= 0x9f:
		value = _read_array(c, b & 0x0f, depth)
	elif b >= 0x80 and b <= 0x8f:
		value = _read_map(c, b & 0x0f, depth)
	else:
		value = _read_tagged(c, b, depth)
	return value


# Values introduced by one of the 0xc0..0xdf type bytes.
static func _read_tagged(c: _Cursor, b: int, depth: int) -> Variant:
	var value: Variant = null
	match b:
		0xc0:
			value = null
		0xc2:
			value = false
		0xc3:
			value = true
		0xc4, 0xc5, 0xc6:
			value = _read_bin(c, _read_uint(c, 1 << (b - 0xc4)))
		0xca:
			value = _read_be_float(c, 4)
		0xcb:
			value = _read_be_float(c, 8)
		0xcc, 0xcd, 0xce, 0xcf:
			value = _read_uint(c, 1 << (b - 0xcc))
		0xd0, 0xd1, 0xd2, 0xd3:
			value = _read_int(c, 1 << (b - 0xd0))
		0xd9, 0xda, 0xdb:
			value = _read_str(c, _read_uint(c, 1 << (b - 0xd9)))
		0xdc, 0xdd:
			value = _read_array(c, _read_uint(c, 2 << (b - 0xdc)), depth)
		0xde, 0xdf:
			value = _read_map(c, _read_uint(c, 2 << (b - 0xde)), depth)
		_:
			c.pos -= 1
			c.fail("unsupported msgpack type byte 0x%02x (ext types are not used)" % b)
	return value


static func _read_uint(c: _Cursor, width: int) -> int:
	if c.remaining() < width:
		c.fail("truncated %d-byte integer" % width)
		return 0
	if width == 8:
		var bytes := c.data.slice(c.pos, c.pos + 8)
		bytes.reverse()
		c.pos += 8
		return bytes.decode_s64(0)
	var v := 0
	for i in range(width):
		v = (v << 8) | c.data[c.pos + i]
	c.pos += width
	return v


static func _read_int(c: _Cursor, width: int) -> int:
	var v := _read_uint(c, width)
	if width < 8 and v >= (1 << (8 * width - 1)):
		v -= 1 << (8 * width)
	return v


static func _read_be_float(c: _Cursor, width: int) -> float:
	if c.remaining() < width:
		c.fail("truncated %d-byte float" % width)
		return 0.0
	var bytes := c.data.slice(c.pos, c.pos + width)
	bytes.reverse()
	c.pos += width
	return bytes.decode_float(0) if width == 4 else bytes.decode_double(0)


static func _read_str(c: _Cursor, n: int) -> String:
	if c.remaining() < n:
		c.fail("str of %d bytes runs past the end" % n)
		return ""
	var text := c.data.slice(c.pos, c.pos + n).get_string_from_utf8()
	c.pos += n
	return text


static func _read_bin(c: _Cursor, n: int) -> PackedByteArray:
	if c.remaining() < n:
		c.fail("bin of %d bytes runs past the end" % n)
		return PackedByteArray()
	var bytes := c.data.slice(c.pos, c.pos + n)
	c.pos += n
	return bytes


static func _read_array(c: _Cursor, n: int, depth: int) -> Array:
	var items: Array = []
	# Every element takes at least one byte: a larger count is a lie, refuse it before allocating.
	if n > c.remaining():
		c.fail("array of %d elements runs past the end" % n)
		return items
	for i in range(n):
		items.append(_read(c, depth + 1))
		if not c.error.is_empty():
			break
	return items


static func _read_map(c: _Cursor, n: int, depth: int) -> Dictionary:
	var map := {}
	if 2 * n > c.remaining():
		c.fail("map of %d entries runs past the end" % n)
		return map
	for i in range(n):
		var key: Variant = _read(c, depth + 1)
		var value: Variant = _read(c, depth + 1)
		if not c.error.is_empty():
			break
		map[key] = value
	return map
