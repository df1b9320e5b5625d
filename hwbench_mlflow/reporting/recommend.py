"""``hwbench recommend``: the seeds' five criteria, from the DuckDB mirror only.

Per model, over the newest successful result of each configuration (``latest_results``):

* **best overall** — the highest weighted score ``w_t · T/T_max + w_l · L_min/L`` (T throughput,
  L latency at the chosen percentile, both normalised to the best candidate of the model;
  default weights 0.5 / 0.5, ``--weights throughput=0.7,latency=0.3``);
* **best throughput** — the most samples/s;
* **best latency** — the lowest p50 (or p99 with ``--latency p99``) per batch;
* **best memory** — the lowest peak memory (device memory on GPUs); ties go to throughput;
* **best value** — samples per dollar from a user's price table (``--prices``, $/hour per
  platform) and samples per joule from the measured energy counter, else from a user's
  power table (``--power``, watts per platform) and then marked *estimated*.

Each recommendation carries its evidence (run id, samples, the 95 % CI of the median
latency) and a confidence: **high** — measured, ≥ 30 samples, CI half-width ≤ 5 % of the
median (and for a p99 criterion, enough samples for the p99); **low** — simulated, measured
on a busy host (``hwbench.host_contended``: the warning says how busy), fewer than 10
samples, or no CI; **medium** — the rest (and every estimated value). A simulated
result never wins over a measured one: when it would have, the measured winner is
recommended and a warning names the simulated one; when only simulated results exist,
the recommendation says so in its warning.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names as N
from ..errors import BadInputError, HwbenchError
from .freshness import warn_if_behind
from .generation_recommend import recommend_generation
from .picking import Recommendation, _pick, _RowView

if TYPE_CHECKING:
    import pandas as pd

CRITERIA = (
    "best_overall",
    "best_throughput",
    "best_latency",
    "best_memory",
    "best_value_per_dollar",
    "best_value_per_watt",
)
DEFAULT_WEIGHTS = {"throughput": 0.5, "latency": 0.5}
FORMATS = ("table", "json", "csv", "markdown")
# generate runs' columns read for their criteria (generation_recommend.py)
GENERATION_COLUMNS = (
    "prompt_tokens",
    "new_tokens",
    "ttft_p50_ms",
    "tpot_mean_ms",
    "itl_p99_ms",
    "decode_tokens_per_s",
    "kv_cache_mb",
    "first_token_agreement",
    "agreeing_prefix_tokens",
)


class NoResultsError(HwbenchError):
    """The mirror holds nothing to recommend from."""

    exit_code = 1


def normalise_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Best-overall weights ``{"throughput": 0.7, "latency": 0.3}`` scaled to sum 1 (a missing
    one is 0); None: 0.5 each."""
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    for key, w in weights.items():
        if key not in DEFAULT_WEIGHTS:
            raise BadInputError(f"weights: unknown key '{key}'; use throughput and latency", param="weights")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w >= 0):
            raise BadInputError(f"weights: {key} must be a number >= 0, got {w!r}", param="weights")
    total = sum(weights.values())
    if total <= 0:
        raise BadInputError("weights: at least one weight must be > 0", param="weights")
    return {k: weights.get(k, 0.0) / total for k in DEFAULT_WEIGHTS}


MAX_TABLE_BYTES = 2**20  # --prices / --power: a few lines of YAML


def _shown_path(path: str) -> str:
    """``path`` for a one-line message: a very long name cut short, with its length."""
    return path if len(path) <= 100 else f"{path[:60]}... ({len(path)} characters)"


def load_table(path: str | None, flag: str, unit: str) -> dict[str, float]:
    """A YAML mapping platform → positive number (``cpu: 0.10``); keys may be a platform
    (``cpu``), a hardware name (``"NVIDIA H100 80GB HBM3"``) or ``host/platform/device``."""
    if path is None:
        return {}
    import stat

    import yaml

    p = Path(path)
    shown = _shown_path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadInputError(f"{flag}: no such file: {shown}") from None
    except OSError as exc:  # a name too long, a component that is a file, no permission
        raise BadInputError(f"{flag}: cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(f"{flag}: not a file: {shown}")
    too_large = f"{flag}: {shown} is too large (over {MAX_TABLE_BYTES // 2**20} MB); it should map platforms to {unit}"
    if st.st_size > MAX_TABLE_BYTES:  # refused unread
        raise BadInputError(too_large)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_TABLE_BYTES + 1)  # bounded: a file may say 0 bytes and hold more
        if len(raw) > MAX_TABLE_BYTES:
            raise BadInputError(too_large)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "\0"
        if "\0" in text:
            raise BadInputError(f"{flag}: cannot read {shown}: binary content, not YAML text")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{flag}: cannot read {shown}: {first}") from None
    if not isinstance(data, dict) or not data:
        raise BadInputError(f"{flag}: {path} must map platforms to {unit} (example: cpu: 0.10)")
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise BadInputError(f"{flag}: {path}: '{key}' must be a positive number of {unit}, got {value!r}")
        out[str(key)] = float(value)
    return out


def _lookup(table: dict[str, float], row: Any) -> float | None:
    for key in (f"{row.host}/{row.hardware}/{row.device}", row.hardware_name, row.hardware):
        if key in table:
            return table[key]
    return None


def candidates(db_path: str | os.PathLike[str], models: list[str] | None, mode: str) -> pd.DataFrame:
    """The newest successful result of each configuration, with memory and CI columns."""
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        frame = con.execute(
            "SELECT model, hardware, hardware_name, device, host, backend, precision, batch_size, scenario,"
            " throughput_samples_per_s, latency_p50_ms, latency_p99_ms, memory_peak_mb, gpu_memory_peak_mb,"
            f" {N.MEMORY_MB_SQL} AS memory_mb,"
            " energy_j_per_sample, latency_p50_ci_low_ms, latency_p50_ci_high_ms, percentile_warning,"
            " coalesce(nullif(samples_count, 0), iterations, 0) AS samples, is_simulated, simulation_reason,"
            " coalesce(host_contended, false) AS host_contended, host_other_cpu_pct,"
            f" {', '.join(GENERATION_COLUMNS)},"
            " mlflow_run_id FROM latest_results WHERE mode = ? ORDER BY model, hardware, backend, precision,"
            " batch_size",
            [mode],
        ).df()
    finally:
        con.close()
    if models:
        unknown = sorted(set(models) - set(frame["model"]))
        if unknown:
            have = ", ".join(sorted(set(frame["model"]))) or "none"
            raise NoResultsError(
                f"no {mode} results for {', '.join(unknown)} in {db_path} (models with results: {have})"
            )
        frame = frame[frame["model"].isin(models)]
    if frame.empty:
        raise NoResultsError(f"no successful {mode} results in {db_path}; run `hwbench run` (it syncs) first")
    half = (frame["latency_p50_ci_high_ms"] - frame["latency_p50_ci_low_ms"]) / 2
    frame["ci_rel"] = (half / frame["latency_p50_ms"]).fillna(math.inf)
    frame["is_simulated"] = frame["is_simulated"].fillna(False).astype(bool)
    frame["host_contended"] = frame["host_contended"].fillna(False).astype(bool)
    return frame.reset_index(drop=True)


def recommend_model(
    model: str,
    rows: pd.DataFrame,
    weights: dict[str, float],
    latency: str,
    memory_limit_mb: float | None,
    prices: dict[str, float],
    power: dict[str, float],
) -> list[Recommendation]:
    """The five criteria (value split into per dollar and per watt) for one model."""
    lat_col = f"latency_{latency}_ms"
    pool = rows if memory_limit_mb is None else rows[rows["memory_mb"] <= memory_limit_mb]
    if pool.empty:
        why = f"no result of {model} stays under --memory-limit {memory_limit_mb:g} MB"
        return [Recommendation(model, c, "not_available", reason=why) for c in CRITERIA]
    uses_p99 = latency == "p99"
    thr, lat = pool["throughput_samples_per_s"], pool[lat_col]
    # normalised to the best *measured* candidate: simulated numbers never rescale real scores
    real = pool[~pool["is_simulated"]]
    norm = real if not real.empty else pool
    t_best, l_best = norm["throughput_samples_per_s"].max(), norm[lat_col].min()
    overall = weights["throughput"] * thr / t_best + weights["latency"] * l_best / lat
    out = [
        _pick(
            model,
            "best_overall",
            pool,
            overall,
            True,
            f"{weights['throughput']:.2f}·throughput/best + {weights['latency']:.2f}·best/{latency} latency",
            "score",
            uses_p99,
            latency_col=lat_col,
        ),
        _pick(model, "best_throughput", pool, thr, True, "throughput", "samples/s", latency_col=lat_col),
        _pick(
            model, "best_latency", pool, lat, False, f"{latency} latency per batch", "ms", uses_p99, latency_col=lat_col
        ),
        _pick(model, "best_memory", pool, pool["memory_mb"], False, "peak memory", "MB", latency_col=lat_col),
    ]
    price = pool.apply(lambda r: _lookup(prices, _RowView(r)), axis=1) if prices else None
    if price is None or price.isna().all():
        why = "no --prices table given" if not prices else "no price in --prices for any measured platform"
        out.append(Recommendation(model, "best_value_per_dollar", "not_available", reason=why))
    else:
        per_dollar = thr * 3600.0 / price.astype(float)
        out.append(
            _pick(
                model,
                "best_value_per_dollar",
                pool,
                per_dollar,
                True,
                "samples per dollar",
                "samples/$",
                latency_col=lat_col,
            )
        )
    measured = 1.0 / pool["energy_j_per_sample"]
    watts = pool.apply(lambda r: _lookup(power, _RowView(r)), axis=1) if power else None
    estimated = measured.isna()
    per_joule = measured.where(~estimated, thr / watts.astype(float) if watts is not None else math.nan)
    if per_joule.isna().all():
        why = "no energy counter on the measured platforms and no --power table given"
        out.append(Recommendation(model, "best_value_per_watt", "not_available", reason=why))
    else:
        out.append(
            _pick(
                model,
                "best_value_per_watt",
                pool,
                per_joule,
                True,
                "samples per joule (= samples/s per W)",
                "samples/J",
                estimated=estimated,
                latency_col=lat_col,
            )
        )
    return out


def recommend(
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    *,
    models: list[str] | None = None,
    weights: Mapping[str, float] | None = None,
    latency: str = "p50",
    memory_limit_mb: float | None = None,
    prices: dict[str, float] | None = None,
    power: dict[str, float] | None = None,
    mode: str = "inference",
    itl_limit_ms: float | None = None,
) -> list[Recommendation]:
    """Recommendations for every model with results in the mirror (or ``models``); a generative
    model's generate runs get their own criteria (:mod:`.generation_recommend`; ``itl_limit_ms``:
    the p99 inter-token latency limit of ``best_decode_under_itl_limit``)."""
    if latency not in ("p50", "p99"):
        raise BadInputError(f"latency must be p50 or p99, got '{latency}'", param="latency")
    if memory_limit_mb is not None and not (math.isfinite(memory_limit_mb) and memory_limit_mb > 0):
        raise BadInputError(f"memory_limit_mb must be a number > 0, got {memory_limit_mb:g}", param="memory_limit_mb")
    if itl_limit_ms is not None and not (math.isfinite(itl_limit_ms) and itl_limit_ms > 0):
        raise BadInputError(f"itl_limit_ms must be a number > 0, got {itl_limit_ms:g}", param="itl_limit_ms")
    weights = normalise_weights(weights)
    frame = candidates(db_path, models, mode)
    warn_if_behind(db_path)
    out: list[Recommendation] = []
    for model, rows in frame.groupby("model", sort=True):
        generate = rows["scenario"] == N.GENERATE
        if (~generate).any():  # forward passes: the seeds' criteria
            fwd = rows[~generate]
            out += recommend_model(str(model), fwd, weights, latency, memory_limit_mb, prices or {}, power or {})
        if generate.any():
            out += recommend_generation(str(model), rows[generate], itl_limit_ms, memory_limit_mb)
    return out


def to_frame(recs: list[Recommendation]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in recs])


def to_markdown(recs: list[Recommendation]) -> str:
    lines = [
        "| model | criterion | recommendation | value | confidence | evidence | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        if r.status != "recommended":
            lines.append(f"| {r.model} | {r.criterion} | not available | | | | {r.reason} |")
            continue
        where = ("**SIMULATED** " if r.is_simulated else "") + r.where()
        cells = (r.model, r.criterion, where, r.value_text(), r.confidence, r.evidence(), r.warning)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def log_to_mlflow(recs: list[Recommendation], tracking_uri: str, experiment: str, params: dict[str, Any]) -> str:
    """The recommendation as an MLflow run (tag hwbench.role=recommend): params, a JSON and a
    Markdown artifact; its run id."""
    from ..tracking.records import log_output_run

    md = to_markdown(recs)
    return log_output_run(
        tracking_uri,
        experiment,
        "recommend",
        params,
        "**hwbench recommend**\n\n" + md,
        dicts={N.A_RECOMMENDATIONS: {"recommendations": [r.to_dict() for r in recs]}},
        texts={"recommendations.md": md},
        simulated=any(r.is_simulated for r in recs),
    )
