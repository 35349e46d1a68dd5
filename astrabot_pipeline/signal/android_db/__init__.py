"""Signal Android's database schema -> the contract tables, whatever the database came from.

`database_tables.py` reads any Android-schema database (replayed from a legacy `.backup`,
converted from Signal Desktop, or given as is); `plain_sqlite.py` takes an already
decrypted database and `csv_export.py` a signalbackup-tools `--exportcsv` folder, both
copied into an Android-schema database first.
"""
