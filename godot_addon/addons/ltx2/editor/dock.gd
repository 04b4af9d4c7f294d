@tool
extends VBoxContainer
## The editor dock: generate a clip from a prompt, watch it arrive, and bake it into the project.
## (No class_name: it uses editor-only classes and must never load in a game.)
##
## Generate sends an INTERACTIVE request on the dock's own connection (the LTX2 autoload does
## not run in the editor) with a latent preview per step; frames and sound then play in the
## preview as they stream. "Save as asset" bakes the last completed clip with [LTX2ClipBaker].
## A clip may start from a picture (a texture of the project, or what the editor viewport shows),
## and "Continue" makes the next shot of the last clip (continue_from its job: no seam).

## Where the form's limits come from: "defaults" until the daemon's info arrived, then "daemon".
var limits_source: String = "defaults"
## The daemon's Limits map once read (max_width, max_height, max_frames, max_steps, min_size,
## max_guidance_scale), empty before.
var limits: Dictionary = {}
## The job id of the last completed clip ("Continue" continues it), empty before.
var last_job_id: String = ""

var _connection: LTX2Connection
var _job: LTX2Job = null
var _recorder: LTX2ClipRecorder = null
var _clip: LTX2Clip = null
var _prompt: TextEdit
var _negative: LineEdit
var _width: SpinBox
var _height: SpinBox
var _frames: SpinBox
var _steps: SpinBox
var _seed: SpinBox
var _video_guidance: HSlider
var _audio_guidance: HSlider
var _image_path: LineEdit
var _use_viewport: CheckBox
var _auto_length: CheckBox
var _frame_rate := 24.0  # the daemon's default (info), which the form's requests play at
var _generate: Button
var _continue: Button
var _cancel: Button
var _save: Button
var _progress: ProgressBar
var _status: Label
var _preview: TextureRect
var _player: LTX2CutscenePlayer
var _dialog: EditorFileDialog = null


func _init() -> void:
	name = "LTX-2"
	_connection = LTX2Connection.new()
	add_child(_connection)
	_build()


func _ready() -> void:
	read_limits()


func _exit_tree() -> void:
	# The editor is closing (or the plugin disabled): stop the job and the preview's voice.
	if _job != null and not _job.is_done():
		_job.cancel()
	_player.skip()


## Asks the daemon for its info and sets the form's ranges from its limits (sizes, frames,
## steps, guidance), so the form never offers what the daemon would refuse. Until it answers
## (or when it is down) the ranges are the model's defaults.
func read_limits() -> void:
	_use_settings()
	var info := await _connection.info()
	if str(info.get("type", "")) != "info":
		_status.text = (
			"Daemon not reachable at %s:%d (%s). Start ltx2d, then Generate."
			% [_connection.address, _connection.port, str(info.get("message", ""))]
		)
		_connection.disconnect_from_daemon()  # No retries in the background; Generate retries.
		return
	var defaults: Variant = info.get("defaults", {})
	if defaults is Dictionary:
		_frame_rate = maxf(1.0, float((defaults as Dictionary).get("frame_rate", _frame_rate)))
	var features: Variant = info.get("features", [])
	# LTX-2.5's duration head: the model may choose the length (at most the frames set).
	_auto_length.disabled = not (features is Array and (features as Array).has("auto_duration"))
	if _auto_length.disabled:
		_auto_length.button_pressed = false
	var got: Variant = info.get("limits", {})
	if not got is Dictionary or (got as Dictionary).is_empty():
		return
	limits = got
	var low := float(limits.get("min_size", 64))
	_width.min_value = low
	_height.min_value = low
	_width.max_value = float(limits.get("max_width", _width.max_value))
	_height.max_value = float(limits.get("max_height", _height.max_value))
	_frames.max_value = float(limits.get("max_frames", _frames.max_value))
	_steps.max_value = float(limits.get("max_steps", _steps.max_value))
	var guidance := float(limits.get("max_guidance_scale", _video_guidance.max_value))
	_video_guidance.max_value = guidance
	_audio_guidance.max_value = guidance
	limits_source = "daemon"
	_status.text = (
		"Daemon %s: %s on %s, up to %dx%d, %d frames."
		% [
			str(info.get("version", "")),
			str(info.get("model_id", "")),
			str(info.get("device", "")),
			int(_width.max_value),
			int(_height.max_value),
			int(_frames.max_value),
		]
	)


## The form's ranges (for checks and tools): name -> [min, max].
func form_ranges() -> Dictionary:
	return {
		"width": [_width.min_value, _width.max_value],
		"height": [_height.min_value, _height.max_value],
		"frames": [_frames.min_value, _frames.max_value],
		"steps": [_steps.min_value, _steps.max_value],
		"video_guidance": [_video_guidance.min_value, _video_guidance.max_value],
		"audio_guidance": [_audio_guidance.min_value, _audio_guidance.max_value],
	}


# Settings may have changed since the dock was made.
func _use_settings() -> void:
	_connection.address = LTX2Settings.address()
	_connection.port = LTX2Settings.port()
	_connection.token = LTX2Settings.token()


## The GenerateRequest the form describes; [param continuing]: the next shot of the last clip.
## An error message instead of a picture the form names but cannot read is in "error".
func build_request(continuing: bool = false) -> Dictionary:
	var request := LTX2Requests.cutscene(
		_prompt.text.strip_edges(),
		int(_width.value),
		int(_height.value),
		int(_frames.value),
		int(_seed.value),
		LTX2Requests.Priority.INTERACTIVE
	)
	if not _negative.text.strip_edges().is_empty():
		request["negative_prompt"] = _negative.text.strip_edges()
	if _steps.value > 0:
		request["steps"] = int(_steps.value)
	request["video_guidance_scale"] = _video_guidance.value
	request["audio_guidance_scale"] = _audio_guidance.value
	request["preview"] = true
	if continuing and not last_job_id.is_empty():
		# The last clip's last 17 frames and the sound under them start this one.
		request["continue_from"] = {"clip": {"job_id": last_job_id}, "overlap_frames": 17}
		return request
	if _auto_length.button_pressed and not _auto_length.disabled:
		request = LTX2Requests.with_chosen_length(request, 1.0, _frames.value / _frame_rate)
	var picture: Variant = _picture()
	if picture is String:
		request["error"] = picture
	elif picture != null:
		request["image"] = picture
	return request


## The picture the clip starts from, as the request's image map (scaled and cropped to the
## form's size): the texture named, or the editor viewport; null for none, a message when it
## cannot be read.
func _picture() -> Variant:
	var width := int(_width.value)
	var height := int(_height.value)
	if _use_viewport.button_pressed:
		var scene := EditorInterface.get_edited_scene_root()
		var viewport: Viewport = EditorInterface.get_editor_viewport_3d(0)
		if scene is Node2D or scene is Control:
			viewport = EditorInterface.get_editor_viewport_2d()
		var condition := LTX2Requests.capture_viewport(viewport, width, height)
		if condition.is_empty():
			return "The editor viewport has no picture to read (a headless editor renders none)."
		return condition
	var path := _image_path.text.strip_edges()
	if path.is_empty():
		return null
	# From the file (png, jpeg, webp): a texture's pixels cannot be read back headless.
	var image := Image.load_from_file(path)
	if image == null or image.is_empty():
		return "Cannot read the picture %s (png, jpeg or webp)." % path
	return LTX2Requests.image_input(image, width, height)


func _build() -> void:
	_prompt = TextEdit.new()
	_prompt.placeholder_text = "Prompt: what happens, what it sounds like"
	_prompt.custom_minimum_size = Vector2(0, 80)
	_prompt.wrap_mode = TextEdit.LINE_WRAPPING_BOUNDARY
	add_child(_prompt)
	_negative = LineEdit.new()
	_negative.placeholder_text = "Negative prompt (optional)"
	add_child(_negative)
	var grid := GridContainer.new()
	grid.columns = 2
	add_child(grid)
	_width = _spin(grid, "Width", 64, 2048, 32, 768)
	_height = _spin(grid, "Height", 64, 2048, 32, 512)
	_frames = _spin(grid, "Frames (8k+1)", 9, 1025, 8, 121)
	_steps = _spin(grid, "Steps (0: default)", 0, 200, 1, 0)
	_seed = _spin(grid, "Seed (-1: random)", -1, 2147483647, 1, -1)
	_video_guidance = _slider(grid, "Video guidance", 1.0, 15.0, 3.0)
	_audio_guidance = _slider(grid, "Audio guidance", 1.0, 15.0, 7.0)
	_image_path = LineEdit.new()
	_image_path.placeholder_text = "Start from a picture: res://... png / jpeg (optional)"
	add_child(_image_path)
	_use_viewport = CheckBox.new()
	_use_viewport.text = "Start from the editor viewport"
	add_child(_use_viewport)
	_auto_length = CheckBox.new()
	_auto_length.text = "Let the model choose the length (up to Frames)"
	_auto_length.tooltip_text = "Needs a model with a duration head (LTX-2.5)"
	_auto_length.disabled = true
	add_child(_auto_length)
	var buttons := HBoxContainer.new()
	add_child(buttons)
	_generate = _button(buttons, "Generate", generate)
	_continue = _button(buttons, "Continue", generate.bind(true))
	_continue.tooltip_text = "The next shot of the last clip, from where it ended"
	_continue.disabled = true
	_cancel = _button(buttons, "Cancel", _on_cancel_pressed)
	_save = _button(buttons, "Save as asset", _on_save_pressed)
	_cancel.disabled = true
	_save.disabled = true
	_progress = ProgressBar.new()
	_progress.max_value = 1.0
	_progress.step = 0.001
	add_child(_progress)
	_status = Label.new()
	_status.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	add_child(_status)
	_preview = TextureRect.new()
	_preview.custom_minimum_size = Vector2(0, 180)
	_preview.expand_mode = TextureRect.EXPAND_IGNORE_SIZE
	_preview.stretch_mode = TextureRect.STRETCH_KEEP_ASPECT_CENTERED
	_preview.size_flags_vertical = Control.SIZE_EXPAND_FILL
	add_child(_preview)
	_player = LTX2CutscenePlayer.new()
	_player.preview_in_editor = true
	_player.target = _preview
	_player.start_buffer_s = 0.5
	add_child(_player)


func _spin(
	grid: GridContainer, label: String, lo: float, hi: float, step: float, value: float
) -> SpinBox:
	var caption := Label.new()
	caption.text = label
	grid.add_child(caption)
	var spin := SpinBox.new()
	spin.min_value = lo
	spin.max_value = hi
	spin.step = step
	spin.value = value
	spin.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	grid.add_child(spin)
	return spin


func _slider(grid: GridContainer, label: String, lo: float, hi: float, value: float) -> HSlider:
	var caption := Label.new()
	grid.add_child(caption)
	var slider := HSlider.new()
	slider.min_value = lo
	slider.max_value = hi
	slider.step = 0.1
	slider.value = value
	slider.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	var update_caption := func(v: float) -> void: caption.text = "%s %.1f" % [label, v]
	slider.value_changed.connect(update_caption)
	update_caption.call(value)
	grid.add_child(slider)
	return slider


func _button(box: HBoxContainer, text: String, pressed: Callable) -> Button:
	var button := Button.new()
	button.text = text
	button.pressed.connect(pressed)
	box.add_child(button)
	return button


## Generates the clip the form describes ([param continuing]: the next shot of the last clip),
## as the Generate and Continue buttons do.
func generate(continuing: bool = false) -> void:
	var request := build_request(continuing)
	if str(request["prompt"]).is_empty():
		_status.text = "Write a prompt first."
		return
	if request.has("error"):
		_status.text = str(request["error"])
		return
	_use_settings()
	if limits.is_empty():
		read_limits()
	_clip = null
	_save.disabled = true
	_cancel.disabled = false
	_generate.disabled = true
	_continue.disabled = true
	_progress.value = 0.0
	_status.text = "Sending to %s:%d ..." % [_connection.address, _connection.port]
	_job = _connection.generate(request)
	_recorder = LTX2ClipRecorder.new(_job)
	_job.accepted.connect(_on_accepted)
	_job.progressed.connect(_on_progressed)
	_job.completed.connect(_on_completed)
	_job.failed.connect(_on_failed)
	_player.play_job(_job)


func _on_cancel_pressed() -> void:
	if _job != null:
		_job.cancel()
	_player.skip()


func _on_save_pressed() -> void:
	if _clip == null:
		return
	if _dialog == null:
		# Made when first needed: an EditorFileDialog exists only inside the editor, and the rest
		# of the dock also renders on its own (tests/godot/screenshots.py shows it in a scene).
		_dialog = EditorFileDialog.new()
		_dialog.file_mode = EditorFileDialog.FILE_MODE_SAVE_FILE
		_dialog.add_filter("*.res", "LTX-2 clip")
		_dialog.file_selected.connect(_on_save_path_chosen)
		add_child(_dialog)
	var slug := _clip.prompt.to_snake_case().validate_filename().substr(0, 40)
	_dialog.current_path = "res://cutscenes/%s.res" % (slug if not slug.is_empty() else "clip")
	_dialog.popup_centered_ratio(0.6)


func _on_save_path_chosen(path: String) -> void:
	var err := LTX2ClipBaker.bake(_clip, path)
	if err != OK:
		_status.text = "Could not save %s: %s" % [path, error_string(err)]
		return
	_status.text = "Saved %s (+ .wav, .json)." % path
	EditorInterface.get_resource_filesystem().scan()


func _on_accepted(format: Dictionary) -> void:
	_status.text = (
		"Accepted: %dx%d, %d frames, seed %d%s"
		% [
			int(format.get("width", 0)),
			int(format.get("height", 0)),
			int(format.get("num_frames", 0)),
			int(format.get("seed", 0)),
			" (cached)" if _job.cache_hit else "",
		]
	)


func _on_progressed(progress: Dictionary) -> void:
	var phase := int(progress.get("phase", 0))
	if phase == LTX2Requests.Phase.DENOISING:
		var total := maxi(1, int(progress.get("total_steps", 1)))
		_progress.value = 0.8 * int(progress.get("step", 0)) / total
		_status.text = "Denoising step %d / %d" % [int(progress.get("step", 0)), total]
		# The latent preview shows until the first frames play.
		var preview := LTX2ChunkConvert.preview_image(progress)
		var state := _player.get_state()
		var playing := state == LTX2CutscenePlayer.PlayState.PLAYING
		if preview != null and not playing and state != LTX2CutscenePlayer.PlayState.PAUSED:
			_preview.texture = ImageTexture.create_from_image(preview)
	elif phase == LTX2Requests.Phase.DECODING:
		var total := maxi(1, int(progress.get("total_frames", 1)))
		_progress.value = 0.8 + 0.2 * int(progress.get("frames_decoded", 0)) / total
		_status.text = "Decoding %d / %d frames" % [int(progress.get("frames_decoded", 0)), total]
	elif phase == LTX2Requests.Phase.QUEUED or phase == LTX2Requests.Phase.PAUSED:
		_status.text = "Waiting in the daemon's queue"


func _on_completed(summary: Dictionary) -> void:
	_progress.value = 1.0
	_clip = _recorder.clip
	var timings: Dictionary = summary.get("timings", {})
	var total_s := float(timings.get("total_s", 0.0))
	_status.text = "Done in %.1f s. Save it as an asset to keep it." % total_s
	_save.disabled = _clip == null
	_generate.disabled = false
	_cancel.disabled = true
	last_job_id = _job.job_id
	_continue.disabled = false


func _on_failed(code: String, message: String) -> void:
	_status.text = "%s: %s" % [code, message]
	_generate.disabled = false
	_continue.disabled = last_job_id.is_empty()
	_cancel.disabled = true
