"""The one place where a user's mistake becomes a one-line message and an exit code, for the
command line (`qa/cli.py`) and `python app.py` alike. The library raises; only these print."""
from __future__ import annotations

import sys
from typing import Callable

from corpus.fetch import FetchError
from corpus.readers import CorpusError
from index.distributed import ClusterError
from index.embed import ModelError
from index.store import IndexError_
from qa.search import QuestionError


class UserError(Exception):
    """A mistake the user can fix, found by a command itself (not the library)."""


USER_ERRORS = (UserError, CorpusError, ModelError, IndexError_, QuestionError, ClusterError)
EXIT_FAILED, EXIT_USER_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def run_command(command: str, fn: Callable[[], int | None]) -> int:
    """`fn()`'s exit code (0 for None). A user error prints `kamerqa COMMAND: message` and gives 2; a
    failed download 1; Ctrl-C 130 (every command can be run again: builds and downloads resume)."""
    try:
        return fn() or 0
    except USER_ERRORS as e:
        print(f"kamerqa {command}: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except FetchError as e:  # the service failed or refused (the message says what to do)
        print(f"kamerqa {command}: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"kamerqa {command}: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
