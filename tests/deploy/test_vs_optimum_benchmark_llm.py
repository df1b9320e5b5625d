"""benchmarks/vs_optimum_benchmark_llm.py's parts that need neither optimum-benchmark's venv nor the
network: reading optimum-benchmark 0.6's report, the bandwidth bound's arithmetic and inputs,
the transformers-4 view of the model folder, and a failed optimum run said, not raised."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "vs_optimum_benchmark_llm", ROOT / "benchmarks/vs_optimum_benchmark_llm.py"
)
assert _spec and _spec.loader
vs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vs)


def _latency(values: list[float], mean: float, p50: float) -> dict[str, object]:
    return {"unit": "s", "values": values, "count": len(values), "total": sum(values), "mean": mean, "p50": p50}


# The shape optimum-benchmark 0.6 wrote (BenchmarkReport.to_dict(), pytorch, text-generation,
# prompt 32, new 16, batch 1; 2026-12-03 on this host), trimmed: per_token's values and the
# p90..stdev keys left out; mean, p50 and throughput are the run's own numbers.
OPTIMUM_RESULT = {
    "report": {
        "load_model": {"memory": None, "latency": _latency([0.11233104], 0.11233104, 0.11233104),
                       "throughput": None, "energy": None, "efficiency": None},
        "prefill": {
            "memory": None,
            "latency": _latency([0.12] * 10, 0.8937635091999254, 0.12233393449969299),
            "throughput": {"unit": "samples/s", "value": 1.1188642070374688},
            "energy": None,
            "efficiency": None,
        },
        "decode": {
            "memory": None,
            "latency": _latency([1.1] * 10, 1.7970023817000764, 1.1005691600003047),
            "throughput": {"unit": "tokens/s", "value": 8.347234345793723},
            "energy": None,
            "efficiency": None,
        },
        "per_token": {"memory": None, "latency": _latency([0.06] * 4, 0.06, 0.06), "throughput": None,
                      "energy": None, "efficiency": None},
    },
    "torch_num_threads": 2,
    "torch": "2.13.0+cpu",
}  # fmt: skip


def test_parse_optimum_reads_prefill_ms_and_decode_tokens_per_s() -> None:
    got = vs.parse_optimum(OPTIMUM_RESULT)
    assert got["prefill_mean_ms"] == pytest.approx(893.7635, abs=1e-3)
    assert got["prefill_p50_ms"] == pytest.approx(122.3339, abs=1e-3)
    assert got["decode_tokens_per_s"] == pytest.approx(8.3472, abs=1e-4)
    # its throughput × its mean decode latency = batch × (new − 1) = 15 tokens; ÷ its p50
    assert got["decode_p50_tokens_per_s"] == pytest.approx(15 / 1.1005691600003047, rel=1e-6)
    assert got["generations"] == 10
    assert vs.parse_optimum(OPTIMUM_RESULT["report"]) == got  # the bare report reads the same


def test_parse_optimum_refuses_a_decode_throughput_not_in_tokens() -> None:
    bad = json.loads(json.dumps(OPTIMUM_RESULT))
    bad["report"]["decode"]["throughput"]["unit"] = "samples/s"
    with pytest.raises(ValueError, match="tokens/s"):
        vs.parse_optimum(bad)


def test_bound_arithmetic() -> None:
    # 20 GB/s over 500 MB of weights per step: 40 steps/s, one token per sequence each
    assert vs.bound_tokens_per_s(20e9, 500e6) == pytest.approx(40.0)
    assert vs.bound_tokens_per_s(20e9, 500e6, batch=4) == pytest.approx(160.0)
    assert vs.fraction_of_bound(10.0, 20e9, 500e6) == pytest.approx(0.25)
    assert vs.fraction_of_bound(40.0, 20e9, 500e6, batch=4) == pytest.approx(0.25)


@pytest.mark.parametrize("threads", [1, 2])
def test_copy_bandwidth_is_a_plausible_positive_rate(threads: int) -> None:
    bw = vs.copy_bandwidth(size_mb=16, repeats=2, threads=threads)
    assert 1e8 < bw < 1e13  # bytes/s: more than 0.1 GB/s, less than 10 TB/s


def test_safetensors_bytes_sums_the_header_and_skips_metadata(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(40))
    assert vs.safetensors_bytes(path) == (40, 2)


def test_kv_bytes_per_step_smollm2_shape() -> None:
    config = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_size": 576}
    # K and V × 30 layers × 3 heads × 64 dims × 4 B × 40 tokens (prompt 32 + half of 16 new)
    assert vs.kv_bytes_per_step(config, 40, 1) == 2 * 30 * 3 * 64 * 4 * 40
    assert vs.kv_bytes_per_step({**config, "head_dim": 64}, 40, 2) == 2 * 2 * 30 * 3 * 64 * 4 * 40


def test_transformers4_view_adds_rope_theta_and_links_the_rest(tmp_path: Path) -> None:
    folder, work = tmp_path / "model", tmp_path / "work"
    folder.mkdir()
    work.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"dtype": "float32", "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}})
    )
    (folder / "model.safetensors").write_bytes(b"weights")
    view = vs.transformers4_view(folder, work)
    config = json.loads((view / "config.json").read_text())
    assert config["rope_theta"] == 100000.0 and "rope_scaling" not in config
    assert config["torch_dtype"] == "float32"
    assert (view / "model.safetensors").is_symlink() and (view / "model.safetensors").read_bytes() == b"weights"
    assert vs.transformers4_view(folder, work) == view  # a second call reuses it


def test_a_failed_optimum_run_is_an_answer_with_its_stderr_not_a_crash(tmp_path: Path) -> None:
    shape = {"prompt_tokens": 4, "new_tokens": 2, "batch_size": 1}
    if importlib.util.find_spec("optimum_benchmark") is not None:
        pytest.skip("this venv has optimum_benchmark: its driver would not fail on the import")
    # this venv's Python has no optimum_benchmark: the driver dies on its import
    got = vs.run_optimum(sys.executable, tmp_path, shape, tmp_path)
    assert "error" in got and "optimum_benchmark" in got["error"] and got["wall_s"] > 0
    missing = vs.run_optimum(str(tmp_path / "no-such-python"), tmp_path, shape, tmp_path)
    assert "could not start" in missing["error"]
