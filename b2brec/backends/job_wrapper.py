"""Runs one job's module in-process and records its exit code for ``SubprocessJobRunner``.

Usage: ``python -m b2brec.backends.job_wrapper JOB_DIR MODULE [ARGS...]``.
"""

from __future__ import annotations

import os
import runpy
import sys
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str]) -> int:
    job_dir, module, *args = argv
    code = 1
    try:
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:  # SystemExit("reason"): print the reason, as the interpreter would
            print(exc.code, file=sys.stderr, flush=True)
            code = 1
    finally:
        ended = Path(job_dir) / "ended_at.tmp"
        ended.write_text(datetime.now(UTC).isoformat())
        os.replace(ended, Path(job_dir) / "ended_at")
        tmp = Path(job_dir) / "exit_code.tmp"
        tmp.write_text(str(code))
        os.replace(tmp, Path(job_dir) / "exit_code")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
