"""The recognizers of identifiers beyond names, numbers and addresses, as the analyzer
registers them: social handles, licence plates, national IDs, dates of birth and family
names after a title, each asked only about texts that could hold what it finds
(privacy/prefilter.py)."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from astrabot_pipeline.privacy import prefilter
from astrabot_pipeline.privacy.birth_dates import DATE_OF_BIRTH, BirthDateRecognizer
from astrabot_pipeline.privacy.licence_plates import LICENCE_PLATE, LicencePlateRecognizer
from astrabot_pipeline.privacy.national_ids import NATIONAL_ID_ENTITIES, national_id_recognizers
from astrabot_pipeline.privacy.prefilter import Prefiltered
from astrabot_pipeline.privacy.social_handles import (
    PLATFORM_OR_AT,
    SOCIAL_HANDLE,
    SocialHandleRecognizer,
)
from astrabot_pipeline.privacy.titled_names import TitledNameRecognizer

# Replaced wholesale, before any name span that overlaps them (STRUCTURED_ENTITIES).
IDENTITY_ENTITIES = frozenset({SOCIAL_HANDLE, LICENCE_PLATE, DATE_OF_BIRTH}) | NATIONAL_ID_ENTITIES

# What every match of each national-ID recognizer holds, by its class.
_NATIONAL_ID_CONDITIONS = {
    "PlPeselRecognizer": prefilter.ELEVEN_DIGITS,
    "ItFiscalCodeRecognizer": prefilter.SIXTEEN_SIGNS,
    "EsNifRecognizer": prefilter.SEVEN_DIGITS,
    "EsNieRecognizer": prefilter.SEVEN_DIGITS,
    "FrNirRecognizer": prefilter.THREE_DIGITS,
    "NlBsnRecognizer": prefilter.FOUR_DIGITS,
    "GbNinoRecognizer": prefilter.DIGIT,
}


def identity_recognizers(language: str = "en") -> list[EntityRecognizer]:
    return [
        Prefiltered(SocialHandleRecognizer(language), PLATFORM_OR_AT),
        Prefiltered(LicencePlateRecognizer(language), prefilter.DIGIT),
        Prefiltered(BirthDateRecognizer(language), prefilter.DIGIT),
        TitledNameRecognizer(language),
        *(
            Prefiltered(recognizer, _NATIONAL_ID_CONDITIONS[type(recognizer).__name__])
            for recognizer in national_id_recognizers(language)
        ),
    ]
