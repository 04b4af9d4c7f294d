extends Node2D
## Example: foley on collisions and a cutscene triggered by a gameplay event.
##
## Crates fall onto the floor: every hard landing plays "impact" through an LTX2FoleyPlayer on
## the crate (2D positional, generated once, then cached). A ball rolls into the gate trigger:
## that starts a cutscene, streamed live from the daemon, or played from
## res://cutscenes/gate.res when it has been baked with the dock. X blows the crates apart: an
## LTX2CaptureRecorder records the next second of what the player sees and plays sound made for
## exactly those frames. Esc skips, P pauses, Space drops another crate. The level is built in
## code so that it reads top to bottom.

const BAKED_CUTSCENE := "res://cutscenes/gate.res"
const CUTSCENE_PROMPT := (
	"A heavy wooden castle gate creaks open at dawn, chains rattling, birds taking off, "
	+ "warm light flooding the courtyard"
)
## The shots after the first, each continuing the one before.
const LATER_SHOTS := [
	"the gate swings wide, the courtyard beyond it bright with morning",
	"riders come through the open gate, dust rising behind them",
]
const FOLEY_TEMPLATES := {
	"impact": "a {material} crate lands hard on a stone floor",
	"door_slam": "a heavy {material} door slams shut",
}

var _cutscene: LTX2CutscenePlayer
var _overlay: CanvasLayer
var _status: Label
var _triggered := false
var _capture: LTX2CaptureRecorder


func _ready() -> void:
	_build_floor()
	_build_gate_trigger()
	_build_cutscene_overlay()
	var hud := CanvasLayer.new()
	hud.layer = 2  # Above the cutscene overlay, so that what happens stays readable.
	add_child(hud)
	_status = Label.new()
	_status.position = Vector2(16, 16)
	hud.add_child(_status)
	LTX2.connected.connect(func(_hello: Dictionary) -> void: _status.text = "daemon: connected")
	LTX2.connection_failed.connect(
		func(code: String, message: String) -> void: _status.text = "%s: %s" % [code, message]
	)
	for i in range(3):
		_drop_crate(Vector2(200 + 150 * i, 80 - 60 * i))
	_roll_ball()
	_capture = LTX2CaptureRecorder.new()
	_capture.duration_s = 1.0
	_capture.recorded.connect(
		func(_n: int) -> void: _status.text = "generating the explosion's sound ..."
	)
	_capture.generated.connect(
		func(_s: AudioStreamWAV) -> void: _status.text = "the explosion, as you saw it"
	)
	_capture.failed.connect(func(code: String, m: String) -> void: _status.text = "%s: %s" % [code, m])
	add_child(_capture)
	# Warm the cache at level load so the first impact needs no round trip.
	var foley := _make_foley()
	add_child(foley)
	foley.prefetch([["impact", {"material": "wooden"}], ["door_slam", {"material": "oak"}]])


func _unhandled_input(event: InputEvent) -> void:
	if event.is_action_pressed("ui_cancel"):
		_cutscene.skip()
	elif event is InputEventKey and event.pressed and event.keycode == KEY_P:
		_cutscene.pause(_cutscene.get_state() != LTX2CutscenePlayer.PlayState.PAUSED)
	elif event.is_action_pressed("ui_accept"):
		_drop_crate(Vector2(randf_range(150, 650), -40))
	elif event is InputEventKey and event.pressed and event.keycode == KEY_X:
		_explode()


# The gameplay event: every crate is blown away from the middle, and what the player sees next
# is recorded for its sound.
func _explode() -> void:
	for child in get_children():
		if child is RigidBody2D and child.name != "Ball":
			var away: Vector2 = (child.position - Vector2(480, 520)).normalized()
			(child as RigidBody2D).apply_central_impulse(away * 900.0 + Vector2(0, -400))
	_status.text = "recording the explosion ..."
	_capture.record("a wooden crate explodes, splinters and planks clattering on stone")


func _make_foley() -> LTX2FoleyPlayer:
	var foley := LTX2FoleyPlayer.new()
	foley.templates = FOLEY_TEMPLATES
	foley.duration_s = 1.0
	return foley


func _drop_crate(at: Vector2) -> void:
	var crate := RigidBody2D.new()
	crate.position = at
	crate.contact_monitor = true
	crate.max_contacts_reported = 2
	var shape := CollisionShape2D.new()
	shape.shape = RectangleShape2D.new()
	(shape.shape as RectangleShape2D).size = Vector2(48, 48)
	crate.add_child(shape)
	var look := ColorRect.new()
	look.color = Color(0.6, 0.4, 0.2)
	look.size = Vector2(48, 48)
	look.position = Vector2(-24, -24)
	crate.add_child(look)
	var foley := _make_foley()  # Child of a Node2D: its voices are positional (2D).
	crate.add_child(foley)
	crate.body_entered.connect(
		func(_body: Node) -> void:
			if crate.linear_velocity.length() > 120.0:
				foley.play_event("impact", {"material": "wooden"})
	)
	add_child(crate)


func _roll_ball() -> void:
	var ball := RigidBody2D.new()
	ball.name = "Ball"
	ball.position = Vector2(620, 460)  # Past the crates, so that they never block its way.
	var shape := CollisionShape2D.new()
	shape.shape = CircleShape2D.new()
	(shape.shape as CircleShape2D).radius = 16
	ball.add_child(shape)
	var look := ColorRect.new()
	look.color = Color(0.8, 0.8, 0.9)
	look.size = Vector2(32, 32)
	look.position = Vector2(-16, -16)
	ball.add_child(look)
	add_child(ball)
	ball.apply_central_impulse(Vector2(260, 0))


func _build_floor() -> void:
	var floor_body := StaticBody2D.new()
	floor_body.position = Vector2(480, 500)
	var shape := CollisionShape2D.new()
	shape.shape = RectangleShape2D.new()
	(shape.shape as RectangleShape2D).size = Vector2(1000, 40)
	floor_body.add_child(shape)
	var look := ColorRect.new()
	look.color = Color(0.3, 0.3, 0.35)
	look.size = Vector2(1000, 40)
	look.position = Vector2(-500, -20)
	floor_body.add_child(look)
	add_child(floor_body)


func _build_gate_trigger() -> void:
	var gate := Area2D.new()
	gate.position = Vector2(880, 440)
	var shape := CollisionShape2D.new()
	shape.shape = RectangleShape2D.new()
	(shape.shape as RectangleShape2D).size = Vector2(40, 120)
	gate.add_child(shape)
	var look := ColorRect.new()
	look.color = Color(0.5, 0.2, 0.2, 0.6)
	look.size = Vector2(40, 120)
	look.position = Vector2(-20, -60)
	gate.add_child(look)
	gate.body_entered.connect(_on_gate_reached)
	add_child(gate)


func _build_cutscene_overlay() -> void:
	_overlay = CanvasLayer.new()
	_overlay.visible = false
	# Letterboxed frames on black, not over the level.
	var backdrop := ColorRect.new()
	backdrop.color = Color.BLACK
	backdrop.set_anchors_preset(Control.PRESET_FULL_RECT)
	_overlay.add_child(backdrop)
	var screen := TextureRect.new()
	screen.set_anchors_preset(Control.PRESET_FULL_RECT)
	screen.expand_mode = TextureRect.EXPAND_IGNORE_SIZE
	screen.stretch_mode = TextureRect.STRETCH_KEEP_ASPECT_CENTERED
	_overlay.add_child(screen)
	_cutscene = LTX2CutscenePlayer.new()
	_cutscene.target = screen
	_cutscene.finished.connect(_on_cutscene_finished)
	_cutscene.started.connect(func() -> void: _status.text = "cutscene playing (Esc skips)")
	_cutscene.stalled.connect(func() -> void: _status.text = "cutscene waiting for the stream")
	_cutscene.failed.connect(
		func(code: String, message: String) -> void:
			_status.text = "cutscene failed: %s: %s" % [code, message]
			_overlay.visible = false
	)
	_overlay.add_child(_cutscene)
	add_child(_overlay)


# The gameplay event: the ball reached the gate.
func _on_gate_reached(body: Node) -> void:
	if _triggered or body.name != "Ball":
		return
	_triggered = true
	if ResourceLoader.exists(BAKED_CUTSCENE):
		_overlay.visible = true
		_cutscene.play_clip(load(BAKED_CUTSCENE) as LTX2Clip)
		return
	_status.text = "generating the cutscene ..."
	# The first shot starts from what the player sees now (read before the overlay covers it;
	# a headless run has no picture, and the shot then starts from the prompt alone).
	var picture := LTX2Requests.capture_viewport(get_viewport(), 768, 512)
	var first := LTX2Requests.cutscene(CUTSCENE_PROMPT, 768, 512, 121)
	if not picture.is_empty():
		first = LTX2Requests.cutscene_from_image(CUTSCENE_PROMPT, picture, 121)
	var shots: Array[Dictionary] = [first]
	for prompt: String in LATER_SHOTS:
		shots.append(LTX2Requests.cutscene(prompt, int(first["width"]), int(first["height"]), 121))
	_overlay.visible = true
	_cutscene.play_shots(shots)


func _on_cutscene_finished(skipped: bool) -> void:
	_overlay.visible = false
	_status.text = "cutscene skipped" if skipped else "cutscene finished"
