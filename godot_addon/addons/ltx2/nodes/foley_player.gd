@tool
class_name LTX2FoleyPlayer
extends Node
## Plays generated sound effects for gameplay events, cached so that a repeated event plays at
## once.
##
## [method play_event] fills the event's prompt template with the given values, asks the daemon
## for audio only at REALTIME priority and the smallest frame size, and starts playing as soon
## as the first audio chunk arrives. The finished sound is kept in memory (shared by every
## foley player) and in [code]ltx2/foley/cache_dir[/code] (a WAV per sound, written atomically),
## so the next time, in this run or the next, it plays without the daemon.
## [br][br]
## Sounds are positional when [member positional] says so: voices are then
## [AudioStreamPlayer2D] or [AudioStreamPlayer3D] children of the [member emitter] (by default
## the parent, when it is a [Node2D] or [Node3D]).
## [codeblock]
## $Foley.templates = {"door_slam": "a heavy {material} door slams shut"}
## $Foley.play_event("door_slam", {"material": "oak"})
## [/codeblock]

## A sound started; [param cached] is true when it came from the cache (no daemon request).
signal played(event: String, cached: bool)
## A sound could not be generated (daemon error code and message).
signal failed(event: String, code: String, message: String)
## A sound is in the cache (after [method prefetch] or a first play).
signal cached(event: String)

## How voices are placed in the world.
enum Positional { AUTO, NONE, TWO_D, THREE_D }

static var _memory := {}  # cache key -> AudioStreamWAV, shared by every foley player
static var _pending := {}  # cache key -> LTX2FoleyPlayer.Pending while generating

## Event name -> prompt template with {placeholders} filled from play_event's values.
@export var templates: Dictionary = {
	"door_slam": "a heavy {material} door slams shut",
	"impact": "a {material} object hits the ground hard",
	"footstep": "a single footstep on {surface}",
}
## Length of each sound in seconds.
@export_range(0.2, 10.0, 0.1) var duration_s: float = 1.0
## Seed of every request: a fixed seed makes an event sound the same on every machine and hits
## the daemon's result cache; below 0 lets the daemon pick (the local cache still keeps the first
## result).
@export var foley_seed: int = 1
## AUTO: positional when [member emitter] (or the parent) is a Node2D or Node3D.
@export var positional: Positional = Positional.AUTO:
	set(value):
		positional = value
		update_configuration_warnings()
## Node the sounds come from (Node2D or Node3D); empty uses the parent.
@export var emitter: Node:
	set(value):
		emitter = value
		update_configuration_warnings()
## Audio bus of the voices.
@export var bus: StringName = &"Master"
## Volume of the voices.
@export_range(-60.0, 12.0, 0.1) var volume_db: float = 0.0
## Most sounds playing at once from this node; more are dropped.
@export_range(1, 64) var max_voices: int = 8
## Keep sounds in [code]ltx2/foley/cache_dir[/code] between runs.
@export var disk_cache: bool = true

## The connection (defaults to the LTX2 autoload).
var connection: LTX2Connection = null

var _voices: Array[Dictionary] = []  # {"player": Node, "feeder": LTX2PcmFeeder or null}


## A sound being generated: collects 16-bit PCM and feeds the voices that wait for it.
class Pending:
	extends RefCounted
	var job: LTX2Job
	var key: String
	var data := PackedByteArray()
	var sample_rate: int = 0
	var channels: int = 2
	var done := false
	var feeders: Array[LTX2PcmFeeder] = []


func _get_configuration_warnings() -> PackedStringArray:
	var warnings := PackedStringArray()
	var place := _emitter()
	if positional == Positional.TWO_D and not place is Node2D:
		warnings.append("2D foley needs a Node2D emitter (or a Node2D parent).")
	if positional == Positional.THREE_D and not place is Node3D:
		warnings.append("3D foley needs a Node3D emitter (or a Node3D parent).")
	if templates.is_empty():
		warnings.append("No templates: add event names and their prompt templates.")
	return warnings


func _process(_delta: float) -> void:
	if Engine.is_editor_hint():
		return
	for i in range(_voices.size() - 1, -1, -1):
		var voice: Dictionary = _voices[i]
		if not is_instance_valid(voice["player"]):
			_voices.remove_at(i)  # A cached sound finished and freed its player.
			continue
		var feeder: LTX2PcmFeeder = voice.get("feeder")
		if feeder == null:
			continue
		feeder.pump()
		var pending: Pending = voice["pending"]
		if pending.done and feeder.unplayed_frames() <= 0:
			var player: Node = voice["player"]
			player.queue_free()
			_voices.remove_at(i)


## The prompt for [param event] with [param values] filled in (empty when the event is unknown).
func prompt_for(event: String, values: Dictionary = {}) -> String:
	if not templates.has(event):
		return ""
	return str(templates[event]).format(values)


## The GenerateRequest for [param event] (see [method LTX2Requests.foley]).
func request_for(event: String, values: Dictionary = {}) -> Dictionary:
	return LTX2Requests.foley(prompt_for(event, values), duration_s, foley_seed, event)


## Cache key of a request: everything that changes the sound (not priority or tags).
static func cache_key(request: Dictionary) -> String:
	var keyed := request.duplicate(true)
	keyed.erase("priority")
	keyed.erase("tags")
	return JSON.stringify(keyed, "", true).sha256_text().substr(0, 32)


## Plays the sound of [param event] (generating it the first time).
func play_event(event: String, values: Dictionary = {}) -> void:
	var request := request_for(event, values)
	if str(request["prompt"]).is_empty():
		push_error("LTX2FoleyPlayer: no template for event '%s'" % event)
		failed.emit(event, "INVALID_ARGUMENT", "no template for event '%s'" % event)
		return
	var key := cache_key(request)
	var sound := _lookup(key)
	if sound != null:
		_play_stream(sound)
		played.emit(event, true)
		return
	var pending := _pending_for(key, event, request)
	var feeder := LTX2PcmFeeder.new()
	var player := _spawn_voice()
	if player == null:
		return
	_voices.append({"player": player, "feeder": feeder, "pending": pending})
	pending.feeders.append(feeder)
	if not pending.data.is_empty():  # Joined a sound already arriving: start from its beginning.
		var format := LTX2Requests.SampleFormat.S16LE
		feeder.append(LTX2ChunkConvert.pcm_to_frames(pending.data, format, pending.channels))
	if pending.sample_rate > 0:
		_start_voice(player, feeder, pending)
	else:
		pending.job.accepted.connect(
			_start_voice.bind(player, feeder, pending).unbind(1), CONNECT_ONE_SHOT
		)
	played.emit(event, false)


## Generates the sounds of [param events] into the cache without playing them (at level load).
## Each item is an event name, or [code][event, values][/code].
func prefetch(events: Array) -> void:
	for item: Variant in events:
		var event := str(item[0]) if item is Array else str(item)
		var values: Dictionary = item[1] if item is Array and item.size() > 1 else {}
		var request := request_for(event, values)
		if str(request["prompt"]).is_empty():
			push_error("LTX2FoleyPlayer: no template for event '%s'" % event)
			continue
		var key := cache_key(request)
		if _lookup(key) != null:
			cached.emit(event)
			continue
		request["priority"] = LTX2Requests.Priority.BATCH
		_pending_for(key, event, request)


## Forgets every sound kept in memory (the disk cache stays).
static func clear_memory_cache() -> void:
	_memory.clear()


func _lookup(key: String) -> AudioStreamWAV:
	if _memory.has(key):
		return _memory[key]
	if disk_cache:
		var sound := LTX2Wav.load_file(_cache_path(key))
		if sound != null:
			_memory[key] = sound
			return sound
	return null


func _cache_path(key: String) -> String:
	return LTX2Settings.foley_cache_dir().path_join(key + ".wav")


func _pending_for(key: String, event: String, request: Dictionary) -> Pending:
	if _pending.has(key):
		var existing: Pending = _pending[key]
		# A pending whose job ended without it being told lost its handlers (the foley player
		# that made it was freed): start over rather than wait forever.
		if not existing.done and not existing.job.is_done():
			return existing
	var pending := Pending.new()
	pending.key = key
	pending.job = _get_connection().generate(request)
	_pending[key] = pending
	pending.job.accepted.connect(_on_pending_accepted.bind(pending))
	pending.job.audio_received.connect(_on_pending_audio.bind(pending))
	pending.job.completed.connect(_on_pending_completed.bind(pending, event))
	pending.job.failed.connect(_on_pending_failed.bind(pending, event))
	return pending


func _on_pending_accepted(format: Dictionary, pending: Pending) -> void:
	pending.sample_rate = int(format.get("sample_rate", 0))
	pending.channels = int(format.get("channels", 2))


func _on_pending_audio(chunk: Dictionary, pending: Pending) -> void:
	var format := int(chunk.get("sample_format", LTX2Requests.SampleFormat.S16LE))
	var data: PackedByteArray = chunk.get("data", PackedByteArray())
	pending.data.append_array(LTX2ChunkConvert.pcm_to_s16(data, format))
	if pending.feeders.is_empty():
		return
	var frames := LTX2ChunkConvert.audio_frames(chunk)
	for feeder in pending.feeders:
		feeder.append(frames)


func _on_pending_completed(_summary: Dictionary, pending: Pending, event: String) -> void:
	_pending.erase(pending.key)
	var sound := LTX2Wav.from_s16(pending.data, pending.sample_rate, pending.channels)
	_memory[pending.key] = sound
	if disk_cache:
		var path := _cache_path(pending.key)
		var folder := ProjectSettings.globalize_path(path.get_base_dir())
		DirAccess.make_dir_recursive_absolute(folder)
		var err := LTX2Wav.save_atomic(sound, path)
		if err != OK:
			push_warning("LTX2FoleyPlayer: could not cache %s: %s" % [path, error_string(err)])
	pending.done = true
	cached.emit(event)


func _on_pending_failed(code: String, message: String, pending: Pending, event: String) -> void:
	_pending.erase(pending.key)
	pending.done = true
	failed.emit(event, code, message)


# [param voice] is untyped on purpose: it may have been freed before the job was accepted, and a
# freed object fails the engine's argument check of a typed parameter before the body runs.
func _start_voice(voice: Variant, feeder: LTX2PcmFeeder, pending: Pending) -> void:
	if not is_instance_valid(voice):
		return
	var player: Node = voice
	# The mix rate must be set before play(); it comes from the accepted ClipFormat.
	player.set("stream", LTX2PcmFeeder.make_stream(pending.sample_rate, 0.5))
	player.call("play")
	var playback := player.call("get_stream_playback") as AudioStreamGeneratorPlayback
	if playback == null:
		return  # play() did not start (the engine says why).
	feeder.attach(playback)
	feeder.pump()


func _play_stream(sound: AudioStream) -> void:
	var player := _spawn_voice()
	if player == null:
		return
	player.set("stream", sound)
	player.connect("finished", player.queue_free)
	player.call("play")
	_voices.append({"player": player, "feeder": null})


func _spawn_voice() -> Node:
	var active := 0
	for voice in _voices:
		if is_instance_valid(voice["player"]):
			active += 1
	if active >= max_voices:
		push_warning("LTX2FoleyPlayer: %d voices already playing; sound dropped" % active)
		return null
	var place := _emitter()
	var player: Node
	var mode := positional
	if mode == Positional.AUTO:
		mode = (
			Positional.TWO_D
			if place is Node2D
			else (Positional.THREE_D if place is Node3D else Positional.NONE)
		)
	match mode:
		Positional.TWO_D:
			player = AudioStreamPlayer2D.new()
		Positional.THREE_D:
			player = AudioStreamPlayer3D.new()
		_:
			player = AudioStreamPlayer.new()
			place = self
	player.set("bus", bus)
	player.set("volume_db", volume_db)
	place.add_child(player, false, Node.INTERNAL_MODE_BACK)
	return player


func _emitter() -> Node:
	if emitter != null:
		return emitter
	var parent := get_parent()
	if parent is Node2D or parent is Node3D:
		return parent
	return self


func _get_connection() -> LTX2Connection:
	if connection == null and is_inside_tree():  # Absolute paths only resolve inside the tree.
		connection = get_node_or_null("/root/LTX2") as LTX2Connection
	if connection == null:
		# No autoload (plugin not enabled): keep a private connection.
		connection = LTX2Connection.new()
		add_child(connection, false, Node.INTERNAL_MODE_BACK)
	return connection
