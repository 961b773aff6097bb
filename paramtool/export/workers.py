"""Writing shards on Dask: local worker processes or an existing cluster.

Each task writes one whole shard file from the plan and a copy of the source (see
:func:`paramtool.export.write.write_shard`); a worker that dies mid-shard leaves only a temporary
file, and the scheduler runs its task again on another worker. Values depend only on (seed,
name), so the bytes are those one process writes. Workers hold one tensor at a time.

Dask is an optional extra: ``pip install 'paramtool[distributed]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paramtool.checkpoint.safetensors.writer import Progress
from paramtool.errors import ExportError
from paramtool.export.plan import Plan
from paramtool.export.source import Source
from paramtool.export.write import signals_held

INSTALL_HINT = "pip install 'paramtool[distributed]'"
#: How long to try reaching a scheduler before giving up (a command answers within seconds).
CONNECT_TIMEOUT = "5s"
#: Times a shard's task is run again after its worker failed or was killed.
RETRIES = 3
#: How local workers start. Not forked from the command itself: by then it runs threads (the
#: client's event loop, fill threads) whose locks a forked child can inherit held, a hang seen
#: under load. A fork server is a fresh single-threaded process that workers fork from (about a
#: second to start once); spawning each worker re-imports everything (seconds per worker).
_START_METHOD = "forkserver" if sys.platform.startswith("linux") else "spawn"
#: Local workers run one long task each: no statistical profiler sampling their stacks.
_LOCAL_CONFIG = {
    "distributed.worker.multiprocessing-method": _START_METHOD,
    "distributed.worker.profile.enabled": False,
}


def _shard_task(source: Source, plan: Plan, index: int, folder: str) -> tuple[str, int]:
    """One task: write one shard (in a worker process)."""
    from paramtool.export.write import write_shard  # noqa: PLC0415 - avoids an import cycle

    return write_shard(source, plan, index, folder, overlap=False)


def run_on_dask(
    source: Source,
    plan: Plan,
    todo: list[int],
    folder: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    done: Progress | None = None,
) -> None:
    """Write the shards ``todo`` of ``plan`` into ``folder`` on Dask.

    Args:
        source: The values (pickled to every worker).
        plan: The checkpoint's plan.
        todo: Indices of the shards to write.
        folder: Where they go: a path every worker sees.
        workers: Start a local cluster of this many processes (one thread each).
        scheduler: Use the cluster at this address instead.
        done: Called as ``done(file, nbytes)`` as each shard is in place.

    Raises:
        ExportError: Dask is not installed, or the cluster cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster, as_completed  # noqa: PLC0415
    except ImportError:
        raise ExportError(f"--workers and --scheduler need Dask: {INSTALL_HINT}") from None
    folder_name = os.path.abspath(folder)
    if workers is not None:  # a process per shard at most: more would have nothing to do
        workers = min(workers, max(len(todo), 1))
    with _connect(Client, LocalCluster, workers, scheduler) as client:
        futures = [
            client.submit(
                _shard_task, source, plan, i, folder_name,
                key=f"paramtool-shard-{plan.checkpoint_id[:12]}-{i}",
                retries=RETRIES, pure=False,
            )
            for i in todo
        ]  # fmt: skip
        for future in as_completed(futures):
            file, nbytes = future.result()
            if done is not None:
                done(file, nbytes)


def _local_cluster(cluster: Any, workers: int) -> Any:
    """A local cluster of ``workers`` single-threaded processes.

    Raises:
        ExportError: a worker did not start (Dask gives up on one after a timeout, which an
            overloaded machine can reach).
    """
    try:
        # No log line of Dask's on stderr (a heartbeat failing while an interrupted command
        # closes its cluster): a failed shard reaches the command through its task.
        return cluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=logging.CRITICAL,
        )  # fmt: skip
    except RuntimeError as exc:  # "Nanny failed to start."
        raise ExportError(f"could not start {workers} local worker processes: {exc}") from None


@contextlib.contextmanager
def _connect(
    client: Any, cluster: Any, workers: int | None, scheduler: str | None
) -> Iterator[Any]:
    """A Dask client on a new local cluster or an existing scheduler, closed on exit.

    Starting and closing a local cluster are not cut short by SIGINT, SIGTERM or SIGHUP: a
    cluster left half started cannot be closed, and its worker processes would outlive the
    command (Dask's shutdown tracebacks on stderr). The signal is acted on once the step is
    done; a second one acts at once.
    """
    connected = made = None
    try:
        with signals_held() as held:
            connected, made = _start(client, cluster, workers, scheduler)
        if held:
            raise KeyboardInterrupt(held[0])
        yield connected
    finally:
        with signals_held() as closing:
            if connected is not None:
                connected.close()
            if made is not None:
                made.close()
        if closing:
            raise KeyboardInterrupt(closing[0])


def _start(
    client: Any, cluster: Any, workers: int | None, scheduler: str | None
) -> tuple[Any, Any]:
    """(client, the local cluster it runs on or None)."""
    import dask  # noqa: PLC0415

    made = None
    try:
        if scheduler is not None:
            return client(scheduler, timeout=CONNECT_TIMEOUT), None
        with dask.config.set(_LOCAL_CONFIG):
            made = _local_cluster(cluster, workers or 1)
        return client(made), made
    except (OSError, ValueError, MemoryError) as exc:  # unreachable, not an address, not Dask
        if made is not None:
            made.close()
        where = scheduler or "a local cluster"
        if isinstance(exc, MemoryError):  # a frame length read from another protocol's bytes
            raise ExportError(f"{where} answered, but not as a Dask scheduler") from None
        raise ExportError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
