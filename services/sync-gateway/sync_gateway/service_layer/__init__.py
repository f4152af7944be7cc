"""The sync gateway's use cases: the national feed and its snapshot (``feed``), national feedback (``feedback``);
role and region checks happen here."""
