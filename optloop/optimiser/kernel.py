"""Load BoTorch's fused qLogNEHVI C++ kernel without ever hanging on a stale compile lock.

The first qLogNEHVI of a machine compiles BoTorch's ``logei_fused_ext`` extension (about 40 s
on two cores) through ``torch.utils.cpp_extension.load``, which guards the build folder with
a bare lock *file* (``FileBaton``): whoever finds it waits, polling, for as long as it exists.
A process killed while compiling (a cron ``tick`` stopped by a timeout) never removes it, so
every later campaign would sleep forever, silently.

So optloop loads the kernel itself, once per process, before BoTorch would:

* under a file lock (``optloop.lock``) in the build folder, dropped by the kernel when its
  holder dies: two optloop processes never compile at once, and a lock file found while
  holding it can only be another program's live compile or a dead one's leftover;
* a leftover is recognised by its age and by no process working in the build folder (the
  compiler and ninja run there): it is removed, with a logged warning, and the build redone;
* every wait is bounded (``wait_s``); past it the campaign uses BoTorch's pure-PyTorch path
  (the same quantity, about 3x slower to compute), with a logged warning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["EXTENSION", "KernelStatus", "ensure_fused_kernel"]

_log = logging.getLogger(__name__)

#: The extension BoTorch compiles for qLogNEHVI.
EXTENSION = "logei_fused_ext"
#: A compile lock younger than this may belong to a process that has not started its
#: compiler yet (it writes the build file first), so it is never called stale.
MIN_STALE_AGE_S = 30.0
#: How long to wait in all for another process's compile before using the pure-PyTorch path.
DEFAULT_WAIT_S = 600.0

KernelStatus = str
"""``"loaded"``, ``"unavailable"`` (BoTorch could not build it) or ``"fallback"``."""

_status: KernelStatus | None = None


def _build_directory() -> Path:
    from torch.utils.cpp_extension import _get_build_directory

    return Path(_get_build_directory(EXTENSION, verbose=False))


def _working_in(folder: Path, proc: Path = Path("/proc")) -> list[int]:
    """Return the ids of processes whose working folder is ``folder`` (compilers, ninja)."""
    target = os.path.realpath(folder)
    pids = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if os.path.realpath(os.readlink(entry / "cwd")) == target:
                pids.append(int(entry.name))
        except OSError:
            continue  # gone, or another user's: not a compile of our cache
    return pids


def _botorch_load() -> bool:
    """Run BoTorch's own loader (imports or compiles); return True if the kernel loaded."""
    from botorch.acquisition.multi_objective import logei

    logei._try_load_fused_kernel()
    return logei._C is not None


def _use_pure_pytorch() -> None:
    """Tell BoTorch not to try loading (nor waiting for) the kernel in this process."""
    from botorch.acquisition.multi_objective import logei

    logei._load_attempted = True
    logei._C = None


def ensure_fused_kernel(
    *,
    wait_s: float = DEFAULT_WAIT_S,
    build_dir: Path | None = None,
    load: Callable[[], bool] = _botorch_load,
    compilers: Callable[[Path], Iterable[int]] = _working_in,
    monotonic: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 0.5,
) -> KernelStatus:
    """Load the fused kernel once per process, recovering a stale compile lock.

    Args:
        wait_s: Longest total wait for another process's compile (then: pure PyTorch).
        build_dir: The extension's build folder (default: torch's, which honours
            ``TORCH_EXTENSIONS_DIR``).
        load: Loads (compiling if needed) and says whether the kernel loaded.
        compilers: Lists processes working in the build folder.
        monotonic: Measures the wait (injectable for tests).
        wall: Tells a lock file's age against its modification time.
        sleep: Waits between polls.
        poll_s: Seconds between polls.

    Returns:
        ``"loaded"``, ``"unavailable"`` (BoTorch could not build it and uses pure PyTorch)
        or ``"fallback"`` (the wait was cut short; pure PyTorch).
    """
    global _status
    if _status is not None:
        return _status
    try:
        folder = build_dir or _build_directory()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a read-only cache: BoTorch could not compile there either
        return _fallback(f"its build folder is not usable ({exc})")
    own = FileLock(folder / "optloop.lock")  # dropped by the kernel if its holder is killed
    baton = folder / "lock"
    deadline = monotonic() + wait_s
    try:
        while True:  # our own lock first
            try:
                own.acquire(timeout=0)
                break
            except Timeout:
                if monotonic() >= deadline:
                    return _fallback(f"another optloop process has compiled {folder} for "
                                     f"over {wait_s:g} s")
                sleep(poll_s)
            except OSError as exc:  # no lock file can be made there: BoTorch could not either
                return _fallback(f"its build folder is not usable ({exc})")
        while baton.exists():  # another program's compile, or a dead one's leftover
            busy = list(compilers(folder))
            try:
                age = wall() - baton.stat().st_mtime
            except FileNotFoundError:
                break  # released meanwhile
            if not busy and age >= MIN_STALE_AGE_S:
                baton.unlink(missing_ok=True)
                _log.warning(
                    "removed a stale compile lock %s (%.0f s old, no compiler running in its "
                    "folder): a process was killed while compiling BoTorch's %s; compiling it "
                    "again",
                    baton, age, EXTENSION,
                )
                break
            if monotonic() >= deadline:
                who = f"processes {busy}" if busy else "a process that has not started yet"
                return _fallback(f"{baton} is held by {who} for over {wait_s:g} s")
            sleep(poll_s)
        _status = "loaded" if load() else "unavailable"
        return _status
    finally:
        if own.is_locked:
            own.release()


def _fallback(why: str) -> KernelStatus:
    global _status
    _use_pure_pytorch()
    _log.warning(
        "not waiting for BoTorch's %s C++ kernel: %s; using its pure-PyTorch path (the same "
        "acquisition, slower to compute)", EXTENSION, why,
    )
    _status = "fallback"
    return _status
