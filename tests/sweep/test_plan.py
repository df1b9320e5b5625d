"""The plan on given hardware: model selection, devices, the grid, the checks before a worker
starts. No hardware detection, no worker: a hand-made HardwareReport."""

from __future__ import annotations

import pytest

from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.hardware import HardwareReport, PlatformInfo
from hwbench_mlflow.plan import as_list, backends_asked, build_plan, devices_for, precheck, select_models


def report(*, cpu_flags: tuple[str, ...] = ("avx2",), openvino: tuple[str, ...] = ()) -> HardwareReport:
    """A CPU host (with ``cpu_flags``), OpenVINO devices when given, every other platform absent."""
    platforms = [PlatformInfo("cpu", True, "Test CPU", ("cpu",), details={"flags": list(cpu_flags)})]
    platforms.append(PlatformInfo("openvino", True, "OV", openvino) if openvino else PlatformInfo("openvino", False))
    platforms += [PlatformInfo(p, False, reason=f"no {p} here") for p in ("cuda", "rocm", "mps", "qnn", "webnn")]
    platforms.append(PlatformInfo("webgpu", True, "SwiftShader", ("gpu",), details={"device_kind": "software"}))
    return HardwareReport("testhost", tuple(platforms))


def test_select_models_default_named_and_by_category():
    assert [s.key for s in select_models()] == ["bert-tiny", "minilm"]
    assert [s.key for s in select_models(["bert-tiny", "bert-tiny", "vit"])] == ["bert-tiny", "vit"]
    assert [s.key for s in select_models(category="audio")] == ["whisper"]
    assert [s.key for s in select_models(["bert-tiny", "vit"], category="vision")] == ["vit"]
    assert len(select_models(all_models=True)) == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "sound"}, "unknown category 'sound'; choose from text, vision, audio, multimodal"),
        ({"models": ["vit"], "category": "audio"}, "no model matches category 'audio'"),
    ],
)
def test_select_models_refuses(kwargs, message):
    with pytest.raises(BadInputError) as err:
        select_models(**kwargs)
    assert str(err.value) == message


def test_devices_for():
    hw = report(openvino=("CPU", "GPU.0"))
    assert devices_for("cpu", hw) == ["cpu"]
    assert devices_for("cpu", hw, "onnxruntime-web") == ["wasm"]
    assert devices_for("openvino", hw) == ["CPU", "GPU.0"]  # every OpenVINO device
    assert devices_for("cuda", hw) == ["none"]


def test_build_plan_default_platforms_skip_a_software_webgpu():
    plan = build_plan(select_models(["bert-tiny"]), None, None, [1, 8], ["fp32"], ["inference"], 128, report())
    assert [(c.hardware, c.backend, c.device, c.batch_size) for c in plan] == [
        ("cpu", "torch", "cpu", 1),
        ("cpu", "torch", "cpu", 8),
    ]
    assert plan[0].run_name == "fp32 b1 · cpu/torch · bert-tiny · inference"


def test_build_plan_order_and_every_backend():
    specs = select_models(["bert-tiny"])
    hw = report(openvino=("CPU", "GPU.0"))
    plan = build_plan(specs, ["cpu", "openvino"], None, [1], ["fp32", "int8"], ["inference"], 64, hw)
    assert [(c.hardware, c.backend, c.device, c.precision) for c in plan] == [
        ("cpu", "torch", "cpu", "fp32"),
        ("cpu", "torch", "cpu", "int8"),
        ("openvino", "openvino", "CPU", "fp32"),
        ("openvino", "openvino", "CPU", "int8"),
        ("openvino", "openvino", "GPU.0", "fp32"),
        ("openvino", "openvino", "GPU.0", "int8"),
    ]
    assert {c.seq_length for c in plan} == {64}
    every = build_plan(specs, ["cpu"], None, [1], ["fp32"], ["inference"], 128, hw, every_backend=True)
    pairs = [(c.backend, c.device) for c in every]
    assert pairs == [("torch", "cpu"), ("onnxruntime", "cpu"), ("onnxruntime-web", "wasm")]


@pytest.mark.parametrize(
    ("hardware", "backends", "message"),
    [
        (
            ["cpu"],
            ["tf"],
            "unknown backend 'tf'; choose from torch, openvino, onnxruntime, onnxruntime-web, openvino_genai, "
            "onnxruntime_genai",
        ),
        (["openvino"], ["torch"], "none of the backends torch runs on 'openvino'"),
    ],
)
def test_build_plan_refuses(hardware, backends, message):
    with pytest.raises(BadInputError) as err:
        build_plan(select_models(["bert-tiny"]), hardware, backends, [1], ["fp32"], ["inference"], 128, report())
    assert str(err.value) == message


def test_precheck_on_given_hardware():
    (fp32, fp16, cuda) = build_plan(
        select_models(["bert-tiny"]), ["cpu"], None, [1], ["fp32", "fp16"], ["inference"], 128, report()
    ) + build_plan(select_models(["bert-tiny"]), ["cuda"], None, [1], ["fp32"], ["inference"], 128, report())
    assert precheck(fp32, report()) is None
    assert precheck(fp16, report()) == (
        "unsupported",
        "this CPU has no fp16 arithmetic (avx512_fp16 / amx_fp16): fp16 would only be emulated",
    )
    assert precheck(fp16, report(cpu_flags=("avx512_fp16",))) is None
    assert precheck(cuda, report()) == ("unavailable", "cuda is not available on this host: no cuda here")


def test_as_list_and_backends_asked():
    assert as_list("a") == ["a"] and as_list(("a", "b")) == ["a", "b"] and as_list(None) == []
    assert backends_asked(None, "openvino") == ["openvino"]
    assert backends_asked(["cpu", "openvino"], None) == ["openvino", "torch"]
    assert backends_asked(None, None) is None
    assert backends_asked("cpu", None, every_backend=True) is None
