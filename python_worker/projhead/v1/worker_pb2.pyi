from projhead.v1 import rules_pb2 as _rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Precision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRECISION_UNSPECIFIED: _ClassVar[Precision]
    PRECISION_FP32: _ClassVar[Precision]
    PRECISION_BF16: _ClassVar[Precision]

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_PENDING: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_FINISHED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]
    RUN_STATE_INTERRUPTED: _ClassVar[RunState]
PRECISION_UNSPECIFIED: Precision
PRECISION_FP32: Precision
PRECISION_BF16: Precision
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_PENDING: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_FINISHED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState
RUN_STATE_INTERRUPTED: RunState

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_version", "python_version", "torch_version", "cuda_version", "grpc_version", "devices", "datasets", "methods", "backbones", "hostname", "run_root", "pid", "auth_required", "tls", "storage_problem")
    WORKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    TORCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUDA_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRPC_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    BACKBONES_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ROOT_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    worker_version: str
    python_version: str
    torch_version: str
    cuda_version: str
    grpc_version: str
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    methods: _containers.RepeatedScalarFieldContainer[str]
    backbones: _containers.RepeatedScalarFieldContainer[str]
    hostname: str
    run_root: str
    pid: int
    auth_required: bool
    tls: bool
    storage_problem: str
    def __init__(self, worker_version: _Optional[str] = ..., python_version: _Optional[str] = ..., torch_version: _Optional[str] = ..., cuda_version: _Optional[str] = ..., grpc_version: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., datasets: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ..., methods: _Optional[_Iterable[str]] = ..., backbones: _Optional[_Iterable[str]] = ..., hostname: _Optional[str] = ..., run_root: _Optional[str] = ..., pid: _Optional[int] = ..., auth_required: _Optional[bool] = ..., tls: _Optional[bool] = ..., storage_problem: _Optional[str] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("id", "name", "memory_bytes", "capability", "cores")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    memory_bytes: int
    capability: str
    cores: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., capability: _Optional[str] = ..., cores: _Optional[int] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("name", "available", "default_root", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROOT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    default_root: str
    detail: str
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ..., default_root: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class RunSpec(_message.Message):
    __slots__ = ("run_id", "name", "seed", "data", "model", "method", "optim", "train", "augment", "eval")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OPTIM_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    AUGMENT_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    name: str
    seed: int
    data: DataSpec
    model: ModelSpec
    method: MethodSpec
    optim: OptimSpec
    train: TrainSpec
    augment: AugmentSpec
    eval: EvalSpec
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ..., seed: _Optional[int] = ..., data: _Optional[_Union[DataSpec, _Mapping]] = ..., model: _Optional[_Union[ModelSpec, _Mapping]] = ..., method: _Optional[_Union[MethodSpec, _Mapping]] = ..., optim: _Optional[_Union[OptimSpec, _Mapping]] = ..., train: _Optional[_Union[TrainSpec, _Mapping]] = ..., augment: _Optional[_Union[AugmentSpec, _Mapping]] = ..., eval: _Optional[_Union[EvalSpec, _Mapping]] = ...) -> None: ...

class DataSpec(_message.Message):
    __slots__ = ("name", "root", "train_limit", "test_limit", "image_size", "synthetic_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TEST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    root: str
    train_limit: int
    test_limit: int
    image_size: int
    synthetic_size: int
    def __init__(self, name: _Optional[str] = ..., root: _Optional[str] = ..., train_limit: _Optional[int] = ..., test_limit: _Optional[int] = ..., image_size: _Optional[int] = ..., synthetic_size: _Optional[int] = ...) -> None: ...

class HeadSpec(_message.Message):
    __slots__ = ("hidden_dims", "out_dim", "batch_norm", "activation", "last_batch_norm")
    HIDDEN_DIMS_FIELD_NUMBER: _ClassVar[int]
    OUT_DIM_FIELD_NUMBER: _ClassVar[int]
    BATCH_NORM_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_NORM_FIELD_NUMBER: _ClassVar[int]
    hidden_dims: _containers.RepeatedScalarFieldContainer[int]
    out_dim: int
    batch_norm: bool
    activation: str
    last_batch_norm: bool
    def __init__(self, hidden_dims: _Optional[_Iterable[int]] = ..., out_dim: _Optional[int] = ..., batch_norm: _Optional[bool] = ..., activation: _Optional[str] = ..., last_batch_norm: _Optional[bool] = ...) -> None: ...

class ModelSpec(_message.Message):
    __slots__ = ("backbone", "cifar_stem", "width", "head")
    BACKBONE_FIELD_NUMBER: _ClassVar[int]
    CIFAR_STEM_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    backbone: str
    cifar_stem: bool
    width: int
    head: HeadSpec
    def __init__(self, backbone: _Optional[str] = ..., cifar_stem: _Optional[bool] = ..., width: _Optional[int] = ..., head: _Optional[_Union[HeadSpec, _Mapping]] = ...) -> None: ...

class BilevelOptions(_message.Message):
    __slots__ = ("inner_steps", "head_lr", "head_optimizer", "head_weight_decay", "head_reset_every", "head_in_outer", "head_momentum")
    INNER_STEPS_FIELD_NUMBER: _ClassVar[int]
    HEAD_LR_FIELD_NUMBER: _ClassVar[int]
    HEAD_OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    HEAD_WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    HEAD_RESET_EVERY_FIELD_NUMBER: _ClassVar[int]
    HEAD_IN_OUTER_FIELD_NUMBER: _ClassVar[int]
    HEAD_MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    inner_steps: int
    head_lr: float
    head_optimizer: str
    head_weight_decay: float
    head_reset_every: int
    head_in_outer: bool
    head_momentum: float
    def __init__(self, inner_steps: _Optional[int] = ..., head_lr: _Optional[float] = ..., head_optimizer: _Optional[str] = ..., head_weight_decay: _Optional[float] = ..., head_reset_every: _Optional[int] = ..., head_in_outer: _Optional[bool] = ..., head_momentum: _Optional[float] = ...) -> None: ...

class JointOptions(_message.Message):
    __slots__ = ("head_lr",)
    HEAD_LR_FIELD_NUMBER: _ClassVar[int]
    head_lr: float
    def __init__(self, head_lr: _Optional[float] = ...) -> None: ...

class MethodSpec(_message.Message):
    __slots__ = ("name", "temperature", "bilevel", "directclr_dim", "joint")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    BILEVEL_FIELD_NUMBER: _ClassVar[int]
    DIRECTCLR_DIM_FIELD_NUMBER: _ClassVar[int]
    JOINT_FIELD_NUMBER: _ClassVar[int]
    name: str
    temperature: float
    bilevel: BilevelOptions
    directclr_dim: int
    joint: JointOptions
    def __init__(self, name: _Optional[str] = ..., temperature: _Optional[float] = ..., bilevel: _Optional[_Union[BilevelOptions, _Mapping]] = ..., directclr_dim: _Optional[int] = ..., joint: _Optional[_Union[JointOptions, _Mapping]] = ...) -> None: ...

class OptimSpec(_message.Message):
    __slots__ = ("name", "lr", "momentum", "nesterov", "weight_decay", "warmup_epochs", "schedule")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    NESTEROV_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    WARMUP_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    name: str
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    warmup_epochs: float
    schedule: str
    def __init__(self, name: _Optional[str] = ..., lr: _Optional[float] = ..., momentum: _Optional[float] = ..., nesterov: _Optional[bool] = ..., weight_decay: _Optional[float] = ..., warmup_epochs: _Optional[float] = ..., schedule: _Optional[str] = ...) -> None: ...

class TrainSpec(_message.Message):
    __slots__ = ("epochs", "batch_size", "device", "precision", "compile", "max_steps", "log_every_steps", "knn_every_epochs", "checkpoint_every_epochs", "checkpoint_every_steps", "nproc", "eval_at_end", "threads", "nnodes", "layer_eval_every_epochs", "layer_eval_subset")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    COMPILE_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOG_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    KNN_EVERY_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    NPROC_FIELD_NUMBER: _ClassVar[int]
    EVAL_AT_END_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    NNODES_FIELD_NUMBER: _ClassVar[int]
    LAYER_EVAL_EVERY_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LAYER_EVAL_SUBSET_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    batch_size: int
    device: str
    precision: Precision
    compile: bool
    max_steps: int
    log_every_steps: int
    knn_every_epochs: int
    checkpoint_every_epochs: int
    checkpoint_every_steps: int
    nproc: int
    eval_at_end: bool
    threads: int
    nnodes: int
    layer_eval_every_epochs: int
    layer_eval_subset: int
    def __init__(self, epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., device: _Optional[str] = ..., precision: _Optional[_Union[Precision, str]] = ..., compile: _Optional[bool] = ..., max_steps: _Optional[int] = ..., log_every_steps: _Optional[int] = ..., knn_every_epochs: _Optional[int] = ..., checkpoint_every_epochs: _Optional[int] = ..., checkpoint_every_steps: _Optional[int] = ..., nproc: _Optional[int] = ..., eval_at_end: _Optional[bool] = ..., threads: _Optional[int] = ..., nnodes: _Optional[int] = ..., layer_eval_every_epochs: _Optional[int] = ..., layer_eval_subset: _Optional[int] = ...) -> None: ...

class EvalSpec(_message.Message):
    __slots__ = ("probe_max_iter", "knn_k", "knn_temperature", "val_fraction", "baselines", "layers")
    PROBE_MAX_ITER_FIELD_NUMBER: _ClassVar[int]
    KNN_K_FIELD_NUMBER: _ClassVar[int]
    KNN_TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    VAL_FRACTION_FIELD_NUMBER: _ClassVar[int]
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    probe_max_iter: int
    knn_k: int
    knn_temperature: float
    val_fraction: float
    baselines: bool
    layers: str
    def __init__(self, probe_max_iter: _Optional[int] = ..., knn_k: _Optional[int] = ..., knn_temperature: _Optional[float] = ..., val_fraction: _Optional[float] = ..., baselines: _Optional[bool] = ..., layers: _Optional[str] = ...) -> None: ...

class AugmentSpec(_message.Message):
    __slots__ = ("crop_min_scale", "jitter_strength", "jitter_p", "grayscale_p", "blur_p", "flip_p", "minimal")
    CROP_MIN_SCALE_FIELD_NUMBER: _ClassVar[int]
    JITTER_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    JITTER_P_FIELD_NUMBER: _ClassVar[int]
    GRAYSCALE_P_FIELD_NUMBER: _ClassVar[int]
    BLUR_P_FIELD_NUMBER: _ClassVar[int]
    FLIP_P_FIELD_NUMBER: _ClassVar[int]
    MINIMAL_FIELD_NUMBER: _ClassVar[int]
    crop_min_scale: float
    jitter_strength: float
    jitter_p: float
    grayscale_p: float
    blur_p: float
    flip_p: float
    minimal: bool
    def __init__(self, crop_min_scale: _Optional[float] = ..., jitter_strength: _Optional[float] = ..., jitter_p: _Optional[float] = ..., grayscale_p: _Optional[float] = ..., blur_p: _Optional[float] = ..., flip_p: _Optional[float] = ..., minimal: _Optional[bool] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("spec", "resume")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    spec: RunSpec
    resume: bool
    def __init__(self, spec: _Optional[_Union[RunSpec, _Mapping]] = ..., resume: _Optional[bool] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("status", "created", "resumed_from_seq")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    status: RunStatus
    created: bool
    resumed_from_seq: int
    def __init__(self, status: _Optional[_Union[RunStatus, _Mapping]] = ..., created: _Optional[bool] = ..., resumed_from_seq: _Optional[int] = ...) -> None: ...

class RunStatus(_message.Message):
    __slots__ = ("run_id", "state", "last_seq", "epoch", "step", "method", "dataset", "error", "created_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    state: RunState
    last_seq: int
    epoch: int
    step: int
    method: str
    dataset: str
    error: str
    created_at: float
    def __init__(self, run_id: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., last_seq: _Optional[int] = ..., epoch: _Optional[int] = ..., step: _Optional[int] = ..., method: _Optional[str] = ..., dataset: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id", "from_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    from_seq: int
    def __init__(self, run_id: _Optional[str] = ..., from_seq: _Optional[int] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id", "graceful")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    GRACEFUL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    graceful: bool
    def __init__(self, run_id: _Optional[str] = ..., graceful: _Optional[bool] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunStatus]
    def __init__(self, runs: _Optional[_Iterable[_Union[RunStatus, _Mapping]]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("seq", "time", "run_id", "started", "step", "epoch", "evaluation", "checkpoint", "log", "finished", "failed", "cancelled", "interrupted", "dynamics")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    DYNAMICS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    time: float
    run_id: str
    started: RunStarted
    step: StepMetrics
    epoch: EpochSummary
    evaluation: LayerEval
    checkpoint: CheckpointSaved
    log: LogLine
    finished: RunFinished
    failed: RunFailed
    cancelled: RunCancelled
    interrupted: RunInterrupted
    dynamics: TrainingDynamics
    def __init__(self, seq: _Optional[int] = ..., time: _Optional[float] = ..., run_id: _Optional[str] = ..., started: _Optional[_Union[RunStarted, _Mapping]] = ..., step: _Optional[_Union[StepMetrics, _Mapping]] = ..., epoch: _Optional[_Union[EpochSummary, _Mapping]] = ..., evaluation: _Optional[_Union[LayerEval, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointSaved, _Mapping]] = ..., log: _Optional[_Union[LogLine, _Mapping]] = ..., finished: _Optional[_Union[RunFinished, _Mapping]] = ..., failed: _Optional[_Union[RunFailed, _Mapping]] = ..., cancelled: _Optional[_Union[RunCancelled, _Mapping]] = ..., interrupted: _Optional[_Union[RunInterrupted, _Mapping]] = ..., dynamics: _Optional[_Union[TrainingDynamics, _Mapping]] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("resolved_spec", "device", "train_images", "steps_per_epoch", "total_steps", "start_step", "resumed", "backbone_params", "head_params", "world_size", "initial_knn_top1", "head_optimizer")
    RESOLVED_SPEC_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TRAIN_IMAGES_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    BACKBONE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    HEAD_PARAMS_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_KNN_TOP1_FIELD_NUMBER: _ClassVar[int]
    HEAD_OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    resolved_spec: RunSpec
    device: str
    train_images: int
    steps_per_epoch: int
    total_steps: int
    start_step: int
    resumed: bool
    backbone_params: int
    head_params: int
    world_size: int
    initial_knn_top1: float
    head_optimizer: HeadOptimizer
    def __init__(self, resolved_spec: _Optional[_Union[RunSpec, _Mapping]] = ..., device: _Optional[str] = ..., train_images: _Optional[int] = ..., steps_per_epoch: _Optional[int] = ..., total_steps: _Optional[int] = ..., start_step: _Optional[int] = ..., resumed: _Optional[bool] = ..., backbone_params: _Optional[int] = ..., head_params: _Optional[int] = ..., world_size: _Optional[int] = ..., initial_knn_top1: _Optional[float] = ..., head_optimizer: _Optional[_Union[HeadOptimizer, _Mapping]] = ...) -> None: ...

class HeadOptimizer(_message.Message):
    __slots__ = ("name", "lr", "momentum", "nesterov", "weight_decay")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    NESTEROV_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    name: str
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    def __init__(self, name: _Optional[str] = ..., lr: _Optional[float] = ..., momentum: _Optional[float] = ..., nesterov: _Optional[bool] = ..., weight_decay: _Optional[float] = ...) -> None: ...

class StepMetrics(_message.Message):
    __slots__ = ("step", "epoch", "loss", "head_loss", "lr", "images_per_sec", "contrastive_acc", "inner_gain")
    STEP_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    HEAD_LOSS_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    CONTRASTIVE_ACC_FIELD_NUMBER: _ClassVar[int]
    INNER_GAIN_FIELD_NUMBER: _ClassVar[int]
    step: int
    epoch: int
    loss: float
    head_loss: float
    lr: float
    images_per_sec: float
    contrastive_acc: float
    inner_gain: float
    def __init__(self, step: _Optional[int] = ..., epoch: _Optional[int] = ..., loss: _Optional[float] = ..., head_loss: _Optional[float] = ..., lr: _Optional[float] = ..., images_per_sec: _Optional[float] = ..., contrastive_acc: _Optional[float] = ..., inner_gain: _Optional[float] = ...) -> None: ...

class EpochSummary(_message.Message):
    __slots__ = ("epoch", "step", "loss", "knn_top1", "epoch_seconds", "images_per_sec", "peak_memory_bytes")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    KNN_TOP1_FIELD_NUMBER: _ClassVar[int]
    EPOCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    step: int
    loss: float
    knn_top1: float
    epoch_seconds: float
    images_per_sec: float
    peak_memory_bytes: int
    def __init__(self, epoch: _Optional[int] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., knn_top1: _Optional[float] = ..., epoch_seconds: _Optional[float] = ..., images_per_sec: _Optional[float] = ..., peak_memory_bytes: _Optional[int] = ...) -> None: ...

class LayerEval(_message.Message):
    __slots__ = ("layer", "index", "dim", "linear_top1", "knn_top1", "effective_rank", "singular_values", "alignment", "uniformity", "probe_converged", "probe_iterations", "probe_l2", "probe_val_top1", "linear_val_top1", "knn_val_top1")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    LINEAR_TOP1_FIELD_NUMBER: _ClassVar[int]
    KNN_TOP1_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_RANK_FIELD_NUMBER: _ClassVar[int]
    SINGULAR_VALUES_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    UNIFORMITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_CONVERGED_FIELD_NUMBER: _ClassVar[int]
    PROBE_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    PROBE_L2_FIELD_NUMBER: _ClassVar[int]
    PROBE_VAL_TOP1_FIELD_NUMBER: _ClassVar[int]
    LINEAR_VAL_TOP1_FIELD_NUMBER: _ClassVar[int]
    KNN_VAL_TOP1_FIELD_NUMBER: _ClassVar[int]
    layer: str
    index: int
    dim: int
    linear_top1: float
    knn_top1: float
    effective_rank: float
    singular_values: _containers.RepeatedScalarFieldContainer[float]
    alignment: float
    uniformity: float
    probe_converged: bool
    probe_iterations: int
    probe_l2: float
    probe_val_top1: _containers.RepeatedScalarFieldContainer[float]
    linear_val_top1: float
    knn_val_top1: float
    def __init__(self, layer: _Optional[str] = ..., index: _Optional[int] = ..., dim: _Optional[int] = ..., linear_top1: _Optional[float] = ..., knn_top1: _Optional[float] = ..., effective_rank: _Optional[float] = ..., singular_values: _Optional[_Iterable[float]] = ..., alignment: _Optional[float] = ..., uniformity: _Optional[float] = ..., probe_converged: _Optional[bool] = ..., probe_iterations: _Optional[int] = ..., probe_l2: _Optional[float] = ..., probe_val_top1: _Optional[_Iterable[float]] = ..., linear_val_top1: _Optional[float] = ..., knn_val_top1: _Optional[float] = ...) -> None: ...

class EvalProtocol(_message.Message):
    __slots__ = ("probe_l2_grid", "val_fraction", "val_images", "split_seed", "knn_k", "knn_temperature", "probe_max_iter", "train_images", "test_images", "rank_definition")
    PROBE_L2_GRID_FIELD_NUMBER: _ClassVar[int]
    VAL_FRACTION_FIELD_NUMBER: _ClassVar[int]
    VAL_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_SEED_FIELD_NUMBER: _ClassVar[int]
    KNN_K_FIELD_NUMBER: _ClassVar[int]
    KNN_TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    PROBE_MAX_ITER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_IMAGES_FIELD_NUMBER: _ClassVar[int]
    TEST_IMAGES_FIELD_NUMBER: _ClassVar[int]
    RANK_DEFINITION_FIELD_NUMBER: _ClassVar[int]
    probe_l2_grid: _containers.RepeatedScalarFieldContainer[float]
    val_fraction: float
    val_images: int
    split_seed: int
    knn_k: int
    knn_temperature: float
    probe_max_iter: int
    train_images: int
    test_images: int
    rank_definition: str
    def __init__(self, probe_l2_grid: _Optional[_Iterable[float]] = ..., val_fraction: _Optional[float] = ..., val_images: _Optional[int] = ..., split_seed: _Optional[int] = ..., knn_k: _Optional[int] = ..., knn_temperature: _Optional[float] = ..., probe_max_iter: _Optional[int] = ..., train_images: _Optional[int] = ..., test_images: _Optional[int] = ..., rank_definition: _Optional[str] = ...) -> None: ...

class TrainingDynamics(_message.Message):
    __slots__ = ("epoch", "step", "seconds", "subset_size", "layers")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    SUBSET_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    step: int
    seconds: float
    subset_size: int
    layers: _containers.RepeatedCompositeFieldContainer[LayerDynamics]
    def __init__(self, epoch: _Optional[int] = ..., step: _Optional[int] = ..., seconds: _Optional[float] = ..., subset_size: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[LayerDynamics, _Mapping]]] = ...) -> None: ...

class LayerDynamics(_message.Message):
    __slots__ = ("layer", "index", "dim", "knn_top1", "effective_rank", "alignment", "uniformity")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    KNN_TOP1_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_RANK_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    UNIFORMITY_FIELD_NUMBER: _ClassVar[int]
    layer: str
    index: int
    dim: int
    knn_top1: float
    effective_rank: float
    alignment: float
    uniformity: float
    def __init__(self, layer: _Optional[str] = ..., index: _Optional[int] = ..., dim: _Optional[int] = ..., knn_top1: _Optional[float] = ..., effective_rank: _Optional[float] = ..., alignment: _Optional[float] = ..., uniformity: _Optional[float] = ...) -> None: ...

class CheckpointSaved(_message.Message):
    __slots__ = ("path", "step", "epoch", "reason", "bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    step: int
    epoch: int
    reason: str
    bytes: int
    def __init__(self, path: _Optional[str] = ..., step: _Optional[int] = ..., epoch: _Optional[int] = ..., reason: _Optional[str] = ..., bytes: _Optional[int] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("level", "message")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    level: str
    message: str
    def __init__(self, level: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("steps", "epochs", "final_loss", "knn_top1", "wall_seconds", "checkpoint", "untrained_layers", "train_seconds", "images_seen", "optimizer_steps", "inner_head_steps", "baselines", "eval_protocol")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    FINAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    KNN_TOP1_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    UNTRAINED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_SEEN_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_STEPS_FIELD_NUMBER: _ClassVar[int]
    INNER_HEAD_STEPS_FIELD_NUMBER: _ClassVar[int]
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    EVAL_PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    steps: int
    epochs: int
    final_loss: float
    knn_top1: float
    wall_seconds: float
    checkpoint: str
    untrained_layers: _containers.RepeatedScalarFieldContainer[str]
    train_seconds: float
    images_seen: int
    optimizer_steps: int
    inner_head_steps: int
    baselines: _containers.RepeatedCompositeFieldContainer[LayerEval]
    eval_protocol: EvalProtocol
    def __init__(self, steps: _Optional[int] = ..., epochs: _Optional[int] = ..., final_loss: _Optional[float] = ..., knn_top1: _Optional[float] = ..., wall_seconds: _Optional[float] = ..., checkpoint: _Optional[str] = ..., untrained_layers: _Optional[_Iterable[str]] = ..., train_seconds: _Optional[float] = ..., images_seen: _Optional[int] = ..., optimizer_steps: _Optional[int] = ..., inner_head_steps: _Optional[int] = ..., baselines: _Optional[_Iterable[_Union[LayerEval, _Mapping]]] = ..., eval_protocol: _Optional[_Union[EvalProtocol, _Mapping]] = ...) -> None: ...

class RunFailed(_message.Message):
    __slots__ = ("cause", "message", "stderr_tail", "last_checkpoint")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STDERR_TAIL_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    cause: str
    message: str
    stderr_tail: _containers.RepeatedScalarFieldContainer[str]
    last_checkpoint: str
    def __init__(self, cause: _Optional[str] = ..., message: _Optional[str] = ..., stderr_tail: _Optional[_Iterable[str]] = ..., last_checkpoint: _Optional[str] = ...) -> None: ...

class RunInterrupted(_message.Message):
    __slots__ = ("reason", "message", "step", "checkpoint")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    step: int
    checkpoint: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., step: _Optional[int] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class RunCancelled(_message.Message):
    __slots__ = ("step", "checkpoint")
    STEP_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    step: int
    checkpoint: str
    def __init__(self, step: _Optional[int] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("run_id", "checkpoint", "layers", "data", "device", "eval")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    checkpoint: str
    layers: _containers.RepeatedScalarFieldContainer[str]
    data: DataSpec
    device: str
    eval: EvalSpec
    def __init__(self, run_id: _Optional[str] = ..., checkpoint: _Optional[str] = ..., layers: _Optional[_Iterable[str]] = ..., data: _Optional[_Union[DataSpec, _Mapping]] = ..., device: _Optional[str] = ..., eval: _Optional[_Union[EvalSpec, _Mapping]] = ...) -> None: ...

class EvaluateEvent(_message.Message):
    __slots__ = ("log", "layer", "done")
    LOG_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    log: LogLine
    layer: LayerEval
    done: EvaluateDone
    def __init__(self, log: _Optional[_Union[LogLine, _Mapping]] = ..., layer: _Optional[_Union[LayerEval, _Mapping]] = ..., done: _Optional[_Union[EvaluateDone, _Mapping]] = ...) -> None: ...

class EvaluateDone(_message.Message):
    __slots__ = ("layers", "checkpoint", "step", "seconds", "train_images", "test_images", "untrained_layers", "baselines", "protocol")
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_IMAGES_FIELD_NUMBER: _ClassVar[int]
    TEST_IMAGES_FIELD_NUMBER: _ClassVar[int]
    UNTRAINED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[LayerEval]
    checkpoint: str
    step: int
    seconds: float
    train_images: int
    test_images: int
    untrained_layers: _containers.RepeatedScalarFieldContainer[str]
    baselines: _containers.RepeatedCompositeFieldContainer[LayerEval]
    protocol: EvalProtocol
    def __init__(self, layers: _Optional[_Iterable[_Union[LayerEval, _Mapping]]] = ..., checkpoint: _Optional[str] = ..., step: _Optional[int] = ..., seconds: _Optional[float] = ..., train_images: _Optional[int] = ..., test_images: _Optional[int] = ..., untrained_layers: _Optional[_Iterable[str]] = ..., baselines: _Optional[_Iterable[_Union[LayerEval, _Mapping]]] = ..., protocol: _Optional[_Union[EvalProtocol, _Mapping]] = ...) -> None: ...

class ExportBackboneRequest(_message.Message):
    __slots__ = ("run_id", "checkpoint")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    checkpoint: str
    def __init__(self, run_id: _Optional[str] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data", "total_bytes", "architecture")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_bytes: int
    architecture: str
    def __init__(self, data: _Optional[bytes] = ..., total_bytes: _Optional[int] = ..., architecture: _Optional[str] = ...) -> None: ...
