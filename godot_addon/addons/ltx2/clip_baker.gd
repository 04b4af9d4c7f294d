@tool
class_name LTX2ClipBaker
extends RefCounted
## Writes an [LTX2Clip] into the project: [code]name.res[/code] (the clip, compressed),
## [code]name.wav[/code] (its audio, for other tools) and [code]name.json[/code] (prompt, seed
## and request, to regenerate it), each through a temporary file and a rename.
##
## No [code].ogv[/code] is written: Godot 4 can play Theora but has no encoder a script can
## call (Movie Maker mode records a running game to AVI or PNG, not a clip handed to it). The
## Python SDK exports mp4 with audio for tools outside Godot.


## Bakes [param clip] at [param path] (a [code].res[/code] path). Returns OK or the first error.
static func bake(clip: LTX2Clip, path: String) -> Error:
	var problem := clip.validate()
	if not problem.is_empty():
		push_error("LTX2ClipBaker: cannot bake %s: %s" % [path, problem])
		return ERR_INVALID_DATA
	if path.get_extension() != "res":
		push_error("LTX2ClipBaker: %s must end in .res (binary, compressed)" % path)
		return ERR_FILE_BAD_PATH
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path(path.get_base_dir()))
	var temp := LTX2AtomicFile.temp_path(path)
	var err := ResourceSaver.save(clip, temp, ResourceSaver.FLAG_COMPRESS)
	if err != OK:
		LTX2AtomicFile.discard(temp)
		return err
	err = LTX2AtomicFile.commit(temp, path)
	if err != OK:
		return err
	if clip.audio != null:
		err = LTX2Wav.save_atomic(clip.audio, path.get_basename() + ".wav")
		if err != OK:
			return err
	var sidecar := {
		"prompt": clip.prompt,
		"negative_prompt": clip.negative_prompt,
		"seed": clip.generation_seed,
		"request": clip.request,
		"format": clip.clip_format,
		"created_at": clip.created_at,
	}
	var json := JSON.stringify(sidecar, "  ").to_utf8_buffer()
	return LTX2AtomicFile.write_bytes(path.get_basename() + ".json", json)
