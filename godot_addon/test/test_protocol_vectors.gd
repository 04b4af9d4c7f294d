extends "res://test/test_case.gd"
## The exact bytes the client sends, pinned: tests/godot/test_protocol_bytes.py holds the same
## hex strings, checks that Python's msgpack decodes them to the intended maps, and sends them to
## a real daemon. Change both together.

# The hex stays on one line each so that the Python test can find it verbatim.
# gdlint: disable=max-line-length
const HELLO := "84a474797065a568656c6c6fa2696401a6636c69656e74ae6c7478322d676f646f742f302e31b070726f746f636f6c5f76657273696f6e01"
const HELLO_TOKEN := "85a474797065a568656c6c6fa2696401a5746f6b656ea6736563726574a6636c69656e74ae6c7478322d676f646f742f302e31b070726f746f636f6c5f76657273696f6e01"
const GENERATE_FOLEY := "89a474797065a867656e6572617465a2696402a670726f6d7074bb61206865617679206f616b20646f6f7220736c616d732073687574a46d6f646502aa6475726174696f6e5f73cb3ff0000000000000a47365656401a87072696f7269747901ad73616d706c655f666f726d617401a47461677381a56576656e74a9646f6f725f736c616d"
const GENERATE_CUTSCENE := "8aa474797065a867656e6572617465a2696403a670726f6d7074be61206b6e69676874206f70656e732074686520636173746c652067617465a5776964746840a668656967687440aa6e756d5f6672616d657311a47365656407a87072696f7269747902ad73616d706c655f666f726d617402ac6368756e6b5f6672616d657308"
const GENERATE_EDITOR := "89a474797065a867656e6572617465a2696405a670726f6d7074d93061206c6f6e6720747261636b696e672073686f74207468726f7567682061206d697374792070696e6520666f72657374a57769647468cd0300a6686569676874cd0200aa6e756d5f6672616d657379a473656564ceee6b2800a87072696f7269747902ad73616d706c655f666f726d617402"
const CANCEL := "82a474797065a663616e63656ca2696403"
const CANCEL_EDITOR := "82a474797065a663616e63656ca2696405"
const CANCEL_FRAME := "0000001182a474797065a663616e63656ca2696403"
const INFO := "82a474797065a4696e666fa2696404"
# gdlint: enable=max-line-length


func _encoded(message: Dictionary) -> String:
	return LTX2Msgpack.encode(message).hex_encode()


func test_hello() -> void:
	expect_eq(_encoded(LTX2Connection.build_hello(1, "")), HELLO)
	expect_eq(_encoded(LTX2Connection.build_hello(1, "secret")), HELLO_TOKEN)


func test_foley_generate() -> void:
	var foley := LTX2FoleyPlayer.new()
	foley.templates = {"door_slam": "a heavy {material} door slams shut"}
	var request := foley.request_for("door_slam", {"material": "oak"})
	foley.free()
	expect_eq(request, LTX2Requests.foley("a heavy oak door slams shut", 1.0, 1, "door_slam"))
	expect_eq(_encoded(LTX2Connection.build_generate(2, request)), GENERATE_FOLEY)


func test_cutscene_generate() -> void:
	var request := LTX2Requests.cutscene("a knight opens the castle gate", 64, 64, 17, 7)
	request["chunk_frames"] = 8
	expect_eq(_encoded(LTX2Connection.build_generate(3, request)), GENERATE_CUTSCENE)
	var prompt := "a long tracking shot through a misty pine forest"
	var editor := LTX2Requests.cutscene(prompt, 768, 512, 121, 4000000000)
	expect_eq(_encoded(LTX2Connection.build_generate(5, editor)), GENERATE_EDITOR)


func test_cancel_and_info() -> void:
	expect_eq(_encoded(LTX2Connection.build_cancel(3, "")), CANCEL)
	expect_eq(_encoded(LTX2Connection.build_cancel(5, "")), CANCEL_EDITOR)
	var frame := LTX2Msgpack.encode_frame(LTX2Connection.build_cancel(3, ""))
	expect_eq(frame.hex_encode(), CANCEL_FRAME)
	expect_eq(_encoded({"type": "info", "id": 4}), INFO)


func test_vectors_decode_back_to_the_maps() -> void:
	var decoded := LTX2Msgpack.decode(GENERATE_FOLEY.hex_decode())
	expect(decoded.ok(), decoded.error)
	var map: Dictionary = decoded.value
	expect_eq(map["duration_s"], 1.0)
	expect_eq(map["mode"], LTX2Requests.Mode.AUDIO_ONLY)
	expect_eq(map["tags"], {"event": "door_slam"})
	expect_eq(LTX2Msgpack.decode(GENERATE_EDITOR.hex_decode()).value["seed"], 4000000000)
