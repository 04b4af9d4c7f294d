extends Node
## End-to-end cases against a real ltx2d daemon, run by tests/godot/test_e2e.py:
##
##   godot --headless --path godot_addon res://test/e2e/e2e.tscn -- --case=online --ltx2-port=N
##
## The game side of each case runs here, through the LTX2 autoload and the addon's nodes as a
## game uses them; what happened is printed as one "E2E {json}" line per case for the test to
## check. "E2E kill" asks the test to kill the daemon (it starts a new one on the same port).
## Cases: online (stream + bake, cancel, foley, a dialogue line driving a cutscene, daemon
## killed), offline (no daemon: the caches
## and the baked clip, and what a game sees when the daemon is down).

const PROMPT := "a castle gate creaks open at dawn, chains rattling"
const BAKED := "res://cutscenes/e2e_gate.res"
const FOLEY_TEMPLATES := {
	"impact": "a wooden crate lands hard on a stone floor",
	"door_slam": "a heavy {material} door slams shut",
}

var _failures_seen: Array = []  # [ms, code] of every connection_failed
var _cancelling: LTX2Job = null  # The job _cancel_at_first_step cancels.


func _ready() -> void:
	Engine.max_fps = 240  # Headless would spin as fast as it can; frames stay far under 1/24 s.
	LTX2.connection_failed.connect(
		func(code: String, _m: String) -> void: _failures_seen.append([Time.get_ticks_msec(), code])
	)
	var plans := {
		"online":
		[_stream_and_bake, _cancel_mid_stream, _foley_online, _dialogue, _shots, _daemon_killed],
		"offline": [_foley_offline, _baked_clip_offline, _daemon_down],
	}
	var alone := [
		"stream_and_bake", "cancel_mid_stream", "foley_online", "dialogue", "shots", "daemon_killed"
	]
	for name: String in alone:
		plans[name] = [Callable(self, "_" + name)]  # One case alone, to debug it.
	var case := LTX2Settings.user_arg("case", "")
	if not plans.has(case):
		push_error("e2e: unknown case '%s'" % case)
	for step: Callable in plans.get(case, []):
		await step.call()
	# A player stopped in the frame the game quits keeps its playback in the AudioServer, which
	# the engine reports as leaked: give the mixer a moment to let go.
	await _until(func() -> bool: return false, 0.25)
	get_tree().quit()


func _report(case: String, facts: Dictionary) -> void:
	facts["case"] = case
	print("E2E ", JSON.stringify(facts))


func _until(condition: Callable, timeout_s: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await get_tree().process_frame
	return true


func _screen_player() -> LTX2CutscenePlayer:
	var screen := TextureRect.new()
	add_child(screen)
	var player := LTX2CutscenePlayer.new()
	player.target = screen
	add_child(player)
	return player


# Plays what [param start] starts on [param player] to its end, noting every frame shown, the
# audio clock beside it, and what the shown texture holds. Returns the facts.
func _watch(player: LTX2CutscenePlayer, start: Callable) -> Dictionary:
	var shown: Array[int] = []
	var samples: Array = []  # [frame index, audio position s, wall s] once per frame
	var hashes := {}  # frame index -> hash of the texture's pixels when it was first shown
	var ends := []
	var failures := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	player.failed.connect(func(code: String, m: String) -> void: failures.append([code, m]))
	start.call()
	if player.get_frame_index() >= 0:  # A baked clip shows its first frame at once.
		shown.append(player.get_frame_index())
	var t0 := Time.get_ticks_msec()
	while ends.is_empty() and Time.get_ticks_msec() - t0 < 60000:
		await get_tree().process_frame
		var index := player.get_frame_index()
		if player.get_state() == LTX2CutscenePlayer.PlayState.PLAYING:
			var wall := (Time.get_ticks_msec() - t0) / 1000.0
			samples.append([index, player.get_frame_clock_s(), wall])
		if index >= 0 and (shown.is_empty() or shown[-1] != index):
			shown.append(index)
			# Headless, the dummy renderer keeps a texture's first image whatever update()
			# gives it: the pixels on screen can only be read back when rendered.
			if DisplayServer.get_name() != "headless":
				var texture := player.target.texture
				var image := texture.get_image() if texture != null else null
				hashes[str(index)] = hash(image.get_data()) if image != null else 0
	return {
		"shown": shown,
		"clock": samples,
		"hashes": hashes,
		"ends": ends,
		"failures": failures,
		"samples_pushed": player.get_samples_pushed(),
	}


func _frame_hashes(clip: LTX2Clip) -> Dictionary:
	var out := {}
	for i in range(clip.num_frames):
		out[str(i)] = hash(clip.frame_image(i).get_data())
	return out


func _stream_and_bake() -> void:
	var hellos := []
	LTX2.connected.connect(func(hello: Dictionary) -> void: hellos.append(hello))
	var player := _screen_player()
	var made := {}  # A lambda captures locals by value: it fills this instead.
	var start := func() -> void:
		made["job"] = LTX2.generate(LTX2Requests.cutscene(PROMPT, 256, 256, 49, 5))
		made["recorder"] = LTX2ClipRecorder.new(made["job"])
		player.play_job(made["job"])
	var facts := await _watch(player, start)
	var job: LTX2Job = made["job"]
	var recorder: LTX2ClipRecorder = made["recorder"]
	facts["hellos"] = hellos.size()
	facts["state"] = job.state
	facts["format"] = job.format
	facts["samples_received"] = job.samples_done
	facts["frames_received"] = job.frames_done
	if recorder.clip != null:
		facts["clip_hashes"] = _frame_hashes(recorder.clip)
		facts["bake"] = LTX2ClipBaker.bake(recorder.clip, BAKED)
		var cutscenes := ProjectSettings.globalize_path("res://cutscenes")
		facts["baked_files"] = Array(DirAccess.get_files_at(cutscenes))
	_report("stream", facts)
	player.queue_free()


func _cancel_mid_stream() -> void:
	var request := LTX2Requests.cutscene(PROMPT, 256, 256, 49, 6)
	request["steps"] = 40
	var job: LTX2Job = LTX2.generate(request)
	var cancelled_at := {}
	# Not a lambda that captures the job: the job's own signal would then hold the job, a cycle
	# that is never freed (the engine reports it leaked at exit).
	job.progressed.connect(_cancel_at_first_step.bind(job.id, cancelled_at))
	_cancelling = job
	await _until(job.is_done, 60.0)
	_cancelling = null
	var next: LTX2Job = LTX2.generate(LTX2Requests.cutscene("a bell rings", 64, 64, 9, 1))
	await _until(next.is_done, 60.0)
	_report(
		"cancel",
		{
			"state": job.state,
			"code": job.error_code,
			"cancelled_at_step": cancelled_at.get("step", -1),
			"frames_received": job.frames_done,
			"next_state": next.state,
			"next_frames": next.frames_done,
		}
	)


func _cancel_at_first_step(progress: Dictionary, job_id: int, cancelled_at: Dictionary) -> void:
	var phase := int(progress.get("phase", 0))
	if cancelled_at.is_empty() and phase == LTX2Requests.Phase.DENOISING:
		cancelled_at["step"] = int(progress.get("step", 0))
		if _cancelling != null and _cancelling.id == job_id:
			_cancelling.cancel()


func _foley() -> LTX2FoleyPlayer:
	var foley := LTX2FoleyPlayer.new()
	foley.templates = FOLEY_TEMPLATES
	foley.duration_s = 1.0
	add_child(foley)
	return foley


func _foley_online() -> void:
	var foley := _foley()
	var played := []
	var failed := []
	var cached := []
	foley.played.connect(func(event: String, hit: bool) -> void: played.append([event, hit]))
	foley.failed.connect(
		func(e: String, code: String, _m: String) -> void: failed.append([e, code])
	)
	foley.cached.connect(func(event: String) -> void: cached.append(event))
	var made := LTX2.requests_made
	foley.play_event("impact")
	var played_inside_the_call := played.size()
	foley.play_event("impact")  # Again while its sound is being generated: joins it.
	await foley.played  # The docs' pattern: the signal comes after play_event() returns.
	await _until(func() -> bool: return cached.size() >= 2 or not failed.is_empty(), 30.0)
	var requests_first := LTX2.requests_made - made
	foley.play_event("impact")
	var hit: Array = await foley.played
	var requests_cached := LTX2.requests_made - made - requests_first
	foley.prefetch([["door_slam", {"material": "oak"}]])
	await _until(func() -> bool: return cached.size() >= 3 or not failed.is_empty(), 30.0)
	var folder := ProjectSettings.globalize_path(LTX2Settings.foley_cache_dir())
	_report(
		"foley",
		{
			"played_inside_the_call": played_inside_the_call,
			"played": played,
			"failed": failed,
			"cached": cached,
			"requests_first": requests_first,
			"requests_cached": requests_cached,
			"third": hit,
			"cache_files": Array(DirAccess.get_files_at(folder)),
			"pending": LTX2FoleyPlayer.pending_count(),
		}
	)
	await _until(func() -> bool: return foley.get_child_count(true) == 0, 5.0)


# A dialogue line from the project (here made in code: 0.5 s of 16-bit mono at 24 kHz) drives a
# cutscene through audio_to_video: its frames follow the line, and its sound is the line.
func _dialogue() -> void:
	var line := AudioStreamWAV.new()
	line.format = AudioStreamWAV.FORMAT_16_BITS
	line.mix_rate = 24000
	line.stereo = false
	var pcm := PackedByteArray()
	pcm.resize(12000 * 2)
	for i in range(12000):
		pcm.encode_s16(i * 2, int(8000.0 * sin(i * 0.05)))
	line.data = pcm
	var player := _screen_player()
	var made := {}
	var start := func() -> void:
		made["job"] = LTX2.generate(LTX2Requests.dialogue("a knight speaks to camera", line, 64, 64, 3))
		made["recorder"] = LTX2ClipRecorder.new(made["job"])
		player.play_job(made["job"])
	var facts := await _watch(player, start)
	var job: LTX2Job = made["job"]
	var clip: LTX2Clip = made["recorder"].clip
	facts["state"] = job.state
	facts["format"] = job.format
	facts["frames_received"] = job.frames_done
	if clip != null:
		facts["clip_hashes"] = _frame_hashes(clip)
	if clip != null and clip.audio != null:
		# The clip's sound against the line, sample by sample (s16 stereo against s16 mono).
		var data := clip.audio.data
		var worst := 0
		for i in range(12000):
			var given := pcm.decode_s16(i * 2)
			worst = maxi(worst, absi(data.decode_s16(i * 4) - given))
			worst = maxi(worst, absi(data.decode_s16(i * 4 + 2) - given))
		facts["line_max_diff"] = worst
		facts["clip_samples"] = data.size() / 4
	_report("dialogue", facts)
	player.queue_free()


# Three shots, each continuing the one before, played as one cutscene.
func _shots() -> void:
	var player := _screen_player()
	var accepted := []
	var stalls := []
	player.shot_accepted.connect(
		func(index: int, format: Dictionary) -> void: accepted.append([index, format])
	)
	player.stalled.connect(func() -> void: stalls.append(player.get_frame_index()))
	var shots: Array[Dictionary] = [
		LTX2Requests.cutscene("a knight rides to the gate", 64, 64, 25, 11),
		LTX2Requests.cutscene("the gate opens", 64, 64, 25, 12),
		LTX2Requests.cutscene("the knight rides through", 64, 64, 25, 13),
	]
	var facts := await _watch(player, player.play_shots.bind(shots, 9))
	facts["accepted"] = accepted
	facts["stalls"] = stalls
	_report("shots", facts)
	player.queue_free()


func _daemon_killed() -> void:
	var request := LTX2Requests.cutscene(PROMPT, 256, 256, 49, 7)
	request["steps"] = 40
	var job: LTX2Job = LTX2.generate(request)
	var asked := [false]
	job.progressed.connect(
		func(progress: Dictionary) -> void:
			if not asked[0] and int(progress.get("phase", 0)) == LTX2Requests.Phase.DENOISING:
				asked[0] = true
				print("E2E kill")
	)
	await _until(job.is_done, 60.0)
	var lost_ms := Time.get_ticks_msec()
	_failures_seen.clear()
	var reconnected := await _until(LTX2.is_ready, 90.0)
	var back_ms := Time.get_ticks_msec()
	var next: LTX2Job = LTX2.generate(LTX2Requests.cutscene("a bell rings", 64, 64, 9, 2))
	await _until(next.is_done, 60.0)
	var attempts: Array = []
	for failure: Array in _failures_seen:
		attempts.append((int(failure[0]) - lost_ms) / 1000.0)
	_report(
		"killed",
		{
			"state": job.state,
			"code": job.error_code,
			"message": job.error_message,
			"reconnected": reconnected,
			"reconnect_s": (back_ms - lost_ms) / 1000.0,
			"failed_attempts_s": attempts,
			"next_state": next.state,
			"next_frames": next.frames_done,
		}
	)


func _foley_offline() -> void:
	var foley := _foley()
	var played := []
	foley.played.connect(func(event: String, hit: bool) -> void: played.append([event, hit]))
	foley.play_event("impact")
	foley.play_event("door_slam", {"material": "oak"})
	await _until(func() -> bool: return played.size() >= 2, 5.0)
	_report(
		"foley_offline",
		{"played": played, "requests": LTX2.requests_made, "status": LTX2.get_status()}
	)
	await _until(func() -> bool: return foley.get_child_count(true) == 0, 5.0)


func _baked_clip_offline() -> void:
	var clip: LTX2Clip = load(BAKED)
	var player := _screen_player()
	var facts := await _watch(player, player.play_clip.bind(clip))
	facts["clip_hashes"] = _frame_hashes(clip)
	facts["num_frames"] = clip.num_frames
	facts["audio_frames"] = int(clip.audio.get_length() * clip.audio.mix_rate + 0.5)
	facts["requests"] = LTX2.requests_made
	var sidecar: Variant = JSON.parse_string(
		FileAccess.get_file_as_string(BAKED.replace(".res", ".json"))
	)
	facts["sidecar"] = sidecar
	_report("baked", facts)
	player.queue_free()


# The docs' examples, as a game runs them when no daemon listens.
func _daemon_down() -> void:
	var player := _screen_player()
	var failures := []
	player.failed.connect(func(code: String, _m: String) -> void: failures.append(code))
	var job: LTX2Job = LTX2.generate(LTX2Requests.cutscene(PROMPT, 256, 256, 49))
	player.play_job(job)
	var skipped: bool = await player.finished
	var foley := _foley()
	foley.play_event("door_slam", {"material": "iron"})  # Not cached: needs the daemon.
	var failure: Array = await foley.failed
	_report(
		"down",
		{
			"cutscene_failures": failures,
			"skipped": skipped,
			"job_code": job.error_code,
			"job_message": job.error_message,
			"foley_failure": [failure[0], failure[1]],
		}
	)
	LTX2.disconnect_from_daemon()
	player.queue_free()
