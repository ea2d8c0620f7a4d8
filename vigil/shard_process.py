"""A child-process shard: ``python -m vigil.shard_process --index I --count N --fd FD``.

Started by ``vigil.shards.ProcessShard`` with the runner's environment, so it reads the
same settings. It owns the devices ``shard_of(device_id, N) == I``, opens its own
connection to the store, and answers each job on the socket ``FD`` in order. It ends
when the socket closes; any error ends it too, and the runner stops with it, leaving
unacknowledged messages to be redelivered.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Sequence

from storage import open_store
from vigil.settings import Settings
from vigil.shard_work import ShardWork, shard_work_for
from vigil.shards import (
    FRAME_HEADER,
    JOB_DECODER,
    REPLY_ENCODER,
    Done,
    Ready,
    Reply,
    Ticked,
    framed,
    outcome,
    shard_of,
)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, FRAME_HEADER.size)
    if header is None:
        return None
    return _read_exactly(sock, FRAME_HEADER.unpack(header)[0])


def _send(sock: socket.socket, reply: Reply) -> None:
    sock.sendall(framed(REPLY_ENCODER.encode(reply)))


def serve(sock: socket.socket, work: ShardWork) -> None:
    """Answer jobs until the socket closes."""
    _send(sock, Ready(seeded=work.seed_silence_checks()))
    while (body := _receive(sock)) is not None:
        result = outcome(JOB_DECODER.decode(body), work)
        _send(sock, Ticked(alerts=result) if isinstance(result, list) else Done(report=result))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil.shard_process")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s shard {args.index} %(name)s: %(message)s",
    )
    sock = socket.socket(fileno=args.fd)
    store = open_store(settings.database_url, settings.record_sealer())
    index, count = int(args.index), int(args.count)

    def owns(device_id: str) -> bool:
        return shard_of(device_id, count) == index

    try:
        serve(sock, shard_work_for(settings, store, owns))
    finally:
        store.close()
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
