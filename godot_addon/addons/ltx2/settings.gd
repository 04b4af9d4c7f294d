@tool
class_name LTX2Settings
extends RefCounted
## The addon's ProjectSettings: names, defaults, and typed getters.
##
## The plugin registers them (so they show under Project Settings > ltx2 with their defaults);
## the getters fall back to the defaults in an exported game where a setting left at its default
## is not written to project.godot.

## Host name or IP address of the daemon's msgpack bridge.
const ADDRESS := "ltx2/connection/address"
## TCP port of the bridge (the daemon's --bridge-port).
const PORT := "ltx2/connection/port"
## Token sent in hello; required when the daemon listens off loopback.
const TOKEN := "ltx2/connection/token"
## Connect when the game starts instead of on the first request.
const AUTO_CONNECT := "ltx2/connection/auto_connect"
## Seconds before a connection attempt is given up.
const CONNECT_TIMEOUT := "ltx2/connection/connect_timeout_s"
## Folder for generated foley sounds, kept between runs.
const FOLEY_CACHE_DIR := "ltx2/foley/cache_dir"
## Seconds of audio (and frames) buffered before a streamed cutscene starts.
const START_BUFFER := "ltx2/cutscene/start_buffer_s"

# name -> [default, Variant type, hint, hint string]
const _DEFAULTS := {
	ADDRESS: ["127.0.0.1", TYPE_STRING, PROPERTY_HINT_NONE, ""],
	PORT: [50152, TYPE_INT, PROPERTY_HINT_RANGE, "1,65535"],
	TOKEN: ["", TYPE_STRING, PROPERTY_HINT_PASSWORD, ""],
	AUTO_CONNECT: [false, TYPE_BOOL, PROPERTY_HINT_NONE, ""],
	CONNECT_TIMEOUT: [5.0, TYPE_FLOAT, PROPERTY_HINT_RANGE, "0.5,60,0.5"],
	FOLEY_CACHE_DIR: ["user://ltx2_foley", TYPE_STRING, PROPERTY_HINT_DIR, ""],
	START_BUFFER: [1.0, TYPE_FLOAT, PROPERTY_HINT_RANGE, "0,10,0.1"],
}


## Adds every setting with its default and editor hint (called by the plugin).
static func register() -> void:
	for key: String in _DEFAULTS:
		var spec: Array = _DEFAULTS[key]
		if not ProjectSettings.has_setting(key):
			ProjectSettings.set_setting(key, spec[0])
		ProjectSettings.set_initial_value(key, spec[0])
		# Without this, custom settings only show with "Advanced Settings" switched on.
		ProjectSettings.set_as_basic(key, true)
		ProjectSettings.add_property_info(
			{"name": key, "type": spec[1], "hint": spec[2], "hint_string": spec[3]}
		)


## Removes the settings that still hold their defaults (called when the plugin is disabled).
static func unregister() -> void:
	for key: String in _DEFAULTS:
		var spec: Array = _DEFAULTS[key]
		if ProjectSettings.has_setting(key) and ProjectSettings.get_setting(key) == spec[0]:
			ProjectSettings.set_setting(key, null)


## The value of [param key], or its default when the project does not set it.
static func get_value(key: String) -> Variant:
	var spec: Array = _DEFAULTS[key]
	return ProjectSettings.get_setting(key, spec[0])


## The value of the command-line user argument [code]--NAME=value[/code] (after [code]--[/code]
## on the command line), or [param fallback] when it is absent.
static func user_arg(name: String, fallback: String) -> String:
	var prefix := "--%s=" % name
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with(prefix):
			return arg.substr(prefix.length())
	return fallback


## Bridge host: [code]-- --ltx2-address=HOST[/code] on the command line, else the setting.
static func address() -> String:
	return user_arg("ltx2-address", str(get_value(ADDRESS)))


## Bridge port: [code]-- --ltx2-port=N[/code] on the command line (a daemon started on port 0
## for a test, a second daemon for a tool), else the setting.
static func port() -> int:
	return int(user_arg("ltx2-port", str(get_value(PORT))))


## Hello token (empty: none).
static func token() -> String:
	return str(get_value(TOKEN))


## Whether the autoload connects at start-up.
static func auto_connect() -> bool:
	return bool(get_value(AUTO_CONNECT))


## Connection attempt timeout in seconds.
static func connect_timeout_s() -> float:
	return float(get_value(CONNECT_TIMEOUT))


## Foley cache folder.
static func foley_cache_dir() -> String:
	return str(get_value(FOLEY_CACHE_DIR))


## Start buffer of streamed cutscenes in seconds.
static func start_buffer_s() -> float:
	return float(get_value(START_BUFFER))
