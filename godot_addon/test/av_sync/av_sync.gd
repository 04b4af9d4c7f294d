extends Node
## The A/V sync scene, recorded in Movie Maker mode by tests/godot/markers.py: a marker clip
## (black frames, a white flash every 12th frame, a click at each flash's start time) played
## full screen through LTX2CutscenePlayer, streamed from a daemon (then baked) or baked.
##
##   godot --path godot_addon res://test/av_sync/av_sync.tscn --write-movie out.avi \
##       --fixed-fps 24 -- --case=streamed --ltx2-port=N      (or --case=baked, no daemon)
##
## Prints "AV {json}" with the frames the player showed and how the play ended.

const BAKED := "res://cutscenes/av_marker.res"
const SIZE := 256
const FRAMES := 97


func _ready() -> void:
	RenderingServer.set_default_clear_color(Color.BLACK)
	var screen := TextureRect.new()
	screen.set_anchors_preset(Control.PRESET_FULL_RECT)
	screen.expand_mode = TextureRect.EXPAND_IGNORE_SIZE
	screen.stretch_mode = TextureRect.STRETCH_SCALE
	add_child(screen)
	var player := LTX2CutscenePlayer.new()
	player.target = screen
	add_child(player)
	var shown: Array[int] = []
	var ends := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	var stalls := []
	player.stalled.connect(func() -> void: stalls.append(Engine.get_process_frames()))
	var case := LTX2Settings.user_arg("case", "")
	var recorder: LTX2ClipRecorder = null
	if case == "streamed":
		var job: LTX2Job = LTX2.generate(LTX2Requests.cutscene("markers", SIZE, SIZE, FRAMES, 1))
		recorder = LTX2ClipRecorder.new(job)
		player.play_job(job)
	else:
		player.play_clip(load(BAKED) as LTX2Clip)
	var started_frame := -1
	while ends.is_empty():
		var index := player.get_frame_index()
		if index >= 0 and (shown.is_empty() or shown[-1] != index):
			shown.append(index)
			if started_frame < 0:
				started_frame = Engine.get_process_frames()
		await get_tree().process_frame
	var facts := {"case": case, "shown": shown, "ends": ends, "start_frame": started_frame}
	facts["stalls"] = stalls
	if recorder != null and recorder.clip != null:
		facts["bake"] = LTX2ClipBaker.bake(recorder.clip, BAKED)
	print("AV ", JSON.stringify(facts))
	for i in range(6):  # A black tail, and time for the mixer to let go of the stopped player.
		await get_tree().process_frame
	get_tree().quit()
