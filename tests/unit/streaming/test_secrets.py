"""The one masking rule, as the manifest, run_results, logs and errors all apply it."""

from __future__ import annotations

from tauro_compile.streaming.secrets import MASK, mask_structure, mask_text


def test_mask_structure_masks_by_key_by_value_and_inline() -> None:
    doc = {
        "options": {"kafka.sasl.jaas.config": "x required password=\"p4ss\";",
                    "kafka.ssl.truststore.password": None,
                    "api_key": ["k1", "k2"], "topic": "events"},
        # An inline credential under an innocent key: the compiler's old fast copy missed it.
        "url": "jdbc:postgresql://db/x?user=a&password=hunter22",
        "env": "${secret:DB_TOKEN} and s3cr3t-value",
        "numbers": [1, 2.5, True, None],
    }
    masked = mask_structure(doc, ("s3cr3t-value",))
    assert masked["options"] == {"kafka.sasl.jaas.config": MASK,
                                 "kafka.ssl.truststore.password": None,
                                 "api_key": MASK, "topic": "events"}
    assert masked["url"] == "jdbc:postgresql://db/x?user=a&password=***"
    assert masked["env"] == "*** and ***"
    assert masked["numbers"] == [1, 2.5, True, None]
    assert doc["options"]["api_key"] == ["k1", "k2"]  # a copy: the input is untouched


def test_mask_text_leaves_plain_text_alone() -> None:
    text = "SELECT a = 1 FROM t"
    assert mask_text(text) == text
    assert mask_text("token=abc;rest") == "token=***;rest"


def test_credential_precheck_is_exact_for_all_of_unicode() -> None:
    """`_may_hold_credential` skips the regex only when it cannot match: every character
    IGNORECASE matches to a letter of the pattern's words case-folds to that letter."""
    import re
    import sys

    from tauro_compile.streaming.secrets import _CREDENTIAL_WORDS

    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    for letter in sorted(set("".join(_CREDENTIAL_WORDS))):
        for char in re.findall(f"(?i){letter}", everything):
            assert char.casefold() == letter, (letter, hex(ord(char)))


def test_inline_credentials_in_any_case_are_masked() -> None:
    for word in ("password", "PassWD", "SECRET", "Token", "apikey", "API_KEY", "api-key",
                 "access.key", "AccessKey", "pa\u017f\u017fword", "api_\u212aey",
                 "acce\u017f\u017f_key"):
        assert mask_text(f"url?{word}=hunter2;x=1") == f"url?{word}=***;x=1", word
    assert mask_text("x = 1 AND passport = 2") == "x = 1 AND passport = 2"
