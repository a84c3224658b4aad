"""The store and the query connection: `Store` (views over logs or a store folder), ingest, checkpoints
through rotation, the manifest, tails, compaction and export. Imports the reading layer and shared modules.
"""
