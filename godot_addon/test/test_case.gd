extends RefCounted
## Base of the headless tests: every method named test_* is a test; expect_* record failures
## (a test goes on after a failed expectation, so one run shows every problem).

## The runner's SceneTree (for tests that need nodes or frames).
var tree: SceneTree
## Failures of the current test, reset by the runner before each test.
var failures: Array[String] = []


## Records a failure when [param condition] is false.
func expect(condition: bool, message: String) -> bool:
	if not condition:
		failures.append(message)
	return condition


## Records a failure unless [param actual] equals [param expected] in value and type, all the
## way down (1 and 1.0 differ; so do an Array and a PackedByteArray).
func expect_eq(actual: Variant, expected: Variant, message: String = "") -> bool:
	var why := _difference(actual, expected, "")
	if why.is_empty():
		return true
	failures.append("%s%s" % ["" if message.is_empty() else message + ": ", why])
	return false


## Announces an engine error line (a [method @GlobalScope.push_error] of the addon on bad input)
## that the next step of this test causes on purpose. The pytest wrapper
## (tests/godot/test_headless_suite.py) refuses every [code]ERROR:[/code] line of the run that
## was not announced, and every announcement that no error line matched.
func expect_engine_error(fragment: String) -> void:
	print("EXPECTED ERROR: %s" % fragment)


## Waits one idle time, so that signals deferred by the call just made have been emitted.
func settle() -> void:
	await tree.process_frame


## Waits (frame by frame) up to [param timeout_s] seconds for [param condition] to turn true.
func wait_until(condition: Callable, timeout_s: float = 5.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while Time.get_ticks_msec() < deadline:
		if condition.call():
			return true
		await tree.process_frame
	return condition.call()


## Lets [param seconds] pass, frame by frame.
func wait_seconds(seconds: float) -> void:
	var never := func() -> bool: return false
	await wait_until(never, seconds)


func _difference(actual: Variant, expected: Variant, path: String) -> String:
	var at := path if not path.is_empty() else "value"
	var why := ""
	if typeof(actual) != typeof(expected):
		why = (
			"%s is %s %s, expected %s %s"
			% [
				at,
				type_string(typeof(actual)),
				_show(actual),
				type_string(typeof(expected)),
				_show(expected)
			]
		)
	elif actual is Dictionary:
		why = _dictionary_difference(actual, expected, path)
	elif actual is Array:
		why = _array_difference(actual, expected, path)
	elif actual != expected:
		why = "%s is %s, expected %s" % [at, _show(actual), _show(expected)]
	return why


func _dictionary_difference(actual: Dictionary, expected: Dictionary, path: String) -> String:
	if actual.keys() != expected.keys():
		return "%s has keys %s, expected %s" % [path, actual.keys(), expected.keys()]
	for key: Variant in expected:
		var why := _difference(actual[key], expected[key], "%s.%s" % [path, key])
		if not why.is_empty():
			return why
	return ""


func _array_difference(actual: Array, expected: Array, path: String) -> String:
	if actual.size() != expected.size():
		return "%s has %d items, expected %d" % [path, actual.size(), expected.size()]
	for i in range(expected.size()):
		var why := _difference(actual[i], expected[i], "%s[%d]" % [path, i])
		if not why.is_empty():
			return why
	return ""


func _show(value: Variant) -> String:
	if value is PackedByteArray:
		var bytes: PackedByteArray = value
		return "<%s>" % bytes.hex_encode()
	return var_to_str(value)
