"""Stand-ins for the Faust table in the Kafka worker's unit tests."""

from __future__ import annotations


class DictTable:
    """The Faust table's operations the worker uses, over a dict (partitions recorded)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.partitions: dict[bytes, int] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        self.data[key] = value
        self.partitions[key] = partition

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.data.items())
