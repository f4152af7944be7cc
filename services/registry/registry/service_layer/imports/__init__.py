"""Bulk imports of item lists as background jobs: jobs.py starts, queues, runs, drains and reports them;
pipeline.py decides and writes a job's chunks overlapping, with retries; chunks.py decides one chunk on the store
(each row through the same decide_revision as a change over HTTP)."""
