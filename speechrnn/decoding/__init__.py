"""CTC decoding: pure functions over log-probabilities, no model code.

Inputs are CTC log-probabilities ``(T, V)`` (one utterance) or ``(B, T, V)`` +
``lengths`` (a padded batch), blank id 0, and a ``labels`` list (index ->
symbol; ``labels[0]`` is the blank, ``" "`` separates words).

- :func:`greedy_decode` - best path, vectorised, padding-invariant.
- :func:`beam_search` - prefix beam search with KenLM fusion, lexicon and
  hotwords (pyctcdecode), decoders cached per setting.
- :func:`lexicon_search` - beam search whose output holds lexicon words only,
  with KenLM fusion (flashlight-text); :class:`LexiconDecoder` to hold one.
- :func:`align_words` - word start/end times + confidence by forced alignment.
- :func:`keyword_scores` / :func:`keyword_search` - open-vocabulary keyword
  spotting by a wildcard-start CTC Viterbi pass (:func:`at_word_boundaries`
  keeps whole-word matches only).
- :class:`DecodingConfig` + :func:`decode` - config-driven batch decoding.
"""
from .align import align_tokens, align_words
from .beam import beam_search, beam_search_batch, clear_caches
from .decoder import DecodingConfig, decode, load_lexicon
from .greedy import greedy_decode, greedy_score
from .keywords import KeywordScores, at_word_boundaries, find_detections, keyword_scores, keyword_search
from .labels import ids_to_text, text_to_ids
from .lexicon import LexiconDecoder, arpa_unigrams, lexicon_search
from .results import DecodeResult, DecodingError, Detection, Word

__all__ = [
    "DecodeResult", "DecodingConfig", "DecodingError", "Detection", "KeywordScores", "LexiconDecoder", "Word",
    "align_tokens", "align_words", "arpa_unigrams", "at_word_boundaries", "beam_search", "beam_search_batch", "clear_caches", "decode",
    "find_detections", "greedy_decode", "greedy_score", "ids_to_text", "keyword_scores",
    "keyword_search", "lexicon_search", "load_lexicon", "text_to_ids",
]
