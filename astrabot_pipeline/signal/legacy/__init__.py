"""Signal Android's legacy encrypted `.backup` format (backup versions 0 and 1).

`crypto.py` derives the keys from the 30-digit passphrase and holds every cipher;
`reader.py` streams and MAC-checks the frames and yields them as `events.py` events;
`sqlite_replay.py` replays their SQL into a guarded SQLite database, which `android_db/`
then reads into the contract tables (`decode.py` runs the whole decode as this kind's
reader). `encoder.py` writes format-exact backups (tests, the demo backup); `inspect.py`
counts what a backup holds without writing anything.
"""
