-- Invoice Desk on a shared PostgreSQL: two roles, run once per cluster as a superuser (psql -f docs/postgres-roles.sql).
-- invoice_desk_owner owns the database and its schema and runs the migrations (./desk migrate);
-- invoice_desk_app is what every app server connects as: it reads and writes rows and can never ALTER, DROP or
-- TRUNCATE a table, or delete a receipt, an allocation or an audit record (migration 0006 grants exactly that).
-- Set real passwords afterwards: ALTER ROLE invoice_desk_owner PASSWORD '...'; ALTER ROLE invoice_desk_app PASSWORD '...';
CREATE ROLE invoice_desk_owner LOGIN;
CREATE ROLE invoice_desk_app LOGIN;
CREATE DATABASE invoice_desk OWNER invoice_desk_owner;
