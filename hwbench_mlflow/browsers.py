"""Headless browsers for the onnxruntime-web backend: which are really here, what each provides
(the feature test runs in the browser), the local page server, and launching one.

Browsers, in order: ``$HWBENCH_BROWSER`` (``--browser PATH``), Debian's ``chromium``, and the
``@sparticuz/chromium`` build that ``make web`` unpacks under the project cache (Debian's build
has no WebNN backend; that one runs WebNN on the CPU through TFLite/XNNPACK). Each browser's
probe (version, wasm, the WebGPU adapter, WebNN per device type) is cached on disk keyed by the
binary (path, size, mtime) and the page's code, so detection launches a browser only once per
browser build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

PAGE_DIR = Path(__file__).with_name("webpage")
SPARTICUZ_VERSION = "153.0.0"
INSTALL_HINT = "run 'make web' (installs chromium, onnxruntime-web and @sparticuz/chromium)"
# A headless Chromium with no first-run UI and no network of its own (also the UI test's).
BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
# The benchmark page's: WebGPU (also on a software adapter) and WebNN where the build has them.
LAUNCH_FLAGS = (*BASE_FLAGS, "--enable-unsafe-webgpu", "--enable-features=WebMachineLearningNeuralNetwork")
PROBE_TIMEOUT_S = 60.0


def web_dir() -> Path:
    """Where ``make web`` put the npm packages (``$HWBENCH_WEB_DIR``, else ``web/`` of the checkout)."""
    return Path(os.environ.get("HWBENCH_WEB_DIR") or Path(__file__).resolve().parents[1] / "web")


def ort_dist() -> Path | None:
    """The onnxruntime-web ``dist`` folder, or None when it is not installed."""
    dist = web_dir() / "node_modules" / "onnxruntime-web" / "dist"
    return dist if (dist / "ort.wasm.min.mjs").is_file() else None


def ort_web_version() -> str:
    try:
        return json.loads((web_dir() / "node_modules" / "onnxruntime-web" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return ""


def web_cache() -> Path:
    """The project's web cache (next to node_modules, ignored by git): the unpacked browser, probes."""
    return web_dir() / ".cache"


def sparticuz_path() -> Path:
    return web_cache() / f"sparticuz-chromium-{SPARTICUZ_VERSION}" / "chromium"


@dataclass(frozen=True)
class Browser:
    """One browser binary and what its probe found."""

    name: str
    path: str
    version: str = ""
    probe: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why the probe could not run

    def provides(self, platform: str) -> bool:
        return bool(self.devices(platform))

    def devices(self, platform: str) -> list[str]:
        """The devices this browser runs ``platform`` on: ``wasm`` for cpu, the adapter for webgpu,
        the WebNN device types that created a context."""
        p = self.probe
        if platform == "cpu":
            return ["wasm"] if p.get("wasm", {}).get("ok") else []
        if platform == "webgpu":
            return [webgpu_device(p["webgpu"])] if p.get("webgpu", {}).get("ok") else []
        if platform == "webnn":
            return [d for d, r in p.get("webnn", {}).items() if r.get("ok")]
        return []

    def why_not(self, platform: str) -> str:
        """The browser's own message for a platform it does not provide."""
        if self.error:
            return self.error
        p = self.probe
        if platform == "cpu":
            return p.get("wasm", {}).get("error", "")
        if platform == "webgpu":
            return p.get("webgpu", {}).get("error", "")
        errors = {r.get("error", "") for r in p.get("webnn", {}).values() if not r.get("ok")}
        return "; ".join(sorted(e for e in errors if e))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def device_kind(adapter: dict[str, Any]) -> str:
    """``software`` for a fallback adapter or a CPU rasteriser (SwiftShader, llvmpipe), else ``gpu``."""
    text = " ".join(str(adapter.get(k, "")) for k in ("vendor", "architecture", "description")).lower()
    software = adapter.get("is_fallback_adapter") or any(s in text for s in ("swiftshader", "llvmpipe", "lavapipe"))
    return "software" if software else "gpu"


def webgpu_device(adapter: dict[str, Any]) -> str:
    """The webgpu ``device``: the adapter's architecture (or vendor) and kind, e.g. ``swiftshader:software``."""
    name = adapter.get("architecture") or adapter.get("vendor") or adapter.get("description") or "adapter"
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name).lower()).strip("-") or "adapter"
    return f"{name}:{device_kind(adapter)}"


def candidates() -> list[tuple[str, str]]:
    """(name, path) of every browser binary present, in preference order (only ``--browser``'s when given)."""
    explicit = os.environ.get("HWBENCH_BROWSER")
    if explicit:  # --browser PATH: that one only
        return [(f"--browser {explicit}", explicit)]
    found: list[tuple[str, str]] = []
    system = shutil.which("chromium") or shutil.which("chromium-browser")
    if system:
        found.append(("chromium (Debian)", system))
    if sparticuz_path().is_file():
        found.append((f"@sparticuz/chromium {SPARTICUZ_VERSION}", str(sparticuz_path())))
    return found


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip().splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"unknown ({type(exc).__name__})"


def _probe_key(path: str) -> str:
    st = os.stat(path)
    page = hashlib.sha256((PAGE_DIR / "bench.mjs").read_bytes()).hexdigest()[:16]
    host = os.uname().nodename  # a copied cache never describes another machine's GPU
    raw = f"{host}|{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{page}|{ort_web_version()}|{LAUNCH_FLAGS}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _probe_cache() -> Path:
    return web_cache() / "probes.json"


def probe_browser(name: str, path: str) -> Browser:
    """Launch ``path`` headless, open the page, run its feature tests (cached per binary)."""
    if not os.access(path, os.X_OK):
        return Browser(name, path, error=f"{path} is not an executable file")
    key = _probe_key(path)
    cache_file = _probe_cache()
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = {}
    hit = cached.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("probe"), dict) and isinstance(hit.get("version"), str):
        return Browser(name, path, hit["version"], hit["probe"])
    version = _version(path)
    if ort_dist() is None:
        return Browser(name, path, version, error=f"onnxruntime-web is not installed under {web_dir()}: {INSTALL_HINT}")
    try:
        with PageServer() as server, BrowserPage(path) as page:
            page.open(server.url)
            probe = page.call("probe")
    except Exception as exc:  # a browser that cannot start is a reason, not a crash
        return Browser(name, path, version, error=f"the browser did not start: {first_line(exc)}")
    browser = Browser(name, path, version, probe)
    cached[key] = {"version": version, "probe": probe}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1))
        tmp.replace(cache_file)  # whole or not at all
    except OSError:
        pass  # a read-only install probes again next time
    return browser


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


@lru_cache(maxsize=1)
def detect_browsers() -> tuple[Browser, ...]:
    """Every browser present with its probe."""
    return tuple(probe_browser(name, path) for name, path in candidates())


def providers(platform: str) -> list[Browser]:
    """The browsers that provide ``platform``, in preference order (webgpu: a real GPU first)."""
    found = [b for b in detect_browsers() if b.provides(platform)]
    if platform == "webgpu":
        found.sort(key=lambda b: device_kind(b.probe["webgpu"]) != "gpu")
    return found


def browser_for(platform: str, device: str) -> Browser | None:
    """The first browser that provides ``platform`` on ``device``."""
    return next((b for b in providers(platform) if device in b.devices(platform)), None)


# ----------------------------------------------------------------------------- page server

MIME = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html"}


class _Handler(SimpleHTTPRequestHandler):
    routes: ClassVar[dict[str, Path]] = {}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in sorted(self.routes.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                rest = path[len(prefix) :].lstrip("/")
                target = (root / rest) if root.is_dir() else root
                if root.is_dir() and ".." in Path(rest).parts:
                    return str(root / "__nope__")
                return str(target)
        return str(PAGE_DIR / "__nope__")

    def guess_type(self, path: Any) -> str:
        return MIME.get(Path(str(path)).suffix, "application/octet-stream")

    def end_headers(self) -> None:
        # cross-origin isolation: SharedArrayBuffer (wasm threads) and a 5 µs performance.now()
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class PageServer:
    """The page, the ORT Web bundle and model files on 127.0.0.1 (a free port), in a thread."""

    def __init__(self) -> None:
        self.routes: dict[str, Path] = {"/": PAGE_DIR}
        dist = ort_dist()
        if dist is not None:
            self.routes["/ort/"] = dist
        handler = type("Handler", (_Handler,), {"routes": self.routes})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve_file(self, name: str, path: Path) -> str:
        """Serve ``path`` at ``/files/name``; returns that URL path."""
        self.routes[f"/files/{name}"] = path
        return f"/files/{name}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class BrowserPage:
    """One headless browser with the benchmark page open, driven by Playwright (sync API)."""

    def __init__(self, executable: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.executable = executable
        self.timeout_ms = timeout_s * 1000
        self._pw: Any = None
        self._browser: Any = None
        self.page: Any = None

    def __enter__(self) -> BrowserPage:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable,
                args=list(LAUNCH_FLAGS),
                headless=True,
                timeout=self.timeout_ms,
            )
            self.page = self._browser.new_page()
            self.page.set_default_timeout(self.timeout_ms)
        except BaseException:
            self.__exit__()
            raise
        return self

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function("window.hwbench !== undefined")

    def call(self, fn: str, arg: Any = None) -> Any:
        """``await window.hwbench[fn](arg)`` in the page; a rejected promise raises with the page's message."""
        return self.page.evaluate(f"(a) => window.hwbench.{fn}(a)", arg)

    def pids(self) -> list[int]:
        """Our descendant processes: Playwright's driver, the browser and its children."""
        import psutil

        return [p.pid for p in psutil.Process().children(recursive=True)]

    def __exit__(self, *exc: Any) -> None:
        for closer in (self._browser, self._pw):
            if closer is None:
                continue
            with contextlib.suppress(Exception):
                closer.close() if closer is self._browser else closer.stop()
        self._browser = self._pw = None


# ----------------------------------------------------------------------------- install (make web)


def install() -> int:
    """``make web``: the npm packages pinned in web/package-lock.json, @sparticuz/chromium unpacked
    under the cache, then every browser probed; prints what each provides."""
    npm = shutil.which("npm")
    if npm is None:
        print("hwbench: error: npm is not installed (Debian: apt-get install npm)", file=sys.stderr)
        return 1
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web_dir(), check=True)
    dest = sparticuz_path().parent
    if not sparticuz_path().is_file():
        dest.mkdir(parents=True, exist_ok=True)
        script = "import c from '@sparticuz/chromium'; console.log(await c.executablePath());"
        env = {**os.environ, "TMPDIR": str(dest)}  # it unpacks into os.tmpdir()
        subprocess.run(["node", "--input-type=module", "-e", script], cwd=web_dir(), env=env, check=True)
    _probe_cache().unlink(missing_ok=True)  # make web probes every browser again
    detect_browsers.cache_clear()
    for b in detect_browsers():
        provides = {p: b.devices(p) or "no: " + b.why_not(p) for p in ("cpu", "webgpu", "webnn")}
        print(f"{b.name} ({b.version}) at {b.path}: {b.error or provides}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m hwbench_mlflow.browsers install")
    sys.exit(install())
