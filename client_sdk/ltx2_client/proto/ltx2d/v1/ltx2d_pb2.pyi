from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_REALTIME: _ClassVar[Priority]
    PRIORITY_INTERACTIVE: _ClassVar[Priority]
    PRIORITY_BATCH: _ClassVar[Priority]

class SampleFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLE_FORMAT_UNSPECIFIED: _ClassVar[SampleFormat]
    SAMPLE_FORMAT_S16LE: _ClassVar[SampleFormat]
    SAMPLE_FORMAT_F32LE: _ClassVar[SampleFormat]

class FrameFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_FORMAT_UNSPECIFIED: _ClassVar[FrameFormat]
    FRAME_FORMAT_RGB8: _ClassVar[FrameFormat]
    FRAME_FORMAT_JPEG: _ClassVar[FrameFormat]

class CachePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_POLICY_UNSPECIFIED: _ClassVar[CachePolicy]
    CACHE_POLICY_BYPASS: _ClassVar[CachePolicy]
    CACHE_POLICY_REFRESH: _ClassVar[CachePolicy]

class GenerationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENERATION_MODE_UNSPECIFIED: _ClassVar[GenerationMode]
    GENERATION_MODE_TEXT_TO_AUDIO_VIDEO: _ClassVar[GenerationMode]
    GENERATION_MODE_AUDIO_ONLY: _ClassVar[GenerationMode]
    GENERATION_MODE_VIDEO_TO_AUDIO: _ClassVar[GenerationMode]
    GENERATION_MODE_AUDIO_TO_VIDEO: _ClassVar[GenerationMode]

class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHASE_UNSPECIFIED: _ClassVar[Phase]
    PHASE_QUEUED: _ClassVar[Phase]
    PHASE_ENCODING: _ClassVar[Phase]
    PHASE_DENOISING: _ClassVar[Phase]
    PHASE_DECODING: _ClassVar[Phase]
    PHASE_PAUSED: _ClassVar[Phase]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_REALTIME: Priority
PRIORITY_INTERACTIVE: Priority
PRIORITY_BATCH: Priority
SAMPLE_FORMAT_UNSPECIFIED: SampleFormat
SAMPLE_FORMAT_S16LE: SampleFormat
SAMPLE_FORMAT_F32LE: SampleFormat
FRAME_FORMAT_UNSPECIFIED: FrameFormat
FRAME_FORMAT_RGB8: FrameFormat
FRAME_FORMAT_JPEG: FrameFormat
CACHE_POLICY_UNSPECIFIED: CachePolicy
CACHE_POLICY_BYPASS: CachePolicy
CACHE_POLICY_REFRESH: CachePolicy
GENERATION_MODE_UNSPECIFIED: GenerationMode
GENERATION_MODE_TEXT_TO_AUDIO_VIDEO: GenerationMode
GENERATION_MODE_AUDIO_ONLY: GenerationMode
GENERATION_MODE_VIDEO_TO_AUDIO: GenerationMode
GENERATION_MODE_AUDIO_TO_VIDEO: GenerationMode
PHASE_UNSPECIFIED: Phase
PHASE_QUEUED: Phase
PHASE_ENCODING: Phase
PHASE_DENOISING: Phase
PHASE_DECODING: Phase
PHASE_PAUSED: Phase

class GenerateRequest(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "width", "height", "num_frames", "duration_s", "frame_rate", "steps", "seed", "video_guidance_scale", "audio_guidance_scale", "chunk_frames", "priority", "audio_sample_rate", "sample_format", "frame_format", "jpeg_quality", "cache_policy", "tags", "audio_only", "stg_scale", "modality_scale", "guidance_rescale", "preview", "audio_stg_scale", "audio_modality_scale", "preset", "loras", "model", "mode", "video_input", "audio_input", "image", "conditions", "continue_from", "retake", "min_seconds", "max_seconds")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    VIDEO_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FRAME_FORMAT_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_ONLY_FIELD_NUMBER: _ClassVar[int]
    STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_SCALE_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_RESCALE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    AUDIO_STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_MODALITY_SCALE_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    LORAS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_INPUT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_INPUT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FROM_FIELD_NUMBER: _ClassVar[int]
    RETAKE_FIELD_NUMBER: _ClassVar[int]
    MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    duration_s: float
    frame_rate: float
    steps: int
    seed: int
    video_guidance_scale: float
    audio_guidance_scale: float
    chunk_frames: int
    priority: Priority
    audio_sample_rate: int
    sample_format: SampleFormat
    frame_format: FrameFormat
    jpeg_quality: int
    cache_policy: CachePolicy
    tags: _containers.ScalarMap[str, str]
    audio_only: bool
    stg_scale: float
    modality_scale: float
    guidance_rescale: float
    preview: bool
    audio_stg_scale: float
    audio_modality_scale: float
    preset: str
    loras: _containers.RepeatedCompositeFieldContainer[LoraWeight]
    model: str
    mode: GenerationMode
    video_input: VideoInput
    audio_input: AudioInput
    image: Condition
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    continue_from: Continuation
    retake: Retake
    min_seconds: float
    max_seconds: float
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., num_frames: _Optional[int] = ..., duration_s: _Optional[float] = ..., frame_rate: _Optional[float] = ..., steps: _Optional[int] = ..., seed: _Optional[int] = ..., video_guidance_scale: _Optional[float] = ..., audio_guidance_scale: _Optional[float] = ..., chunk_frames: _Optional[int] = ..., priority: _Optional[_Union[Priority, str]] = ..., audio_sample_rate: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., frame_format: _Optional[_Union[FrameFormat, str]] = ..., jpeg_quality: _Optional[int] = ..., cache_policy: _Optional[_Union[CachePolicy, str]] = ..., tags: _Optional[_Mapping[str, str]] = ..., audio_only: _Optional[bool] = ..., stg_scale: _Optional[float] = ..., modality_scale: _Optional[float] = ..., guidance_rescale: _Optional[float] = ..., preview: _Optional[bool] = ..., audio_stg_scale: _Optional[float] = ..., audio_modality_scale: _Optional[float] = ..., preset: _Optional[str] = ..., loras: _Optional[_Iterable[_Union[LoraWeight, _Mapping]]] = ..., model: _Optional[str] = ..., mode: _Optional[_Union[GenerationMode, str]] = ..., video_input: _Optional[_Union[VideoInput, _Mapping]] = ..., audio_input: _Optional[_Union[AudioInput, _Mapping]] = ..., image: _Optional[_Union[Condition, _Mapping]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., continue_from: _Optional[_Union[Continuation, _Mapping]] = ..., retake: _Optional[_Union[Retake, _Mapping]] = ..., min_seconds: _Optional[float] = ..., max_seconds: _Optional[float] = ...) -> None: ...

class EarlierClip(_message.Message):
    __slots__ = ("job_id", "video", "audio", "end_frame")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    END_FRAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    video: VideoInput
    audio: AudioInput
    end_frame: int
    def __init__(self, job_id: _Optional[str] = ..., video: _Optional[_Union[VideoInput, _Mapping]] = ..., audio: _Optional[_Union[AudioInput, _Mapping]] = ..., end_frame: _Optional[int] = ...) -> None: ...

class Continuation(_message.Message):
    __slots__ = ("clip", "overlap_frames")
    CLIP_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    clip: EarlierClip
    overlap_frames: int
    def __init__(self, clip: _Optional[_Union[EarlierClip, _Mapping]] = ..., overlap_frames: _Optional[int] = ...) -> None: ...

class Retake(_message.Message):
    __slots__ = ("clip", "start_s", "end_s", "video", "audio")
    CLIP_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    clip: EarlierClip
    start_s: float
    end_s: float
    video: bool
    audio: bool
    def __init__(self, clip: _Optional[_Union[EarlierClip, _Mapping]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., video: _Optional[bool] = ..., audio: _Optional[bool] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("file", "pixels", "frames", "frame", "strength", "crf")
    FILE_FIELD_NUMBER: _ClassVar[int]
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CRF_FIELD_NUMBER: _ClassVar[int]
    file: bytes
    pixels: RawImage
    frames: RawFrames
    frame: int
    strength: float
    crf: int
    def __init__(self, file: _Optional[bytes] = ..., pixels: _Optional[_Union[RawImage, _Mapping]] = ..., frames: _Optional[_Union[RawFrames, _Mapping]] = ..., frame: _Optional[int] = ..., strength: _Optional[float] = ..., crf: _Optional[int] = ...) -> None: ...

class RawImage(_message.Message):
    __slots__ = ("width", "height", "rgb")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RGB_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    rgb: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., rgb: _Optional[bytes] = ...) -> None: ...

class VideoInput(_message.Message):
    __slots__ = ("frames", "file")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    frames: RawFrames
    file: bytes
    def __init__(self, frames: _Optional[_Union[RawFrames, _Mapping]] = ..., file: _Optional[bytes] = ...) -> None: ...

class RawFrames(_message.Message):
    __slots__ = ("width", "height", "frame_rate", "rgb")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    RGB_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    frame_rate: float
    rgb: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., frame_rate: _Optional[float] = ..., rgb: _Optional[bytes] = ...) -> None: ...

class AudioInput(_message.Message):
    __slots__ = ("pcm", "file")
    PCM_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    pcm: RawAudio
    file: bytes
    def __init__(self, pcm: _Optional[_Union[RawAudio, _Mapping]] = ..., file: _Optional[bytes] = ...) -> None: ...

class RawAudio(_message.Message):
    __slots__ = ("sample_rate", "channels", "sample_format", "data")
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    data: bytes
    def __init__(self, sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class LoraWeight(_message.Message):
    __slots__ = ("name", "strength")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    strength: float
    def __init__(self, name: _Optional[str] = ..., strength: _Optional[float] = ...) -> None: ...

class ClipFormat(_message.Message):
    __slots__ = ("width", "height", "num_frames", "frame_rate", "sample_rate", "channels", "num_samples", "sample_format", "frame_format", "seed", "steps", "audio_only", "first_frame", "first_sample")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FRAME_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_ONLY_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    num_frames: int
    frame_rate: float
    sample_rate: int
    channels: int
    num_samples: int
    sample_format: SampleFormat
    frame_format: FrameFormat
    seed: int
    steps: int
    audio_only: bool
    first_frame: int
    first_sample: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., num_frames: _Optional[int] = ..., frame_rate: _Optional[float] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., num_samples: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., frame_format: _Optional[_Union[FrameFormat, str]] = ..., seed: _Optional[int] = ..., steps: _Optional[int] = ..., audio_only: _Optional[bool] = ..., first_frame: _Optional[int] = ..., first_sample: _Optional[int] = ...) -> None: ...

class GenerateEvent(_message.Message):
    __slots__ = ("job_id", "accepted", "progress", "audio_chunk", "video_chunk", "completed")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    accepted: Accepted
    progress: Progress
    audio_chunk: AudioChunk
    video_chunk: VideoChunk
    completed: Completed
    def __init__(self, job_id: _Optional[str] = ..., accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., audio_chunk: _Optional[_Union[AudioChunk, _Mapping]] = ..., video_chunk: _Optional[_Union[VideoChunk, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("job_id", "queue_position", "cache_hit", "format")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    queue_position: int
    cache_hit: bool
    format: ClipFormat
    def __init__(self, job_id: _Optional[str] = ..., queue_position: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., format: _Optional[_Union[ClipFormat, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("phase", "step", "total_steps", "frames_decoded", "total_frames", "elapsed_s", "preview_rgb", "preview_width", "preview_height", "queue_position")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DECODED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_RGB_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_WIDTH_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    phase: Phase
    step: int
    total_steps: int
    frames_decoded: int
    total_frames: int
    elapsed_s: float
    preview_rgb: bytes
    preview_width: int
    preview_height: int
    queue_position: int
    def __init__(self, phase: _Optional[_Union[Phase, str]] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., frames_decoded: _Optional[int] = ..., total_frames: _Optional[int] = ..., elapsed_s: _Optional[float] = ..., preview_rgb: _Optional[bytes] = ..., preview_width: _Optional[int] = ..., preview_height: _Optional[int] = ..., queue_position: _Optional[int] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("first_sample", "num_samples", "sample_rate", "channels", "sample_format", "pts_s", "data")
    FIRST_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    PTS_S_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    first_sample: int
    num_samples: int
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    pts_s: float
    data: bytes
    def __init__(self, first_sample: _Optional[int] = ..., num_samples: _Optional[int] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., pts_s: _Optional[float] = ..., data: _Optional[bytes] = ...) -> None: ...

class VideoChunk(_message.Message):
    __slots__ = ("first_frame", "num_frames", "width", "height", "frame_format", "pts_s", "data", "jpeg_frames")
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_FORMAT_FIELD_NUMBER: _ClassVar[int]
    PTS_S_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    JPEG_FRAMES_FIELD_NUMBER: _ClassVar[int]
    first_frame: int
    num_frames: int
    width: int
    height: int
    frame_format: FrameFormat
    pts_s: float
    data: bytes
    jpeg_frames: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, first_frame: _Optional[int] = ..., num_frames: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., frame_format: _Optional[_Union[FrameFormat, str]] = ..., pts_s: _Optional[float] = ..., data: _Optional[bytes] = ..., jpeg_frames: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("queue_s", "encode_s", "denoise_s", "decode_s", "first_chunk_s", "total_s", "transformer_passes_per_step", "denoise_s_per_pass")
    QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    ENCODE_S_FIELD_NUMBER: _ClassVar[int]
    DENOISE_S_FIELD_NUMBER: _ClassVar[int]
    DECODE_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_S_FIELD_NUMBER: _ClassVar[int]
    TOTAL_S_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMER_PASSES_PER_STEP_FIELD_NUMBER: _ClassVar[int]
    DENOISE_S_PER_PASS_FIELD_NUMBER: _ClassVar[int]
    queue_s: float
    encode_s: float
    denoise_s: float
    decode_s: float
    first_chunk_s: float
    total_s: float
    transformer_passes_per_step: float
    denoise_s_per_pass: float
    def __init__(self, queue_s: _Optional[float] = ..., encode_s: _Optional[float] = ..., denoise_s: _Optional[float] = ..., decode_s: _Optional[float] = ..., first_chunk_s: _Optional[float] = ..., total_s: _Optional[float] = ..., transformer_passes_per_step: _Optional[float] = ..., denoise_s_per_pass: _Optional[float] = ...) -> None: ...

class Completed(_message.Message):
    __slots__ = ("seed", "num_frames", "num_samples", "cache_hit", "timings", "audio_padded_samples")
    SEED_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_PADDED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    seed: int
    num_frames: int
    num_samples: int
    cache_hit: bool
    timings: Timings
    audio_padded_samples: int
    def __init__(self, seed: _Optional[int] = ..., num_frames: _Optional[int] = ..., num_samples: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., audio_padded_samples: _Optional[int] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: _Optional[bool] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class UnloadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_width", "max_height", "max_frames", "max_steps", "max_prompt_chars", "min_size", "min_frame_rate", "max_frame_rate", "max_guidance_scale", "size_multiple", "frames_multiple", "min_frames", "min_steps", "max_video_tokens", "max_negative_prompt_chars", "max_tag_chars", "min_guidance_scale", "min_stg_scale", "max_stg_scale", "min_guidance_rescale", "max_guidance_rescale", "min_chunk_frames", "max_chunk_frames", "min_audio_sample_rate", "max_audio_sample_rate", "max_seed", "max_loras", "max_lora_strength", "max_input_bytes", "max_input_frame_bytes", "max_conditions", "max_image_bytes")
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    MIN_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MIN_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_VIDEO_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_NEGATIVE_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_TAG_CHARS_FIELD_NUMBER: _ClassVar[int]
    MIN_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    MAX_STG_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_GUIDANCE_RESCALE_FIELD_NUMBER: _ClassVar[int]
    MAX_GUIDANCE_RESCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MIN_AUDIO_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_AUDIO_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_LORAS_FIELD_NUMBER: _ClassVar[int]
    MAX_LORA_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_FRAME_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_width: int
    max_height: int
    max_frames: int
    max_steps: int
    max_prompt_chars: int
    min_size: int
    min_frame_rate: float
    max_frame_rate: float
    max_guidance_scale: float
    size_multiple: int
    frames_multiple: int
    min_frames: int
    min_steps: int
    max_video_tokens: int
    max_negative_prompt_chars: int
    max_tag_chars: int
    min_guidance_scale: float
    min_stg_scale: float
    max_stg_scale: float
    min_guidance_rescale: float
    max_guidance_rescale: float
    min_chunk_frames: int
    max_chunk_frames: int
    min_audio_sample_rate: int
    max_audio_sample_rate: int
    max_seed: int
    max_loras: int
    max_lora_strength: float
    max_input_bytes: int
    max_input_frame_bytes: int
    max_conditions: int
    max_image_bytes: int
    def __init__(self, max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., max_frames: _Optional[int] = ..., max_steps: _Optional[int] = ..., max_prompt_chars: _Optional[int] = ..., min_size: _Optional[int] = ..., min_frame_rate: _Optional[float] = ..., max_frame_rate: _Optional[float] = ..., max_guidance_scale: _Optional[float] = ..., size_multiple: _Optional[int] = ..., frames_multiple: _Optional[int] = ..., min_frames: _Optional[int] = ..., min_steps: _Optional[int] = ..., max_video_tokens: _Optional[int] = ..., max_negative_prompt_chars: _Optional[int] = ..., max_tag_chars: _Optional[int] = ..., min_guidance_scale: _Optional[float] = ..., min_stg_scale: _Optional[float] = ..., max_stg_scale: _Optional[float] = ..., min_guidance_rescale: _Optional[float] = ..., max_guidance_rescale: _Optional[float] = ..., min_chunk_frames: _Optional[int] = ..., max_chunk_frames: _Optional[int] = ..., min_audio_sample_rate: _Optional[int] = ..., max_audio_sample_rate: _Optional[int] = ..., max_seed: _Optional[int] = ..., max_loras: _Optional[int] = ..., max_lora_strength: _Optional[float] = ..., max_input_bytes: _Optional[int] = ..., max_input_frame_bytes: _Optional[int] = ..., max_conditions: _Optional[int] = ..., max_image_bytes: _Optional[int] = ...) -> None: ...

class Info(_message.Message):
    __slots__ = ("version", "model_id", "model_path", "model_fingerprint", "loaded", "device", "dtype", "parameter_counts", "memory_bytes", "native_sample_rate", "limits", "defaults", "queue_depth", "queue_capacity", "running_job_id", "keep_alive_s", "protocol_version", "model_version", "text_encoder", "distilled", "default_preset", "features", "adapters", "native_channels", "models", "resident_model")
    class ParameterCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_COUNTS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    NATIVE_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_S_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_ENCODER_FIELD_NUMBER: _ClassVar[int]
    DISTILLED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRESET_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    NATIVE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_MODEL_FIELD_NUMBER: _ClassVar[int]
    version: str
    model_id: str
    model_path: str
    model_fingerprint: str
    loaded: bool
    device: str
    dtype: str
    parameter_counts: _containers.ScalarMap[str, int]
    memory_bytes: int
    native_sample_rate: int
    limits: Limits
    defaults: GenerateRequest
    queue_depth: int
    queue_capacity: int
    running_job_id: str
    keep_alive_s: float
    protocol_version: int
    model_version: str
    text_encoder: str
    distilled: bool
    default_preset: str
    features: _containers.RepeatedScalarFieldContainer[str]
    adapters: _containers.RepeatedCompositeFieldContainer[Adapter]
    native_channels: int
    models: _containers.RepeatedCompositeFieldContainer[ModelEntry]
    resident_model: str
    def __init__(self, version: _Optional[str] = ..., model_id: _Optional[str] = ..., model_path: _Optional[str] = ..., model_fingerprint: _Optional[str] = ..., loaded: _Optional[bool] = ..., device: _Optional[str] = ..., dtype: _Optional[str] = ..., parameter_counts: _Optional[_Mapping[str, int]] = ..., memory_bytes: _Optional[int] = ..., native_sample_rate: _Optional[int] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., defaults: _Optional[_Union[GenerateRequest, _Mapping]] = ..., queue_depth: _Optional[int] = ..., queue_capacity: _Optional[int] = ..., running_job_id: _Optional[str] = ..., keep_alive_s: _Optional[float] = ..., protocol_version: _Optional[int] = ..., model_version: _Optional[str] = ..., text_encoder: _Optional[str] = ..., distilled: _Optional[bool] = ..., default_preset: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., adapters: _Optional[_Iterable[_Union[Adapter, _Mapping]]] = ..., native_channels: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelEntry, _Mapping]]] = ..., resident_model: _Optional[str] = ...) -> None: ...

class ModelEntry(_message.Message):
    __slots__ = ("name", "loaded", "is_default", "model_path", "model_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    loaded: bool
    is_default: bool
    model_path: str
    model_version: str
    def __init__(self, name: _Optional[str] = ..., loaded: _Optional[bool] = ..., is_default: _Optional[bool] = ..., model_path: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class Adapter(_message.Message):
    __slots__ = ("name", "path", "fingerprint", "default_strength")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    fingerprint: str
    default_strength: float
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., fingerprint: _Optional[str] = ..., default_strength: _Optional[float] = ...) -> None: ...

class PrefetchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[GenerateRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[GenerateRequest, _Mapping]]] = ...) -> None: ...

class PrefetchResponse(_message.Message):
    __slots__ = ("job_ids", "already_cached")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CACHED_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    already_cached: int
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ..., already_cached: _Optional[int] = ...) -> None: ...
