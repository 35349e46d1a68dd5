#!/bin/sh
# Entry point of the user-code image: every process it starts (code server, web server,
# daemon, each run container the launcher starts) writes its files private to its user,
# Dagster's compute logs and SQLite files under DAGSTER_HOME included. The pipeline's own
# files are 0600 whatever the umask; Dagster's follow the umask.
umask 077
exec "$@"
