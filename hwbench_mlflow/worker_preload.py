"""Imported once by the worker fork server, before any config runs: the offline
environment first, then the heavy runtimes, so every forked worker starts warm.

Importing is all this does: no torch op runs here, so no thread pool exists at fork
time and each forked worker is a clean process.
"""

import os

from .hardware import decline_vendor_telemetry
from .worker_env import WORKER_ENV

os.environ.update(WORKER_ENV)

import torch  # noqa: F401
import transformers
import transformers.modeling_utils
import transformers.models.auto.modeling_auto  # noqa: F401

from . import measure
from .backends import torch_backend  # noqa: F401

# The stop rule's order-statistic CIs need scipy.stats: imported (0.5-0.9 s) and the sample
# minimums computed here once, not again in every forked worker.
for _percentile in measure.REPORTED_PERCENTILES:
    measure.required_samples(_percentile)

decline_vendor_telemetry()  # before openvino / nncf load: no network call, no child forked in the server

# The runtimes a plan uses (onnxruntime, openvino) follow in the server's preload list
# (worker.start_fork_server): a torch-only sweep does not wait for them.
