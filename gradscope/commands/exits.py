"""How a command ends: the exit codes of the contract and the one error path every command goes through.

Bad input is one line and exit 2; the user's code raising (an exception, `sys.exit()`, a `KeyboardInterrupt`
of its own) is their frames and exit 3; Ctrl-C is exit 130; anything else is a bug in gradscope: its
traceback and exit 4, never 1, which a CI job reads as findings.
"""

from __future__ import annotations

import contextlib
import errno
import traceback
from collections.abc import Iterator

import typer

from gradscope.errors import ConfigError, GradscopeError, UserCodeError, did_you_mean
from gradscope.interrupts import watching
from gradscope.levels import FAIL_ON, fails  # noqa: F401 (the commands take both from here)

EXIT_OK = 0
EXIT_SYMPTOMS = 1  # findings at or above --fail-on (diagnose), or the check asked for did not hold (compare)
EXIT_USAGE = 2  # bad input: nothing ran, or it could not start
EXIT_USER_CODE = 3  # the user's model, data or loss code raised
EXIT_BUG = 4  # gradscope itself failed: a bug, shown with its traceback, to report
EXIT_INTERRUPTED = 130  # Ctrl-C: what was recorded is kept and diagnosed

BUG_MESSAGE = ("Error: gradscope itself failed (a bug in gradscope, not in your code or config). Please report "
               "it with the traceback above and the output of `gradscope --version`.")


@contextlib.contextmanager
def handled(debug: bool = False) -> Iterator[None]:
    """Map whatever ends a command to its exit code; `debug` adds the full traceback to every error."""
    with watching():  # from here on a KeyboardInterrupt raised by the user's code is told from Ctrl-C
        try:
            yield
        except (typer.Exit, typer.Abort):  # typer's own types: typer 0.29 no longer brings click with it
            raise  # the command chose its exit already
        except GradscopeError as exc:
            if debug:
                typer.echo(traceback.format_exc().rstrip("\n"), err=True)
            typer.echo(f"Error: {exc}", err=True)  # plain echo: "[run]" must not be read as rich markup
            raise typer.Exit(EXIT_USAGE) from None
        except UserCodeError as exc:
            user_code_failed(exc, debug=debug)
        except BrokenPipeError:  # the reader went away before the report (`2>&1 | head` as the run goes on)
            from gradscope.commands.common import silence_closed_output

            silence_closed_output()  # nothing failed: no traceback, and not 1, which means findings
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:  # the user's own code is wrapped before this: these are gradscope's own writes
            if exc.errno not in OUTPUT_ERRNOS:
                raise
            if debug:
                typer.echo(traceback.format_exc().rstrip("\n"), err=True)
            typer.echo(f"Error: {output_error(exc)}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except (Exception, SystemExit):  # SystemExit: the user's sys.exit() escaped gradscope's wrappers
            typer.echo(traceback.format_exc().rstrip("\n"), err=True)
            typer.echo(BUG_MESSAGE, err=True)
            raise typer.Exit(EXIT_BUG) from None


# The filesystem refusing gradscope's output: a folder the user can change, not a bug.
OUTPUT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOTDIR,
                 errno.ENOENT, errno.EISDIR, errno.ENAMETOOLONG}


def output_error(exc: OSError) -> str:
    """One line for an output that cannot be written: which file, why, and what to do."""
    where = exc.filename or "the run folder"
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    fix = ("free some space, or pass --out on another disk; the steps recorded so far are kept"
           if full else "pass --out a folder you can write to")
    return f"cannot write {where}: {exc.strerror or exc} (fix: {fix})"


def user_code_failed(error: UserCodeError, note: str = "", *, debug: bool = False) -> None:
    """Print the user's error (their frames; every frame with `debug`) and exit 3."""
    if debug:
        typer.echo("".join(traceback.format_exception(error.error)).rstrip("\n"), err=True)
    typer.echo(error.render() + (f"\n{note}" if note else ""), err=True)
    raise typer.Exit(EXIT_USER_CODE) from None


def check_fail_on(value: str) -> str:
    if value not in FAIL_ON:
        raise ConfigError(f"--fail-on {value!r} is not a level{did_you_mean(value, FAIL_ON)} "
                          f"(fix: one of {', '.join(FAIL_ON)})")
    return value


