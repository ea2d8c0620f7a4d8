"""A real Kafka wire-protocol broker for tests and benchmarks: librdkafka's mock cluster.

It ships inside the ``confluent-kafka`` wheel (see ../shared/design/INTEGRATIONS.md):
aiokafka and Faust connect to it over TCP like to any broker. It has no CreateTopics
API, so every topic is made here first, and consumer-group joins are not delayed.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from pathlib import Path

import confluent_kafka


def _library() -> ctypes.CDLL:
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise FileNotFoundError(f"no librdkafka in {libs}")
    lib = ctypes.CDLL(str(found[0]))
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


class MockKafka:
    """One mock broker on a free loopback port, alive until ``close``."""

    def __init__(self) -> None:
        self._lib = _library()
        error = ctypes.create_string_buffer(512)
        conf = self._lib.rd_kafka_conf_new()
        # The handle only hosts the cluster: it connects nowhere, so silence its warning.
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"0", error, len(error))
        self._handle = self._lib.rd_kafka_new(0, conf, error, len(error))
        if not self._handle:
            raise RuntimeError(error.value.decode())
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._handle, 1)
        if not self._cluster:
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._cluster, 0)
        self.bootstrap = self._lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def create_topics(self, names: Iterable[str], partitions: int) -> None:
        """Make topics (there is no CreateTopics request on this broker)."""
        for name in names:
            err = self._lib.rd_kafka_mock_topic_create(self._cluster, name.encode(), partitions, 1)
            if err:
                raise RuntimeError(f"creating topic {name} failed: error {err}")

    def __enter__(self) -> MockKafka:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the broker (its data is gone)."""
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._cluster = None
        if self._handle:
            self._lib.rd_kafka_destroy(self._handle)
            self._handle = None
