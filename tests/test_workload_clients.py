"""One MongoClient per driver profile, however many users ask for it at once."""

from __future__ import annotations

import threading

from locustfiles.settings import WorkloadSettings
from locustfiles.workload import Workload


def test_concurrent_users_share_one_client_per_profile() -> None:
    workload = Workload(WorkloadSettings())
    uri = "mongodb://127.0.0.1:1/?replicaSet=rs0&serverSelectionTimeoutMS=100"
    start = threading.Barrier(16)
    got: list[object] = []

    def user(section: str) -> None:
        start.wait()
        got.append(workload.client(section, uri))

    threads = [threading.Thread(target=user, args=("hub" if i % 4 else "canary",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        # The canary's profile differs (read preference primary), so two clients in all.
        assert len({id(c) for c in got}) == 2
    finally:
        workload.close()
