import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Pass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASS_UNSPECIFIED: _ClassVar[Pass]
    PASS_FOLEY: _ClassVar[Pass]
    PASS_ANALYZE: _ClassVar[Pass]
    PASS_RENDER: _ClassVar[Pass]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_OTIO: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_FCP_XML: _ClassVar[OutputFormat]

class GuideAudio(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDE_AUDIO_UNSPECIFIED: _ClassVar[GuideAudio]
    GUIDE_AUDIO_AUTO: _ClassVar[GuideAudio]
    GUIDE_AUDIO_OFF: _ClassVar[GuideAudio]
    GUIDE_AUDIO_ONLY: _ClassVar[GuideAudio]

class FetchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FETCH_MODE_UNSPECIFIED: _ClassVar[FetchMode]
    FETCH_MODE_BYTES: _ClassVar[FetchMode]
    FETCH_MODE_PATHS: _ClassVar[FetchMode]

class FileRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_ROLE_UNSPECIFIED: _ClassVar[FileRole]
    FILE_ROLE_TIMELINE: _ClassVar[FileRole]
    FILE_ROLE_AUDIO: _ClassVar[FileRole]

class BackendKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKEND_KIND_UNSPECIFIED: _ClassVar[BackendKind]
    BACKEND_KIND_DETECTOR: _ClassVar[BackendKind]
    BACKEND_KIND_DESCRIBER: _ClassVar[BackendKind]
    BACKEND_KIND_GENERATOR: _ClassVar[BackendKind]
PASS_UNSPECIFIED: Pass
PASS_FOLEY: Pass
PASS_ANALYZE: Pass
PASS_RENDER: Pass
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_OTIO: OutputFormat
OUTPUT_FORMAT_FCP_XML: OutputFormat
GUIDE_AUDIO_UNSPECIFIED: GuideAudio
GUIDE_AUDIO_AUTO: GuideAudio
GUIDE_AUDIO_OFF: GuideAudio
GUIDE_AUDIO_ONLY: GuideAudio
FETCH_MODE_UNSPECIFIED: FetchMode
FETCH_MODE_BYTES: FetchMode
FETCH_MODE_PATHS: FetchMode
FILE_ROLE_UNSPECIFIED: FileRole
FILE_ROLE_TIMELINE: FileRole
FILE_ROLE_AUDIO: FileRole
BACKEND_KIND_UNSPECIFIED: BackendKind
BACKEND_KIND_DETECTOR: BackendKind
BACKEND_KIND_DESCRIBER: BackendKind
BACKEND_KIND_GENERATOR: BackendKind

class UploadedTimeline(_message.Message):
    __slots__ = ("filename", "format", "content")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    filename: str
    format: str
    content: bytes
    def __init__(self, filename: _Optional[str] = ..., format: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class MarkerRule(_message.Message):
    __slots__ = ("prefix", "colors", "default_seconds")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    COLORS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    colors: _containers.RepeatedScalarFieldContainer[str]
    default_seconds: float
    def __init__(self, prefix: _Optional[str] = ..., colors: _Optional[_Iterable[str]] = ..., default_seconds: _Optional[float] = ...) -> None: ...

class FoleyOptions(_message.Message):
    __slots__ = ("detector", "describer", "generator", "seed", "marker_rule", "path_maps", "media_roots", "allow_missing", "rate", "no_cue_markers", "target_lufs", "output_format", "guide_audio", "min_confidence")
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIBER_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MARKER_RULE_FIELD_NUMBER: _ClassVar[int]
    PATH_MAPS_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ROOTS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    NO_CUE_MARKERS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    GUIDE_AUDIO_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    detector: str
    describer: str
    generator: str
    seed: int
    marker_rule: MarkerRule
    path_maps: _containers.RepeatedScalarFieldContainer[str]
    media_roots: _containers.RepeatedScalarFieldContainer[str]
    allow_missing: bool
    rate: str
    no_cue_markers: bool
    target_lufs: float
    output_format: OutputFormat
    guide_audio: GuideAudio
    min_confidence: float
    def __init__(self, detector: _Optional[str] = ..., describer: _Optional[str] = ..., generator: _Optional[str] = ..., seed: _Optional[int] = ..., marker_rule: _Optional[_Union[MarkerRule, _Mapping]] = ..., path_maps: _Optional[_Iterable[str]] = ..., media_roots: _Optional[_Iterable[str]] = ..., allow_missing: _Optional[bool] = ..., rate: _Optional[str] = ..., no_cue_markers: _Optional[bool] = ..., target_lufs: _Optional[float] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., guide_audio: _Optional[_Union[GuideAudio, str]] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("upload", "server_path", "job_pass", "options", "idempotency_key")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    SERVER_PATH_FIELD_NUMBER: _ClassVar[int]
    JOB_PASS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    upload: UploadedTimeline
    server_path: str
    job_pass: Pass
    options: FoleyOptions
    idempotency_key: str
    def __init__(self, upload: _Optional[_Union[UploadedTimeline, _Mapping]] = ..., server_path: _Optional[str] = ..., job_pass: _Optional[_Union[Pass, str]] = ..., options: _Optional[_Union[FoleyOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job_id", "created", "job")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    created: bool
    job: Job
    def __init__(self, job_id: _Optional[str] = ..., created: _Optional[bool] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message", "path", "clip", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    path: str
    clip: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., path: _Optional[str] = ..., clip: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class ResultSummary(_message.Message):
    __slots__ = ("timeline", "shots", "events", "onscreen", "offscreen", "clips", "audio_seconds", "seconds")
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ONSCREEN_FIELD_NUMBER: _ClassVar[int]
    OFFSCREEN_FIELD_NUMBER: _ClassVar[int]
    CLIPS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    timeline: str
    shots: int
    events: int
    onscreen: int
    offscreen: int
    clips: int
    audio_seconds: float
    seconds: float
    def __init__(self, timeline: _Optional[str] = ..., shots: _Optional[int] = ..., events: _Optional[int] = ..., onscreen: _Optional[int] = ..., offscreen: _Optional[int] = ..., clips: _Optional[int] = ..., audio_seconds: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "state", "job_pass", "timeline_name", "created_at", "started_at", "finished_at", "stage", "done", "total", "events_found", "clips_rendered", "warnings", "error", "result", "queue_position", "cancel_requested", "idempotency_key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    JOB_PASS_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FOUND_FIELD_NUMBER: _ClassVar[int]
    CLIPS_RENDERED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    job_pass: Pass
    timeline_name: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    stage: str
    done: int
    total: int
    events_found: int
    clips_rendered: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    error: JobError
    result: ResultSummary
    queue_position: int
    cancel_requested: bool
    idempotency_key: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., job_pass: _Optional[_Union[Pass, str]] = ..., timeline_name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., events_found: _Optional[int] = ..., clips_rendered: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., result: _Optional[_Union[ResultSummary, _Mapping]] = ..., queue_position: _Optional[int] = ..., cancel_requested: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_seq")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_seq: int
    def __init__(self, job_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "seq", "time", "state", "stage", "done", "total", "events_found", "clips_rendered", "warning", "error", "final")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FOUND_FIELD_NUMBER: _ClassVar[int]
    CLIPS_RENDERED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    state: JobState
    stage: str
    done: int
    total: int
    events_found: int
    clips_rendered: int
    warning: str
    error: JobError
    final: bool
    def __init__(self, job_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., events_found: _Optional[int] = ..., clips_rendered: _Optional[int] = ..., warning: _Optional[str] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., final: _Optional[bool] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class FetchResultRequest(_message.Message):
    __slots__ = ("job_id", "mode")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    mode: FetchMode
    def __init__(self, job_id: _Optional[str] = ..., mode: _Optional[_Union[FetchMode, str]] = ...) -> None: ...

class ResultFile(_message.Message):
    __slots__ = ("role", "name", "size", "sha256", "server_path", "timeline_url")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SERVER_PATH_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_URL_FIELD_NUMBER: _ClassVar[int]
    role: FileRole
    name: str
    size: int
    sha256: str
    server_path: str
    timeline_url: str
    def __init__(self, role: _Optional[_Union[FileRole, str]] = ..., name: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., server_path: _Optional[str] = ..., timeline_url: _Optional[str] = ...) -> None: ...

class ResultChunk(_message.Message):
    __slots__ = ("file", "data")
    FILE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file: ResultFile
    data: bytes
    def __init__(self, file: _Optional[_Union[ResultFile, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ListBackendsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Backend(_message.Message):
    __slots__ = ("kind", "name", "available", "loaded", "device", "description")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    kind: BackendKind
    name: str
    available: bool
    loaded: bool
    device: str
    description: str
    def __init__(self, kind: _Optional[_Union[BackendKind, str]] = ..., name: _Optional[str] = ..., available: _Optional[bool] = ..., loaded: _Optional[bool] = ..., device: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListBackendsResponse(_message.Message):
    __slots__ = ("backends",)
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[Backend]
    def __init__(self, backends: _Optional[_Iterable[_Union[Backend, _Mapping]]] = ...) -> None: ...
