// The page hwbench's onnxruntime-web backend drives in a headless Chromium (through Playwright).
// It only runs what Python asks and times each session.run with performance.now(); every
// statistic is computed in Python from the raw samples, like the native backends'.

const BUNDLES = { wasm: "ort.wasm.min.mjs", webgpu: "ort.webgpu.min.mjs", webnn: "ort.all.min.mjs" };
let ort = null;
let session = null;
let feeds = null;

function errorText(e) {
  return (e && (e.message || String(e))) || "unknown error";
}

// A feature test that never settles must not hang detection.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
const FEATURE_TIMEOUT_MS = 15000;

// What this browser really provides: runs each feature test, guesses nothing.
export async function probe() {
  const out = {
    user_agent: navigator.userAgent,
    cross_origin_isolated: self.crossOriginIsolated === true,
    hardware_concurrency: navigator.hardwareConcurrency || 0,
  };
  try {
    const ok = typeof WebAssembly === "object" && WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    out.wasm = ok ? { ok: true, threads: typeof SharedArrayBuffer === "function" && out.cross_origin_isolated } : { ok: false, error: "WebAssembly is not available" };
  } catch (e) {
    out.wasm = { ok: false, error: errorText(e) };
  }
  try {
    if (!navigator.gpu) throw new Error("navigator.gpu is undefined (WebGPU is not enabled in this browser)");
    const adapter = await withTimeout(navigator.gpu.requestAdapter(), FEATURE_TIMEOUT_MS, "navigator.gpu.requestAdapter()");
    if (!adapter) throw new Error("navigator.gpu.requestAdapter() returned no adapter");
    const info = adapter.info || {};
    out.webgpu = {
      ok: true,
      vendor: info.vendor || "",
      architecture: info.architecture || "",
      device: info.device || "",
      description: info.description || "",
      is_fallback_adapter: adapter.isFallbackAdapter === true || info.isFallbackAdapter === true,
      features: [...adapter.features].sort(),
    };
  } catch (e) {
    out.webgpu = { ok: false, error: errorText(e) };
  }
  out.webnn = {};
  for (const deviceType of ["cpu", "gpu", "npu"]) {
    try {
      if (!navigator.ml) throw new Error("navigator.ml is undefined (WebNN is not enabled in this browser)");
      await withTimeout(navigator.ml.createContext({ deviceType }), FEATURE_TIMEOUT_MS, "navigator.ml.createContext()");
      out.webnn[deviceType] = { ok: true };
    } catch (e) {
      out.webnn[deviceType] = { ok: false, error: errorText(e) };
    }
  }
  return out;
}

function tensor(spec) {
  const arrays = { int64: BigInt64Array, int32: Int32Array, float32: Float32Array, bool: Uint8Array };
  const Ctor = arrays[spec.type];
  const data = spec.type === "int64" ? Ctor.from(spec.data, (v) => BigInt(v)) : Ctor.from(spec.data);
  return new ort.Tensor(spec.type, data, spec.dims);
}

// Creates the session; returns what really ran it and how long creation took.
export async function load(opts) {
  const t0 = performance.now();
  ort = await import(`./ort/${BUNDLES[opts.ep]}`);
  const importMs = performance.now() - t0;
  ort.env.wasm.numThreads = opts.num_threads;
  ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
  ort.env.logLevel = "error";
  const ep = opts.ep === "webnn" ? { name: "webnn", deviceType: opts.device_type } : opts.ep;
  const response = await fetch(opts.model_url);
  if (!response.ok) throw new Error(`fetching the model failed: HTTP ${response.status}`);
  const modelBytes = new Uint8Array(await response.arrayBuffer());
  const t1 = performance.now();
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      executionProviders: [ep],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    });
  } catch (e) {
    // the execution provider's own refusal (an op, a data type): Python records it as unsupported
    throw new Error(`EP_REFUSED: ${errorText(e)}`);
  }
  const startupMs = performance.now() - t1;
  feeds = {};
  for (const [name, spec] of Object.entries(opts.feeds)) feeds[name] = tensor(spec);
  return {
    startup_ms: startupMs,
    import_ms: importMs,
    model_bytes: modelBytes.length,
    input_names: session.inputNames,
    output_names: session.outputNames,
    ort_version: ort.env.versions ? ort.env.versions.web || ort.env.versions.common || "" : "",
    num_threads: ort.env.wasm.numThreads,
    cross_origin_isolated: self.crossOriginIsolated === true,
  };
}

// The first run: its time, and the outputs (for the check against native onnxruntime).
export async function first() {
  const t0 = performance.now();
  const results = await session.run(feeds);
  const ms = performance.now() - t0;
  const outputs = {};
  for (const [name, t] of Object.entries(results)) {
    outputs[name] = { dims: t.dims, type: t.type, data: Array.from(t.data, Number) };
  }
  return { ms, outputs };
}

// n runs back to back: each one's milliseconds, and the wall time from the first start to the
// last end (the loop's own overhead included, as the native backends' windows).
export async function runs(n) {
  const out = new Array(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    out[i] = performance.now() - t0;
  }
  return { samples: out, wall: performance.now() - start };
}

export async function release() {
  if (session) await session.release();
  session = null;
  feeds = null;
}
