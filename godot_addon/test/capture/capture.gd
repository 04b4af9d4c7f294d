extends Node2D
## LTX2CaptureRecorder in a rendered game against a real ltx2d, run by tests/godot/test_capture.py
## in a virtual display:
##
##   godot --rendering-driver opengl3 --fixed-fps 24 --path godot_addon \
##       res://test/capture/capture.tscn -- --ltx2-port=N
##
## The screen changes colour every frame; one second is recorded at 12 fps and sent for foley.
## What happened is printed as one "CAPTURE {json}" line.

const SIZE := Vector2i(96, 64)

var _rect := ColorRect.new()
var _frame := 0


func _ready() -> void:
	_rect.size = Vector2(2000, 2000)
	add_child(_rect)
	var recorder := LTX2CaptureRecorder.new()
	recorder.size = SIZE
	recorder.fps = 12.0
	recorder.duration_s = 1.0
	add_child(recorder)
	var facts := {}
	if true:  # The autoload connects on the first request.
		var outcome := {}
		recorder.recorded.connect(func(count: int) -> void: facts["recorded"] = count)
		recorder.generated.connect(func(sound: AudioStreamWAV) -> void: outcome["sound"] = sound)
		recorder.failed.connect(func(code: String, m: String) -> void: outcome["failed"] = [code, m])
		recorder.record("a wooden crate smashes on a concrete floor")
		await _until(func() -> bool: return not outcome.is_empty(), 120.0)
		facts["failed"] = outcome.get("failed", [])
		var sound: AudioStreamWAV = outcome.get("sound")
		if sound != null:
			facts["mix_rate"] = sound.mix_rate
			facts["stereo"] = sound.stereo
			facts["samples"] = sound.data.size() / (4 if sound.stereo else 2)
			facts["length_s"] = sound.get_length()
			facts["playing"] = recorder.get_child_count(true) > 0
		var frame_bytes := SIZE.x * SIZE.y * 3
		var distinct := {}
		for i in range(recorder.frames.size() / frame_bytes):
			var frame := recorder.frames.slice(i * frame_bytes, (i + 1) * frame_bytes)
			distinct[frame.hex_encode().md5_text()] = true
		facts["frame_bytes"] = recorder.frames.size()
		facts["distinct_frames"] = distinct.size()
		# A cutscene that starts from the frame on screen now.
		var condition := LTX2Requests.capture_viewport(get_viewport(), 64, 64)
		var pixels: Dictionary = condition.get("pixels", {})
		var rgb: PackedByteArray = pixels.get("rgb", PackedByteArray())
		facts["image"] = [pixels.get("width", 0), pixels.get("height", 0), rgb.size()]
		var request := LTX2Requests.cutscene_from_image("the crates settle", condition, 17, 5)
		var job := LTX2Connection.for_node(self).generate(request)
		var cutscene := {"frames": 0}
		job.frames_received.connect(
			func(chunk: Dictionary) -> void: cutscene["frames"] += int(chunk["num_frames"])
		)
		job.completed.connect(func(_summary: Dictionary) -> void: cutscene["done"] = true)
		job.failed.connect(func(code: String, m: String) -> void: cutscene["failed"] = [code, m])
		await _until(func() -> bool: return cutscene.has("done") or cutscene.has("failed"), 120.0)
		facts["cutscene"] = cutscene
	print("CAPTURE ", JSON.stringify(facts))
	# A voice still playing when the game quits is reported as leaked: stop it, let the mixer let go.
	recorder.stop()
	await _until(func() -> bool: return false, 0.25)
	get_tree().quit()


func _process(_delta: float) -> void:
	_frame += 1
	_rect.color = Color.from_hsv(fmod(_frame * 0.037, 1.0), 0.8, 0.9)


func _until(condition: Callable, timeout_s: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await get_tree().process_frame
	return true
