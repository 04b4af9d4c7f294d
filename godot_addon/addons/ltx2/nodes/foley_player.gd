@tool
@icon("res://addons/ltx2/icon.svg")
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

## [method play_event] ends in exactly one of [signal played] (the sound started; [param cached]
## is true when it came from the cache, with no daemon request) or [signal failed]; neither is
## emitted before [method play_event] returns, so [code]await foley.played[/code] after the call
## works. A sound whose stream breaks after it started plays what arrived and stops.
signal played(event: String, cached: bool)
## A sound could not be played or prefetched: the daemon's error code and message,
## [code]INVALID_ARGUMENT[/code] for an event without a template, [code]RESOURCE_EXHAUSTED[/code]
## when [member max_voices] are already playing.
signal failed(event: String, code: String, message: String)
## A sound is in the cache: once per [method prefetch] item, and once per [method play_event]
## that generated it, when its last chunk arrived.
signal cached(event: String)

## How voices are placed in the world.
enum Positional { AUTO, NONE, TWO_D, THREE_D }

static var _memory := {}  # cache key -> AudioStreamWAV, shared by every foley player
static var _pending := {}  # cache key -> LTX2FoleyPlayer.Pending while generating
static var _live_players := 0  # foley players in a tree (the memory cache lives while any is)

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


## A sound being generated, shared by every foley player that asked for it: collects 16-bit PCM,
## feeds the voices that wait for it, and tells the players that asked when it starts, ends or
## fails. It holds the job's signal connections itself (one per job), so that any number of
## voices, from any number of players, can wait for one sound.
class Pending:
	extends RefCounted
	var job: LTX2Job
	var key: String
	var data := PackedByteArray()
	var sample_rate: int = 0
	var channels: int = 2
	var done := false
	var write_disk := false
	## {"owner": LTX2FoleyPlayer, "player": Node, "feeder": LTX2PcmFeeder, "event": String}
	var voices: Array[Dictionary] = []
	## {"owner": LTX2FoleyPlayer, "event": String, "voice": bool}: who hears of the outcome.
	var askers: Array[Dictionary] = []

	func _init(generating: LTX2Job, cache_key: String) -> void:
		job = generating
		key = cache_key
		job.accepted.connect(_on_accepted)
		job.audio_received.connect(_on_audio)
		job.completed.connect(_on_completed)
		job.failed.connect(_on_failed)

	func is_accepted() -> bool:
		return sample_rate > 0

	func _on_accepted(format: Dictionary) -> void:
		sample_rate = int(format.get("sample_rate", 0))
		channels = int(format.get("channels", 2))
		for voice in voices:
			var owner: Variant = voice["owner"]
			if is_instance_valid(owner):
				owner.call("_start_voice", voice, self)

	func _on_audio(chunk: Dictionary) -> void:
		var format := int(chunk.get("sample_format", LTX2Requests.SampleFormat.S16LE))
		var pcm: PackedByteArray = chunk.get("data", PackedByteArray())
		data.append_array(LTX2ChunkConvert.pcm_to_s16(pcm, format))
		if voices.is_empty():
			return
		var frames := LTX2ChunkConvert.audio_frames(chunk)
		for voice in voices:
			var feeder: LTX2PcmFeeder = voice["feeder"]
			feeder.append(frames)

	func _on_completed(_summary: Dictionary) -> void:
		done = true
		for voice in voices:
			voice["done"] = true
		LTX2FoleyPlayer._store(self)
		for asker in askers:
			var owner: Variant = asker["owner"]
			if is_instance_valid(owner):
				owner.emit_signal("cached", asker["event"])
		askers.clear()
		voices.clear()

	func _on_failed(code: String, message: String) -> void:
		done = true
		for voice in voices:
			voice["done"] = true
		LTX2FoleyPlayer._pending.erase(key)
		for voice in voices:
			var owner: Variant = voice["owner"]
			if is_instance_valid(owner):
				owner.call("_drop_unstarted", voice, code, message)
		for asker in askers:
			var owner: Variant = asker["owner"]
			if is_instance_valid(owner) and not asker["voice"]:
				owner.emit_signal("failed", asker["event"], code, message)
		askers.clear()
		voices.clear()


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
		if voice.get("done", false) and feeder.unplayed_frames() <= 0:
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


## Plays the sound of [param event] (generating it the first time). The outcome is
## [signal played] or [signal failed], after this call returns.
func play_event(event: String, values: Dictionary = {}) -> void:
	var request := request_for(event, values)
	if str(request["prompt"]).is_empty():
		_refuse(event, "INVALID_ARGUMENT", "no template for event '%s'" % event)
		return
	var key := cache_key(request)
	var sound := _lookup(key)
	if sound != null:
		if _play_stream(sound):
			emit_signal.call_deferred("played", event, true)
		else:
			_refuse_voice(event)
		return
	var player := _spawn_voice()
	if player == null:
		_refuse_voice(event)
		return
	var pending := _pending_for(key, request)
	var feeder := LTX2PcmFeeder.new()
	# No reference to the pending here: it holds the voice, and a cycle would never be freed.
	var voice := {"owner": self, "player": player, "feeder": feeder, "event": event}
	voice["started"] = false
	voice["done"] = false
	_voices.append(voice)
	pending.voices.append(voice)
	pending.askers.append({"owner": self, "event": event, "voice": true})
	if disk_cache:
		pending.write_disk = true
	if not pending.data.is_empty():  # Joined a sound already arriving: start from its beginning.
		var format := LTX2Requests.SampleFormat.S16LE
		feeder.append(LTX2ChunkConvert.pcm_to_frames(pending.data, format, pending.channels))
	if pending.is_accepted():
		# Started now, told after this call returns (the convention of every outcome signal).
		_start_voice(voice, pending, true)


## Generates the sounds of [param events] into the cache without playing them (at level load).
## Each item is an event name, or [code][event, values][/code]. Each item ends in
## [signal cached] or [signal failed], after this call returns.
func prefetch(events: Array) -> void:
	for item: Variant in events:
		var event := str(item[0]) if item is Array else str(item)
		var values: Dictionary = item[1] if item is Array and item.size() > 1 else {}
		var request := request_for(event, values)
		if str(request["prompt"]).is_empty():
			_refuse(event, "INVALID_ARGUMENT", "no template for event '%s'" % event)
			continue
		var key := cache_key(request)
		if _lookup(key) != null:
			emit_signal.call_deferred("cached", event)
			continue
		request["priority"] = LTX2Requests.Priority.BATCH
		var pending := _pending_for(key, request)
		pending.askers.append({"owner": self, "event": event, "voice": false})
		if disk_cache:
			pending.write_disk = true


## Forgets every sound kept in memory (the disk cache stays).
static func clear_memory_cache() -> void:
	_memory.clear()


## Number of sounds being generated right now, by every foley player.
static func pending_count() -> int:
	return _pending.size()


# Keeps the sound of a completed pending in memory and, when a player asked for it, on disk.
static func _store(pending: Pending) -> void:
	_pending.erase(pending.key)
	var sound := LTX2Wav.from_s16(pending.data, pending.sample_rate, pending.channels)
	_memory[pending.key] = sound
	if not pending.write_disk:
		return
	var path := _cache_path(pending.key)
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path(path.get_base_dir()))
	var err := LTX2Wav.save_atomic(sound, path)
	if err != OK:
		push_warning("LTX2FoleyPlayer: could not cache %s: %s" % [path, error_string(err)])


func _exit_tree() -> void:
	# The memory cache is static (shared by every player): let it go with the last player, or
	# its sounds outlive the scene tree and the engine reports them leaked at exit.
	_live_players -= 1
	if _live_players <= 0:
		_memory.clear()


func _enter_tree() -> void:
	_live_players += 1


func _lookup(key: String) -> AudioStreamWAV:
	if _memory.has(key):
		return _memory[key]
	if disk_cache:
		var sound := LTX2Wav.load_file(_cache_path(key))
		if sound != null:
			_memory[key] = sound
			return sound
	return null


static func _cache_path(key: String) -> String:
	return LTX2Settings.foley_cache_dir().path_join(key + ".wav")


func _pending_for(key: String, request: Dictionary) -> Pending:
	if _pending.has(key):
		var existing: Pending = _pending[key]
		if not existing.done and not existing.job.is_done():
			return existing
	var pending := Pending.new(_get_connection().generate(request), key)
	_pending[key] = pending
	return pending


func _refuse(event: String, code: String, message: String) -> void:
	push_error("LTX2FoleyPlayer: %s" % message)
	emit_signal.call_deferred("failed", event, code, message)


func _refuse_voice(event: String) -> void:
	var message := "%d voices already playing; sound dropped" % max_voices
	push_warning("LTX2FoleyPlayer: " + message)
	emit_signal.call_deferred("failed", event, "RESOURCE_EXHAUSTED", message)


# Starts a voice once its sound's format is known (the generator's mix rate must be set before
# play()). [param later] defers the played signal: the voice started inside play_event().
func _start_voice(voice: Dictionary, pending: Pending, later: bool = false) -> void:
	var player: Variant = voice["player"]
	if not is_instance_valid(player) or voice["started"]:
		return
	voice["started"] = true
	var feeder: LTX2PcmFeeder = voice["feeder"]
	player.set("stream", LTX2PcmFeeder.make_stream(pending.sample_rate, 0.5))
	player.call("play")
	var playback := player.call("get_stream_playback") as AudioStreamGeneratorPlayback
	if playback == null:
		return  # play() did not start (the engine says why).
	feeder.attach(playback)
	feeder.pump()
	if later:
		emit_signal.call_deferred("played", voice["event"], false)
	else:
		played.emit(voice["event"], false)


# The sound failed: a voice that never started is freed and reports the failure.
func _drop_unstarted(voice: Dictionary, code: String, message: String) -> void:
	if voice["started"]:
		return
	var player: Variant = voice["player"]
	if is_instance_valid(player):
		(player as Node).queue_free()
	_voices.erase(voice)
	failed.emit(voice["event"], code, message)


func _play_stream(sound: AudioStream) -> bool:
	var player := _spawn_voice()
	if player == null:
		return false
	player.set("stream", sound)
	player.connect("finished", player.queue_free)
	player.call("play")
	_voices.append({"player": player, "feeder": null})
	return true


func _spawn_voice() -> Node:
	var active := 0
	for voice in _voices:
		if is_instance_valid(voice["player"]):
			active += 1
	if active >= max_voices:
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
	if connection == null:
		connection = LTX2Connection.for_node(self)
	return connection
