"""Registry use cases: item commands and reads (items.py), item lists out (exports.py) and bulk imports (imports/).
Each loads what it needs, takes one pure decision from registry/domain and writes in one transaction; role and
region checks are made here."""
