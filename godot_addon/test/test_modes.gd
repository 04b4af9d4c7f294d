extends "res://test/test_case.gd"
## The request builders of the modes (video_to_audio, dialogue) and LTX2CaptureRecorder without a
## renderer: what they send, and how they refuse.

## A 0.3 s silent mono MP3 at 8 kHz (LAME, via PyAV).
const SILENT_MP3 := (
	"49443304000000000023545353450000000f0000034c61766636322e31322e31303200000000000000000000" +
	"00ffe338c0000000000000000000496e666f0000000f00000006000002880071717171717171717171717171" +
	"7171718e8e8e8e8e8e8e8e8e8e8e8e8e8e8e8e8eaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac7c7c7c7c7c7c7c7" +
	"c7c7c7c7c7c7c7c7c7e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3ffffffffffffffffffffffffffffffff0000" +
	"00004c617666000000000000000000000000000000000024024000000000000002889fd58850000000000000" +
	"0000000000000000000000000000000000000000000000000000000000000000000000000000000000ffe318" +
	"c40000000348000000004c414d45332e31303055555555555555555555555555555555555555555555555555" +
	"5555555555554c414d45332e31303055555555555555555555ffe318c43b0000034800000000555555555555" +
	"555555555555555555555555555555555555555555555555555555555555555555554c414d45332e31303055" +
	"555555555555555555ffe318c476000003480000000055555555555555555555555555555555555555555555" +
	"55555555555555555555555555555555555555555555555555555555555555555555555555ffe318c4b10000" +
	"0348000000005555555555555555555555555555555555555555555555555555555555555555555555555555" +
	"555555555555555555555555555555555555555555ffe318c4c4000003480000000055555555555555555555" +
	"5555555555555555555555555555555555555555555555555555555555555555555555555555555555555555" +
	"5555555555ffe318c4c400000348000000005555555555555555555555555555555555555555555555555555" +
	"555555555555555555555555555555555555555555555555555555555555555555"
)


func test_video_to_audio_sends_whole_rgb8_frames_with_their_size_and_rate() -> void:
	var rgb := PackedByteArray()
	rgb.resize(3 * 32 * 16 * 3)
	var request := LTX2Requests.video_to_audio("glass shatters", rgb, 32, 16, 12.0, 4)
	expect_eq(request["mode"], LTX2Requests.Mode.VIDEO_TO_AUDIO)
	expect_eq(request["video_input"]["frames"]["width"], 32)
	expect_eq(request["video_input"]["frames"]["height"], 16)
	expect_eq(request["video_input"]["frames"]["frame_rate"], 12.0)
	expect_eq(request["video_input"]["frames"]["rgb"].size(), rgb.size())
	expect_eq(request["seed"], 4)
	expect(not request.has("num_frames"), "the frames set the length")
	# The nested maps survive the wire encoding.
	var decoded := LTX2Msgpack.decode(LTX2Msgpack.encode(request))
	expect(decoded.ok(), decoded.error)
	expect_eq(decoded.value["video_input"]["frames"]["rgb"], rgb)


func test_an_image_keyframe_is_covered_and_centre_cropped_to_multiples_of_32() -> void:
	# 200x60: left half red, right half blue, a green band in the middle 40 columns.
	var image := Image.create(200, 60, false, Image.FORMAT_RGBA8)
	image.fill_rect(Rect2i(0, 0, 100, 60), Color.RED)
	image.fill_rect(Rect2i(100, 0, 100, 60), Color.BLUE)
	image.fill_rect(Rect2i(80, 0, 40, 60), Color.GREEN)
	var condition := LTX2Requests.image_input(image, 70, 70, 0.8, 0)
	var pixels: Dictionary = condition["pixels"]
	# 70 snaps to 64: the 200x60 picture covers 64x64 at 213x64, of which the middle 64 columns stay.
	expect_eq(pixels["width"], 64)
	expect_eq(pixels["height"], 64)
	var rgb: PackedByteArray = pixels["rgb"]
	expect_eq(rgb.size(), 64 * 64 * 3)
	var centre := (32 * 64 + 32) * 3
	var middle := [rgb[centre], rgb[centre + 1], rgb[centre + 2]]
	expect_eq(middle, [0, 255, 0], "the middle is the green band")
	var edge := (32 * 64) * 3  # the left edge: red (the crop dropped the outer 74 columns)
	expect_eq([rgb[edge], rgb[edge + 1], rgb[edge + 2]], [255, 0, 0])
	expect_eq(condition["strength"], 0.8)
	expect_eq(condition["crf"], 0)
	expect_eq(condition["frame"], 0)
	var request := LTX2Requests.cutscene_from_image("the hero walks on", condition, 25, 3)
	expect_eq([request["width"], request["height"], request["num_frames"]], [64, 64, 25])
	expect_eq(request["image"], condition)
	expect(not LTX2Requests.image_input(image, 64, 64).has("crf"), "unset crf: the model's")


func test_capture_viewport_is_empty_without_a_renderer() -> void:
	# Headless: the viewport has nothing to read back.
	expect_eq(LTX2Requests.capture_viewport(Engine.get_main_loop().root, 64, 64), {})


func test_a_dialogue_line_goes_as_pcm_and_an_mp3_as_its_file() -> void:
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = 22050
	wav.stereo = false
	var pcm := PackedByteArray()
	pcm.resize(200)
	pcm.encode_s16(0, -1234)
	wav.data = pcm
	var request := LTX2Requests.dialogue("a knight speaks", wav, 64, 64, 3)
	expect_eq(request["mode"], LTX2Requests.Mode.AUDIO_TO_VIDEO)
	var sound: Dictionary = request["audio_input"]["pcm"]
	expect_eq([sound["sample_rate"], sound["channels"], sound["sample_format"]], [22050, 1, 1])
	expect_eq(sound["data"], pcm)
	var mp3 := AudioStreamMP3.new()
	mp3.data = SILENT_MP3.hex_decode()
	expect_eq(LTX2Requests.sound_input(mp3), {"file": mp3.data})


func test_an_8_bit_line_is_widened_and_an_ogg_line_refused() -> void:
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_8_BITS
	wav.mix_rate = 8000
	wav.stereo = true
	wav.data = PackedByteArray([0x7F, 0x80, 0x00, 0x01])  # 127, -128, 0, 1 as signed bytes
	var sound: Dictionary = LTX2Requests.sound_input(wav)["pcm"]
	expect_eq(sound["channels"], 2)
	var data: PackedByteArray = sound["data"]
	var widened := [data.decode_s16(0), data.decode_s16(2), data.decode_s16(4), data.decode_s16(6)]
	expect_eq(widened, [32512, -32768, 0, 256])
	expect_eq(LTX2Requests.dialogue("x", AudioStreamOggVorbis.new()), {})


func test_the_capture_recorder_fails_cleanly_without_a_renderer() -> void:
	# Headless: the viewport gives no image, so the recording cannot start.
	var recorder := LTX2CaptureRecorder.new()
	recorder.autoplay = false
	tree.root.add_child(recorder)
	var failures := []
	recorder.failed.connect(func(code: String, m: String) -> void: failures.append([code, m]))
	recorder.record("a crate smashes")
	expect(recorder.is_busy(), "recording")
	var ended := func() -> bool: return not failures.is_empty()
	expect(await wait_until(ended, 2.0), "failed is emitted")
	expect_eq(failures[0][0], "FAILED_PRECONDITION")
	expect(str(failures[0][1]).contains("no image"), str(failures))
	expect(not recorder.is_busy(), "not busy after failing")
	recorder.record("again")
	recorder.record("twice at once")  # refused, after the call
	expect(await wait_until(func() -> bool: return failures.size() >= 2, 2.0), "refusals arrive")
	var refused := func(f: Array) -> bool: return str(f[1]).contains("already running")
	expect(failures.any(refused), str(failures))
	recorder.queue_free()
	await settle()


func test_a_recording_the_daemon_would_refuse_fails_before_it_starts() -> void:
	var recorder := LTX2CaptureRecorder.new()
	recorder.duration_s = 10.0
	recorder.fps = 60.0  # 600 frames: more than the daemon's 257
	tree.root.add_child(recorder)
	var failures := []
	recorder.failed.connect(func(code: String, m: String) -> void: failures.append([code, m]))
	recorder.record("a long explosion")
	expect(not recorder.is_busy(), "nothing is recorded")
	expect(await wait_until(func() -> bool: return not failures.is_empty(), 2.0), "failed arrives")
	expect_eq(failures[0][0], "INVALID_ARGUMENT")
	expect(str(failures[0][1]).contains("600 frames of 256x160"), str(failures))
	recorder.queue_free()
	await settle()


func test_a_chosen_length_drops_the_frame_count_and_sends_the_window() -> void:
	var base := LTX2Requests.cutscene("a drum roll", 64, 64, 121, 5)
	var request := LTX2Requests.with_chosen_length(base, 2.0, 6.0)
	expect(not request.has("num_frames"), "the model chooses the length")
	expect_eq([request["min_seconds"], request["max_seconds"]], [2.0, 6.0])
	expect_eq(base["num_frames"], 121, "the request given is left as it was")
	var either := LTX2Requests.with_chosen_length(base, 3.0)
	expect_eq([either.has("max_seconds"), either["min_seconds"]], [false, 3.0])
	var neither := LTX2Requests.with_chosen_length(base)
	expect_eq([neither.get("min_seconds"), neither.has("max_seconds")], [1.0, false], "asks, no cap")
