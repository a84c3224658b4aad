"""A command (`exec:COMMAND`): run through the shell as the user wrote it, the message on its stdin, the
subject, the event and the run's exit code in its environment, with a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

from .answer import Answer


def send(receiver, message: dict) -> Answer:
    """Run the command once for this message; exit 0 is taken, anything else (or the timeout) is not."""
    env = dict(
        os.environ,
        FORENSICS_SUBJECT=message["subject"],
        FORENSICS_EVENT=message["event"],
        FORENSICS_EXIT=str(message["exit_code"]),
    )
    start = time.monotonic()
    # Its stdout is nobody's and its stderr goes to a file, whose last line is read: a pipe would keep
    # all a chatty command writes in memory, and be held open by a child it leaves running (`notifier &`),
    # so a command that exited 0 at once was waited on until the timeout, called failed and sent again.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                receiver.url[len("exec:") :],
                shell=True,  # (a command as a user writes it in forensics.toml: pipes, quotes, $FORENSICS_SUBJECT)
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=env,
                start_new_session=True,  # (its own process group: a timeout ends the shell and what it started)
            )
        except OSError as exc:
            return Answer(False, exc.strerror or str(exc), time.monotonic() - start)
        try:
            proc.communicate((message["text"] + "\n").encode("utf-8", "surrogatepass"), timeout=receiver.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            return Answer(False, f"no answer within {receiver.timeout:g} s (killed)", time.monotonic() - start)
        size = errors.seek(0, os.SEEK_END)
        errors.seek(max(0, size - 4096))
        said = errors.read().decode("utf-8", "replace").strip().splitlines()
    how = f"exit {proc.returncode}" + (f": {said[-1][:200]}" if said and proc.returncode else "")
    return Answer(proc.returncode == 0, how, time.monotonic() - start)
