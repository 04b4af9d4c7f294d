extends Node
## Screenshot scene of tests/godot/screenshots.py (run rendered, in a virtual display):
##
##   godot --path godot_addon res://test/screenshots/shot.tscn -- --case=level --out=/tmp/x.png
##
## level: the example level until its cutscene (streamed from the daemon) has played a second;
## dock: the LTX-2 dock's controls in a 320 px wide panel, once it read the daemon's limits.
## Saves what the window shows as a PNG and prints "SHOT {json}".

const LEVEL := preload("res://examples/example_level.tscn")
const DOCK := preload("res://addons/ltx2/editor/dock.gd")


func _ready() -> void:
	var out := LTX2Settings.user_arg("out", "user://shot.png")
	var case := LTX2Settings.user_arg("case", "level")
	var facts := {"case": case}
	if case == "dock":
		facts.merge(await _dock())
	else:
		facts.merge(await _level())
	await RenderingServer.frame_post_draw
	facts["saved"] = get_viewport().get_texture().get_image().save_png(out)
	print("SHOT ", JSON.stringify(facts))
	# Stop the sound before quitting: a player still playing when the game quits keeps its
	# playback in the AudioServer, which the engine reports as leaked.
	for player: Node in find_children("*", "LTX2CutscenePlayer", true, false):
		(player as LTX2CutscenePlayer).skip()
	var at := Time.get_ticks_msec()
	await _wait(func() -> bool: return Time.get_ticks_msec() - at > 300, 1.0)
	get_tree().quit()


func _wait(condition: Callable, timeout_s: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not condition.call() and Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
	return condition.call()


func _level() -> Dictionary:
	var level := LEVEL.instantiate()
	add_child(level)
	var cutscene: LTX2CutscenePlayer = level.get("_cutscene")
	var playing := func() -> bool:
		return cutscene.get_state() == LTX2CutscenePlayer.PlayState.PLAYING
	var started := await _wait(playing, 120.0)
	var at := Time.get_ticks_msec()
	await _wait(func() -> bool: return Time.get_ticks_msec() - at > 1000, 2.0)
	return {"playing": started, "frame": cutscene.get_frame_index()}


func _dock() -> Dictionary:
	var panel := PanelContainer.new()
	panel.position = Vector2(16, 16)
	panel.size = Vector2(320, 680)
	add_child(panel)
	var dock: Control = DOCK.new()
	panel.add_child(dock)
	var read := await _wait(func() -> bool: return dock.get("limits_source") == "daemon", 30.0)
	return {"limits_read": read, "ranges": dock.call("form_ranges")}
