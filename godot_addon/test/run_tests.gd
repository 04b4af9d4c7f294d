extends SceneTree
## Headless test runner: runs every test_*.gd under res://test/ and exits non-zero on failure.
##
##   $GODOT_BIN --headless --path godot_addon --import          # once: builds the class cache
##   $GODOT_BIN --headless --path godot_addon -s res://test/run_tests.gd
##
## Set LTX2_TEST_FILTER to run only tests whose "file::name" contains it. The last line is
## "N passed, N failed".

const TEST_DIR := "res://test"


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	var filter := OS.get_environment("LTX2_TEST_FILTER")
	var passed := 0
	var failed := 0
	var files := Array(DirAccess.get_files_at(TEST_DIR))
	files.sort()
	for file: String in files:
		if not file.begins_with("test_") or file.get_extension() != "gd" or file == "test_case.gd":
			continue
		var test_script: GDScript = load(TEST_DIR.path_join(file))
		if test_script == null or not test_script.can_instantiate():
			print("FAIL %s: does not load" % file)
			failed += 1
			continue
		var names: Array[String] = []
		for method: Dictionary in test_script.get_script_method_list():
			var method_name: String = method["name"]
			if method_name.begins_with("test_") and method_name not in names:
				names.append(method_name)
		for method_name in names:
			var label := "%s::%s" % [file.get_basename(), method_name]
			if not filter.is_empty() and not label.contains(filter):
				continue
			var case: Object = test_script.new()
			case.set("tree", self)
			await case.call(method_name)
			var failures: Array = case.get("failures")
			if failures.is_empty():
				passed += 1
				print("ok   %s" % label)
			else:
				failed += 1
				for failure: String in failures:
					print("FAIL %s: %s" % [label, failure])
	print("%d passed, %d failed" % [passed, failed])
	quit(1 if failed > 0 or passed == 0 else 0)
