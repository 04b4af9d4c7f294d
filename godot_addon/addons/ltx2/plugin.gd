@tool
extends EditorPlugin
## Registers the LTX2 autoload, the project settings and the generation dock.

const AUTOLOAD := "LTX2"
const DockScript := preload("res://addons/ltx2/editor/dock.gd")

var _dock: Control


func _enable_plugin() -> void:
	# Already registered (this example project lists it): re-adding would only put an "Add
	# Autoload" step on the undo stack whose undo removes the project's own entry.
	if not ProjectSettings.has_setting("autoload/" + AUTOLOAD):
		add_autoload_singleton(AUTOLOAD, "res://addons/ltx2/net/connection.gd")


func _disable_plugin() -> void:
	remove_autoload_singleton(AUTOLOAD)
	LTX2Settings.unregister()


func _enter_tree() -> void:
	LTX2Settings.register()
	_dock = DockScript.new()
	add_control_to_dock(DOCK_SLOT_RIGHT_UL, _dock)


func _exit_tree() -> void:
	remove_control_from_docks(_dock)
	_dock.queue_free()
