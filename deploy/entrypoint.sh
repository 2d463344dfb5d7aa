#!/bin/sh
# The datavc image's entrypoint: point $DATAVC_HOME at the shared deployment, then run the command.
#
# When DATAVC_DB (a PostgreSQL URL) and DATAVC_OBJECTS (s3://bucket/prefix) are set and
# $DATAVC_HOME has no store yet, create one there that names them (`datavc init`, which also
# applies the database migrations). Credentials stay in the environment (AWS_*, PGPASSWORD,
# or the password inside DATAVC_DB), never in the image.
set -eu

: "${DATAVC_HOME:=/home/datavc/store}"
export DATAVC_HOME

if [ -n "${DATAVC_DB:-}" ] && [ -n "${DATAVC_OBJECTS:-}" ] \
    && [ ! -f "$DATAVC_HOME/.datavc/config.json" ]; then
    # `datavc init` refuses an existing store: if another process sharing this directory
    # created it meanwhile, that store is the one we want.
    if ! datavc init "$DATAVC_HOME" --db "$DATAVC_DB" --objects "$DATAVC_OBJECTS" >&2; then
        if [ ! -f "$DATAVC_HOME/.datavc/config.json" ]; then
            echo "datavc-entrypoint: could not create a store in $DATAVC_HOME" >&2
            exit 1
        fi
    fi
fi

exec "$@"
