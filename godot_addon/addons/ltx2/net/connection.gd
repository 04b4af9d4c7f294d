@tool
class_name LTX2Connection
extends Node
## One TCP connection to the ltx2d daemon's msgpack bridge, shared by every job of the game.
##
## The plugin registers it as the autoload [code]LTX2[/code]. It connects on the first request
## (or at start-up when [code]ltx2/connection/auto_connect[/code] is set), says hello with the
## token from the project settings, multiplexes jobs by request [code]id[/code], and reconnects
## with exponential backoff (0.5 s doubling to 10 s) until [method disconnect_from_daemon]. A
## request made while the connection is down waits for the next attempt; if that attempt fails,
## the request's job fails with UNAVAILABLE (a game should not wait forever for a sound).
## [codeblock]
## var job := LTX2.generate(LTX2Requests.cutscene("a knight opens the gate"))
## job.completed.connect(func(_summary): print("done"))
## var info := await LTX2.info()
## [/codeblock]

## The daemon answered hello; [param hello] is its reply (protocol_version, version).
signal connected(hello: Dictionary)
## An established connection closed; [param reason] says why.
signal disconnected(reason: String)
## A connection attempt failed, or the daemon refused the client ([param code] UNAVAILABLE,
## UNAUTHENTICATED, INVALID_ARGUMENT, PROTOCOL).
signal connection_failed(code: String, message: String)

## Connection state.
enum Status { DISCONNECTED, CONNECTING, HANDSHAKING, READY }

## Version of docs/bridge-protocol.md this client speaks.
const PROTOCOL_VERSION := 1
## Sent in hello as [code]client[/code].
const CLIENT_NAME := "ltx2-godot/0.1"
## First reconnect delay; it doubles after each failure up to [constant MAX_BACKOFF_S].
const MIN_BACKOFF_S := 0.5
## Longest reconnect delay.
const MAX_BACKOFF_S := 10.0
## Most bytes read from the socket in one [method poll] (the rest waits for the next frame).
const MAX_READ_PER_POLL := 64 * 1024 * 1024


## A reply that is not part of a job (info, load, unload, prefetch, ping). Await [signal arrived].
class Reply:
	extends RefCounted
	## The reply map (type "error" with code and message when the request failed).
	signal arrived(message: Dictionary)

	## Emits [signal arrived] (a method, so that it can be deferred).
	func deliver(message: Dictionary) -> void:
		arrived.emit(message)


## Bridge host (empty: [code]ltx2/connection/address[/code], read when the node is ready).
var address: String = ""
## Bridge port (0: [code]ltx2/connection/port[/code]).
var port: int = 0
## Hello token (empty: [code]ltx2/connection/token[/code]; empty there too sends none).
var token: String = ""
## Seconds before a connection attempt is given up (0: the project setting
## [code]ltx2/connection/connect_timeout_s[/code]).
var connect_timeout_s: float = 0.0
## Reconnect after a drop while requests keep coming.
var auto_reconnect: bool = true
## Generate requests made on this connection so far (a cache that works makes none).
var requests_made: int = 0

var _peer: StreamPeerTCP = null
var _reader := LTX2FrameReader.new()
var _status: Status = Status.DISCONNECTED
var _next_id: int = 1
var _jobs := {}  # request id -> LTX2Job
var _replies := {}  # request id -> Reply
var _outbox: Array[Dictionary] = []  # {"id": int, "frame": PackedByteArray} until READY
var _wanted := false  # Someone asked for a connection and has not given it back.
var _refused := false  # The daemon refused our token: retrying cannot help.
var _backoff_s := MIN_BACKOFF_S
var _retry_at_ms := -1
var _attempt_started_ms := 0
var _hello_id := 0


func _ready() -> void:
	# Values set in code before the node entered the tree win over the project settings.
	if address.is_empty():
		address = LTX2Settings.address()
	if port == 0:
		port = LTX2Settings.port()
	if token.is_empty():
		token = LTX2Settings.token()
	if connect_timeout_s <= 0.0:
		connect_timeout_s = LTX2Settings.connect_timeout_s()
	if LTX2Settings.auto_connect() and not Engine.is_editor_hint():
		connect_to_daemon()


func _process(_delta: float) -> void:
	poll()


func _exit_tree() -> void:
	_close("client shut down")


## The hello map the client sends first.
## The connection a node uses when it was given none: the LTX2 autoload, or, when the plugin is
## not enabled, a private connection added under [param user].
static func for_node(user: Node) -> LTX2Connection:
	var found: LTX2Connection = null
	if user.is_inside_tree():  # Absolute paths only resolve inside the tree.
		found = user.get_node_or_null("/root/LTX2") as LTX2Connection
	if found == null:
		found = LTX2Connection.new()
		user.add_child(found, false, Node.INTERNAL_MODE_BACK)
	return found


static func build_hello(request_id: int, hello_token: String) -> Dictionary:
	var message := {"type": "hello", "id": request_id}
	if not hello_token.is_empty():
		message["token"] = hello_token
	message["client"] = CLIENT_NAME
	message["protocol_version"] = PROTOCOL_VERSION
	return message


## The generate map for [param request] (GenerateRequest fields at top level).
static func build_generate(request_id: int, request: Dictionary) -> Dictionary:
	var message := {"type": "generate", "id": request_id}
	message.merge(request)
	return message


## The cancel map for the job started by the generate with [param request_id]; [param job_id]
## is added when known (the daemon also finds the job by the shared id).
static func build_cancel(request_id: int, job_id: String) -> Dictionary:
	var message := {"type": "cancel", "id": request_id}
	if not job_id.is_empty():
		message["job_id"] = job_id
	return message


## Current connection state.
func get_status() -> Status:
	return _status


## True when requests go out at once.
func is_ready() -> bool:
	return _status == Status.READY


## Starts connecting now (requests also do it on demand).
func connect_to_daemon() -> void:
	_wanted = true
	_refused = false
	if _status == Status.DISCONNECTED:
		_open()


## Closes the connection; its running jobs fail with UNAVAILABLE (the daemon cancels them).
func disconnect_from_daemon() -> void:
	_wanted = false
	_close("disconnected by the client")


## Queues [param request] (a GenerateRequest map, see [LTX2Requests]) and returns its job.
func generate(request: Dictionary) -> LTX2Job:
	var request_id := _take_id()
	requests_made += 1
	var job := LTX2Job.new(request_id, request, cancel)
	_jobs[request_id] = job
	var refusal := _send(request_id, build_generate(request_id, request))
	if not refusal.is_empty():
		_jobs.erase(request_id)
		# Deferred: the caller connects the job's signals after this returns.
		job.handle_message.call_deferred(refusal)
	return job


## Asks the daemon to cancel [param job] (see [method LTX2Job.cancel]). A job still waiting for
## the connection is dropped at once (it is CANCELLED now; its signals follow when idle).
func cancel(job: LTX2Job) -> void:
	if job.is_done():
		return
	for i in range(_outbox.size()):
		if int(_outbox[i]["id"]) == job.id:
			_outbox.remove_at(i)
			_jobs.erase(job.id)
			job.end_locally("CANCELLED", "cancelled before it was sent")
			return
	_send(job.id, build_cancel(job.id, job.job_id))


## The daemon's Info map (model, device, limits, defaults, queue). Use with await.
func info() -> Dictionary:
	var reply := _ask({"type": "info"})
	var message: Dictionary = await reply.arrived
	return message


## Loads the model on its device; returns the Info map. Use with await.
func load_model() -> Dictionary:
	var reply := _ask({"type": "load"})
	var message: Dictionary = await reply.arrived
	return message


## Frees the daemon's GPU (the game wants it back); returns the Info map. Use with await.
func unload_model() -> Dictionary:
	var reply := _ask({"type": "unload"})
	var message: Dictionary = await reply.arrived
	return message


## Generates [param requests] into the daemon's result cache at BATCH priority without
## streaming; returns the prefetch reply (job_ids, already_cached). Use with await.
func prefetch(requests: Array) -> Dictionary:
	var reply := _ask({"type": "prefetch", "requests": requests})
	var message: Dictionary = await reply.arrived
	return message


## Advances the connection: connects, reads, dispatches. Called every frame by [method _process];
## tests and tools without a scene tree call it themselves.
func poll() -> void:
	if _status == Status.DISCONNECTED:
		var due := _retry_at_ms >= 0 and Time.get_ticks_msec() >= _retry_at_ms
		if _wanted and not _refused and due:
			_open()
		return
	_peer.poll()
	var peer_status := _peer.get_status()
	if _status == Status.CONNECTING:
		_poll_connecting(peer_status)
		return
	if peer_status != StreamPeerTCP.STATUS_CONNECTED:
		_lost("the daemon closed the connection")
		return
	# get_available_bytes() is what the OS buffer holds right now (often well under one raw video
	# chunk): read until it is empty, within a budget, or streaming is capped at one socket buffer
	# per rendered frame.
	var budget := MAX_READ_PER_POLL
	var available := _peer.get_available_bytes()
	while available > 0 and budget > 0:
		var got: Array = _peer.get_partial_data(mini(available, budget))
		if int(got[0]) != OK:
			_lost("read failed: %s" % error_string(int(got[0])))
			return
		var bytes: PackedByteArray = got[1]
		if bytes.is_empty():
			break
		_reader.feed(bytes)
		budget -= bytes.size()
		# A read that meets the end of the stream closes the socket, and asking a closed
		# socket for its byte count is an engine error: check the status first.
		if _peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
			break
		available = _peer.get_available_bytes()
	while _status != Status.DISCONNECTED and _reader.has_frame():
		_dispatch(_reader.next_frame())
	if not _reader.error.is_empty():
		_refuse("PROTOCOL", _reader.error)


func _poll_connecting(peer_status: StreamPeerTCP.Status) -> void:
	if peer_status == StreamPeerTCP.STATUS_CONNECTED:
		_peer.set_no_delay(true)  # Small frames (cancel) must not wait for Nagle.
		_status = Status.HANDSHAKING
		_hello_id = _take_id()
		var frame := LTX2Msgpack.encode_frame(build_hello(_hello_id, token))
		if _peer.put_data(frame) != OK:
			_lost("could not send hello")
	elif peer_status == StreamPeerTCP.STATUS_CONNECTING:
		if Time.get_ticks_msec() - _attempt_started_ms > int(connect_timeout_s * 1000.0):
			_lost("no answer from %s:%d within %.1f s" % [address, port, connect_timeout_s])
	else:
		_lost("could not connect to %s:%d" % [address, port])


func _dispatch(frame: PackedByteArray) -> void:
	var decoded := LTX2Msgpack.decode(frame)
	if not decoded.ok() or not (decoded.value is Dictionary):
		var why := decoded.error if not decoded.ok() else "frame is not a map"
		_refuse("PROTOCOL", "bad frame from the daemon: %s" % why)
		return
	var message: Dictionary = decoded.value
	var kind := str(message.get("type", ""))
	var id_value: Variant = message.get("id")
	var request_id := int(id_value) if typeof(id_value) == TYPE_INT else -1
	if _status == Status.HANDSHAKING and request_id == _hello_id:
		if kind == "hello":
			_status = Status.READY
			_backoff_s = MIN_BACKOFF_S
			_flush_outbox()
			connected.emit(message)
		else:
			_refuse(str(message.get("code", "PROTOCOL")), str(message.get("message", kind)))
		return
	if kind == "error" and request_id < 0:
		# A connection-level error (malformed frame, UNAUTHENTICATED): the daemon closes next.
		_refuse(str(message.get("code", "INTERNAL")), str(message.get("message", "")))
		return
	if _jobs.has(request_id):
		var job: LTX2Job = _jobs[request_id]
		job.handle_message(message)
		if job.is_done():
			_jobs.erase(request_id)
	elif _replies.has(request_id):
		var reply: Reply = _replies[request_id]
		_replies.erase(request_id)
		reply.arrived.emit(message)


func _take_id() -> int:
	var request_id := _next_id
	_next_id += 1
	return request_id


func _ask(message: Dictionary) -> Reply:
	var request_id := _take_id()
	message["id"] = request_id
	var reply := Reply.new()
	_replies[request_id] = reply
	var refusal := _send(request_id, message)
	if not refusal.is_empty():
		_replies.erase(request_id)
		reply.deliver.call_deferred(refusal)
	return reply


# Sends now when READY, else queues until the handshake (connecting when due). Returns an empty
# map, or the error map that refuses the request (it cannot be encoded, or the daemon refused
# our token and retrying cannot help).
func _send(request_id: int, message: Dictionary) -> Dictionary:
	var frame := LTX2Msgpack.encode_frame(message)
	if frame.is_empty():
		var why := "request holds a value msgpack cannot carry: %s" % [message]
		return {"type": "error", "id": request_id, "code": "INVALID_ARGUMENT", "message": why}
	if _refused:
		var why := "the daemon refused this client's token (set ltx2/connection/token)"
		return {"type": "error", "id": request_id, "code": "UNAUTHENTICATED", "message": why}
	if _status == Status.READY:
		if _peer.put_data(frame) != OK:
			_lost("write failed")
		return {}
	_outbox.append({"id": request_id, "frame": frame})
	_wanted = true
	var due := _retry_at_ms < 0 or Time.get_ticks_msec() >= _retry_at_ms
	if _status == Status.DISCONNECTED and due:
		_open()
	return {}


func _flush_outbox() -> void:
	var queued := _outbox
	_outbox = []
	for entry in queued:
		if _peer.put_data(entry["frame"]) != OK:
			_lost("write failed")  # Fails every pending job, these included.
			return


func _open() -> void:
	_retry_at_ms = -1
	_reader.reset()
	_peer = StreamPeerTCP.new()
	_attempt_started_ms = Time.get_ticks_msec()
	var err := _peer.connect_to_host(address, port)
	if err != OK:
		_status = Status.CONNECTING  # So that _lost reports a failed attempt.
		_lost("cannot connect to %s:%d: %s" % [address, port, error_string(err)])
		return
	_status = Status.CONNECTING


# The daemon refused us or broke the protocol: report it, close, and do not retry on our own.
func _refuse(code: String, message: String) -> void:
	if code == "UNAUTHENTICATED":
		_refused = true
	# Deferred like every signal that a call of ours can cause (connect_to_daemon(), generate()):
	# handlers connected right after the call still get it.
	emit_signal.call_deferred("connection_failed", code, message)
	_close(message, code)


# The connection dropped or an attempt failed: report it, fail what waited, retry later.
func _lost(reason: String) -> void:
	if _status == Status.CONNECTING:
		emit_signal.call_deferred("connection_failed", "UNAVAILABLE", reason)
	_close(reason)
	if auto_reconnect and _wanted:
		_retry_at_ms = Time.get_ticks_msec() + int(_backoff_s * 1000.0 * randf_range(0.8, 1.2))
		_backoff_s = minf(_backoff_s * 2.0, MAX_BACKOFF_S)


func _close(reason: String, code: String = "UNAVAILABLE") -> void:
	var was := _status
	if _peer != null:
		_peer.disconnect_from_host()
	_peer = null
	_status = Status.DISCONNECTED
	_reader.reset()
	_fail_pending(code, "connection to the daemon lost: %s" % reason)
	if was == Status.READY or was == Status.HANDSHAKING:
		emit_signal.call_deferred("disconnected", reason)


func _fail_pending(code: String, message: String) -> void:
	var jobs := _jobs
	var replies := _replies
	_jobs = {}
	_replies = {}
	_outbox = []
	# Deferred, so that a job failed while its generate() call is still on the stack reaches
	# signal handlers connected after the call returns.
	for request_id: int in jobs:
		var job: LTX2Job = jobs[request_id]
		var error := {"type": "error", "id": request_id, "code": code, "message": message}
		job.handle_message.call_deferred(error)
	for request_id: int in replies:
		var reply: Reply = replies[request_id]
		var error := {"type": "error", "id": request_id, "code": code, "message": message}
		reply.deliver.call_deferred(error)
