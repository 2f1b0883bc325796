"""A build of a corpus as users run it (`python -m qa.cli index`, in a child process), with its resident
memory per stage, and then the same build after one letter changed: wall clock of both and their ratio.

    python bench/build_scale.py --corpus large --index /work/idx/scale-bench --cold --change-one-letter
    python bench/build_scale.py --corpus large --index /work/idx/scale-bench --rerun-only --change-one-letter

--cold embeds into a new, empty embedding cache (KAMERQA_CACHE in a temporary folder, the built model
linked in), so the full build embeds every text. --change-one-letter then appends one sentence to one
letter of the corpus's last .jsonl file (a copy in the temporary folder) and builds again with that cache.
The resident set is sampled every 0.2 s (/proc/PID/status); the stage is the progress bar last drawn.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.readers import corpus_paths  # noqa: E402
from index.embed import cache_dir  # noqa: E402

SAMPLE_SECONDS = 0.2
_BAR = re.compile(r"([a-z0-9 ]+):\s+\d+%")


def _status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of process `pid`, in MB ({} once it has ended)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in lines)
            if k in ("VmRSS", "RssAnon", "RssFile")}


def run_build(corpora: list[str], index: Path, env: dict, log: Path) -> dict:
    """One `qa.cli index` run: wall seconds, peak resident set, and per stage its seconds and peak."""
    cmd = [sys.executable, "-m", "qa.cli", "index", "--index", str(index)] + [a for c in corpora for a in ("--corpus", c)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stage, stages = ["start"], {}

    def read_stderr():
        with open(log, "wb") as f:
            for chunk in iter(lambda: proc.stderr.read1(4096), b""):
                f.write(chunk)
                found = _BAR.findall(chunk.decode("utf-8", "replace"))
                if found:
                    stage[0] = found[-1].strip()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        now = _status(proc.pid)
        if now:
            row = stages.setdefault(stage[0], {"first_s": round(time.perf_counter() - started, 1), "peak_mb": 0})
            if now["VmRSS"] > row["peak_mb"]:
                row.update(peak_mb=now["VmRSS"], anon_mb=now["RssAnon"], file_mb=now["RssFile"])
            row["last_s"] = round(time.perf_counter() - started, 1)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    if proc.returncode:
        raise SystemExit(f"the build failed (exit {proc.returncode}); see {log}")
    return {"wall_s": round(wall, 1), "peak_mb": round(usage.ru_maxrss / 1024), "summary": proc.stdout.read().decode().strip(),
            "stages": stages}


def changed_corpus(corpora: list[str], folder: Path) -> list[str]:
    """The corpus with its last .jsonl file copied to `folder` and one sentence added to its middle letter."""
    paths = [str(p) for p in corpus_paths(corpora)]
    last = max(i for i, p in enumerate(paths) if p.endswith(".jsonl"))
    lines = Path(paths[last]).read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[len(lines) // 2])
    row["text"] += "\n\nDeze zin is toegevoegd om een gewijzigde brief te meten."
    lines[len(lines) // 2] = json.dumps(row, ensure_ascii=False)
    copy = folder / Path(paths[last]).name
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths[:last] + [str(copy)] + paths[last + 1:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", action="append", default=None, help="as kamerqa index --corpus (default: large)")
    p.add_argument("--index", type=Path, required=True, help="the index folder to build (replaced)")
    p.add_argument("--cold", action="store_true", help="a new, empty embedding cache for the full build")
    p.add_argument("--change-one-letter", action="store_true", help="then rebuild with one letter changed")
    p.add_argument("--rerun-only", action="store_true", help="skip the full build (the index must exist)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    corpora = args.corpus or ["large"]
    scratch = Path(tempfile.mkdtemp(prefix="kq-build-scale-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.cold:
        (scratch / "cache").mkdir()
        (scratch / "cache" / "models").symlink_to(cache_dir() / "models")
        if (cache_dir() / "model-info.json").exists():
            (scratch / "cache" / "model-info.json").write_bytes((cache_dir() / "model-info.json").read_bytes())
        env["KAMERQA_CACHE"] = str(scratch / "cache")
    out = {"corpus": corpora, "load_before": os.getloadavg()}
    if not args.rerun_only:
        out["full"] = run_build(corpora, args.index, env, scratch / "full.log")
        print(json.dumps({"full": out["full"]}), flush=True)
    if args.change_one_letter:
        out["one_letter"] = run_build(changed_corpus(corpora, scratch), args.index, env, scratch / "changed.log")
        if "full" in out:
            out["one_letter_share_of_full"] = round(out["one_letter"]["wall_s"] / out["full"]["wall_s"], 4)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    shutil.rmtree(scratch, ignore_errors=True)  # the cold cache, the changed corpus, the logs (kept on failure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
