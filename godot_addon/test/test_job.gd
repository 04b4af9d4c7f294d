extends "res://test/test_case.gd"
## LTX2Job: the state machine, its signals, and the streaming contract it enforces.

const FORMAT := {
	"width": 64,
	"height": 64,
	"num_frames": 17,
	"frame_rate": 24.0,
	"sample_rate": 24000,
	"channels": 2,
	"num_samples": 1000,
	"sample_format": 2,
	"seed": 7,
	"steps": 2,
	"audio_only": false,
}


# Counts every signal of a job, in order.
class Recorder:
	extends RefCounted
	var events: Array[String] = []
	var failure: Array = []

	func _init(job: LTX2Job) -> void:
		job.accepted.connect(func(_f: Dictionary) -> void: events.append("accepted"))
		job.progressed.connect(func(_p: Dictionary) -> void: events.append("progressed"))
		job.audio_received.connect(func(_c: Dictionary) -> void: events.append("audio"))
		job.frames_received.connect(func(_c: Dictionary) -> void: events.append("frames"))
		job.completed.connect(func(_s: Dictionary) -> void: events.append("completed"))
		job.failed.connect(
			func(code: String, message: String) -> void:
				events.append("failed")
				failure = [code, message]
		)
		job.ended.connect(func(state: int) -> void: events.append("ended:%d" % state))


func _accepted() -> Dictionary:
	return {"type": "accepted", "id": 1, "job_id": "j-1", "queue_position": 2, "format": FORMAT}


func _audio(first: int, count: int) -> Dictionary:
	return {"type": "audio_chunk", "id": 1, "first_sample": first, "num_samples": count}


func _video(first: int, count: int) -> Dictionary:
	return {"type": "video_chunk", "id": 1, "first_frame": first, "num_frames": count}


func test_happy_path() -> void:
	var job := LTX2Job.new(1, {"prompt": "x"})
	var seen := Recorder.new(job)
	expect_eq(job.state, LTX2Job.State.QUEUED)
	job.handle_message(_accepted())
	expect_eq(job.job_id, "j-1")
	expect_eq(job.queue_position, 2)
	expect_eq(job.format, FORMAT)
	expect_eq(job.state, LTX2Job.State.QUEUED, "accepted is still queued")
	job.handle_message({"type": "progress", "phase": LTX2Requests.Phase.QUEUED})
	expect_eq(job.state, LTX2Job.State.QUEUED)
	job.handle_message({"type": "progress", "phase": LTX2Requests.Phase.DENOISING, "step": 1})
	expect_eq(job.state, LTX2Job.State.RUNNING)
	job.handle_message({"type": "cancel", "found": false})  # A stray cancel reply changes nothing.
	job.handle_message(_audio(0, 600))
	job.handle_message(_video(0, 9))
	job.handle_message(_audio(600, 400))
	job.handle_message(_video(9, 8))
	job.handle_message({"type": "completed", "seed": 7, "num_frames": 17, "num_samples": 1000})
	expect_eq(job.state, LTX2Job.State.COMPLETED)
	expect(job.is_done(), "done")
	expect_eq(job.samples_done, 1000)
	expect_eq(job.frames_done, 17)
	expect_eq(job.summary["seed"], 7)
	expect_eq(job.duration_s(), 1000.0 / 24000.0)
	var expected: Array[String] = [
		"accepted",
		"progressed",
		"progressed",
		"audio",
		"frames",
		"audio",
		"frames",
		"completed",
		"ended:%d" % LTX2Job.State.COMPLETED
	]
	expect_eq(seen.events, expected)


func test_messages_after_the_end_are_ignored() -> void:
	var job := LTX2Job.new(1)
	var seen := Recorder.new(job)
	job.handle_message(_accepted())
	job.handle_message({"type": "error", "code": "RESOURCE_EXHAUSTED", "message": "queue full"})
	job.handle_message(_audio(0, 10))
	job.handle_message({"type": "completed"})
	expect_eq(job.state, LTX2Job.State.FAILED)
	expect_eq(seen.events.size(), 3, "accepted, failed, ended only: %s" % [seen.events])


func test_daemon_error_keeps_code_message_and_field() -> void:
	var job := LTX2Job.new(4)
	var seen := Recorder.new(job)
	var message := "width=65: must be a multiple of 32"
	job.handle_message(
		{"type": "error", "code": "INVALID_ARGUMENT", "message": message, "field": "width"}
	)
	expect_eq(job.state, LTX2Job.State.FAILED)
	expect_eq(job.error_code, "INVALID_ARGUMENT")
	expect_eq(job.error_message, message)
	expect_eq(job.error_field, "width")
	expect_eq(seen.failure, ["INVALID_ARGUMENT", message])


func test_cancelled_is_its_own_state() -> void:
	var job := LTX2Job.new(1)
	job.handle_message(_accepted())
	job.handle_message({"type": "error", "code": "CANCELLED", "message": "cancelled by client"})
	expect_eq(job.state, LTX2Job.State.CANCELLED)
	expect_eq(job.error_code, "CANCELLED")


func test_cancel_calls_the_canceller_once_and_not_after_the_end() -> void:
	var calls := []
	var job := LTX2Job.new(3, {}, func(j: LTX2Job) -> void: calls.append(j.id))
	job.cancel()
	expect_eq(calls, [3])
	expect_eq(job.state, LTX2Job.State.QUEUED, "still running until the daemon confirms")
	job.handle_message({"type": "error", "code": "CANCELLED", "message": "cancelled"})
	job.cancel()
	expect_eq(calls, [3])


func test_cancel_without_connection_ends_locally() -> void:
	var job := LTX2Job.new(1)
	var seen := Recorder.new(job)
	job.cancel()
	expect_eq(job.state, LTX2Job.State.CANCELLED, "cancelled at once")
	expect_eq(seen.events, [], "no signal before cancel() returns")
	await job.ended
	expect_eq(seen.events, ["failed", "ended:%d" % LTX2Job.State.CANCELLED])
	expect_eq(seen.failure[0], "CANCELLED")


func test_chunk_before_accepted_is_a_protocol_error() -> void:
	var job := LTX2Job.new(1)
	var seen := Recorder.new(job)
	job.handle_message(_audio(0, 10))
	expect_eq(job.state, LTX2Job.State.FAILED)
	expect_eq(job.error_code, "PROTOCOL")
	expect(job.error_message.contains("before accepted"), job.error_message)
	expect("audio" not in seen.events, "the chunk was not passed on")


func test_gaps_and_overlaps_are_protocol_errors() -> void:
	var gap := LTX2Job.new(1)
	gap.handle_message(_accepted())
	gap.handle_message(_audio(0, 100))
	gap.handle_message(_audio(150, 100))
	expect_eq(gap.error_code, "PROTOCOL")
	expect(gap.error_message.contains("sample 150, expected 100"), gap.error_message)
	var overlap := LTX2Job.new(1)
	overlap.handle_message(_accepted())
	overlap.handle_message(_video(0, 9))
	overlap.handle_message(_video(8, 8))
	expect(overlap.error_message.contains("frame 8, expected 9"), overlap.error_message)


func test_completed_totals_must_match_what_arrived() -> void:
	var job := LTX2Job.new(1)
	job.handle_message(_accepted())
	job.handle_message(_audio(0, 1000))
	job.handle_message(_video(0, 9))
	job.handle_message({"type": "completed", "num_frames": 17, "num_samples": 1000})
	expect_eq(job.state, LTX2Job.State.FAILED)
	expect(job.error_message.contains("17 frames, 9 arrived"), job.error_message)


func test_audio_only_completed_may_count_the_clip_frames() -> void:
	var job := LTX2Job.new(1)
	var fmt := FORMAT.duplicate()
	fmt["audio_only"] = true
	job.handle_message({"type": "accepted", "job_id": "j-2", "format": fmt})
	job.handle_message(_audio(0, 1000))
	job.handle_message({"type": "completed", "num_frames": 17, "num_samples": 1000})
	expect_eq(job.state, LTX2Job.State.COMPLETED)


func test_second_accepted_is_a_protocol_error() -> void:
	var job := LTX2Job.new(1)
	job.handle_message(_accepted())
	job.handle_message(_accepted())
	expect_eq(job.error_code, "PROTOCOL")


func test_unknown_message_types_are_ignored() -> void:
	var job := LTX2Job.new(1)
	job.handle_message(_accepted())
	job.handle_message({"type": "hint_from_the_future"})
	expect_eq(job.state, LTX2Job.State.QUEUED)
