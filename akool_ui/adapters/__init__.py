"""Adapters: implementations of the storage ports (``akool_ui.service.ports``), chosen and built only by
``akool_ui.bootstrap``. The service never imports this package.

    local/   today's engine on one machine: records in diskcache + SQLite, blobs and documents as files,
             leases in a small SQLite file, events in process (and in-memory doubles for tests)
"""
