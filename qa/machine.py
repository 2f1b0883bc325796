"""The CPU as `lscpu` names it, and its peak arithmetic rate for each precision an encoder can run in:
cores x clock x operations per cycle per core, for the best instruction set the CPU's flags offer.

The benchmark divides this peak by the FLOPs of one passage to get the encoder's limit in passages a
second, and reports the share of it the encoder reaches (qa/cli_bench.py)."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Multiply-adds count as 2 operations. Per core and cycle, from Intel's optimisation reference manual
# for cores with two 512-bit FMA ports (Xeon Scalable; a part with one port has half the AVX-512 rates):
#   fp32 AVX-512 FMA: 2 ports x 16 lanes x 2; AVX2: 2 x 8 x 2
#   bf16 AVX512_BF16 (VDPBF16PS): 2 ports x 32 products x 2; AMX-BF16 (TDPBF16PS): 1024
#   int8 AVX512_VNNI (VPDPBUSD): 2 ports x 64 products x 2; AVX-VNNI (256-bit): half; AMX-INT8: 2048
OPS_PER_CYCLE = {
    "fp32": (("avx512f", 64), ("avx2", 32), ("sse2", 8)),
    "bf16": (("amx_bf16", 1024), ("avx512_bf16", 128)),
    "int8": (("amx_int8", 2048), ("avx512_vnni", 256), ("avx_vnni", 128)),
}


@dataclass(frozen=True)
class Cpu:
    name: str  # "Model name" as lscpu prints it
    cores: int  # cores this process may run on
    mhz: float  # "CPU max MHz" where lscpu has it, else the "cpu MHz" of /proc/cpuinfo (nominal under a VM)
    flags: frozenset

    def ops_per_cycle(self, precision: str) -> tuple[str, int]:
        """(instruction set, operations per cycle per core) for `precision`, the best the flags offer;
        a precision without its own instructions runs at the fp32 rate."""
        for flag, ops in OPS_PER_CYCLE.get(precision, ()):
            if flag in self.flags:
                return flag, ops
        return self.ops_per_cycle("fp32") if precision != "fp32" else ("scalar", 2)

    def peak(self, precision: str) -> float:
        """Peak operations a second on all `cores` in `precision` ("fp32", "bf16", "int8")."""
        return self.cores * self.mhz * 1e6 * self.ops_per_cycle(precision)[1]

    def as_dict(self) -> dict:
        return {"cpu": self.name, "cores": self.cores, "mhz": self.mhz,
                "peak_gops": {p: {"isa": self.ops_per_cycle(p)[0], "ops_per_cycle_per_core": self.ops_per_cycle(p)[1],
                                  "gops": round(self.peak(p) / 1e9, 1)} for p in OPS_PER_CYCLE}}


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def this_cpu() -> Cpu:
    """The CPU this process runs on (Linux: lscpu, else /proc/cpuinfo)."""
    info = _lscpu()
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda key: (re.search(rf"^{key}\s*:\s*(.*)$", cpuinfo, re.M) or [None, ""])[1]  # noqa: E731
    mhz = float(info.get("CPU max MHz") or field("cpu MHz") or 0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Cpu(info.get("Model name") or field("model name") or "unknown", cores, mhz,
               frozenset((info.get("Flags") or field("flags")).split()))


def runtime_precision(embedder) -> tuple[str, str]:
    """(precision of the encoder's matrix products, how that was determined) for a loaded embedder:
    OpenVINO's INFERENCE_PRECISION_HINT of the compiled model (int8 for the NNCF-quantised model, whose
    linear layers run in int8), fp32 for torch."""
    session = getattr(embedder, "session", None)
    hint = getattr(session, "precision", None)
    if getattr(embedder, "backend", "") == "openvino-int8":
        return "int8", f"NNCF int8 linear layers; the rest at INFERENCE_PRECISION_HINT={hint}"
    if hint:
        name = {"bf16": "bf16", "f32": "fp32", "f16": "fp16"}.get(str(hint), str(hint))
        return name, f"OpenVINO compiled model INFERENCE_PRECISION_HINT={hint}"
    return "fp32", "torch runs fp32 matrix products on CPU"
