extends "res://test/test_case.gd"
## LTX2Msgpack: known byte vectors, shortest-form boundaries, round trips and refusals.


func _hex(value: Variant) -> String:
	return LTX2Msgpack.encode(value).hex_encode()


func _decode_hex(hex: String) -> LTX2Msgpack.Decoded:
	return LTX2Msgpack.decode(hex.hex_decode())


func test_scalars_encode_to_known_bytes() -> void:
	expect_eq(_hex(null), "c0")
	expect_eq(_hex(false), "c2")
	expect_eq(_hex(true), "c3")
	expect_eq(_hex(1.5), "cb3ff8000000000000")
	expect_eq(_hex(-0.25), "cbbfd0000000000000")
	expect_eq(_hex(""), "a0")
	expect_eq(_hex("hé"), "a368c3a9", "UTF-8 length, not characters")
	expect_eq(_hex(&"id"), "a26964", "StringName is a str")
	expect_eq(_hex(PackedByteArray([1, 2, 3])), "c403010203")
	expect_eq(_hex([]), "90")
	expect_eq(_hex({}), "80")
	expect_eq(_hex([1, [2]]), "92019102")
	expect_eq(_hex({"a": {"b": null}}), "81a16181a162c0")


func test_integers_take_the_shortest_form() -> void:
	var cases := {
		0: "00",
		127: "7f",
		128: "cc80",
		255: "ccff",
		256: "cd0100",
		65535: "cdffff",
		65536: "ce00010000",
		4294967295: "ceffffffff",
		4294967296: "cf0000000100000000",
		9223372036854775807: "cf7fffffffffffffff",
		-1: "ff",
		-32: "e0",
		-33: "d0df",
		-128: "d080",
		-129: "d1ff7f",
		-32768: "d18000",
		-32769: "d2ffff7fff",
		-2147483648: "d280000000",
		-2147483649: "d3ffffffff7fffffff",
		-9223372036854775807 - 1: "d38000000000000000",
	}
	for value: int in cases:
		expect_eq(_hex(value), cases[value], "encode %d" % value)
		var decoded := _decode_hex(cases[value])
		expect(decoded.ok(), "decode %s: %s" % [cases[value], decoded.error])
		expect_eq(decoded.value, value, "decode %s" % cases[value])


func test_string_bin_array_and_map_headers_grow_with_size() -> void:
	expect_eq(_hex("x".repeat(31)).substr(0, 2), "bf")
	expect_eq(_hex("x".repeat(32)).substr(0, 4), "d920")
	expect_eq(_hex("x".repeat(255)).substr(0, 4), "d9ff")
	expect_eq(_hex("x".repeat(256)).substr(0, 6), "da0100")
	expect_eq(_hex("x".repeat(65536)).substr(0, 10), "db00010000")
	var bin := PackedByteArray()
	bin.resize(256)
	expect_eq(_hex(bin).substr(0, 6), "c50100")
	bin.resize(65536)
	expect_eq(_hex(bin).substr(0, 10), "c600010000")
	var items := []
	items.resize(16)
	expect_eq(_hex(items).substr(0, 6), "dc0010")
	var map := {}
	for i in range(16):
		map[str(i)] = i
	expect_eq(_hex(map).substr(0, 6), "de0010")


func test_round_trips_keep_value_and_type() -> void:
	var big := PackedByteArray()
	big.resize(70000)
	for i in range(big.size()):
		big[i] = (i * 7) & 0xff
	var values: Array = [
		null,
		true,
		0,
		-5,
		300,
		-70000,
		1 << 40,
		0.1,
		-1e300,
		"",
		"ünïcødé ✓",
		"y".repeat(300),
		big,
		[1, "two", [3.0, null], {"four": 4}],
		{"type": "video_chunk", "id": 7, "data": PackedByteArray([0, 255]), "pts_s": 0.375},
	]
	for value: Variant in values:
		var decoded := LTX2Msgpack.decode(LTX2Msgpack.encode(value))
		expect(decoded.ok(), "round trip of %s: %s" % [type_string(typeof(value)), decoded.error])
		expect_eq(decoded.value, value, "round trip of %s" % type_string(typeof(value)))


func test_packed_arrays_encode_as_arrays() -> void:
	expect_eq(_hex(PackedInt32Array([1, 2])), "920102")
	expect_eq(_hex(PackedStringArray(["a"])), "91a161")
	expect_eq(LTX2Msgpack.decode(LTX2Msgpack.encode(PackedFloat32Array([0.5]))).value, [0.5])


func test_decodes_what_python_msgpack_sends() -> void:
	# float32 (Python sends float32 only with use_single_float), uint64 above 2^63 (wraps).
	expect_eq(_decode_hex("ca3fc00000").value, 1.5)
	expect_eq(_decode_hex("cfffffffffffffffff").value, -1, "uint64 max wraps to -1")
	expect_eq(_decode_hex("d9056869207468").value, "hi th", "str8 with a short string")
	expect_eq(_decode_hex("dc0001c3").value, [true], "array16 with one item")
	expect_eq(_decode_hex("de0001a161c0").value, {"a": null}, "map16 with one entry")
	expect_eq(_decode_hex("c60000000101").value, PackedByteArray([1]), "bin32")


func test_refuses_broken_input_with_a_reason() -> void:
	var cases := {
		"": "truncated",
		"cd01": "truncated",
		"a3616263ff": "trailing",
		"a5616263": "runs past the end",
		"c4056162": "runs past the end",
		"dd7fffffff": "runs past the end",
		"df7fffffff": "runs past the end",
		"c1": "unsupported",
		"d4010a": "ext",
		"9201cd01": "truncated",
	}
	for hex: String in cases:
		var decoded := _decode_hex(hex)
		expect(not decoded.ok(), "%s must not decode" % hex)
		expect(decoded.value == null, "%s gives no value" % hex)
		expect(decoded.error.contains(cases[hex]), "%s: error '%s'" % [hex, decoded.error])


func test_refuses_nesting_past_the_limit() -> void:
	var deep := PackedByteArray()
	for i in range(LTX2Msgpack.MAX_DEPTH + 2):
		deep.append(0x91)
	deep.append(0xc0)
	var decoded := LTX2Msgpack.decode(deep)
	expect(not decoded.ok() and decoded.error.contains("nesting"), decoded.error)


func test_refuses_values_msgpack_cannot_carry() -> void:
	expect_engine_error("LTX2Msgpack: cannot encode a Vector2")
	expect_eq(LTX2Msgpack.encode(Vector2(1, 2)), PackedByteArray())
	expect_engine_error("LTX2Msgpack: cannot encode a Object")
	expect_eq(LTX2Msgpack.encode({"node": RefCounted.new()}), PackedByteArray())
	expect_engine_error("LTX2Msgpack: cannot encode a Vector3")
	expect_eq(LTX2Msgpack.encode_frame([Vector3()]), PackedByteArray())


func test_frame_is_length_prefixed_big_endian() -> void:
	var frame := LTX2Msgpack.encode_frame({"type": "ping", "id": 9})
	expect_eq(frame.hex_encode(), "0000000f" + "82a474797065a470696e67a2696409")
