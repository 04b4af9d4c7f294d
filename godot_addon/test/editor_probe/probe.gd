@tool
extends EditorPlugin
## Test only, enabled by tests/godot/test_editor.py in its copy of the project: waits for the
## LTX-2 dock to read the daemon's limits, prints "PROBE {json}" with the dock's form ranges,
## and quits the editor. With [code]-- --probe=generate[/code] it first uses the dock as a
## designer would: a clip from a picture file, then "Continue" (the next shot of it), and a
## viewport start (which a headless editor cannot give), and reports what each did.

const TIMEOUT_MS := 30000
const JOB_TIMEOUT_MS := 120000


func _enter_tree() -> void:
	_probe.call_deferred()


func _probe() -> void:
	var started := Time.get_ticks_msec()
	var dock: Node = null
	while Time.get_ticks_msec() - started < TIMEOUT_MS:
		dock = EditorInterface.get_base_control().find_child("LTX-2", true, false)
		if dock != null and str(dock.get("limits_source")) == "daemon":
			break
		await get_tree().process_frame
	var facts := {"dock": dock != null}
	if dock != null:
		facts["source"] = dock.get("limits_source")
		facts["ranges"] = dock.call("form_ranges")
		facts["auto_length_disabled"] = (dock.get("_auto_length") as CheckBox).disabled
		if LTX2Settings.user_arg("probe", "") == "generate":
			facts["generate"] = await _generate(dock)
	print("PROBE ", JSON.stringify(facts))
	get_tree().quit()


## Fills the form the way a designer would and presses Generate, then Continue.
func _generate(dock: Node) -> Dictionary:
	var picture := Image.create(96, 64, false, Image.FORMAT_RGB8)
	picture.fill(Color(0.1, 0.5, 0.9))
	var path := OS.get_user_data_dir().path_join("probe_start.png")
	picture.save_png(path)
	(dock.get("_prompt") as TextEdit).text = "a lighthouse at night, waves"
	(dock.get("_width") as SpinBox).value = 64
	(dock.get("_height") as SpinBox).value = 64
	(dock.get("_frames") as SpinBox).value = 25
	(dock.get("_steps") as SpinBox).value = 2
	(dock.get("_seed") as SpinBox).value = 3
	var status := dock.get("_status") as Label
	var report := {}
	(dock.get("_use_viewport") as CheckBox).button_pressed = true
	dock.call("generate")
	report["viewport_status"] = status.text
	(dock.get("_use_viewport") as CheckBox).button_pressed = false
	(dock.get("_image_path") as LineEdit).text = path
	report["first_request_has_image"] = (dock.call("build_request") as Dictionary).has("image")
	report["first"] = await _run(dock, false)
	report["continue_request"] = (dock.call("build_request", true) as Dictionary).get(
		"continue_from", {}
	)
	report["second"] = await _run(dock, true)
	# The model chooses the length, at most the frames set (a daemon whose model has no duration
	# head leaves the option off).
	var auto := dock.get("_auto_length") as CheckBox
	report["auto_length_enabled"] = not auto.disabled
	auto.button_pressed = true
	(dock.get("_frames") as SpinBox).value = 57
	(dock.get("_image_path") as LineEdit).text = ""
	var chosen := dock.call("build_request") as Dictionary
	report["auto_request"] = [chosen.has("num_frames"), chosen.get("max_seconds", 0.0)]
	if not auto.disabled:
		report["auto"] = await _run(dock, false)
	return report


## Presses Generate (or Continue) and waits for the job to end; what the job and dock saw.
func _run(dock: Node, continuing: bool) -> Dictionary:
	var before := str(dock.get("last_job_id"))
	dock.call("generate", continuing)
	var job: LTX2Job = dock.get("_job")
	var started := Time.get_ticks_msec()
	while not job.is_done() and Time.get_ticks_msec() - started < JOB_TIMEOUT_MS:
		await get_tree().process_frame
	# The preview plays it to the end (a continuation's frames are numbered from 25 on).
	var player: LTX2CutscenePlayer = dock.get("_player")
	while player.get_state() != LTX2CutscenePlayer.PlayState.DONE:
		if Time.get_ticks_msec() - started > JOB_TIMEOUT_MS:
			break
		await get_tree().process_frame
	var clip: LTX2Clip = dock.get("_clip")
	return {
		"job_id": job.job_id,
		"last_job_id_changed": str(dock.get("last_job_id")) != before,
		"first_frame": int(job.format.get("first_frame", -1)),
		"num_frames": int(job.format.get("num_frames", -1)),
		"frames_received": job.frames_done,
		"clip_frames": clip.num_frames if clip != null else -1,
		"played": player.get_state() == LTX2CutscenePlayer.PlayState.DONE,
		"last_frame_shown": player.get_frame_index(),
		"status": (dock.get("_status") as Label).text,
		"continue_enabled": not (dock.get("_continue") as Button).disabled,
	}
