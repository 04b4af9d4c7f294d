extends "res://test/test_case.gd"
## LTX2CutscenePlayer on a baked clip without audio (wall clock): frames reach the target,
## skip and the end emit finished, a streamed job waits for its start buffer.


func _clip(frames: int, fps: float) -> LTX2Clip:
	var clip := LTX2Clip.new()
	clip.width = 4
	clip.height = 2
	clip.num_frames = frames
	clip.frame_rate = fps
	var rgb := PackedByteArray()
	rgb.resize(frames * 4 * 2 * 3)
	for i in range(frames):
		rgb[i * 24] = 10 * i
	clip.frames = rgb
	return clip


func _player() -> LTX2CutscenePlayer:
	var player := LTX2CutscenePlayer.new()
	player.target = TextureRect.new()
	player.add_child(player.target)
	tree.root.add_child(player)
	return player


func test_baked_clip_shows_frames_and_finishes() -> void:
	var player := _player()
	var ends := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	player.play_clip(_clip(3, 30.0))
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.PLAYING)
	var texture := player.target.texture
	expect(texture != null, "first frame shown at once")
	if texture != null:
		expect_eq(texture.get_size(), Vector2(4, 2))
	var ended := func() -> bool: return not ends.is_empty()
	expect(await wait_until(ended, 3.0), "finishes")
	expect_eq(ends, [false])
	expect_eq(player.get_frame_index(), 2, "last frame shown")
	player.queue_free()


func test_skip_emits_finished_once() -> void:
	var player := _player()
	var ends := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	player.play_clip(_clip(100, 24.0))
	player.skip()
	player.skip()
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.DONE)
	expect_eq(ends, [], "not before skip() returns")
	await player.finished
	await settle()
	expect_eq(ends, [true])
	player.queue_free()


func test_started_and_finished_can_be_awaited_after_the_call() -> void:
	var player := _player()
	player.play_clip(_clip(2, 60.0))
	await player.started
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.PLAYING)
	var skipped: bool = await player.finished
	expect_eq(skipped, false)
	player.queue_free()


func test_a_new_play_ends_the_old_one_as_skipped() -> void:
	var player := _player()
	var ends := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	player.play_clip(_clip(100, 24.0))
	player.play_clip(_clip(2, 60.0))
	expect_eq(ends, [true], "the first play ended when the second started")
	await player.finished
	expect_eq(ends, [true, false])
	player.queue_free()


func test_pause_holds_the_state() -> void:
	var player := _player()
	player.play_clip(_clip(100, 24.0))
	player.pause()
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.PAUSED)
	player.pause(false)
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.PLAYING)
	player.queue_free()


func test_invalid_clip_does_not_play() -> void:
	var player := _player()
	var clip := _clip(2, 24.0)
	clip.num_frames = 3
	var failures := []
	player.failed.connect(func(code: String, _m: String) -> void: failures.append(code))
	expect_engine_error("clip is not playable: frames holds 48 bytes")
	player.play_clip(clip)
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.DONE)
	var skipped: bool = await player.finished
	expect_eq(skipped, false)
	expect_eq(failures, ["INVALID_ARGUMENT"], "failed comes before finished")
	expect_engine_error("no clip to play")
	player.play()
	await player.finished
	expect_eq(player.error_code, "INVALID_ARGUMENT")
	player.queue_free()


func test_streamed_job_waits_for_its_start_buffer_and_reports_failure() -> void:
	var player := _player()
	player.start_buffer_s = 0.5
	var failures := []
	player.failed.connect(func(code: String, _m: String) -> void: failures.append(code))
	var job := LTX2Job.new(1, {})
	player.play_job(job)
	var fmt := {
		"width": 4,
		"height": 2,
		"num_frames": 25,
		"frame_rate": 24.0,
		"sample_rate": 8000,
		"channels": 2,
		"num_samples": 8000,
		"sample_format": 2
	}
	job.handle_message({"type": "accepted", "job_id": "j", "format": fmt})
	var pcm := PackedFloat32Array()
	pcm.resize(2 * 800)  # 0.1 s: below the start buffer
	job.handle_message(
		{
			"type": "audio_chunk",
			"first_sample": 0,
			"num_samples": 800,
			"sample_rate": 8000,
			"channels": 2,
			"sample_format": 2,
			"data": pcm.to_byte_array()
		}
	)
	await wait_seconds(0.1)
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.BUFFERING)
	var ends := []
	player.finished.connect(func(skipped: bool) -> void: ends.append(skipped))
	job.handle_message({"type": "error", "code": "DEADLINE_EXCEEDED", "message": "too slow"})
	expect_eq(failures, ["DEADLINE_EXCEEDED"])
	expect_eq(ends, [false], "a failed play finishes too")
	expect_eq(player.get_state(), LTX2CutscenePlayer.PlayState.DONE)
	player.queue_free()


func test_configuration_warnings() -> void:
	var player := LTX2CutscenePlayer.new()
	expect_eq(player._get_configuration_warnings().size(), 1, "no target")
	player.autoplay = true
	expect_eq(player._get_configuration_warnings().size(), 2, "autoplay without a clip")
	player.free()
