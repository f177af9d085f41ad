#!/bin/bash
# Run once by the postgres image's entrypoint, when its data volume is empty
# (deploy/compose.yaml mounts this folder at /docker-entrypoint-initdb.d).
# Creates the application role and one database per service.
# The password comes from SIEVERT_DB_PASSWORD (deploy/.env); it is never stored here.
set -euo pipefail

: "${SIEVERT_DB_PASSWORD:?set SIEVERT_DB_PASSWORD (see deploy/compose.env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	--set=app_password="$SIEVERT_DB_PASSWORD" <<'SQL'
CREATE ROLE sievert LOGIN PASSWORD :'app_password';
CREATE DATABASE sievert_intake OWNER sievert;
CREATE DATABASE sievert_classifier OWNER sievert;
CREATE DATABASE sievert_deadlines OWNER sievert;
CREATE DATABASE sievert_reporting OWNER sievert;
REVOKE ALL ON DATABASE sievert_intake, sievert_classifier, sievert_deadlines, sievert_reporting FROM PUBLIC;
SQL
