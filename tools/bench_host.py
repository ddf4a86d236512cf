"""The host a benchmark ran on, for its report: the CPU model, the machine type and the CPU
features that matter to CRCs, voting and AES-GCM (as /proc/cpuinfo lists them)."""
from __future__ import annotations

import platform
from pathlib import Path

CPU_FLAGS = ("avx2", "avx512f", "pclmulqdq", "aes", "vaes", "sha_ni", "neon", "asimd", "pmull")


def cpu() -> dict[str, object]:
    """The CPU model and the features of CPU_FLAGS it has (the machine type where /proc/cpuinfo is missing)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model") and value.strip():
                model = value.strip()
            if key.strip() in ("flags", "Features"):
                flags |= set(value.split())
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(), "features": [f for f in CPU_FLAGS if f in flags]}
