"""The contract: generated code matches the .proto files, and the protos follow our rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from sonicvision.v1 import jobs_pb2, jobs_pb2_grpc

PROTO = Path(__file__).resolve().parents[1] / "proto"
GENERATED = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def committed() -> dict[str, bytes]:
    return {
        p.relative_to(PROTO).as_posix(): p.read_bytes()
        for p in sorted(PROTO.glob("sonicvision/*/*"))
        if p.name.endswith(GENERATED)
    }


def test_generated_code_is_up_to_date(tmp_path):
    """Regenerate with the one script; any difference means someone forgot to run it."""
    run = subprocess.run(
        [sys.executable, str(PROTO / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    fresh = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file()
    }
    assert sorted(fresh) == sorted(committed()), "generated files differ in name"
    stale = [name for name, data in fresh.items() if committed()[name] != data]
    assert not stale, f"regenerate with 'python proto/generate.py': {stale} are out of date"


def test_generated_modules_import_inside_the_package():
    grpc_source = Path(jobs_pb2_grpc.__file__).read_text()
    assert "from sonicvision.v1 import jobs_pb2" in grpc_source
    assert jobs_pb2_grpc.JobsStub and jobs_pb2.DESCRIPTOR.package == "sonicvision.v1"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    jobs_pb2.DESCRIPTOR.CopyToProto(proto)
    return proto


def test_enums_have_prefixed_values_and_an_unspecified_zero():
    for enum in _file_descriptor().enum_type:
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
        assert enum.value[0].number == 0 and enum.value[0].name == prefix + "UNSPECIFIED"
        for value in enum.value:
            assert value.name.startswith(prefix), (enum.name, value.name)
