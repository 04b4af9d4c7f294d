@tool
class_name LTX2AtomicFile
extends RefCounted
## Write-then-rename for every file the addon writes (baked clips, WAVs, the foley cache).


## A temporary path beside [param path] with the same extension (Godot's savers pick the format
## from the extension), unique to this process and moment.
static func temp_path(path: String) -> String:
	var suffix := ".tmp%d_%d." % [OS.get_process_id(), Time.get_ticks_usec()]
	return path.get_basename() + suffix + path.get_extension()


## Renames [param temp] over [param path] (replacing it). Falls back to remove-then-rename
## where the platform refuses to replace.
static func commit(temp: String, path: String) -> Error:
	var from := ProjectSettings.globalize_path(temp)
	var to := ProjectSettings.globalize_path(path)
	var err := DirAccess.rename_absolute(from, to)
	if err != OK and FileAccess.file_exists(path):
		DirAccess.remove_absolute(to)
		err = DirAccess.rename_absolute(from, to)
	if err != OK:
		discard(temp)
	return err


## Deletes a temporary file if it exists.
static func discard(temp: String) -> void:
	if FileAccess.file_exists(temp):
		DirAccess.remove_absolute(ProjectSettings.globalize_path(temp))


## Writes [param bytes] to [param path] atomically, creating the folder.
static func write_bytes(path: String, bytes: PackedByteArray) -> Error:
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path(path.get_base_dir()))
	var temp := temp_path(path)
	var file := FileAccess.open(temp, FileAccess.WRITE)
	if file == null:
		return FileAccess.get_open_error()
	file.store_buffer(bytes)
	file.close()
	return commit(temp, path)
