"""The sync gateway's I/O: HTTP routes, the lifecycle consumer, tables, writes and the read side (the feed reader's
long-poll included)."""
