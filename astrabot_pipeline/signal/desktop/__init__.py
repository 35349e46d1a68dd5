"""Signal Desktop's `db.sqlite` (SQLCipher 4) or data folder: open it with its key
(`reader.py`), rewrite it as an Android-shaped database (`to_android.py`), then read it
like any Android database (`android_db/`)."""
