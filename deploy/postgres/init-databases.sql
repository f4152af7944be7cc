-- One database per service (architecture.md): registry, coding, lifecycle and sync never share tables.
-- Run once by the postgres image's entrypoint on an empty data directory (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER, who therefore owns all four. pg_trgm is a trusted extension, so the owner may create it; the
-- services' migrations do so (compose's <service>-migrate containers run `shixiang migrate <service>` before the
-- services start).
CREATE DATABASE shixiang_registry;
CREATE DATABASE shixiang_coding;
CREATE DATABASE shixiang_lifecycle;
CREATE DATABASE shixiang_sync;
-- The exchange database (前置库, docs/exchange.md): the sync gateway writes the up_* tables, the national side
-- reads them and writes dn_audit_abnormal. Not a service's own database: give the national side's account access.
CREATE DATABASE shixiang_exchange;
