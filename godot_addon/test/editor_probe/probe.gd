@tool
extends EditorPlugin
## Test only, enabled by tests/godot/test_editor.py in its copy of the project: waits for the
## LTX-2 dock to read the daemon's limits, prints "PROBE {json}" with the dock's form ranges,
## and quits the editor.

const TIMEOUT_MS := 30000


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
	print("PROBE ", JSON.stringify(facts))
	get_tree().quit()
