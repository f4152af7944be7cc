"""The coding service's I/O: HTTP routes and bodies, the lifecycle consumer, tables, writes (``store``) and the
read side (``queries``)."""
