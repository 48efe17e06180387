from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
RULE_FIELD_NUMBER: _ClassVar[int]
rule: _descriptor.FieldDescriptor
LABEL_FIELD_NUMBER: _ClassVar[int]
label: _descriptor.FieldDescriptor

class FieldRule(_message.Message):
    __slots__ = ("default", "min", "max", "special", "means", "choices", "pattern", "max_items", "expected")
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SPECIAL_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    default: str
    min: str
    max: str
    special: str
    means: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    pattern: str
    max_items: int
    expected: str
    def __init__(self, default: _Optional[str] = ..., min: _Optional[str] = ..., max: _Optional[str] = ..., special: _Optional[str] = ..., means: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., pattern: _Optional[str] = ..., max_items: _Optional[int] = ..., expected: _Optional[str] = ...) -> None: ...
